"""The trainer (early stopping on a validation split, determinism), evaluation and checkpoints."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from arbook import GPT, MADE, LogisticAR, evaluate, fit, load, save
from arbook.checkpoint import load_checkpoint
from arbook.data import split_validation
from arbook.train import FitConfig


@pytest.fixture
def toy_data():
    """Binary data with strong dependencies: x1 = x0, x3 = not x2, with a little noise."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(2, (600, 4), generator=g)
    x[:, 1] = x[:, 0]
    x[:, 3] = 1 - x[:, 2]
    flip = torch.rand(600, 4, generator=g) < 0.05
    return torch.where(flip, 1 - x, x)


def test_fit_learns_and_keeps_the_best(toy_data):
    torch.manual_seed(0)
    model = LogisticAR(4)
    before = evaluate(model, toy_data).nll_nats
    history = fit(model, toy_data, lr=0.05, max_epochs=60, patience=5, progress=False)
    after = evaluate(model, toy_data)
    assert after.nll_nats < before - 0.5
    # Entropy of the source: two fair bits, and two copies that disagree with them when exactly
    # one of the pair was flipped (probability 2 * 0.05 * 0.95).
    q = 2 * 0.05 * 0.95
    entropy = 2 * math.log(2) + 2 * -(q * math.log(q) + (1 - q) * math.log(1 - q))
    assert entropy - 0.1 < after.nll_nats < entropy + 0.05
    assert len(history.step) == len(history.val_nll) == len(history.train_loss) > 0
    assert history.best_val_nll == min(history.val_nll)
    assert model.training is False


def test_early_stopping_restores_the_best_weights(toy_data):
    torch.manual_seed(0)
    model = MADE(4, [256])
    history = fit(
        model, toy_data[:60], lr=0.01, max_epochs=500, patience=3, progress=False, val_fraction=0.5
    )
    assert history.stopped_early
    assert len(history.val_nll) == history.val_nll.index(history.best_val_nll) + 1 + 3
    # The weights in the model are those of the best evaluation, not the last.
    _, val = split_validation(toy_data[:60], 0.5, seed=0)
    assert evaluate(model, val).nll_nats == pytest.approx(history.best_val_nll, rel=1e-6)


def test_restore_best_false_keeps_the_last_weights(toy_data):
    torch.manual_seed(0)
    model = MADE(4, [256])
    history = fit(
        model,
        toy_data[:60],
        lr=0.01,
        max_epochs=40,
        patience=None,
        restore_best=False,
        progress=False,
        val_fraction=0.5,
    )
    _, val = split_validation(toy_data[:60], 0.5, seed=0)
    assert history.val_nll[-1] > history.best_val_nll, "a tiny training set must over-fit"
    assert evaluate(model, val).nll_nats == pytest.approx(history.val_nll[-1], rel=1e-6)


def test_weight_averaging_and_cosine_schedule(toy_data):
    torch.manual_seed(0)
    model = LogisticAR(4)
    history = fit(
        model,
        toy_data,
        lr=0.05,
        max_epochs=30,
        ema=0.9,
        cosine=True,
        warmup_steps=5,
        progress=False,
    )
    _, val = split_validation(toy_data, 0.1, seed=0)
    # The model returned holds the averaged weights that scored best on validation.
    assert evaluate(model, val).nll_nats == pytest.approx(history.best_val_nll, rel=1e-6)
    with pytest.raises(ValueError, match="ema"):
        fit(model, toy_data, ema=1.0)
    with pytest.raises(ValueError, match="one learning-rate schedule"):
        fit(model, toy_data, cosine=True, lr_patience=3)


def test_fit_is_deterministic(toy_data):
    def run():
        torch.manual_seed(0)
        model = MADE(4, [32], dropout=0.1)
        history = fit(model, toy_data, max_epochs=3, progress=False)
        return history.train_loss, history.val_nll

    assert run() == run()


def test_fit_limits(toy_data):
    model = LogisticAR(4)
    history = fit(
        model, toy_data, max_steps=5, batch_size=10, eval_every=2, progress=False, patience=None
    )
    assert history.step == [2, 4, 5]
    history = fit(model, toy_data, max_seconds=0.0, progress=False)
    assert history.step == [1]
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, toy_data, batch_size=0)
    with pytest.raises(TypeError, match="integer data"):
        fit(model, toy_data.float())


def test_fit_config_is_one_frozen_record(toy_data):
    config = FitConfig(batch_size=10, max_steps=4, eval_every=2, patience=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0
    torch.manual_seed(0)
    a = fit(LogisticAR(4), toy_data, config, progress=False)
    torch.manual_seed(0)
    b = fit(LogisticAR(4), toy_data, progress=False, **config.as_dict())  # the same, by name
    torch.manual_seed(0)
    c = fit(LogisticAR(4), toy_data, config, max_steps=2, progress=False)  # one setting replaced
    assert a.step == b.step == [2, 4] and a.val_nll == b.val_nll
    assert c.step == [2] and c.val_nll[0] == a.val_nll[0]
    assert config.replace(lr=0.5).lr == 0.5 and config.lr == 1e-3
    with pytest.raises(TypeError, match=r"unknown fit setting.*max_secs"):
        config.replace(max_secs=3)
    with pytest.raises(TypeError, match="unknown fit setting"):
        fit(LogisticAR(4), toy_data, max_secs=3)
    with pytest.raises(TypeError, match="config must be a FitConfig"):
        fit(LogisticAR(4), toy_data, {"lr": 1.0})
    for bad, message in [
        (dict(max_steps=0), "max_steps must be a positive integer"),
        (dict(patience=0), "patience must be a positive integer"),
        (dict(lr=0.0), "lr must be positive"),
        (dict(val_fraction=1.0), "val_fraction"),
        (dict(max_seconds=-1.0), "max_seconds"),
    ]:
        with pytest.raises(ValueError, match=message):
            FitConfig(**bad)


def test_evaluate_units(toy_data):
    model = MADE(4, [8])
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    result = evaluate(model, toy_data)
    assert result.nll_nats == pytest.approx(4 * math.log(2))
    assert result.nll_nats_per_dim == pytest.approx(math.log(2))
    assert result.bits_per_dim == pytest.approx(1.0)
    assert "bits/dim" in str(result)
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, toy_data[:0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: LogisticAR(5, order=[4, 0, 1, 2, 3]),
        lambda: MADE(5, [16, 8], num_classes=3, num_masks=3, order="random", seed=4, dropout=0.2),
    ],
)
def test_checkpoint_round_trip(tmp_path, make):
    torch.manual_seed(0)
    model = make().eval()
    path = save(model, tmp_path / "sub" / "model.pt", metadata={"dataset": "toy", "nll": 1.5})
    loaded = load(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    x = torch.randint(model.num_classes, (6, 5))
    torch.testing.assert_close(loaded.log_prob(x), model.log_prob(x))
    assert loaded.checkpoint_metadata == {"dataset": "toy", "nll": 1.5}
    assert not loaded.training
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"], "no temporary files left behind"


def test_every_model_round_trips_through_a_checkpoint(tmp_path, tiny_model):
    """``config`` is recorded by the base class for every model: a checkpoint rebuilds it."""
    path = save(tiny_model, tmp_path / "model.pt")
    loaded = load(path)
    assert type(loaded) is type(tiny_model) and loaded.config == tiny_model.config
    assert type(tiny_model)(**tiny_model.config).config == tiny_model.config
    x = tiny_model.sample(4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded.log_prob(x), tiny_model.eval().log_prob(x))


def test_a_gpt_checkpoint_with_the_earlier_argument_names_loads(tmp_path):
    model = GPT(5, block_size=8, num_layers=1, num_heads=2, embed_dim=8).eval()
    path = save(model, tmp_path / "gpt.pt")
    payload = torch.load(path, weights_only=True)
    names = {"num_layers": "n_layer", "num_heads": "n_head", "embed_dim": "n_embd"}
    payload["config"] = {names.get(k, k): v for k, v in payload["config"].items()}
    torch.save(payload, path)
    loaded = load(path)
    assert loaded.config == model.config
    x = torch.randint(5, (3, 12))
    torch.testing.assert_close(loaded.log_prob(x), model.log_prob(x))


def test_checkpoint_loads_with_weights_only(tmp_path):
    path = save(LogisticAR(3), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "arbook-checkpoint" and payload["model"] == "LogisticAR"
    assert load_checkpoint(path)["config"]["num_inputs"] == 3


def test_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load(tmp_path / "missing.pt")
    path = save(MADE(4, [8]), tmp_path / "good.pt")
    blob = path.read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"damaged \(truncated\?\)") as caught:
        load(truncated)
    assert "weights_only" not in str(caught.value)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=r"not a file written by torch\.save"):
        load(garbage)

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not an arbook checkpoint"):
        load(foreign)

    payload = load_checkpoint(path)
    payload["config"]["hidden_sizes"] = [9]
    mismatched = tmp_path / "mismatched.pt"
    torch.save(payload, mismatched)
    with pytest.raises(ValueError, match="do not match"):
        load(mismatched)

    payload = load_checkpoint(path)
    payload["model"] = "PixelTransformer9000"
    torch.save(payload, mismatched)
    with pytest.raises(ValueError, match="unknown model"):
        load(mismatched)

    payload = load_checkpoint(path)
    payload["version"] = 99
    torch.save(payload, mismatched)
    with pytest.raises(ValueError, match="version 99"):
        load(mismatched)


def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    target = tmp_path / "m.pt"
    save(LogisticAR(3), target)
    before = target.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save(LogisticAR(3), target)
    assert target.read_bytes() == before, "the old checkpoint is intact"
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
