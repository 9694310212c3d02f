"""The properties every autoregressive model must have, checked numerically.

These are the checks the test suite runs on every model, and the ones the chapters run to
show that a model is what it claims to be:

* :func:`dependencies` -- which inputs each output depends on, read off gradients. Causality
  means output ``i`` depends only on inputs before ``i`` in ``model.order``
  (:func:`causality_violations` lists any that do not).
* :func:`total_probability` -- ``sum_x exp(log_prob(x))`` over every possible ``x`` of a tiny
  model; exactly 1 for a normalised model.
* :func:`sampling_test` -- do samples follow ``exp(log_prob)``? A chi-square test and the total
  variation distance between sample frequencies and model probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from arbook.chain_rule import all_values
from arbook.masks import allowed
from arbook.models.base import AutoregressiveModel, evaluating


def dependencies(
    model: AutoregressiveModel,
    x: torch.Tensor | None = None,
    *,
    num_examples: int = 4,
    seed: int = 0,
) -> torch.Tensor:
    """``[D, D]`` boolean: entry ``[i, j]`` is True when the logits at flat position ``i``
    change with the input at flat position ``j``.

    The gradient of the logits at position ``i`` with respect to the input features
    (:meth:`~arbook.models.base.AutoregressiveModel.features`) at position ``j`` is exactly zero
    when there is no path from ``j`` to ``i``. The test uses ``num_examples`` random inputs (or
    ``x``) and random output weights. A True entry proves a dependency; a False entry on an
    allowed pair can also mean a path that exists but is inactive for these inputs (a ReLU unit
    that is off for all of them), so the result may be a strict subset of the connectivity.
    Causality needs only the other direction: no True entry on a forbidden pair.
    """
    g = torch.Generator().manual_seed(seed)
    if x is None:
        x = torch.randint(model.num_classes, (num_examples, *model.event_shape), generator=g)
    model.check_data(x)
    x = x.to(model.device)
    num_dims = x[0].numel()  # sequence models read any length
    with evaluating(model):
        h = model.features(x).detach().requires_grad_(True)  # [B, *shape, E]
        out = model.network(h).reshape(x.shape[0], num_dims, model.num_classes)
        weights = torch.randn(out.shape, generator=g).to(out.device)
        rows = []
        for i in range(num_dims):
            (grad,) = torch.autograd.grad((out[:, i] * weights[:, i]).sum(), h, retain_graph=True)
            rows.append(grad.reshape(x.shape[0], num_dims, -1).abs().sum(dim=(0, 2)) > 0)
    return torch.stack(rows).cpu()


def causality_violations(model: AutoregressiveModel, **kwargs) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` where output ``i`` depends on an input ``j`` not generated before it.

    An empty list means the model is causal in ``model.order``.
    """
    deps = dependencies(model, **kwargs)
    # Sequences of another length than the model's default are read left to right.
    order = model.order if len(deps) == model.num_dims else torch.arange(len(deps))
    bad = deps & ~allowed(order)
    return [tuple(pair) for pair in bad.nonzero().tolist()]


def canonical(model: AutoregressiveModel, x: torch.Tensor) -> torch.Tensor:
    """``[B]`` boolean: is each example written in its one canonical form?

    Always, except for models with a stop marker: an example ends at its first stop marker,
    so the many arrays that differ only after it are one example, written canonically with
    nothing but stop markers after the first.
    """
    stop = getattr(model, "stop_index", None)
    if stop is None:
        return torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    return ((x == stop) | model.counted(x)).flatten(1).all(dim=1)


@torch.no_grad()
def log_probs_of_all(model: AutoregressiveModel) -> torch.Tensor:
    """``log_prob`` of every possible example (in :func:`arbook.chain_rule.all_values` order);
    ``-inf`` for the non-:func:`canonical` arrays, which are not distinct examples."""
    everything = all_values(model.num_classes, model.event_shape).to(model.device)
    with evaluating(model):
        logp = torch.cat([model.log_prob(chunk) for chunk in everything.split(4096)])
    logp = logp.masked_fill(~canonical(model, everything), -torch.inf)
    return logp.cpu().double()


def total_probability(model: AutoregressiveModel) -> float:
    """``sum_x p(x)`` over every possible ``x``: 1 for a normalised model (tiny models only)."""
    return float(log_probs_of_all(model).exp().sum())


@dataclass(frozen=True)
class SamplingTest:
    """Sample frequencies against model probabilities."""

    num_samples: int
    chi_square: float
    p_value: float  #: chance of a chi-square this large if the samples follow the model
    total_variation: float  #: ``0.5 * sum |freq - p|``
    expected_total_variation: float  #: its expected value from sampling noise alone


def sampling_test(
    model: AutoregressiveModel, num_samples: int = 20000, *, seed: int = 0, **sample_kwargs
) -> SamplingTest:
    """Draw ``num_samples`` with ``model.sample`` and compare their frequencies with ``exp(log_prob)``."""
    from scipy.stats import chisquare

    probs = log_probs_of_all(model).exp()
    probs = probs / probs.sum()
    g = torch.Generator().manual_seed(seed)
    samples = model.sample(num_samples, generator=g, **sample_kwargs).reshape(num_samples, -1).cpu()
    weights = model.num_classes ** torch.arange(model.num_dims - 1, -1, -1)
    counts = torch.bincount((samples * weights).sum(dim=1), minlength=len(probs)).double()
    freq = counts / num_samples
    tv = float(0.5 * (freq - probs).abs().sum())
    # E|freq - p| for a binomial proportion, from its normal approximation.
    noise = float(0.5 * torch.sqrt(2 * probs * (1 - probs) / (torch.pi * num_samples)).sum())
    expected = probs * num_samples
    if (counts[expected == 0] > 0).any():
        return SamplingTest(num_samples, float("inf"), 0.0, tv, noise)
    # Pool the outcomes expected fewer than 5 times, so the chi-square approximation holds.
    small = expected < 5
    observed_cells = torch.cat([counts[~small], counts[small].sum().view(1)])
    expected_cells = torch.cat([expected[~small], expected[small].sum().view(1)])
    keep = expected_cells > 0
    stat, p_value = chisquare(observed_cells[keep].numpy(), expected_cells[keep].numpy())
    return SamplingTest(num_samples, float(stat), float(p_value), tv, noise)
