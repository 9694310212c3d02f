"""Recurrent character models, and the bigram count model they are measured against.

* :class:`CharRNN` -- an embedding, a vanilla RNN, LSTM or GRU, and a linear read-out. The
  input at step ``t`` is the symbol ``x_{t-1}`` (a learned start vector at ``t = 0``) and the
  recurrence starts from a learned state, so the logits at ``t`` depend on ``x_<t`` only:
  causal by construction, with no mask. The hidden state is a running summary of the prefix,
  which is also what makes sampling cheap: one recurrent step per new symbol.
* :class:`Bigram` -- ``p(x_t | x_{t-1})`` read from a table of (smoothed) counts: the baseline
  any model of text has to beat.

Chapter "Recurrent networks".
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from arbook.models.base import check_positive
from arbook.models.sequence import SequenceModel

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharRNN(SequenceModel):
    """A recurrent language model over ``num_classes`` symbols.

    Args:
        num_classes: vocabulary size.
        hidden_size: units in each recurrent layer.
        num_layers: stacked recurrent layers.
        cell: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        embedding_size: width of the symbol embedding (default: ``hidden_size``).
        dropout: dropout between layers and before the read-out (training only).
        length, stop_index: see :class:`~arbook.models.sequence.SequenceModel`.
    """

    #: :meth:`extend` returns a new hidden state and leaves the old one as it was.
    state_rollback = "persistent"

    def __init__(
        self,
        num_classes: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "lstm",
        *,
        embedding_size: int | None = None,
        dropout: float = 0.0,
        length: int = 64,
        stop_index: int | None = None,
    ) -> None:
        super().__init__(num_classes, length, stop_index)
        check_positive(hidden_size=hidden_size, num_layers=num_layers)
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        embedding_size = embedding_size or hidden_size
        check_positive(embedding_size=embedding_size)
        self.cell, self.embedding_size = cell, embedding_size
        self.embed = nn.Embedding(num_classes, embedding_size)
        self.start = nn.Parameter(torch.randn(embedding_size) * 0.1)
        self.rnn = CELLS[cell](
            embedding_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        # The learned initial state (and the LSTM's initial cell state).
        self.h0 = nn.Parameter(torch.zeros(num_layers, 1, hidden_size))
        self.c0 = nn.Parameter(torch.zeros(num_layers, 1, hidden_size)) if cell == "lstm" else None
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def initial_state(self, batch: int) -> Any:
        """The learned start state for ``batch`` sequences (``(h, c)`` for an LSTM)."""
        h = self.h0.expand(-1, batch, -1).contiguous()
        if self.c0 is None:
            return h
        return h, self.c0.expand(-1, batch, -1).contiguous()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Symbol embeddings ``[B, T, E]``."""
        return self.embed(x)

    def shifted_inputs(self, h: torch.Tensor) -> torch.Tensor:
        """Shift right: step ``t`` reads the embedding of ``x_{t-1}``, step 0 the start vector."""
        start = self.start.expand(h.shape[0], 1, -1)
        return torch.cat([start, h[:, :-1]], dim=1)

    def _states(self, h: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.shifted_inputs(h), self.initial_state(h.shape[0]))
        return out

    def network(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self._states(h)))

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's hidden state at every step, ``[B, T, H]``: state ``t`` has read
        ``x_<t`` and is what predicts ``x_t``."""
        self.check_data(x)
        return self._states(self.features(x))

    def prefill(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        start = self.start.expand(prompt.shape[0], 1, -1)
        inputs = torch.cat([start, self.features(prompt)], dim=1)  # P + 1 steps
        out, state = self.rnn(inputs, self.initial_state(prompt.shape[0]))
        return self.head(self.drop(out[:, -1])), state

    def extend(self, token: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        out, state = self.rnn(self.features(token).unsqueeze(1), state)
        return self.head(self.drop(out[:, -1])), state


class Bigram(SequenceModel):
    """``p(x_t | x_{t-1})`` from a table of counts (``p(x_0)`` from the counts of first symbols).

    The table is a parameter like any other (small random logits at first, like every other
    model's weights), so the model also trains by gradient descent; :meth:`fit_counts` sets it
    to the smoothed maximum-likelihood estimate in one pass.

    Args:
        num_classes: vocabulary size.
        length, stop_index: see :class:`~arbook.models.sequence.SequenceModel`.
    """

    #: The state is nothing: the next conditional depends on the last symbol alone.
    state_rollback = "persistent"

    def __init__(
        self, num_classes: int, *, length: int = 64, stop_index: int | None = None
    ) -> None:
        super().__init__(num_classes, length, stop_index)
        # Row 0 is the start; row 1 + a follows symbol a.
        self.table = nn.Parameter(0.1 * torch.randn(num_classes + 1, num_classes))

    @torch.no_grad()
    def fit_counts(self, data: torch.Tensor, smoothing: float = 1.0) -> Bigram:
        """Set the table to ``log(count + smoothing)`` over the counted positions of ``data``
        (add-``smoothing`` estimation; ``smoothing > 0`` keeps every probability positive)."""
        self.check_data(data)
        if smoothing <= 0:
            raise ValueError(f"smoothing must be positive, got {smoothing!r}")
        previous = torch.cat([torch.full_like(data[:, :1], -1), data[:, :-1]], dim=1) + 1
        keep = self.counted(data)
        counts = torch.zeros(self.num_classes + 1, self.num_classes, dtype=torch.float64)
        counts.index_put_(
            (previous[keep].cpu(), data[keep].cpu()),
            torch.ones(int(keep.sum()), dtype=torch.float64),
            accumulate=True,
        )
        self.table.copy_((counts + smoothing).log().to(self.table))
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot symbols ``[B, T, K]``."""
        return nn.functional.one_hot(x, self.num_classes).to(self.table.dtype)

    def network(self, h: torch.Tensor) -> torch.Tensor:
        start = h.new_zeros(h.shape[0], 1, self.num_classes + 1)
        start[..., 0] = 1
        previous = nn.functional.pad(h[:, :-1], (1, 0))  # one-hot over the table's rows 1..K
        return torch.cat([start, previous], dim=1) @ self.table

    def prefill(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if prompt.shape[1] == 0:
            return self.table[0].expand(prompt.shape[0], -1), None
        return self.table[prompt[:, -1] + 1], None

    def extend(self, token: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        return self.table[token + 1], state


__all__ = ["CELLS", "Bigram", "CharRNN"]
