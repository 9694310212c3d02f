"""From logits to the next value: temperature, top-k, top-p (nucleus) and greedy.

Every model's ``sample`` draws each position with :func:`sample_logits`, so the filters mean
the same thing everywhere. They compose in a fixed order -- temperature, then top-k, then
top-p -- and each is exactly defined:

* temperature ``t > 0`` divides the logits by ``t`` (``t < 1`` sharpens, ``t > 1`` flattens);
* top-k keeps exactly the ``k`` largest logits (among equal logits the lower index is kept, so
  exactly ``k`` survive even where the model gives several values the same probability);
* top-p keeps the smallest set of most probable values whose total probability reaches ``p``;
* greedy takes the most probable value (the limit ``t -> 0``; the lowest index among ties).

Any temperature ``t > 0`` is safe, however small: where dividing by ``t`` would overflow, the
logits are first shifted so that the largest is 0 (which changes no probability), and the
distribution tends to the uniform one over the most probable values.

The kept values are renormalised; everything else gets probability zero. See the chapter
"Sampling" (and :func:`filter_logits` for the distribution that is actually sampled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingOptions:
    """How each conditional is reshaped before a value is drawn, validated once.

    ``temperature``, ``top_k``, ``top_p`` and ``greedy`` as in the module docstring. Building
    the object checks them and raises a ``TypeError``/``ValueError`` that names the bad one;
    afterwards :meth:`filter`, :meth:`probs` and :meth:`draw` apply them without checking
    again, which is what a generation loop calls at every position.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False

    def __post_init__(self) -> None:
        check_options(self.temperature, self.top_k, self.top_p)
        if not isinstance(self.greedy, bool):
            raise TypeError(f"greedy must be True or False, got {self.greedy!r}")

    def filter(self, logits: torch.Tensor) -> torch.Tensor:
        """Temperature, top-k and top-p applied to ``logits [..., K]`` (removed values are
        ``-inf``): ``softmax`` of the result is the distribution sampled from."""
        return _filter(logits, self.temperature, self.top_k, self.top_p)

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """The distribution ``[..., K]`` each value is drawn from: the filtered softmax, or,
        with ``greedy``, all the mass on the most probable value."""
        if self.greedy:
            return torch.nn.functional.one_hot(logits.argmax(dim=-1), logits.shape[-1]).float()
        return self.filter(logits).softmax(dim=-1)

    def draw(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One value per row of ``logits [..., K]``, a ``LongTensor [...]`` (greedy takes the
        most probable value and uses no random numbers)."""
        if self.greedy:
            return logits.argmax(dim=-1)
        return draw(self.filter(logits).softmax(dim=-1), generator)


def check_options(
    temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> None:
    """Raise a clear error for an invalid temperature, top_k or top_p."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number, got {temperature!r}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(
            f"temperature must be a finite number > 0, got {temperature!r} (for the most "
            "probable value use greedy sampling: greedy=True, or --greedy on the command line)"
        )
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise TypeError(f"top_k must be an integer or None, got {top_k!r}")
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
            raise TypeError(f"top_p must be a number or None, got {top_p!r}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")


def filter_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Apply temperature, top-k and top-p to ``logits [..., K]``; removed values become ``-inf``.

    ``softmax`` of the result is the distribution :func:`sample_logits` draws from
    (:meth:`SamplingOptions.filter` with the options checked).
    """
    return SamplingOptions(temperature, top_k, top_p).filter(logits)


def _filter(
    logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None
) -> torch.Tensor:
    logits = logits.float()
    scaled = logits / temperature
    if temperature < 1 and not torch.isfinite(scaled[torch.isfinite(logits)]).all():
        # A tiny temperature overflows: shift the largest logit to 0 first (the largest then
        # stay 0, the others become very negative or -inf).
        # In float64, where a temperature below float32's range is still a positive number.
        shifted = logits.double() - logits.double().amax(dim=-1, keepdim=True)
        scaled = (shifted / temperature).float()
    logits = scaled
    num_classes = logits.shape[-1]
    if top_k is not None and top_k < num_classes:
        # A stable sort keeps equal logits in index order: the lower indices survive a tie.
        keep = logits.sort(dim=-1, descending=True, stable=True).indices[..., :top_k]
        kept = torch.full_like(logits, -math.inf).scatter(-1, keep, logits.gather(-1, keep))
        logits = kept
    if top_p is not None and top_p < 1.0:
        sorted_logits, sorted_idx = logits.sort(dim=-1, descending=True, stable=True)
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs
        # Keep a value while the mass of the more probable ones has not yet reached p;
        # the most probable value is always kept.
        remove_sorted = mass_before >= top_p
        remove_sorted[..., 0] = False
        remove = torch.zeros_like(remove_sorted).scatter(-1, sorted_idx, remove_sorted)
        logits = logits.masked_fill(remove, -math.inf)
    return logits


def sample_logits(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one value per row of ``logits [..., K]``; returns a ``LongTensor [...]``
    (:meth:`SamplingOptions.draw` with the options checked)."""
    return SamplingOptions(temperature, top_k, top_p, greedy).draw(logits, generator)


def draw(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One value per row of the distributions ``probs [..., K]``, a ``LongTensor [...]``.

    With a ``generator`` the draw happens on the generator's device, so the same seed gives
    the same values whether the model runs on a CPU or a GPU.
    """
    device = probs.device
    if generator is not None:
        probs = probs.to(generator.device)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1]).to(device)


# -- one generated text, step by step ----------------------------------------------------------


@dataclass(frozen=True)
class SampledStep:
    """One generated position of a :func:`trace`.

    ``step`` counts the generated symbols from 0; ``position`` is the index in the whole text,
    prompt included; ``prefix`` is the text before it, ``x_<t``. ``probs [K]`` is the model's
    own conditional ``p(x_t | x_<t)`` (temperature 1, no filter), ``filtered [K]`` the
    distribution the symbol was drawn from, ``chosen`` the symbol drawn (``symbol`` as text).
    """

    step: int
    position: int
    prefix: str
    probs: torch.Tensor
    filtered: torch.Tensor
    chosen: int
    symbol: str

    @property
    def log_prob(self) -> float:
        """``log p(x_t | x_<t)`` of the chosen symbol under the model, in nats."""
        return float(self.probs[self.chosen].log())

    @property
    def kept(self) -> int:
        """How many symbols the filters left with a nonzero probability."""
        return int((self.filtered > 0).sum())


@dataclass(frozen=True)
class Trace:
    """A text generated by :func:`trace`: ``text`` (prompt and generated symbols, the stop
    marker included when drawn), ``codes``, ``num_prompt`` (symbols of the prompt), ``steps``
    (one :class:`SampledStep` per generated symbol) and ``options`` (the filters used)."""

    text: str
    codes: torch.Tensor
    num_prompt: int
    steps: list[SampledStep]
    options: SamplingOptions

    @property
    def log_prob(self) -> float:
        """``log p`` of the generated symbols given the prompt under the model, in nats."""
        return sum(s.log_prob for s in self.steps)


@torch.no_grad()
def trace(
    model,
    vocab,
    prompt: str = "",
    *,
    length: int | None = None,
    generator: torch.Generator | None = None,
    **options,
) -> Trace:
    """Generate one text after ``prompt`` with ``model.sample`` and record every step: the
    model's conditional and the filtered distribution the symbol was drawn from. The text is
    exactly ``model.sample(1, prompt=vocab.encode(prompt), generator=generator, **options)``
    up to its stop marker (``options``: temperature, top_k, top_p, greedy)."""
    checked = SamplingOptions(**options)
    codes = vocab.encode(prompt)
    seen: list[tuple[int, torch.Tensor]] = []
    out = model.sample(
        1,
        prompt=codes,
        length=length,
        generator=generator,
        on_step=lambda position, logits, _token: seen.append((position, logits[0].cpu())),
        **options,
    )[0].cpu()
    tokens = out[: len(codes) + len(seen)]
    steps = [
        SampledStep(
            step=t,
            position=position,
            prefix=vocab.decode(tokens[:position]),
            probs=logits.double().softmax(-1),
            filtered=(
                checked.probs(logits).double()
                if checked.greedy
                else checked.filter(logits).double().softmax(-1)
            ),
            chosen=int(tokens[position]),
            symbol=vocab.symbols[int(tokens[position])],
        )
        for t, (position, logits) in enumerate(seen)
    ]
    return Trace(vocab.decode(tokens), tokens, len(codes), steps, checked)


__all__ = [
    "SampledStep",
    "SamplingOptions",
    "Trace",
    "check_options",
    "draw",
    "filter_logits",
    "sample_logits",
    "trace",
]
