"""Names with end markers, windows of long text, and the Markov source of known entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from arbook import data


def test_names_encoding_round_trip_and_errors():
    vocab = data.names_vocab()
    assert vocab.symbols[0] == data.NAME_END and len(vocab) == 27
    train = data.names_data("train")
    assert train.shape == (4647, max(len(n) for n in data.names("train")) + 1)
    assert data.decode_names(train, vocab) == data.names("train")
    # Every row ends with at least one end marker; the test split encodes with the same symbols.
    assert (train[:, -1] == 0).all()
    assert data.decode_names(data.names_data("test"), vocab) == data.names("test")
    with pytest.raises(ValueError, match="too short"):
        data.encode_names(["christopher"], vocab, length=5)
    with pytest.raises(ValueError, match="'2' is not in the vocabulary"):
        data.encode_names(["r2d1"], vocab)
    with pytest.raises(ValueError, match="end marker"):
        data.encode_names(["a.b"], vocab)
    with pytest.raises(ValueError, match="end marker"):
        data.encode_names(["ab"], data.CharVocab("abc"))


def test_text_chunks_and_windows():
    codes = torch.arange(103)
    chunks = data.text_chunks(codes, 10)
    assert chunks.shape == (10, 10) and torch.equal(chunks.flatten(), codes[:100])
    with pytest.raises(ValueError, match="windows of 200"):
        data.text_chunks(codes, 200)
    windows = data.Windows(codes, 10)
    assert len(windows) == 10
    train, val = windows.split(0.2)
    assert len(train.codes) == 82 and val.shape == (2, 10)
    assert val[0, 0] == 82, "validation comes from the end of the text"
    a = windows.sample(4, torch.Generator().manual_seed(0))
    b = windows.sample(4, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.max() <= 102
    with pytest.raises(ValueError, match="LongTensor"):
        data.Windows(codes.float(), 5)


def test_shakespeare_vocab_covers_the_held_out_text():
    vocab = data.shakespeare_vocab()
    assert len(vocab) == 81
    codes = vocab.encode(data.shakespeare("test"))
    assert vocab.decode(codes[:200]) == data.shakespeare("test")[:200]


def test_markov_source_entropy_rate_is_exact():
    source = data.MarkovSource(num_symbols=3, order=2, seed=4)
    # The stationary distribution is stationary.
    k = source.num_symbols
    moved = np.zeros_like(source.stationary)
    for c, mass in enumerate(source.stationary):
        for s in range(k):
            moved[(c * k + s) % len(moved)] += mass * source.transition[c, s]
    np.testing.assert_allclose(moved, source.stationary, atol=1e-12)
    # The average log-loss of the true model on a long sample converges to the entropy rate.
    x = source.sample(200, 500, seed=1).numpy()
    context = x[:, 0] * k + x[:, 1]
    losses = []
    for t in range(2, x.shape[1]):
        losses.append(-np.log(source.transition[context, x[:, t]]))
        context = (context * k + x[:, t]) % k**2
    assert np.mean(losses) == pytest.approx(source.entropy_rate(), abs=0.01)
    assert 0 < source.entropy_rate() < math.log(k)
    assert source.floor(2) > source.floor(100) > source.entropy_rate()
    assert torch.equal(source.sample(5, 20, seed=3), source.sample(5, 20, seed=3))
    # log_prob is a distribution over sequences of a given length, and its mean is the floor.
    from arbook.chain_rule import all_values

    assert float(source.log_prob(all_values(3, 4)).exp().sum()) == pytest.approx(1.0, abs=1e-12)
    long = source.sample(4000, 30, seed=2)
    assert float(-source.log_prob(long).mean() / 30) == pytest.approx(source.floor(30), abs=0.01)
    assert repr(source).startswith("MarkovSource(3 symbols")


def test_markov_source_bad_arguments():
    with pytest.raises(ValueError, match="num_symbols"):
        data.MarkovSource(num_symbols=1)
    with pytest.raises(ValueError, match="order"):
        data.MarkovSource().sample(2, 1)
