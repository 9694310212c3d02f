"""Left-to-right models of sequences of any length: the base of the RNNs and GPT.

A :class:`SequenceModel` reads ``[B, T]`` for any ``T >= 1`` (``event_shape`` holds only the
default length of :meth:`~arbook.models.base.AutoregressiveModel.sample`). Two things set it
apart from fixed-shape models:

* **Stop markers.** With ``stop_index`` set (names end with ``"."``), an example ends at its
  first stop marker: :meth:`SequenceModel.log_prob` counts each position up to and including
  it and ignores the padding after it, and sampling fills a finished row with stop markers. A
  row with no stop marker is a *prefix*: its log-probability is that of every example that
  begins with it. ``log_prob(x, complete=True)`` accepts only complete examples (a stop
  marker, then nothing but stop markers) and names the first row that is not.
* **Incremental generation.** A subclass implements :meth:`~SequenceModel.prefill` (read a
  prompt, return the logits of the next position and a state) and
  :meth:`~SequenceModel.extend` (one more symbol: new logits, new state). That state is the
  RNN's hidden state or the Transformer's key/value cache, so each new symbol costs one step.
  ``use_cache=False`` recomputes every conditional from the whole prefix instead; both paths
  draw from the same conditionals with the same random numbers, so they give the same samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from arbook.models.base import AutoregressiveModel, check_positive
from arbook.sampling import sample_logits


class SequenceModel(AutoregressiveModel):
    """Base class of the sequence models (see the module docstring).

    Args:
        num_classes: vocabulary size ``K``.
        length: default number of symbols
            :meth:`~arbook.models.base.AutoregressiveModel.sample` generates (data of any length is
            accepted); also the length the property checks enumerate.
        stop_index: the symbol that ends an example, or ``None`` for plain text.
    """

    def __init__(self, num_classes: int, length: int, stop_index: int | None = None) -> None:
        check_positive(length=length)
        super().__init__(num_classes, (length,))
        if stop_index is not None and (
            isinstance(stop_index, bool)
            or not isinstance(stop_index, int)
            or not 0 <= stop_index < num_classes
        ):
            raise ValueError(
                f"stop_index must be None or in [0, {num_classes}), got {stop_index!r}"
            )
        self.stop_index = stop_index

    # -- any length, stop markers --------------------------------------------------------------

    def check_shape(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] < 1:
            raise ValueError(f"expected sequences of shape [B, T] with T >= 1, got {list(x.shape)}")

    def counted(self, x: torch.Tensor) -> torch.Tensor:
        if self.stop_index is None:
            return torch.ones_like(x, dtype=torch.bool)
        stops = (x == self.stop_index).long()
        return (stops.cumsum(dim=1) - stops) == 0  # no stop marker strictly before

    def is_complete(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean ``[B]``: which rows of ``x [B, T]`` are complete examples, a stop marker
        followed only by stop markers (padding). Without a stop marker every row is complete:
        plain text has no end."""
        if self.stop_index is None:
            return torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        return ((x == self.stop_index) | self.counted(x)).all(dim=1) & (x == self.stop_index).any(
            dim=1
        )

    def log_prob(self, x: torch.Tensor, *, complete: bool = False) -> torch.Tensor:
        """Exact log-likelihood in nats, ``[B]``, of sequences ``x [B, T]``.

        With a stop marker, the positions up to and including the first stop marker count and
        the values after it are ignored (padding). A row without a stop marker is an unfinished
        example: its value is ``log p(x_1, ..., x_T)``, the probability that an example *begins*
        with these symbols, not that it is exactly them. ``complete=True`` checks that every row
        is a whole example (see :meth:`is_complete`) and raises ``ValueError`` otherwise.
        """
        if complete:
            self.check_data(x)
            bad = (~self.is_complete(x)).nonzero().flatten()
            if len(bad):
                raise ValueError(
                    f"row {int(bad[0])} of {len(x)} is not a complete example: it needs a stop "
                    f"marker ({self.stop_index}) followed only by stop markers"
                )
        return super().log_prob(x)

    # -- incremental computation (subclasses) -------------------------------------------------

    def prefill(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Read ``prompt [B, P]`` (``P`` may be 0): the logits ``[B, K]`` of position ``P`` and
        the state that :meth:`extend` continues from."""
        raise NotImplementedError

    def extend(self, token: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Append ``token [B]`` to the sequence behind ``state``: the logits ``[B, K]`` of the
        next position and the new state."""
        raise NotImplementedError

    def recompute(self, prefix: torch.Tensor) -> torch.Tensor:
        """The logits ``[B, K]`` of the position after ``prefix [B, t]``, computed from scratch
        (``t`` may be 0): the step of ``sample(use_cache=False)``. Models that see a bounded
        past (WaveNet's receptive field) read only that much of the prefix."""
        return self.logits(F.pad(prefix, (0, 1)))[:, -1]

    # -- sampling ------------------------------------------------------------------------------

    def _generate(
        self,
        n: int,
        opts: dict[str, Any],
        *,
        length: int | None = None,
        prompt: torch.Tensor | None = None,
        use_cache: bool = True,
        on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
        given: torch.Tensor | None = None,
        num_given: int = 0,
        **model_options: Any,
    ) -> torch.Tensor:
        """``sample(n, length=None, prompt=None, use_cache=True, ...)``.

        Returns ``[n, P + length]``: the ``prompt`` (``[P]`` for every sample, or ``[n, P]``)
        followed by ``length`` generated symbols (default ``event_shape[0]``). With a stop
        marker, a row that has produced it is padded with stop markers, and generation ends
        early once every row has. ``given=x, num_given=m`` is the same as
        ``prompt=x[:, :m], length=x.shape[1] - m``. ``on_step(position, logits, token)`` is
        called after every generated position with the model's logits ``[n, K]`` there (before
        temperature and filters) and the symbols drawn ``[n]``: a window into each step.
        """
        if model_options:
            raise TypeError(
                f"{type(self).__name__}.sample() got unexpected options {sorted(model_options)}"
            )
        if given is not None:
            if prompt is not None or length is not None:
                raise ValueError("pass either given= or prompt=/length=, not both")
            self.check_data(given)
            if isinstance(num_given, bool) or not isinstance(num_given, int):
                raise ValueError(f"num_given must be an integer, got {num_given!r}")
            if not 0 <= num_given <= given.shape[1]:
                raise ValueError(f"num_given must be in [0, {given.shape[1]}], got {num_given}")
            prompt, length = given[:, :num_given], given.shape[1] - num_given
        elif num_given:
            raise ValueError("num_given needs the given values")
        length = self.event_shape[0] if length is None else length
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"length must be a non-negative integer, got {length!r}")
        prompt = self._check_prompt(prompt, n)
        stop = self.stop_index
        total = prompt.shape[1] + length
        x = torch.full(
            (n, total), 0 if stop is None else stop, dtype=torch.long, device=self.device
        )
        x[:, : prompt.shape[1]] = prompt
        finished = (
            (prompt == stop).any(dim=1)
            if stop is not None
            else torch.zeros(n, dtype=torch.bool, device=self.device)
        )
        if length == 0:
            return x
        if use_cache:
            logits, state = self.prefill(prompt)
        for t in range(prompt.shape[1], total):
            if not use_cache:
                logits = self.recompute(x[:, :t])
            token = sample_logits(logits, **opts)
            if stop is not None:
                token = torch.where(finished, torch.full_like(token, stop), token)
                finished |= token == stop
            x[:, t] = token
            if on_step is not None:
                on_step(t, logits, token)
            if t + 1 == total or (stop is not None and bool(finished.all())):
                break
            if use_cache:
                logits, state = self.extend(token, state)
        return x

    def _check_prompt(self, prompt: torch.Tensor | None, n: int) -> torch.Tensor:
        if prompt is None:
            return torch.zeros(n, 0, dtype=torch.long, device=self.device)
        if not isinstance(prompt, torch.Tensor):
            raise TypeError(f"prompt must be a LongTensor of symbols, got {type(prompt).__name__}")
        if prompt.dim() == 1:
            prompt = prompt.unsqueeze(0)
        if prompt.dim() != 2 or prompt.shape[0] not in (1, n):
            raise ValueError(
                f"prompt must have shape [P] or [{n}, P] for {n} samples, got {list(prompt.shape)}"
            )
        if prompt.shape[1]:
            self.check_data(prompt)
        return prompt.expand(n, -1).to(self.device)


__all__ = ["SequenceModel"]
