"""A generated text step by step (``sampling.trace``) and its figure, the static counterpart
of the sampling explorer: the text is the model's own sample, the steps its conditionals."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from arbook import plots
from arbook.data import CharVocab
from arbook.models import CharRNN
from arbook.sampling import SampledStep, trace

VOCAB = CharVocab("abcde", specials=(".",))  # "." (index 0) ends a text


def tiny_rnn(stop_index: int | None = 0, length: int = 10) -> CharRNN:
    torch.manual_seed(0)
    model = CharRNN(len(VOCAB), 16, cell="gru", length=length, stop_index=stop_index)
    with torch.no_grad():  # far from uniform, so the filters matter
        for p in model.parameters():
            p.mul_(4.0)
    return model.eval()


@pytest.fixture(scope="module")
def model():
    return tiny_rnn()


def model_sample(model, prompt, seed, **opts):
    g = torch.Generator().manual_seed(seed)
    return model.sample(1, prompt=VOCAB.encode(prompt), generator=g, **opts)[0]


def run(model, prompt="", seed=0, **opts):
    return trace(model, VOCAB, prompt, generator=torch.Generator().manual_seed(seed), **opts)


def test_text_equals_model_sample(model):
    settings = [
        dict(prompt="", seed=0),
        dict(prompt="ab", seed=3),
        dict(prompt="c", seed=7, temperature=1.5),
        dict(prompt="e", seed=1, temperature=0.5, top_k=3),
        dict(prompt="da", seed=5, top_p=0.7),
        dict(prompt="b", seed=2, temperature=1.3, top_k=4, top_p=0.9),
        dict(prompt="a", seed=2, greedy=True),
    ]
    for s in settings:
        t = run(model, **s)
        opts = {k: v for k, v in s.items() if k not in ("prompt", "seed")}
        sample = model_sample(model, s["prompt"], s["seed"], **opts)
        n = len(t.codes)
        assert torch.equal(sample[:n], t.codes), s
        assert (sample[n:] == model.stop_index).all(), "the model's sample ends where the text does"
        assert t.text == VOCAB.decode(sample[:n]) and t.text.startswith(s["prompt"])
        assert [st.symbol for st in t.steps] == list(t.text[len(s["prompt"]) :])


def test_text_without_stop_marker_has_the_full_length():
    model = tiny_rnn(stop_index=None, length=7)
    t = run(model, "a.b", seed=4)  # "." is ordinary text here
    assert len(t.steps) == 7 and len(t.text) == 3 + 7
    assert torch.equal(model_sample(model, "a.b", 4), t.codes)


def test_temperature_reshapes_the_same_conditional(model):
    first = run(model, "a").steps[0]
    torch.testing.assert_close(first.filtered, first.probs)  # no filter: the model itself
    step = run(model, "a", temperature=0.5).steps[0]
    torch.testing.assert_close(step.probs, first.probs)  # same prompt, same conditional
    # temperature t raises the probabilities to the power 1/t and renormalises
    sharpened = first.probs**2 / (first.probs**2).sum()
    torch.testing.assert_close(step.filtered, sharpened, atol=1e-6, rtol=1e-5)


def test_prompt_changes_the_conditionals(model):
    before = run(model, "a").steps[0].probs
    t = run(model, "dd")
    assert t.steps[0].prefix == "dd" and t.steps[0].position == 2
    assert not torch.allclose(before, t.steps[0].probs)


def test_top_k_one_and_greedy(model):
    greedy = model.sample(1, prompt=VOCAB.encode("b"), greedy=True)[0]
    for t in (run(model, "b", top_k=1, seed=9), run(model, "b", greedy=True)):
        assert torch.equal(greedy[: len(t.codes)], t.codes)
        for step in t.steps:
            assert step.kept == 1 and step.chosen == int(step.probs.argmax())


@pytest.mark.parametrize("k", [2, 3, 5])
def test_top_k_keeps_exactly_k(model, k):
    for step in run(model, top_k=k, temperature=1.7, seed=1).steps:
        assert int((step.filtered > 0).sum()) == k == step.kept
        kept = set(step.filtered.nonzero().flatten().tolist())
        assert kept == set(step.probs.topk(k).indices.tolist())
        assert step.chosen in kept
        torch.testing.assert_close(step.filtered.sum(), torch.tensor(1.0, dtype=torch.float64))


def test_top_p_keeps_the_smallest_set_reaching_p(model):
    p = 0.6
    for step in run(model, top_p=p, seed=2).steps:
        cumulative = step.probs.sort(descending=True).values.cumsum(0)
        m = step.kept
        assert cumulative[m - 1] >= p - 1e-6, "the kept set reaches p"
        assert m == 1 or cumulative[m - 2] < p, "and no smaller set does"
        assert step.filtered[step.chosen] > 0


def test_bad_settings_raise(model):
    with pytest.raises(ValueError, match="'Z'"):
        run(model, "aZ")
    with pytest.raises(ValueError, match="top_p"):
        run(model, "a", top_p=1.5)


def test_sampled_step_record_matches_teacher_forcing(model):
    t = run(model, "c", seed=3)
    step = t.steps[0]
    assert isinstance(step, SampledStep)
    assert step.log_prob == pytest.approx(float(step.probs[step.chosen].log()))
    assert t.log_prob == pytest.approx(sum(s.log_prob for s in t.steps))
    with torch.no_grad():
        logp = model(t.codes.view(1, -1))[0].log_softmax(-1)  # [T, K]
    for s in t.steps:
        torch.testing.assert_close(logp[s.position].exp().double(), s.probs, atol=1e-5, rtol=0)
    expected = sum(float(logp[i, t.codes[i]]) for i in range(t.num_prompt, len(t.codes)))
    assert t.log_prob == pytest.approx(expected, abs=1e-4)


def test_trace_figure_marks_the_step_drawn(model):
    t = run(model, "a", temperature=2.0, seed=5)
    step = min(2, len(t.steps) - 1)
    record = t.steps[step]
    fig = plots.sampling_trace(t, VOCAB.symbols, step)
    titles = [ax.get_title() for ax in fig.axes]
    assert any(x.startswith(f"step {step}:") and repr(record.symbol) in x for x in titles), titles
    ticks = fig.axes[1].get_xticklabels()
    highlighted = [tick.get_text() for tick in ticks if tick.get_color() != "black"]
    assert highlighted == [VOCAB.symbols[record.chosen]]
    with pytest.raises(ValueError, match="step must be"):
        plots.sampling_trace(t, VOCAB.symbols, len(t.steps))
    plt.close("all")


def test_conditional_bars_and_text_strip():
    probs = torch.tensor([0.1, 0.6, 0.3])
    filtered = torch.tensor([0.0, 2 / 3, 1 / 3])
    ax = plots.conditional_bars(
        probs, ["x", "y", "z"], chosen=2, filtered=filtered, title="p(next | 'ab')"
    )
    assert ax.get_title() == "p(next | 'ab')" and ax.get_ylabel() == "probability"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    assert ax.get_xticklabels()[2].get_fontweight() == "bold"
    ax = plots.conditional_bars(probs, ["x", "y", "z"], sort=True, limit=2)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["y", "z"]
    with pytest.raises(ValueError, match="labels"):
        plots.conditional_bars(probs, ["x", "y"])
    with pytest.raises(ValueError, match="chosen"):
        plots.conditional_bars(probs, ["x", "y", "z"], chosen=3)
    ax = plots.text_strip(list("maria."), num_prompt=2, selected=3, title="a name")
    assert ax.get_title() == "a name" and len(ax.texts) == 6 + 4  # symbols + step numbers
    plt.close("all")
