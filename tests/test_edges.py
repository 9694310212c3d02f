"""The edges of the API: integer types, float64 models, checkpoint metadata and file modes,
extreme temperatures, exact ties in top-k, stop markers, empty batches and Ctrl-C in fit."""

from __future__ import annotations

import datetime
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from arbook import MADE, fit, load, save
from arbook.audio import write_wav
from arbook.checks import log_probs_of_all
from arbook.files import atomic_write
from arbook.models import Bigram, CharRNN, GatedPixelCNN, PixelCNN
from arbook.models.sequence import SequenceModel
from arbook.sampling import filter_logits, sample_logits
from arbook.train import TrainingInterrupted

# -- integer types (every model, through the shared fixture) -------------------------------------


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_integer_data_other_than_int64_is_one_clear_error(tiny_model, dtype):
    x = torch.zeros(20, *tiny_model.event_shape, dtype=dtype)
    for use in (tiny_model, tiny_model.log_prob, lambda d: fit(tiny_model, d, max_steps=1)):
        with pytest.raises(
            TypeError, match=rf"int64 data .* got dtype {dtype}; convert it with \.long\(\)"
        ):
            use(x)
    assert torch.isfinite(tiny_model.log_prob(x.long())).all()  # converted, it is valid data


def test_float64_models_are_normalised(tiny_model):
    """Every model computes in float64 after ``.double()``, where the normalisation check is
    most precise, and agrees with its float32 self."""
    x = torch.zeros(3, *tiny_model.event_shape, dtype=torch.long)
    single = tiny_model.log_prob(x)
    model = tiny_model.double()
    assert model.dtype == torch.float64
    double = model.log_prob(x)
    assert double.dtype == torch.float64
    assert torch.allclose(double.float(), single, atol=1e-4)
    total = log_probs_of_all(model).exp().sum()
    assert abs(float(total) - 1.0) < 1e-12
    samples = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.dtype == torch.long


def test_a_tiny_temperature_is_greedy_not_an_error(tiny_model):
    for temperature in (1e-45, 1e-320):
        cold = tiny_model.sample(
            8, temperature=temperature, generator=torch.Generator().manual_seed(1)
        )
        # (the same generator: a mask ensemble draws each sample's order from it)
        greedy = tiny_model.sample(8, greedy=True, generator=torch.Generator().manual_seed(1))
        assert torch.equal(cold, greedy)


# -- sampling filters ---------------------------------------------------------------------------


def test_top_k_keeps_the_lower_indices_of_exact_ties():
    kept = filter_logits(torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0]), top_k=2)
    assert torch.isfinite(kept).nonzero().flatten().tolist() == [0, 1]
    kept = filter_logits(torch.tensor([[0.0, 2.0, 2.0, 2.0], [3.0, 1.0, 3.0, 3.0]]), top_k=2)
    assert torch.isfinite(kept).nonzero().tolist() == [[0, 1], [0, 2], [1, 0], [1, 2]]


def test_top_k_ties_from_counted_bigrams():
    """A bigram fitted by counting gives exactly equal probabilities: top-k keeps exactly k,
    the lowest indices among the tied ones."""
    data = torch.tensor([[1, 2, 0], [1, 3, 0], [1, 4, 0]])
    bigram = Bigram(5, length=3, stop_index=0).fit_counts(data, smoothing=1e-9)
    logits = bigram.prefill(torch.tensor([[1]]))[0][0]  # after "1": 2, 3 and 4 equally likely
    probs = logits.softmax(-1)
    assert probs[2] == probs[3] == probs[4]
    kept = filter_logits(logits, top_k=2)
    assert torch.isfinite(kept).nonzero().flatten().tolist() == [2, 3]


def test_extreme_temperatures_give_valid_distributions():
    logits = torch.tensor([[0.5, 2.0, 2.0, -1.0], [3.0, -math.inf, 1.0, 0.0]])
    for temperature in (1e-45, 1e-320, 5e-324):
        probs = filter_logits(logits, temperature=temperature).softmax(-1)
        assert torch.equal(probs, torch.tensor([[0.0, 0.5, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0]]))
        assert sample_logits(logits, temperature=temperature).tolist()[1] == 0
    # an ordinary temperature is the plain division
    assert torch.equal(filter_logits(logits, temperature=0.5), logits / 0.5)


# -- stop markers -----------------------------------------------------------------------------


def test_log_prob_of_a_prefix_and_complete_examples_only():
    torch.manual_seed(0)
    model = CharRNN(4, 8, cell="gru", length=5, stop_index=0).eval()
    whole = torch.tensor([[2, 3, 0, 0, 0]])
    prefix = torch.tensor([[2, 3, 1, 1, 1]])
    garbage = torch.tensor([[2, 3, 0, 3, 1]])
    assert model.is_complete(torch.cat([whole, prefix, garbage])).tolist() == [True, False, False]
    assert torch.equal(model.log_prob(garbage), model.log_prob(whole))  # after the stop: ignored
    assert torch.allclose(model.log_prob(whole, complete=True), model.log_prob(whole))
    for bad, row in ((prefix, 0), (torch.cat([whole, garbage]), 1)):
        with pytest.raises(ValueError, match=f"row {row} of {len(bad)} is not a complete example"):
            model.log_prob(bad, complete=True)
    # The probability of a prefix is the total probability of the examples that begin with it.
    short = CharRNN(3, 8, cell="lstm", length=3, stop_index=0).eval()
    everything = log_probs_of_all(short).exp()
    from arbook.chain_rule import all_values

    values = all_values(3, (3,))
    begins = (values[:, 0] == 1) & (values[:, 1] == 2)
    with torch.no_grad():
        prefix_prob = short.log_prob(torch.tensor([[1, 2]])).exp()
    assert float(prefix_prob) == pytest.approx(float(everything[begins].sum()), rel=1e-5)


def test_log_prob_documents_prefixes():
    assert "begins" in SequenceModel.log_prob.__doc__


# -- completions --------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [PixelCNN, GatedPixelCNN])
def test_completing_no_images_names_images(cls):
    model = cls(3, (4, 4), channels=8, num_layers=2)
    with pytest.raises(ValueError, match="number of images to complete must be at least 1, got 0"):
        model.complete(torch.zeros(0, 4, 4, dtype=torch.long), 2)


# -- checkpoints: metadata and file modes -------------------------------------------------------


def test_metadata_is_converted_or_refused_before_writing(tmp_path):
    model = MADE(4, [8])
    path = save(
        model,
        tmp_path / "m.pt",
        metadata={
            "val_nll": np.float64(1.25),
            "steps": np.int64(7),
            "where": Path("runs/x.pt"),
            "curve": np.arange(3.0),
            "nested": {"ok": [np.float32(0.5), (1, "a")]},
        },
    )
    meta = load(path).checkpoint_metadata
    assert meta["val_nll"] == 1.25 and type(meta["val_nll"]) is float
    assert meta["steps"] == 7 and meta["where"] == "runs/x.pt"
    assert torch.equal(meta["curve"], torch.arange(3.0, dtype=torch.float64))
    assert meta["nested"] == {"ok": [0.5, (1, "a")]}

    target = tmp_path / "refused.pt"
    for bad, where in (
        ({"when": datetime.datetime(2026, 1, 1)}, r"metadata\['when'\] is a datetime"),
        ({"deep": [1, {"x": object()}]}, r"metadata\['deep'\]\[1\]\['x'\] is a object"),
        ({3: "three"}, "keys must be strings"),
    ):
        with pytest.raises(TypeError, match=where):
            save(model, target, metadata=bad)
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_written_files_keep_the_ordinary_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        fresh = save(MADE(4, [8]), tmp_path / "fresh.pt")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        wav = write_wav(tmp_path / "a.wav", torch.zeros(80), 8000)
        assert stat.S_IMODE(wav.stat().st_mode) == 0o644
        # Replacing a file keeps that file's mode.
        fresh.chmod(0o640)
        save(MADE(4, [8]), fresh)
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
        os.umask(0o077)
        private = atomic_write(tmp_path / "private.bin", lambda fh: fh.write(b"x"))
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    finally:
        os.umask(umask)


# -- Ctrl-C in fit ------------------------------------------------------------------------------


def _interrupt_at(model, call):
    """Make ``model.loss`` raise KeyboardInterrupt at its ``call``-th call."""
    calls = {"n": 0}
    loss = model.loss

    def interrupting(x):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return loss(x)

    model.loss = interrupting


def test_interrupted_fit_hands_back_the_best_weights(toy):
    torch.manual_seed(0)
    model = MADE(6, [16])
    _interrupt_at(model, 26)
    with pytest.raises(TrainingInterrupted) as caught:
        fit(model, toy, batch_size=8, eval_every=10, lr=1e-2, progress=False)
    stop = caught.value
    assert isinstance(stop, KeyboardInterrupt) and stop.step == 25
    assert stop.history.step == [10, 20]
    assert not model.training
    best = min(stop.history.val_nll)
    assert stop.history.best_val_nll == best
    # The model holds the weights of the best evaluation, not those of step 25.
    from arbook.data import split_validation

    _, val = split_validation(toy, 0.1, seed=0)
    assert float(-model.log_prob(val).mean()) == pytest.approx(best, rel=1e-5)


def test_fit_interrupted_before_any_evaluation(toy):
    model = MADE(6, [16])
    _interrupt_at(model, 3)
    with pytest.raises(TrainingInterrupted) as caught:
        fit(model, toy, batch_size=8, eval_every=10, progress=False)
    assert caught.value.step == 2 and caught.value.history.step == []


@pytest.fixture
def toy():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(200, 6, generator=g) < torch.linspace(0.1, 0.9, 6)).long()
