"""Speculative sampling: GPT scores several positions at once and rolls back exactly (within and
across the sliding window), and the speculative samples follow the target's distribution --
filters included, at batch 1 and large batches, with stop markers -- while a wrong rejection
rule and the draft's own samples fail the same frequency test."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from arbook.chain_rule import all_values
from arbook.layers import KVCache
from arbook.models import GPT, Bigram, CharRNN, WaveNet
from arbook.sampling import filter_logits
from arbook.speculative import SpeculativeStats, residual, speculative_sample


def _sharpen(model):
    """Larger weights than at initialisation: conditionals far from uniform."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval()


def _gpt(block_size=8, stride=None, num_classes=11, seed=0):
    torch.manual_seed(seed)
    return _sharpen(
        GPT(
            num_classes,
            block_size=block_size,
            num_layers=2,
            num_heads=2,
            embed_dim=16,
            length=30,
            stride=stride,
        )
    )


def _tiny(stop_index=None):
    """A target GPT over 3 symbols and three deliberately different drafts."""
    torch.manual_seed(0)
    target = _sharpen(
        GPT(
            3, block_size=4, num_layers=2, num_heads=2, embed_dim=8, length=4, stop_index=stop_index
        )
    )
    torch.manual_seed(1)
    drafts = {
        "bigram": _sharpen(Bigram(3, length=4)),
        "gpt": _sharpen(GPT(3, block_size=4, num_layers=1, num_heads=2, embed_dim=8, length=4)),
        "lstm": _sharpen(CharRNN(3, 8, cell="lstm", length=4)),
    }
    return target, drafts


# -- GPT: several positions at once, and rollback ----------------------------------------------


def test_kv_cache_truncate():
    cache = KVCache(1, 2, 6, 4, torch.zeros(1))
    kv = torch.randn(1, 2, 2, 5, 4)
    cache.append_packed(kv)
    cache.truncate(3)
    assert cache.length == 3 and cache.nbytes() == 2 * 2 * 3 * 4 * 4
    keys, _ = cache.append_packed(kv[:, :, :, :1] + 1.0)
    assert torch.equal(keys[:, :, :3], kv[:, 0, :, :3])
    assert torch.equal(keys[:, :, 3], kv[:, 0, :, 0] + 1.0)  # position 3 was overwritten
    with pytest.raises(ValueError, match="length must be in"):
        cache.truncate(5)
    with pytest.raises(TypeError, match="integer"):
        cache.truncate(1.0)


@pytest.mark.parametrize("explicit", [False, True], ids=["plain-steps", "modules"])
@pytest.mark.parametrize("stride", [1, 3, 8])
@pytest.mark.parametrize("k", [2, 3, 6])
def test_extend_many_equals_single_steps_and_recompute(stride, k, explicit):
    """Across the block boundary and every slide of the window (block 8, 30 symbols), through
    the blocks' plain functions and (explicit attention) through the modules."""
    model = _gpt(stride=stride).set_attention(explicit=explicit)
    x = torch.randint(11, (3, 30))
    full = model.logits(x)
    with torch.no_grad():
        for prompt_length in (0, 5):
            _, state = model.prefill(x[:, :prompt_length])
            _, single = model.prefill(x[:, :prompt_length])
            t = prompt_length
            while t < 29:
                m = min(k, 29 - t)
                many, state = model.extend_many(x[:, t : t + m], state)
                assert many.shape == (3, m, 11)
                steps = []
                for i in range(m):
                    logits, single = model.extend(x[:, t + i], single)
                    steps.append(logits)
                torch.testing.assert_close(many, torch.stack(steps, 1), rtol=1e-5, atol=1e-5)
                torch.testing.assert_close(many, full[:, t + 1 : t + m + 1], rtol=1e-5, atol=1e-5)
                assert (state.t, state.start) == (single.t, single.start)
                assert torch.equal(state.window, single.window)
                assert state.caches[0].length == single.caches[0].length
                t += m


@pytest.mark.parametrize("stride", [1, 4])
def test_rollback_then_extend_equals_a_fresh_computation(stride):
    """Read some symbols, go back 0..k of them (into an earlier window where the context slid),
    read other symbols: the logits are those of the new sequence computed from scratch."""
    model = _gpt(stride=stride)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(11, (2, 30), generator=g)
    with torch.no_grad():
        for start in range(0, 24, 3):  # crosses block_size = 8 and several slides
            for back in (0, 1, 3, 5):
                _, state = model.prefill(x[:, :start])
                _, state = model.extend_many(x[:, start : start + 5], state)
                keep = start + 5 - back
                state = model.rollback(state, keep, x[:, :keep])
                other = torch.randint(11, (2, 4), generator=g)
                logits, state = model.extend_many(other, state)
                y = torch.cat([x[:, :keep], other], dim=1)
                fresh = model.logits(F.pad(y, (0, 1)))[:, keep + 1 :]  # after each symbol
                torch.testing.assert_close(logits, fresh, rtol=1e-5, atol=1e-5)
                for t in range(keep + 1, keep + 5):  # a fresh prefill agrees as well
                    torch.testing.assert_close(
                        model.recompute(y[:, :t]), fresh[:, t - keep - 1], rtol=1e-5, atol=1e-5
                    )


def test_rollback_needs_history_only_into_an_earlier_window():
    model = _gpt(stride=4)
    x = torch.randint(11, (2, 20))
    with torch.no_grad():
        _, state = model.prefill(x[:, :6])
        _, state = model.extend_many(x[:, 6:10], state)  # reads s_7 .. s_10; slides at s_8
        assert state.start == 4
        same = model.rollback(state, 9)  # still the window that starts at 4: no history needed
        assert same.t == 9 and same.caches[0].length == 9 - 4 + 1
        with pytest.raises(ValueError, match="earlier window: pass history"):
            model.rollback(same, 7)
        with pytest.raises(ValueError, match="roll back to a length in"):
            model.rollback(same, 10)
        with pytest.raises(ValueError, match="tokens must have shape"):
            model.extend_many(x[:, :0], same)


# -- the samples follow the target ------------------------------------------------------------


def _exact(target, **opts):
    """The probability of every sequence of ``target.event_shape[0]`` symbols (in
    :func:`~arbook.chain_rule.all_values` order) under the target's filtered conditionals."""
    everything = all_values(target.num_classes, target.event_shape)
    with torch.no_grad():
        logits = filter_logits(target.logits(everything), **opts)
    logp = logits.log_softmax(-1).gather(-1, everything[..., None])[..., 0]
    logp = torch.where(target.counted(everything), logp, 0.0).sum(dim=1).double()
    if target.stop_index is not None:  # only the canonical form of each example counts
        stops = everything == target.stop_index
        canonical = (stops | target.counted(everything)).all(dim=1)
        logp = logp.masked_fill(~canonical, -torch.inf)
    return logp.exp()


def _frequency_test(sample, probs, num_samples, batch, num_classes):
    """``sample(batch, generator)`` repeatedly; the chi-square p-value of the sample frequencies
    against ``probs`` and their total variation distance divided by the distance that sampling
    noise alone gives on average (about 1 for a correct sampler), as in
    :func:`arbook.checks.sampling_test`."""
    from scipy.stats import chisquare

    g = torch.Generator().manual_seed(0)
    draws = torch.cat([sample(batch, g) for _ in range(num_samples // batch)])
    weights = num_classes ** torch.arange(draws.shape[1] - 1, -1, -1)
    counts = torch.bincount((draws * weights).sum(dim=1), minlength=len(probs)).double()
    probs = probs / probs.sum()
    expected = probs * len(draws)
    tv = float(0.5 * (counts / len(draws) - probs).abs().sum())
    # relative to its expected value from sampling noise alone (normal approximation)
    tv /= float(0.5 * torch.sqrt(2 * probs * (1 - probs) / (torch.pi * len(draws))).sum())
    if (counts[expected == 0] > 0).any():
        return 0.0, tv
    small = expected < 5  # pooled, so the chi-square approximation holds
    observed_cells = torch.cat([counts[~small], counts[small].sum().view(1)])
    expected_cells = torch.cat([expected[~small], expected[small].sum().view(1)])
    keep = expected_cells > 0
    _, p_value = chisquare(observed_cells[keep].numpy(), expected_cells[keep].numpy())
    return float(p_value), tv


def _speculative(target, draft, seen=None, **options):
    def sample(batch, g):
        x, info = speculative_sample(target, draft, batch, generator=g, stats=True, **options)
        if seen is not None:
            seen.append(info)
        return x

    return sample


@pytest.mark.parametrize(
    ("draft_name", "k", "options"),
    [
        ("bigram", 3, {}),
        ("gpt", 2, dict(temperature=0.7, top_k=2)),
        ("lstm", 4, dict(temperature=1.5, top_p=0.8)),
    ],
)
def test_samples_follow_the_target(draft_name, k, options):
    """Batches of 6 (rows accept different numbers; all are cut to the fewest) over all 81
    sequences of 4 symbols: the frequencies match the target's filtered distribution and not
    the draft's."""
    target, drafts = _tiny()
    draft = drafts[draft_name]
    probs = _exact(target, **options)
    draft_probs = _exact(draft, **options)
    assert 0.5 * (probs - draft_probs).abs().sum() > 0.15  # a deliberately different draft
    seen: list[SpeculativeStats] = []
    p_value, tv = _frequency_test(
        _speculative(target, draft, seen, k=k, **options), probs, 4800, 6, 3
    )
    assert p_value > 1e-3 and tv < 1.5, (p_value, tv)
    # rounds of several symbols happened, and some proposals were rejected
    assert sum(s.tokens for s in seen) / sum(s.rounds for s in seen) > 1.05
    assert 0.2 < sum(s.accepted for s in seen) / sum(s.proposed for s in seen) < 0.98


@pytest.mark.parametrize("pair", ["lstm target, gpt draft", "gpt target, wavenet draft"])
def test_any_sequence_model_is_a_target_or_a_draft(pair):
    """The algorithm reads only the sequence-model interface: an LSTM target scores proposals
    with the default ``extend_many`` (one step each) and returns by reading the prefix again;
    a WaveNet draft, whose queues change in place, is read again after every round."""
    target, drafts = _tiny()
    if pair.startswith("lstm"):
        target, draft = drafts["lstm"], drafts["gpt"]
        assert (target.state_rollback, draft.state_rollback) == ("persistent", "rollback")
    else:
        torch.manual_seed(2)
        draft = _sharpen(WaveNet(3, 4, 8, layers_per_block=2, blocks=1, length=4))
        assert draft.state_rollback == "replay"
    probs = _exact(target)
    p_value, tv = _frequency_test(_speculative(target, draft, k=3), probs, 2400, 6, 3)
    assert p_value > 1e-3 and tv < 1.5, (p_value, tv)


def test_default_extend_many_and_rollback_agree_with_single_steps():
    _, drafts = _tiny()
    model = drafts["lstm"].eval()
    x = torch.randint(3, (2, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, state = model.prefill(x[:, :2])
        many, state = model.extend_many(x[:, 2:6], state)
        _, step = model.prefill(x[:, :2])
        for i in range(2, 6):
            logits, step = model.extend(x[:, i], step)
            torch.testing.assert_close(many[:, i - 2], logits)
        back = model.rollback(state, 4, x[:, :4])
        torch.testing.assert_close(model.extend(x[:, 4], back)[0], model.prefill(x[:, :5])[0])
        with pytest.raises(ValueError, match="pass history"):
            model.rollback(state, 4)


def test_samples_follow_the_target_at_batch_1_and_in_one_large_batch():
    target, drafts = _tiny()
    probs = _exact(target)
    for batch, num_samples in ((1, 1200), (6000, 12000)):
        sample = _speculative(target, drafts["bigram"], k=4)
        p_value, tv = _frequency_test(sample, probs, num_samples, batch, 3)
        assert p_value > 1e-3 and tv < 1.5, (batch, p_value, tv)


def test_samples_follow_the_target_with_a_stop_marker():
    target, drafts = _tiny(stop_index=0)
    probs = _exact(target)
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-6)
    p_value, tv = _frequency_test(_speculative(target, drafts["gpt"], k=3), probs, 4800, 6, 3)
    assert p_value > 1e-3 and tv < 1.5, (p_value, tv)
    x = speculative_sample(target, drafts["gpt"], 200, length=6, generator=torch.Generator())
    after_stop = (x == 0).long().cumsum(dim=1) > 0
    assert (x[after_stop] == 0).all()  # a row that stopped is padded with stop markers


def test_the_frequency_test_has_power(monkeypatch):
    """Negative controls: the draft's own samples, and speculative sampling with the classic
    mistake of drawing from p instead of the residual after a rejection, both fail."""
    target, drafts = _tiny()
    probs = _exact(target)
    draft = drafts["bigram"]
    p_value, tv = _frequency_test(
        lambda batch, g: draft.sample(batch, generator=g), probs, 8000, 8000, 3
    )
    assert p_value < 1e-6 and tv > 5, (p_value, tv)
    monkeypatch.setattr("arbook.speculative.residual", lambda p, q: p)
    p_value, tv = _frequency_test(_speculative(target, draft, k=3), probs, 4800, 6, 3)
    assert p_value < 1e-6 and tv > 2, (p_value, tv)


def test_residual():
    p = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    q = torch.tensor([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]])
    torch.testing.assert_close(residual(p, q), torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]))
    # a draw from q kept with probability min(1, p/q), else from the residual, is a draw from p
    accept = torch.minimum(p, q).sum(-1, keepdim=True)
    torch.testing.assert_close(torch.minimum(p, q) + (1 - accept) * residual(p, q), p)
    # greedy runs on one-hot distributions: after a rejection, the target's argmax
    one_hot_p, one_hot_q = F.one_hot(torch.tensor([2]), 3).float(), F.one_hot(torch.tensor([0]), 3)
    assert torch.equal(residual(one_hot_p, one_hot_q.float()), one_hot_p)


# -- exact equalities, statistics, validation ---------------------------------------------------


@pytest.mark.parametrize("draft_name", ["bigram", "gpt", "lstm"])
def test_greedy_equals_the_targets_greedy_continuation(draft_name):
    """Over 40 symbols: the target's window (4 symbols) slides many times, and so does the
    draft GPT's; prompts differ per row."""
    target, drafts = _tiny()
    prompt = torch.randint(3, (5, 3), generator=torch.Generator().manual_seed(0))
    for k in (1, 3, 5):
        ours = speculative_sample(
            target, drafts[draft_name], 5, k=k, length=40, prompt=prompt, greedy=True
        )
        assert torch.equal(ours, target.sample(5, length=40, prompt=prompt, greedy=True))


def test_a_draft_equal_to_the_target_is_always_accepted():
    target, _ = _tiny()
    torch.manual_seed(0)
    copy = _sharpen(GPT(3, block_size=4, num_layers=2, num_heads=2, embed_dim=8, length=4))
    for draft in (target, copy):
        _, info = speculative_sample(target, draft, 3, k=4, length=25, stats=True)
        assert info.acceptance_rate == 1.0 and info.accepted == info.proposed
        assert info.tokens == 25 and info.rounds == 5  # 5 symbols a round, the last one short
        assert info.target_calls == 1 + info.rounds and info.tokens_per_call == 25 / 6


def test_same_seed_same_samples_and_statistics():
    target, drafts = _tiny()
    runs = [
        speculative_sample(
            target,
            drafts["lstm"],
            6,
            k=3,
            length=12,
            stats=True,
            generator=torch.Generator().manual_seed(5),
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    other = speculative_sample(
        target, drafts["lstm"], 6, k=3, length=12, generator=torch.Generator().manual_seed(6)
    )
    assert not torch.equal(runs[0][0], other)
    x, info = runs[0]
    assert x.shape == (6, 12) and info.tokens == 12 and info.proposed >= info.accepted
    assert info.tokens_per_call == pytest.approx(12 / info.target_calls)


def test_prompt_and_lengths():
    target, drafts = _tiny()
    prompt = torch.tensor([2, 1])
    x = speculative_sample(target, drafts["bigram"], 3, length=5, prompt=prompt)
    assert x.shape == (3, 7) and (x[:, :2] == prompt).all()
    assert speculative_sample(target, drafts["bigram"], 2, length=0, prompt=prompt).shape == (2, 2)
    assert speculative_sample(target, drafts["bigram"], 2).shape == (2, 4)  # target's length
    assert not target.training


def test_bad_inputs():
    target, drafts = _tiny()
    draft = drafts["bigram"]
    with pytest.raises(TypeError, match="target must be a SequenceModel"):
        speculative_sample(torch.nn.Linear(2, 2), draft, 2)
    with pytest.raises(TypeError, match="draft must be a SequenceModel"):
        speculative_sample(target, torch.nn.Linear(2, 2), 2)
    with pytest.raises(ValueError, match="share one vocabulary"):
        speculative_sample(target, Bigram(4), 2)
    for k in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="k \\(symbols proposed per round\\)"):
            speculative_sample(target, draft, 2, k=k)
    with pytest.raises(ValueError, match="length"):
        speculative_sample(target, draft, 2, length=-1)
    with pytest.raises(ValueError, match="temperature"):
        speculative_sample(target, draft, 2, temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        speculative_sample(target, draft, 2, top_p=1.5)
    with pytest.raises(ValueError, match="at least 1"):
        speculative_sample(target, draft, 0)
    with pytest.raises(ValueError, match="prompt must have shape"):
        speculative_sample(target, draft, 2, prompt=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="data values must be in"):
        speculative_sample(target, draft, 2, prompt=torch.tensor([5]))
