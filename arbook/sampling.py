"""From logits to the next value: temperature, top-k, top-p (nucleus) and greedy.

Every model's ``sample`` draws each position with :func:`sample_logits`, so the filters mean
the same thing everywhere. They compose in a fixed order -- temperature, then top-k, then
top-p -- and each is exactly defined:

* temperature ``t > 0`` divides the logits by ``t`` (``t < 1`` sharpens, ``t > 1`` flattens);
* top-k keeps exactly the ``k`` largest logits (ties broken by index, so exactly ``k``);
* top-p keeps the smallest set of most probable values whose total probability reaches ``p``;
* greedy takes the most probable value (the limit ``t -> 0``).

The kept values are renormalised; everything else gets probability zero. See the chapter
"Sampling" (and :func:`filter_logits` for the distribution that is actually sampled).
"""

from __future__ import annotations

import math

import torch


def check_options(
    temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> None:
    """Raise a clear error for an invalid temperature, top_k or top_p."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number, got {temperature!r}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(
            f"temperature must be a finite number > 0, got {temperature!r} (use greedy=True for argmax)"
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

    ``softmax`` of the result is the distribution :func:`sample_logits` draws from.
    """
    check_options(temperature, top_k, top_p)
    logits = logits.float() / temperature
    num_classes = logits.shape[-1]
    if top_k is not None and top_k < num_classes:
        # topk breaks ties by index, so exactly k values survive.
        keep = logits.topk(top_k, dim=-1).indices
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
    """Draw one value per row of ``logits [..., K]``; returns a ``LongTensor [...]``.

    With a ``generator`` the draw happens on the generator's device, so the same seed gives
    the same values whether the model runs on a CPU or a GPU.
    """
    if greedy:
        check_options(temperature, top_k, top_p)
        return logits.argmax(dim=-1)
    probs = filter_logits(logits, temperature, top_k, top_p).softmax(dim=-1)
    if generator is not None:
        probs = probs.to(generator.device)
    flat = probs.reshape(-1, probs.shape[-1])
    draws = torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])
    return draws.to(logits.device)
