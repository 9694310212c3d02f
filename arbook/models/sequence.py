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
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from arbook.models.base import AutoregressiveModel, check_count, check_positive
from arbook.sampling import SamplingOptions


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
        self.length = length

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

    #: How generation returns to an earlier length, which speculative sampling
    #: (:mod:`arbook.speculative`) does after every round:
    #:
    #: * ``"persistent"``: :meth:`extend` returns a new state and leaves the one it is given
    #:   untouched, so a state kept from earlier is still valid (RNNs, the bigram);
    #: * ``"rollback"``: :meth:`extend` updates its state in place, and :meth:`rollback` cuts it
    #:   back cheaply (GPT's key/value caches);
    #: * ``"replay"``: :meth:`rollback` reads the prefix again with :meth:`prefill` (exact, at the
    #:   cost of one pass over the prefix): the default, right for any model.
    state_rollback: ClassVar[str] = "replay"

    def prefill(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Read ``prompt [B, P]`` (``P`` may be 0): the logits ``[B, K]`` of position ``P`` and
        the state that :meth:`extend` continues from."""
        raise NotImplementedError

    def extend(self, token: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Append ``token [B]`` to the sequence behind ``state``: the logits ``[B, K]`` of the
        next position and the new state."""
        raise NotImplementedError

    def extend_many(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Append ``tokens [B, m]`` (``m >= 1``): the logits ``[B, m, K]``, where ``[:, i]``
        are those of the position after ``tokens[:, i]`` (what the ``i``-th of ``m``
        :meth:`extend` calls returns), and the new state. This default makes those ``m``
        calls; a model that scores several positions in one pass (GPT) overrides it."""
        if tokens.dim() != 2 or tokens.shape[1] < 1:
            raise ValueError(f"tokens must have shape [B, m] with m >= 1, got {list(tokens.shape)}")
        pieces = []
        for i in range(tokens.shape[1]):
            logits, state = self.extend(tokens[:, i], state)
            pieces.append(logits)
        return torch.stack(pieces, dim=1), state

    def rollback(self, state: Any, length: int, history: torch.Tensor | None = None) -> Any:
        """The state after reading only the first ``length`` symbols of the sequence behind
        ``state``, ready for :meth:`extend`; ``history [B, >= length]`` holds those symbols
        ``x_0 .. x_{length-1}`` (a model that can cut its state needs fewer or none: see
        :attr:`state_rollback`). This default reads them again with :meth:`prefill`."""
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"length must be a non-negative integer, got {length!r}")
        if history is None or history.dim() != 2 or history.shape[1] < length:
            got = None if history is None else list(history.shape)
            raise ValueError(
                f"{type(self).__name__} rolls back by reading the prefix again: pass history, "
                f"the symbols x_0 .. x_{length - 1}, got {got}"
            )
        return self.prefill(history[:, :length])[1]

    def recompute(self, prefix: torch.Tensor) -> torch.Tensor:
        """The logits ``[B, K]`` of the position after ``prefix [B, t]``, computed from scratch
        (``t`` may be 0): the step of ``sample(use_cache=False)``. Models that see a bounded
        past (WaveNet's receptive field) read only that much of the prefix."""
        return self.logits(F.pad(prefix, (0, 1)))[:, -1]

    # -- sampling ------------------------------------------------------------------------------

    @property
    def max_prefix(self) -> int | None:
        return None

    def sample(
        self,
        n: int,
        *,
        prompt: torch.Tensor | None = None,
        length: int | None = None,
        use_cache: bool = True,
        on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
        prefix: torch.Tensor | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Draw ``n`` sequences ``[n, P + length]``: the ``prompt`` (``[P]`` for every sample,
        or ``[n, P]``) followed by ``length`` generated symbols (default ``event_shape[0]``).

        ``prompt`` is the :meth:`~arbook.models.base.AutoregressiveModel.sample` ``prefix``
        under the name text models give it (pass one or the other). With a stop marker, a row
        that has produced it is padded with stop markers, and generation ends early once every
        row has. ``use_cache=False`` recomputes every conditional from the whole prefix
        instead of continuing a state (same samples, slower). ``on_step(position, logits,
        token)`` is called after every generated position with the model's logits ``[n, K]``
        there (before temperature and filters) and the symbols drawn ``[n]``: a window into
        each step. ``options``: ``temperature``, ``top_k``, ``top_p``, ``greedy``,
        ``generator`` as for every model.
        """
        if prompt is not None:
            if prefix is not None:
                raise ValueError("pass the prompt as prompt= or as prefix=, not both")
            prefix = self.check_prefix(prompt, check_count(n), name="prompt")
        return super().sample(
            n,
            prefix=prefix,
            length=length,
            use_cache=use_cache,
            on_step=on_step,
            **options,
        )

    def _generate(
        self,
        n: int,
        prefix: torch.Tensor,
        options: SamplingOptions,
        generator: torch.Generator | None,
        *,
        length: int | None = None,
        use_cache: bool = True,
        on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
        **model_options: Any,
    ) -> torch.Tensor:
        if model_options:
            raise TypeError(
                f"{type(self).__name__}.sample() got unexpected options {sorted(model_options)}"
            )
        length = self.event_shape[0] if length is None else length
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"length must be a non-negative integer, got {length!r}")
        stop = self.stop_index
        total = prefix.shape[1] + length
        x = torch.full(
            (n, total), 0 if stop is None else stop, dtype=torch.long, device=self.device
        )
        x[:, : prefix.shape[1]] = prefix
        finished = (
            (prefix == stop).any(dim=1)
            if stop is not None
            else torch.zeros(n, dtype=torch.bool, device=self.device)
        )
        if length == 0:
            return x
        if use_cache:
            logits, state = self.prefill(prefix)
        for t in range(prefix.shape[1], total):
            if not use_cache:
                logits = self.recompute(x[:, :t])
            token = options.draw(logits, generator)
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


__all__ = ["SequenceModel"]
