"""fit(..., cache=...): an identical earlier run is loaded, not trained again; anything that
changes what training computes makes a new run."""

from __future__ import annotations

import pytest
import torch

import arbook.train
from arbook import MADE, fit, fitcache
from arbook.data import Windows
from arbook.models import CharRNN


def _data():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(120, 6, generator=g) < 0.3).long()


SETTINGS = dict(batch_size=16, lr=1e-2, max_epochs=3, patience=None, progress=False)


def _train(tmp_path, seed=0, data=None, **changes):
    torch.manual_seed(seed)
    model = MADE(6, [16], dropout=0.2)
    history = fit(
        model, _data() if data is None else data, cache=tmp_path, **{**SETTINGS, **changes}
    )
    return model, history, torch.get_rng_state()


def _no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained although an identical run is cached")

    monkeypatch.setattr(arbook.train, "_fit", refuse)


def test_an_identical_run_is_loaded_with_its_history_and_random_state(tmp_path, monkeypatch):
    first, history, rng = _train(tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 1
    _no_training(monkeypatch)
    second, again, rng_again = _train(tmp_path)
    assert not second.training
    for (k, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b, k
    assert again == history
    assert torch.equal(rng, rng_again)  # what follows draws the same random numbers


@pytest.mark.parametrize(
    "change",
    [
        dict(seed=1),  # other initial weights
        dict(lr=2e-2),  # another setting
        dict(data=1 - _data()),  # other data
    ],
)
def test_anything_that_changes_training_trains_again(tmp_path, change):
    _train(tmp_path)
    _train(tmp_path, **change)
    assert len(list(tmp_path.glob("*.pt"))) == 2


def test_the_random_state_and_the_package_source_are_part_of_the_run(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = MADE(6, [16], dropout=0.2)
    init = {k: v.clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    fit(model, _data(), cache=tmp_path, **SETTINGS)
    torch.manual_seed(5)  # the same initial weights, other dropout noise
    model.load_state_dict(init, strict=False)
    fit(model, _data(), cache=tmp_path, **SETTINGS)
    assert len(list(tmp_path.glob("*.pt"))) == 2
    monkeypatch.setattr(fitcache, "module_digest", lambda path: f"another version of {path}")
    _train(tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 3


def test_the_code_of_a_run_is_the_code_it_runs():
    """A run depends on the trainer and on the modules its model's loss and evaluation call
    into; a plot, a widget or another model is not part of it."""
    torch.manual_seed(0)
    made = {p.name for p in fitcache.modules_run(MADE(6, [16]), _data()[:2])}
    assert {"made.py", "base.py", "layers.py"} <= made
    assert not made & {"gpt.py", "rnn.py", "plots.py", "widgets.py", "recipes.py"}
    rnn = {
        p.name for p in fitcache.modules_run(CharRNN(5, 8, length=16), torch.zeros(1, 16).long())
    }
    assert {"rnn.py", "sequence.py"} <= rnn and "made.py" not in rnn


def test_comments_and_docstrings_are_not_code(tmp_path):
    source = tmp_path / "module.py"

    def digest(text):
        source.write_text(text)
        return fitcache.module_digest(source)

    plain = digest("def f(x):\n    return 2 * x\n")
    documented = digest(
        '"""A module."""\n\n\ndef f(x):  # doubles\n    """Twice x."""\n    return 2 * x\n'
    )
    changed = digest("def f(x):\n    return 3 * x\n")
    assert plain == documented != changed


def test_a_timed_run_is_never_cached(tmp_path):
    _train(tmp_path, max_seconds=60.0)
    assert list(tmp_path.glob("*.pt")) == []


def test_windows_of_a_text(tmp_path, monkeypatch):
    codes = torch.randint(5, (400,), generator=torch.Generator().manual_seed(0))

    def run():
        torch.manual_seed(0)
        model = CharRNN(5, 8, length=16)
        return model, fit(model, Windows(codes, 16), cache=tmp_path, max_steps=5, **SETTINGS)

    _, history = run()
    _no_training(monkeypatch)
    _, again = run()
    assert again == history


def test_order_agnostic_made_keeps_its_current_mask(tmp_path, monkeypatch):
    def run():
        torch.manual_seed(0)
        model = MADE(6, [16], num_masks=3, order="random")
        fit(model, _data(), cache=tmp_path, **{**SETTINGS, "max_epochs": 1})
        return model

    trained = run()
    _no_training(monkeypatch)
    loaded = run()
    assert loaded.mask_index == trained.mask_index
    assert torch.equal(loaded.order, trained.order)


def test_off_and_damaged_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("ARBOOK_CACHE", "off")
    assert fitcache.folder(True) is None and fitcache.folder(tmp_path) is None
    _train(tmp_path)
    assert list(tmp_path.glob("*.pt")) == []
    monkeypatch.setenv("ARBOOK_CACHE", str(tmp_path / "root"))
    assert fitcache.folder(True) == tmp_path / "root" / "fit"
    assert fitcache.folder(False) is None
    monkeypatch.delenv("ARBOOK_CACHE")
    _, history, _ = _train(tmp_path)
    (entry,) = tmp_path.glob("*.pt")
    entry.write_bytes(b"not a checkpoint")  # a damaged entry is a miss: trained again, rewritten
    _, again, _ = _train(tmp_path)
    assert again.step == history.step
    assert entry.stat().st_size > 100


def test_made_checkpoints_keep_the_mask_index(tmp_path):
    from arbook import load, save

    model = MADE(5, [8], num_masks=3, order="random", seed=0)
    model.set_mask(2)
    back = load(save(model, tmp_path / "m.pt"))
    assert back.mask_index == 2 and torch.equal(back.order, model.order)


def test_a_flag_of_a_module_is_part_of_the_run(tmp_path):
    """The GPT chapter trains the same GPT with and without its causal mask, from one seed."""
    from arbook.models import GPT

    codes = torch.randint(5, (300,), generator=torch.Generator().manual_seed(0))
    losses = {}
    for causal in (True, False):
        torch.manual_seed(0)
        model = GPT(5, block_size=8, num_layers=1, num_heads=1, embed_dim=8).set_attention(
            causal=causal
        )
        history = fit(model, Windows(codes, 8), cache=tmp_path, max_steps=20, **SETTINGS)
        losses[causal] = history.train_loss[-1]
    assert len(list(tmp_path.glob("*.pt"))) == 2
    assert losses[True] != losses[False]
