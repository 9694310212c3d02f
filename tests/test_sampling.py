"""Exact distributions of the sampling filters on hand-made logits."""

from __future__ import annotations

import math

import pytest
import torch

from arbook.sampling import check_options, filter_logits, sample_logits


def probs(logits, **kw):
    return filter_logits(torch.tensor(logits).log(), **kw).softmax(-1)


def test_temperature_is_a_power():
    p = torch.tensor([0.5, 0.3, 0.2])
    out = probs(p.tolist(), temperature=0.5)
    torch.testing.assert_close(out, p**2 / (p**2).sum())
    torch.testing.assert_close(probs(p.tolist(), temperature=1.0), p)


def test_top_k_keeps_exactly_k_even_with_ties():
    out = probs([0.25, 0.25, 0.25, 0.25], top_k=2)
    assert (out > 0).sum() == 2
    torch.testing.assert_close(out.sum(), torch.tensor(1.0))
    torch.testing.assert_close(probs([0.1, 0.6, 0.3], top_k=2), torch.tensor([0.0, 2 / 3, 1 / 3]))
    torch.testing.assert_close(probs([0.1, 0.6, 0.3], top_k=10), torch.tensor([0.1, 0.6, 0.3]))


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.5, [0.0, 1.0, 0.0, 0.0]),  # 0.6 alone reaches 0.5
        (0.6, [0.0, 1.0, 0.0, 0.0]),  # 0.6 reaches 0.6 exactly
        (0.7, [0.0, 0.6 / 0.85, 0.25 / 0.85, 0.0]),
        (0.9, [0.0, 0.6 / 0.95, 0.25 / 0.95, 0.1 / 0.95]),
        (1.0, [0.05, 0.6, 0.25, 0.1]),
    ],
)
def test_top_p_keeps_the_smallest_set_reaching_p(p, expected):
    torch.testing.assert_close(
        probs([0.05, 0.6, 0.25, 0.1], top_p=p), torch.tensor(expected), atol=1e-6, rtol=0
    )


def test_filters_compose_in_order():
    # temperature 0.5 squares the probabilities: [0.36, 0.09, 0.04, 0.01] / 0.5 -> top_k=3 -> top_p=0.9
    out = probs([0.6, 0.3, 0.2, 0.1], temperature=0.5, top_k=3, top_p=0.9)
    expected = torch.tensor([0.36, 0.09, 0.0, 0.0]) / 0.45
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_batched_filters_work_per_row():
    logits = torch.tensor([[0.1, 0.6, 0.3], [0.7, 0.2, 0.1]]).log()
    out = filter_logits(logits, top_k=1).softmax(-1)
    assert out.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def test_sample_frequencies_match_the_filtered_distribution():
    logits = torch.tensor([0.05, 0.6, 0.25, 0.1]).log().expand(40000, 4)
    draws = sample_logits(logits, top_p=0.9, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=4).double() / len(draws)
    torch.testing.assert_close(
        freq, torch.tensor([0.0, 0.6, 0.25, 0.1], dtype=torch.float64) / 0.95, atol=0.01, rtol=0
    )


def test_greedy_and_reproducibility():
    logits = torch.randn(10, 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample_logits(logits, greedy=True), logits.argmax(-1))
    a = sample_logits(logits, generator=torch.Generator().manual_seed(1))
    b = sample_logits(logits, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (10,)


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"temperature": 0}, ValueError),
        ({"temperature": -2}, ValueError),
        ({"temperature": math.nan}, ValueError),
        ({"temperature": "hot"}, TypeError),
        ({"top_k": 0}, ValueError),
        ({"top_k": 2.0}, TypeError),
        ({"top_p": 0}, ValueError),
        ({"top_p": 1.01}, ValueError),
        ({"top_p": True}, TypeError),
    ],
)
def test_invalid_options(kw, error):
    with pytest.raises(error):
        check_options(**kw)
    with pytest.raises(error):
        sample_logits(torch.zeros(3), **kw)
