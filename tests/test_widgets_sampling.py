"""The sampling explorer shows what the model samples, and follows its controls."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from arbook import plots
from arbook.data import CharVocab
from arbook.models import CharRNN
from arbook.widgets import SampledStep, SamplingExplorer

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


def test_text_equals_model_sample(model):
    explorer = SamplingExplorer(model, VOCAB)
    settings = [
        dict(prompt="", seed=0),
        dict(prompt="ab", seed=3),
        dict(prompt="c", seed=7, temperature=1.5),
        dict(prompt="e", seed=1, temperature=0.5, top_k=3),
        dict(prompt="da", seed=5, top_p=0.7),
        dict(prompt="b", seed=2, temperature=1.3, top_k=4, top_p=0.9),
    ]
    for s in settings:
        explorer.prompt.value = s["prompt"]
        explorer.seed.value = s["seed"]
        explorer.temperature.value = s.get("temperature", 1.0)
        explorer.top_k.value = s.get("top_k", 0)
        explorer.top_p.value = s.get("top_p", 1.0)
        assert not explorer.message.startswith("error"), explorer.message
        opts = explorer.options()
        assert opts["top_k"] == s.get("top_k") and opts["top_p"] == s.get("top_p")
        sample = model_sample(model, s["prompt"], s["seed"], **opts)
        n = len(explorer.codes)
        assert torch.equal(sample[:n], explorer.codes), s
        assert (sample[n:] == model.stop_index).all(), "the model's sample ends where the text does"
        assert explorer.text == VOCAB.decode(sample[:n])
        assert explorer.text.startswith(s["prompt"])
        assert explorer.generated == explorer.text[len(s["prompt"]) :]
        assert len(explorer.steps) == len(explorer.generated)
        assert [st.symbol for st in explorer.steps] == list(explorer.generated)
        plt.close("all")


def test_text_without_stop_marker_has_the_full_length():
    model = tiny_rnn(stop_index=None, length=7)
    explorer = SamplingExplorer(model, VOCAB, prompt="a.b", seed=4)  # "." is ordinary text here
    assert len(explorer.steps) == 7 and len(explorer.text) == 3 + 7
    sample = model_sample(model, "a.b", 4)
    assert torch.equal(sample, explorer.codes)
    assert "no end marker" not in explorer.message
    plt.close("all")


def test_seed_and_temperature_change_the_text(model):
    explorer = SamplingExplorer(model, VOCAB, prompt="a", length=12)
    texts = set()
    for seed in range(8):
        explorer.seed.value = seed
        texts.add(explorer.text)
    assert len(texts) > 1, "different seeds give different texts"

    explorer.seed.value = 0
    first = explorer.steps[0]
    torch.testing.assert_close(first.filtered, first.probs)  # no filter: the model itself
    explorer.temperature.value = 0.5
    step = explorer.steps[0]
    torch.testing.assert_close(step.probs, first.probs)  # same prompt, same conditional
    # temperature t raises the probabilities to the power 1/t and renormalises
    sharpened = first.probs**2 / (first.probs**2).sum()
    torch.testing.assert_close(step.filtered, sharpened, atol=1e-6, rtol=1e-5)
    assert "temperature 0.5" in explorer.message
    plt.close("all")


def test_prompt_changes_the_conditionals(model):
    explorer = SamplingExplorer(model, VOCAB, prompt="a", seed=0)
    before = explorer.steps[0].probs
    explorer.prompt.value = "dd"
    assert explorer.text.startswith("dd") and explorer.steps[0].prefix == "dd"
    assert explorer.steps[0].position == 2
    assert not torch.allclose(before, explorer.steps[0].probs)
    plt.close("all")


def test_top_k_one_is_greedy(model):
    explorer = SamplingExplorer(model, VOCAB, prompt="b", top_k=1, seed=9)
    greedy = model.sample(1, prompt=VOCAB.encode("b"), greedy=True)[0]
    assert torch.equal(greedy[: len(explorer.codes)], explorer.codes)
    for step in explorer.steps:
        assert step.kept == 1 and step.chosen == int(step.probs.argmax())
    explorer.seed.value = 10  # greedy ignores the seed
    assert torch.equal(greedy[: len(explorer.codes)], explorer.codes)
    plt.close("all")


@pytest.mark.parametrize("k", [2, 3, 5])
def test_top_k_keeps_exactly_k(model, k):
    explorer = SamplingExplorer(model, VOCAB, top_k=k, temperature=1.7, seed=1)
    for step in explorer.steps:
        assert int((step.filtered > 0).sum()) == k == step.kept
        kept = set(step.filtered.nonzero().flatten().tolist())
        assert kept == set(step.probs.topk(k).indices.tolist())
        assert step.chosen in kept
        torch.testing.assert_close(step.filtered.sum(), torch.tensor(1.0, dtype=torch.float64))
    plt.close("all")


def test_top_p_keeps_the_smallest_set_reaching_p(model):
    p = 0.6
    explorer = SamplingExplorer(model, VOCAB, top_p=p, seed=2)
    for step in explorer.steps:
        sorted_probs = step.probs.sort(descending=True).values
        cumulative = sorted_probs.cumsum(0)
        m = step.kept
        assert cumulative[m - 1] >= p - 1e-6, "the kept set reaches p"
        assert m == 1 or cumulative[m - 2] < p, "and no smaller set does"
        assert step.filtered[step.chosen] > 0
    plt.close("all")


def test_step_slider_selects_the_step_drawn(model):
    explorer = SamplingExplorer(model, VOCAB, prompt="a", length=10, temperature=2.0)
    seeds = iter(range(1, 100))
    while len(explorer.steps) < 4:  # a text long enough to step through
        explorer.seed.value = next(seeds)
    assert explorer.drawn_step == 0
    assert explorer.step.max == len(explorer.steps) - 1
    explorer.step.value = 2
    assert explorer.selected == 2 and explorer.drawn_step == 2
    record = explorer.steps[2]
    assert record.prefix == explorer.text[: record.position]
    fig = explorer.figure()
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("step 2:") and repr(record.symbol) in t for t in titles), titles
    bars = fig.axes[1]
    ticks = bars.get_xticklabels()
    highlighted = [tick.get_text() for tick in ticks if tick.get_color() != "black"]
    assert highlighted == [explorer.labels[record.chosen]]

    # a new text with fewer steps moves the slider back into range
    explorer.step.value = explorer.step.max
    longest = len(explorer.steps)
    while len(explorer.steps) >= longest:
        explorer.seed.value = next(seeds)
    assert explorer.step.max == max(len(explorer.steps) - 1, 1)
    assert explorer.selected <= len(explorer.steps) - 1
    assert explorer.drawn_step == explorer.selected
    plt.close("all")


def test_bad_prompt_shows_an_error_and_keeps_the_text(model):
    explorer = SamplingExplorer(model, VOCAB, prompt="ab", seed=1)
    text, steps = explorer.text, explorer.steps
    explorer.prompt.value = "aZb"  # does not raise
    assert explorer.message.startswith("error:") and "'Z'" in explorer.message
    assert "Z" in explorer.status.value and "color" in explorer.status.value
    assert explorer.text == text and explorer.steps is steps
    explorer.prompt.value = "a.b"
    assert explorer.message.startswith("error:") and "end marker" in explorer.message
    explorer.prompt.value = "ab"
    assert explorer.text == text and not explorer.message.startswith("error")
    plt.close("all")


def test_bad_initial_prompt_does_not_raise(model):
    explorer = SamplingExplorer(model, VOCAB, prompt="Q")
    assert explorer.message.startswith("error:") and explorer.steps == []
    fig = explorer.figure()  # the figure still draws (the error as its title)
    assert "error" in fig.axes[0].get_title()
    explorer.prompt.value = "a"
    assert explorer.steps and explorer.text.startswith("a")
    plt.close("all")


def test_explorer_rejects_wrong_model_or_vocabulary(model):
    from arbook import MADE

    with pytest.raises(TypeError, match="sequence model"):
        SamplingExplorer(MADE(4, [8]), VOCAB)
    with pytest.raises(ValueError, match="vocabulary"):
        SamplingExplorer(model, CharVocab("abc"))
    with pytest.raises(ValueError, match="length"):
        SamplingExplorer(model, VOCAB, length=0)


def test_sampled_step_record(model):
    explorer = SamplingExplorer(model, VOCAB, prompt="c", seed=3)
    step = explorer.steps[0]
    assert isinstance(step, SampledStep)
    assert step.log_prob == pytest.approx(float(step.probs[step.chosen].log()))
    assert explorer.log_prob == pytest.approx(sum(s.log_prob for s in explorer.steps))
    assert "SampledStep(step=0" in repr(step)
    # the same numbers from a full forward pass over the text (teacher forcing)
    with torch.no_grad():
        logp = model(explorer.codes.view(1, -1))[0].log_softmax(-1)  # [T, K]
    for s in explorer.steps:
        torch.testing.assert_close(logp[s.position].exp().double(), s.probs, atol=1e-5, rtol=0)
    generated = range(explorer.num_prompt, len(explorer.codes))
    expected = sum(float(logp[t, explorer.codes[t]]) for t in generated)
    assert explorer.log_prob == pytest.approx(expected, abs=1e-4)
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
