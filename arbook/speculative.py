"""Exact speculative sampling: a cheap draft model proposes, the target GPT decides.

Sampling a GPT costs one pass through the network per symbol, and each pass at batch 1 is a
chain of matrix-vector products that leaves the hardware mostly idle: scoring ``k + 1``
positions in one pass costs little more than scoring one. Speculative sampling
(Leviathan et al., 2023; Chen et al., 2023) turns that into speed without changing what is
sampled. Write ``p(. | prefix)`` for the target's conditional and ``q(. | prefix)`` for the
draft's, both after the same temperature, top-k and top-p
(:func:`arbook.sampling.filter_logits`). One **round**, from a prefix ``x``:

1. the draft proposes ``d_1 .. d_k``, each ``d_i ~ q(. | x, d_<i)`` (``k`` cheap steps);
2. the target computes ``p_i = p(. | x, d_1 .. d_i)`` for ``i = 0 .. k`` in one pass
   (:meth:`~arbook.models.sequence.SequenceModel.extend_many`: one pass for a GPT, ``k`` steps
   for a model without a faster way);
3. for ``i = 1 .. k`` in turn, ``d_i`` is accepted with probability
   ``min(1, p_{i-1}(d_i) / q_{i-1}(d_i))``; at the first rejection the symbol is drawn instead
   from the **residual** ``r(x) = max(0, p_{i-1}(x) - q_{i-1}(x)) / Z`` (:func:`residual`) and
   the round ends; if all ``k`` are accepted, a bonus symbol is drawn from ``p_k``.

A round emits between 1 and ``k + 1`` symbols for one pass of the target.

**Why it is exact.** At each position reached, the symbol emitted is ``x`` with probability
``q(x) min(1, p(x)/q(x)) + (1 - sum_y min(p(y), q(y))) r(x) = min(p(x), q(x)) + max(0,
p(x) - q(x)) = p(x)``, because ``Z = sum_y max(0, p(y) - q(y)) = 1 - sum_y min(p(y), q(y))``.
Whether the round goes on to the next position depends only on what happened up to this one,
so every emitted symbol follows the target's conditional given all symbols before it: the
samples are the target's, filters included, whatever the draft. A good draft only makes
rounds longer: at batch 1 with acceptance rate ``a`` a round emits ``(1 - a^{k+1}) / (1 - a)``
symbols on average (``a = sum_y min(p(y), q(y))``, one minus the total variation distance).

**Batches.** Rows accept different numbers of proposals, but the target's cache holds one
length for the whole batch. Every row therefore advances by ``m = min_r (a_r + 1)``, where
``a_r`` is the number of proposals row ``r`` accepted: each row keeps ``d_1 .. d_{m-1}`` (which
every row accepted) and its ``m``-th symbol (its accepted ``d_m``, or its residual or bonus
draw if ``a_r = m - 1``), and drops the rest. This is exact too: the event ``m >= i`` is decided
by the proposals and coin flips at positions before ``i`` in all rows, independent of the
randomness at position ``i``, so given that event the ``i``-th symbol of every row still follows
the target's conditional by the argument above -- cutting at ``m`` is a stopping time. The
price is speed, not exactness: as the batch grows, ``m`` tends to 1.

**Stop markers.** With a target ``stop_index`` a row that has produced the stop marker is padded
with it, as in :meth:`~arbook.models.base.AutoregressiveModel.sample`, and sampling ends once
every row has stopped.

**Returning to the accepted prefix.** After a round both models must forget the rejected
proposals. Each model says how (:attr:`~arbook.models.sequence.SequenceModel.state_rollback`):
a model whose ``extend`` leaves old states untouched (the RNNs, the bigram) goes back to the
state it had after the last accepted symbol; a GPT cuts its caches
(:meth:`~arbook.models.gpt.GPT.rollback`); any other sequence model reads the accepted prefix
again with ``prefill``, which is exact but slow.

Chapter "Transformers and GPT".
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import torch

from arbook.models.base import check_count, evaluating
from arbook.models.sequence import SequenceModel
from arbook.sampling import SamplingOptions, draw


@dataclass(frozen=True)
class SpeculativeStats:
    """What one call of :func:`speculative_sample` did (proposals count the rows still
    sampling at the start of each round)."""

    proposed: int  #: draft symbols proposed, over all rows
    accepted: int  #: of those, accepted by the target (before the batch is cut to ``m``)
    acceptance_rate: float  #: ``accepted / proposed`` (NaN when nothing was proposed)
    rounds: int  #: draft-then-verify rounds
    target_calls: int  #: target passes, the ``prefill`` and one ``extend_many`` per round
    draft_calls: int  #: draft ``prefill`` and ``extend`` calls
    tokens: int  #: symbols generated per row
    tokens_per_call: float  #: ``tokens / target_calls``, which is 1 for plain sampling


def residual(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The distribution drawn from after a rejection: ``max(0, p - q)`` normalised, ``[..., K]``.

    Where ``p <= q`` everywhere (``p = q`` up to rounding) a rejection has probability zero;
    those rows fall back to ``p`` so the result is always a distribution."""
    excess = (p - q).clamp_min(0)
    total = excess.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, excess / total.clamp_min(torch.finfo(p.dtype).tiny), p)


def speculative_sample(
    target: SequenceModel,
    draft: SequenceModel,
    n: int,
    *,
    k: int = 4,
    length: int | None = None,
    prompt: torch.Tensor | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    stats: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, SpeculativeStats]:
    """Draw ``n`` sequences from ``target`` with ``draft`` proposing ``k`` symbols a round.

    Returns ``[n, P + length]`` as :meth:`target.sample(n, length=length, prompt=prompt, ...)
    <arbook.models.base.AutoregressiveModel.sample>` does -- the ``prompt`` (``[P]`` or
    ``[n, P]``) then ``length`` symbols (default ``target.event_shape[0]``), padded with the
    stop marker after it -- and drawn from the same distribution: the target's, after
    ``temperature``, ``top_k`` and ``top_p``, which reshape the draft's conditionals in the
    same way. ``greedy=True`` gives the target's greedy continuation (the draft proposes its
    own most probable symbols). With ``stats=True`` also returns :class:`SpeculativeStats`.
    The same ``generator`` seed gives the same samples. See the module docstring for the
    algorithm and why it is exact at any batch size.
    """
    for role, model in (("target", target), ("draft", draft)):
        if not isinstance(model, SequenceModel):
            raise TypeError(
                f"{role} must be a SequenceModel with prefill/extend, got {type(model).__name__}"
            )
    if draft.num_classes != target.num_classes:
        raise ValueError(
            f"the draft has {draft.num_classes} symbols but the target {target.num_classes}; "
            "they must share one vocabulary"
        )
    if draft.device != target.device:
        raise ValueError(
            f"the draft is on {draft.device} but the target on {target.device}; "
            "move them to the same device"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (symbols proposed per round) must be a positive integer, got {k!r}")
    n = check_count(n)
    options = SamplingOptions(temperature, top_k, top_p, greedy)
    prompt = target.check_prefix(prompt, n, name="prompt")
    length = target.event_shape[0] if length is None else length
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")
    with ExitStack() as stack:
        for model in (target, draft):
            if model.training:  # switching modes walks every module: only when needed
                stack.enter_context(evaluating(model))
        stack.enter_context(torch.inference_mode())
        x, info = _generate(target, draft, n, k, length, prompt, options, generator)
    x = x.clone()
    return (x, info) if stats else x


def _uniform(shape: tuple[int, ...], device: torch.device, generator: torch.Generator | None):
    where = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=where).to(device)


def _generate(
    target: SequenceModel,
    draft: SequenceModel,
    n: int,
    k: int,
    length: int,
    prompt: torch.Tensor,
    options: SamplingOptions,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, SpeculativeStats]:
    device = target.device
    stop = target.stop_index
    start = prompt.shape[1]
    total = start + length
    x = torch.full((n, total), 0 if stop is None else stop, dtype=torch.long, device=device)
    x[:, :start] = prompt
    finished = (
        (prompt == stop).any(dim=1)
        if stop is not None
        else torch.zeros(n, dtype=torch.bool, device=device)
    )
    count = dict(proposed=0, accepted=0, rounds=0, target_calls=0, draft_calls=0)
    pos = start  # the next position to fill
    if length and not bool(finished.all()):
        p_first, tstate = target.prefill(prompt)
        q_logits, dstate = draft.prefill(prompt)
        count["target_calls"] += 1
        count["draft_calls"] += 1
        pending = None  # the last symbol emitted, which neither model has read yet
    while pos < total and not bool(finished.all()):
        kk = min(k, total - pos - 1)  # never propose past the end
        # -- the draft proposes d_1 .. d_kk ----------------------------------------------------
        if pending is not None:
            q_logits, dstate = draft.extend(pending, dstate)
            count["draft_calls"] += 1
        dstates, qs, ds = [dstate], [], []  # dstates[i]: the draft has read i proposals
        for i in range(kk):
            q = options.probs(q_logits)
            d = draw(q, generator)
            qs.append(q)
            ds.append(d)
            if i + 1 < kk:
                q_logits, dstate = draft.extend(d, dstate)
                dstates.append(dstate)
                count["draft_calls"] += 1
        # -- the target scores all of them in one pass -------------------------------------
        feed = ([pending] if pending is not None else []) + ds
        if feed:
            out, tstate = target.extend_many(torch.stack(feed, dim=1), tstate)
            count["target_calls"] += 1
            p_logits = out if pending is not None else torch.cat([p_first[:, None], out], dim=1)
        else:
            p_logits = p_first[:, None]
        p = options.probs(p_logits)  # [n, kk + 1, K]: p_0 .. p_kk
        # -- accept or reject ------------------------------------------------------------------
        active = ~finished
        if kk:
            d = torch.stack(ds, dim=1)  # [n, kk]
            q = torch.stack(qs, dim=1)  # [n, kk, K]
            p_d = p[:, :kk].gather(-1, d[..., None])[..., 0]
            q_d = q.gather(-1, d[..., None])[..., 0]
            # u < p/q without dividing (q_d > 0: d was drawn from q)
            ok = _uniform((n, kk), device, generator) * q_d < p_d
            accepted = ok.long().cumprod(dim=1).sum(dim=1)  # [n] leading acceptances
        else:
            d = torch.zeros(n, 0, dtype=torch.long, device=device)
            accepted = torch.zeros(n, dtype=torch.long, device=device)
        cut = int(accepted[active].min())  # every row keeps d_1 .. d_cut
        if cut < kk:  # some row rejected d_{cut+1}: its symbol comes from the residual
            y = draw(residual(p[:, cut], q[:, cut]), generator)
            y = torch.where(accepted > cut, d[:, cut], y)
        else:  # every row accepted everything: a bonus symbol from p_kk
            y = draw(p[:, kk], generator)
        new = torch.cat([d[:, :cut], y[:, None]], dim=1)  # [n, m], m = cut + 1
        if stop is not None:
            new = torch.where(finished[:, None], torch.full_like(new, stop), new)
            after = (new == stop).long().cumsum(dim=1) > 0
            new = torch.where(after, torch.full_like(new, stop), new)
            finished = finished | after[:, -1]
        x[:, pos : pos + cut + 1] = new
        count["rounds"] += 1
        count["proposed"] += kk * int(active.sum())
        count["accepted"] += int(accepted[active].sum())
        pos += cut + 1
        if pos == total or bool(finished.all()):
            break
        # -- both models return to x[:, :pos - 1]; y is read at the start of the next round --
        keep = pos - 1
        if target.state_rollback == "replay":
            count["target_calls"] += 1
        tstate = target.rollback(tstate, keep, x[:, :keep])
        dstate = _restore(draft, dstates, ds, cut, keep, x, count)
        pending = x[:, keep]
    tokens = pos - start
    proposed, calls = count["proposed"], count["target_calls"]
    info = SpeculativeStats(
        proposed=proposed,
        accepted=count["accepted"],
        acceptance_rate=count["accepted"] / proposed if proposed else math.nan,
        rounds=count["rounds"],
        target_calls=calls,
        draft_calls=count["draft_calls"],
        tokens=tokens,
        tokens_per_call=tokens / calls if calls else math.nan,
    )
    return x, info


def _restore(
    draft: SequenceModel,
    dstates: list[Any],
    ds: list[torch.Tensor],
    cut: int,
    keep: int,
    x: torch.Tensor,
    count: dict[str, int],
) -> Any:
    """The draft's state after reading ``x[:, :keep]``: the round's proposals up to ``d_cut``."""
    if cut == len(dstates):  # all proposals kept: read the last one too
        count["draft_calls"] += 1
        return draft.extend(ds[-1], dstates[-1])[1]
    if draft.state_rollback == "persistent":
        return dstates[cut]
    if draft.state_rollback == "replay":
        count["draft_calls"] += 1
    return draft.rollback(dstates[-1], keep, x[:, :keep])


__all__ = ["SpeculativeStats", "residual", "speculative_sample"]
