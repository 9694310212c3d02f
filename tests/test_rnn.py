"""Sequence models beyond the shared properties: the cache equals recomputation, prompts, stop
markers (names are counted up to and including their end marker), the bigram baseline."""

from __future__ import annotations

import pytest
import torch

from arbook import checks, data, evaluate, fit, load, save
from arbook.models import Bigram, CharRNN


def _model(cell, stop_index=None, num_classes=5, layers=2):
    torch.manual_seed(0)
    model = CharRNN(num_classes, 16, layers, cell=cell, length=12, stop_index=stop_index)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    return model.eval()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_incremental_logits_equal_the_full_forward(cell):
    model = _model(cell)
    x = torch.randint(5, (3, 20), generator=torch.Generator().manual_seed(1))
    full = model(x)
    logits, state = model.prefill(x[:, :0])
    steps = [logits]
    for t in range(19):
        logits, state = model.extend(x[:, t], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, rtol=1e-5, atol=1e-5)
    # A prompt read at once gives the same next conditional as one read step by step.
    prompted, _ = model.prefill(x[:, :7])
    torch.testing.assert_close(prompted, full[:, 7], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("stop_index", [None, 0])
def test_cache_equals_recompute(cell, stop_index):
    model = _model(cell, stop_index)
    options = dict(temperature=0.9, top_p=0.95)
    for prompt in (None, torch.tensor([1, 2, 3])):
        fast = model.sample(
            4, length=80, prompt=prompt, generator=torch.Generator().manual_seed(3), **options
        )
        slow = model.sample(
            4,
            length=80,
            prompt=prompt,
            use_cache=False,
            generator=torch.Generator().manual_seed(3),
            **options,
        )
        assert torch.equal(fast, slow)


def test_prompts_are_kept_and_continued():
    model = _model("lstm")
    prompt = torch.tensor([[4, 3], [1, 1], [0, 2]])
    out = model.sample(3, prompt=prompt, length=10, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 12) and torch.equal(out[:, :2], prompt)
    shared = model.sample(4, prompt=torch.tensor([2, 2, 2]), length=5)
    assert shared.shape == (4, 8) and (shared[:, :3] == 2).all()
    assert model.sample(2, prompt=torch.tensor([1]), length=0).tolist() == [[1], [1]]
    with pytest.raises(ValueError, match="prompt must have shape"):
        model.sample(3, prompt=torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="must be in"):
        model.sample(1, prompt=torch.tensor([7]))
    with pytest.raises(TypeError, match="prompt"):
        model.sample(1, prompt=[1, 2])
    with pytest.raises(ValueError, match="length"):
        model.sample(1, length=-1)


def test_stop_marker_ends_a_sample_and_pads_it():
    model = _model("gru", stop_index=0, num_classes=4)
    with torch.no_grad():
        model.head.bias[0] += 2.0  # stop often
    out = model.sample(64, length=30, generator=torch.Generator().manual_seed(0))
    for row in out.tolist():
        if 0 in row:
            first = row.index(0)
            assert all(v == 0 for v in row[first:]), row
    assert (out == 0).any(dim=1).all(), "with a likely stop marker every row should end"
    # A prompt that already ended stays ended.
    ended = model.sample(2, prompt=torch.tensor([2, 0]), length=5)
    assert (ended[:, 1:] == 0).all()


def test_names_are_counted_up_to_and_including_the_end_marker():
    vocab = data.names_vocab()
    batch = data.encode_names(["ann", "bo"], vocab, length=6)
    assert data.decode_names(batch, vocab) == ["ann", "bo"]
    assert batch[1].tolist() == [vocab.index["b"], vocab.index["o"], 0, 0, 0, 0]
    model = CharRNN(len(vocab), 8, length=6, stop_index=0).eval()
    assert model.num_positions(batch).tolist() == [4, 3]
    # Anything after the first end marker is ignored ...
    noisy = batch.clone()
    noisy[1, 3:] = torch.tensor([5, 6, 7])
    torch.testing.assert_close(model.log_prob(noisy), model.log_prob(batch))
    # ... and the end marker itself counts.
    logits = model(batch).log_softmax(-1)
    bo = logits[1, 0, vocab.index["b"]] + logits[1, 1, vocab.index["o"]] + logits[1, 2, 0]
    torch.testing.assert_close(model.log_prob(batch)[1], bo)
    result = evaluate(model, batch)
    assert result.num_dims == pytest.approx(3.5)
    assert result.nll_nats_per_dim == pytest.approx(-model.log_prob(batch).sum().item() / 7)


def test_bigram_counts_are_the_maximum_likelihood_estimate():
    x = torch.tensor([[1, 2, 1, 2, 0, 0], [2, 1, 0, 0, 0, 0]])
    model = Bigram(3, length=6, stop_index=0).fit_counts(x, smoothing=1e-9)
    probs = model.table.softmax(-1)
    # first symbols: one 1, one 2; after 1: "2", "2", "0" -> 2/3, 1/3; after 2: "1", "1", "0".
    torch.testing.assert_close(probs[0], torch.tensor([0.0, 0.5, 0.5]), atol=1e-6, rtol=0)
    torch.testing.assert_close(probs[2], torch.tensor([1 / 3, 0.0, 2 / 3]), atol=1e-6, rtol=0)
    torch.testing.assert_close(probs[3], torch.tensor([1 / 3, 2 / 3, 0.0]), atol=1e-6, rtol=0)
    smoothed = Bigram(3, length=4, stop_index=0).fit_counts(x)
    assert checks.total_probability(smoothed) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="smoothing"):
        smoothed.fit_counts(x, smoothing=0)


def test_bad_configurations_are_clear_errors():
    with pytest.raises(ValueError, match="cell"):
        CharRNN(5, 8, cell="transformer")
    with pytest.raises(ValueError, match="stop_index"):
        CharRNN(5, 8, stop_index=5)
    with pytest.raises(ValueError, match="hidden_size"):
        CharRNN(5, 0)
    with pytest.raises(ValueError, match="dropout"):
        CharRNN(5, 8, dropout=1.0)
    model = CharRNN(5, 8)
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="not both"):
        model.sample(1, prompt=torch.zeros(3, dtype=torch.long), prefix=torch.zeros(1, 3).long())


def test_training_on_names_beats_the_bigram_and_survives_a_checkpoint(tmp_path):
    vocab = data.names_vocab()
    train = data.names_data("train")[:1000]
    test = data.names_data("test")[:200]
    bigram = Bigram(len(vocab), length=12, stop_index=0).fit_counts(train)
    torch.manual_seed(0)
    model = CharRNN(len(vocab), 64, cell="gru", length=12, stop_index=0)
    fit(model, train, batch_size=32, lr=1e-2, max_steps=150, max_epochs=100, progress=False)
    assert evaluate(model, test).nll_nats_per_dim < evaluate(bigram, test).nll_nats_per_dim
    path = save(model, tmp_path / "gru.pt")
    again = load(path)
    assert isinstance(again, CharRNN) and again.stop_index == 0
    torch.testing.assert_close(again.log_prob(test), model.log_prob(test))
    names = data.decode_names(again.sample(5, generator=torch.Generator().manual_seed(0)), vocab)
    assert all(name.isalpha() or name == "" for name in names)


def test_fit_reads_random_windows_of_a_long_text():
    codes = torch.arange(2000) % 7
    windows = data.Windows(codes, 16)
    batch = windows.sample(5, torch.Generator().manual_seed(0))
    assert batch.shape == (5, 16)
    assert ((batch[:, 1:] - batch[:, :-1]) % 7 == 1).all(), "windows are consecutive text"
    torch.manual_seed(0)
    model = CharRNN(7, 16, length=16)
    history = fit(model, windows, batch_size=16, lr=1e-2, max_steps=150, progress=False)
    assert history.num_dims == 16
    # A counting sequence is easy: the model must learn it well below the uniform 1.95 nats.
    chunks = data.text_chunks(codes, 16)
    assert evaluate(model, chunks).nll_nats_per_dim < 1.0


def test_causality_holds_at_any_length():
    model = _model("lstm")
    x = torch.randint(5, (2, 30), generator=torch.Generator().manual_seed(0))
    deps = checks.dependencies(model, x)
    assert deps.shape == (30, 30)
    assert checks.causality_violations(model, x=x) == []
    # An LSTM's state carries the first symbol all the way to the last prediction.
    assert deps[29, 0] and deps.tril(-1).any() and not deps.triu().any()
