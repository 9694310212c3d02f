"""The properties every autoregressive model must have (DESIGN.md), run on every model in
``conftest.TINY_MODELS``: causality by gradient, exact normalisation, sampling that follows the
model, and clear errors for bad input."""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch

from arbook import checks
from arbook.masks import allowed
from arbook.models import SequenceModel


def _each_mask(model):
    """Run a check for every mask of a multi-mask model (each is its own autoregressive model)."""
    for index in range(getattr(model, "num_masks", 1)):
        if hasattr(model, "set_mask"):
            model.set_mask(index)
        yield index


def test_causality_by_gradient(tiny_model):
    for index in _each_mask(tiny_model):
        deps = checks.dependencies(tiny_model)
        assert not (deps & ~allowed(tiny_model.order)).any(), (
            f"mask {index}: output depends on a later input"
        )
        # Position order[0] is predicted from nothing; the last one may see everything before it.
        assert not deps[tiny_model.order[0]].any()
        assert deps.any(), "the model ignores its inputs entirely"


def test_normalisation(tiny_model):
    assert checks.total_probability(tiny_model) == pytest.approx(1.0, abs=1e-5)


def test_sampling_follows_the_model(tiny_model):
    result = checks.sampling_test(tiny_model, num_samples=20000, seed=1)
    assert result.p_value > 1e-3, result
    assert result.total_variation < 1.5 * result.expected_total_variation + 0.005, result


def test_samples_are_valid_and_reproducible(tiny_model):
    a = tiny_model.sample(7, generator=torch.Generator().manual_seed(5))
    b = tiny_model.sample(7, generator=torch.Generator().manual_seed(5))
    assert a.dtype == torch.long and a.shape == (7, *tiny_model.event_shape)
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() < tiny_model.num_classes


def test_log_prob_is_sum_of_conditionals(tiny_model):
    """For a single ordering, log_prob equals the sum of log-softmax of the logits at the data."""
    if getattr(tiny_model, "num_masks", 1) > 1:
        pytest.skip("a mixture's log_prob is checked in test_made")
    x = torch.randint(
        tiny_model.num_classes,
        (5, *tiny_model.event_shape),
        generator=torch.Generator().manual_seed(0),
    )
    per_position = tiny_model(x).log_softmax(-1).gather(-1, x.unsqueeze(-1)).squeeze(-1)
    # Positions after a stop marker (names) are padding and count for nothing.
    logp = (per_position * tiny_model.counted(x)).flatten(1).sum(1)
    torch.testing.assert_close(tiny_model.log_prob(x), logp)


def test_greedy_and_filters(tiny_model):
    g = torch.Generator().manual_seed(0)
    greedy = tiny_model.sample(3, greedy=True, generator=g)
    assert torch.equal(greedy[0], greedy[1]) or getattr(tiny_model, "num_masks", 1) > 1
    top1 = tiny_model.sample(50, top_k=1, generator=g)
    if getattr(tiny_model, "num_masks", 1) == 1:
        assert (top1 == greedy[0]).all(), "top_k=1 must equal greedy decoding"
    low = tiny_model.sample(50, temperature=0.05, generator=g)
    assert low.shape == top1.shape


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda m: torch.zeros(2, *m.event_shape), TypeError, "integer data"),
        (lambda m: torch.zeros(2, *m.event_shape, dtype=torch.bool), TypeError, "integer data"),
        (lambda m: [[0] * m.num_dims], TypeError, "LongTensor"),
        (
            lambda m: torch.full((2, *m.event_shape), m.num_classes, dtype=torch.long),
            ValueError,
            "must be in",
        ),
        (lambda m: torch.full((2, *m.event_shape), -1, dtype=torch.long), ValueError, "found -1"),
        (lambda m: torch.zeros(2, m.num_dims + 1, dtype=torch.long), ValueError, "shape"),
        (lambda m: torch.zeros(m.num_dims, dtype=torch.long), ValueError, "shape"),
    ],
    ids=["float", "bool", "list", "too-large", "negative", "wrong-size", "no-batch"],
)
def test_bad_data_is_a_clear_error(tiny_model, make, error, match):
    data = make(tiny_model)
    if isinstance(tiny_model, SequenceModel) and isinstance(data, torch.Tensor) and data.dim() == 2:
        if match == "shape":
            pytest.skip("sequence models read sequences of any length")
    with pytest.raises(error, match=match):
        tiny_model(make(tiny_model))
    with pytest.raises(error, match=match):
        tiny_model.log_prob(make(tiny_model))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"temperature": -1.0}, ValueError, "temperature"),
        ({"temperature": math.inf}, ValueError, "temperature"),
        ({"top_k": 0}, ValueError, "top_k"),
        ({"top_k": 1.5}, TypeError, "top_k"),
        ({"top_p": 0.0}, ValueError, "top_p"),
        ({"top_p": 1.5}, ValueError, "top_p"),
        ({"top_p": -0.1}, ValueError, "top_p"),
    ],
)
def test_bad_sampling_options_are_clear_errors(tiny_model, kwargs, error, match):
    with pytest.raises(error, match=match):
        tiny_model.sample(2, **kwargs)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_sample_count(tiny_model, n):
    with pytest.raises((ValueError, TypeError), match="number of samples"):
        tiny_model.sample(n)


def test_causality_check_catches_a_leak():
    """The test of the tests: a MADE whose output mask lets a variable see itself fails the check."""
    from arbook import MADE

    model = MADE(4, [16], seed=0)
    assert checks.causality_violations(model) == []
    model.output.set_mask(torch.ones_like(model.output.mask))
    violations = checks.causality_violations(model)
    assert (0, 0) in violations and len(violations) > 0


def test_normalisation_check_catches_an_unnormalised_model():
    from arbook import LogisticAR

    model = LogisticAR(3)
    original = model.log_prob
    model.log_prob = lambda x: original(x) + 0.1  # type: ignore[method-assign]
    assert checks.total_probability(model) == pytest.approx(math.exp(0.1), rel=1e-5)


def test_sampling_check_catches_a_wrong_sampler():
    from arbook import LogisticAR

    torch.manual_seed(0)
    model = LogisticAR(3)
    with torch.no_grad():
        model.output.bias.mul_(0).add_(2.0)
    # Sampling at a low temperature does not follow the model: the check must say so.
    result = checks.sampling_test(model, num_samples=5000, temperature=0.5)
    assert result.p_value < 1e-6


def test_unknown_sampler_option_is_a_clear_error(tiny_model):
    with pytest.raises(TypeError, match="unexpected options"):
        tiny_model.sample(2, beam_width=3)


def test_sampling_continues_a_prefix(tiny_model):
    if getattr(tiny_model, "num_masks", 1) > 1:
        with pytest.raises(ValueError, match="needs one order"):
            tiny_model.sample(2, prefix=torch.zeros(1, dtype=torch.long))
        return
    g = torch.Generator().manual_seed(0)
    examples = tiny_model.sample(6, generator=g)
    keep = tiny_model.num_dims // 2
    prefix = tiny_model.prefix_of(examples, keep)
    # a sequence model generates `length` symbols after any prefix; an image has a fixed size
    rest = {"length": tiny_model.num_dims - keep} if tiny_model.max_prefix is None else {}
    out = tiny_model.sample(6, prefix=prefix, generator=g, **rest)
    assert out.shape == examples.shape
    assert torch.equal(tiny_model.prefix_of(out, keep), prefix)
    # one prefix for every sample, and the same seed gives the same continuations
    one = tiny_model.sample(3, prefix=prefix[0], generator=torch.Generator().manual_seed(2), **rest)
    again = tiny_model.sample(
        3, prefix=prefix[:1], generator=torch.Generator().manual_seed(2), **rest
    )
    assert torch.equal(one, again)
    assert torch.equal(tiny_model.prefix_of(one, keep), prefix[:1].expand(3, -1))
    with pytest.raises(ValueError, match="6 samples"):
        tiny_model.sample(6, prefix=prefix[:2])
    with pytest.raises(ValueError, match="num_kept"):
        tiny_model.prefix_of(examples, tiny_model.num_dims + 1)
    with pytest.raises(ValueError, match="data values"):
        tiny_model.sample(2, prefix=torch.full((1,), tiny_model.num_classes))
    if tiny_model.max_prefix is not None:
        with pytest.raises(ValueError, match="positions"):
            tiny_model.sample(2, prefix=torch.zeros(tiny_model.num_dims + 1, dtype=torch.long))


def test_continuations_follow_the_conditional(tiny_model):
    """After a one-value prefix, the next position in the order is drawn from the model's
    conditional given that value (a chi-square test on 4,000 draws, fixed seed)."""
    if getattr(tiny_model, "num_masks", 1) > 1:
        pytest.skip("a mixture takes no prefix (checked above)")
    stop = getattr(tiny_model, "stop_index", None)
    value = 1 if stop == 0 else 0
    n = 4000
    kwargs = {"length": 1} if tiny_model.max_prefix is None else {}
    out = tiny_model.sample(
        n, prefix=torch.tensor([value]), generator=torch.Generator().manual_seed(3), **kwargs
    )
    first, second = (int(i) for i in tiny_model.order[:2])
    flat = out.reshape(n, -1)
    assert bool((flat[:, first] == value).all())
    with torch.no_grad():
        logits = tiny_model.logits(out[:1]).reshape(1, flat.shape[1], -1)[0, second]
    expected = logits.double().softmax(-1).numpy() * n
    counts = torch.bincount(flat[:, second], minlength=tiny_model.num_classes).numpy()
    assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3


def test_prompt_and_complete_are_the_prefix(tiny_model):
    g = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    if isinstance(tiny_model, SequenceModel):
        prompt = torch.tensor([1, 0])
        a = tiny_model.sample(3, prompt=prompt, length=2, generator=g())
        b = tiny_model.sample(3, prefix=prompt, length=2, generator=g())
        assert torch.equal(a, b)
        with pytest.raises(ValueError, match="not both"):
            tiny_model.sample(3, prompt=prompt, prefix=prompt)
    elif hasattr(tiny_model, "complete"):
        images = tiny_model.sample(3, generator=g())
        width = tiny_model.event_shape[1]
        a = tiny_model.complete(images, 1, generator=g())
        b = tiny_model.sample(3, prefix=tiny_model.prefix_of(images, width), generator=g())
        assert torch.equal(a, b)
    else:
        pytest.skip("no prompt or completion wrapper")
