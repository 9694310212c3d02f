"""The command line at its edges: outputs checked before any work, Ctrl-C, bad checkpoints,
out-of-range options, and one wording of likelihoods. Every error is one line, never a
traceback, and nothing half-written is left behind."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import arbook.__main__ as cli
from arbook import load
from arbook.__main__ import main
from arbook.models import MADE

TRAIN_MADE = ["train", "made", "--dataset", "digits-binary", "--quiet"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: ")
    return err


@pytest.fixture(scope="module")
def made_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("made") / "made.pt"
    assert main([*TRAIN_MADE, "--max-steps", "20", "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def names_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("names") / "gru.pt"
    assert (
        main(
            [
                "train",
                "gru",
                "--dataset",
                "names",
                "--quiet",
                "--max-steps",
                "5",
                "--out",
                str(path),
            ]
        )
        == 0
    )
    return path


def _no_training(monkeypatch):
    """Fail the test if training starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("trained before checking the output path")

    monkeypatch.setattr(cli, "fit", refuse)


# -- 1. output paths, before any work ----------------------------------------------------------


def test_train_refuses_a_folder_before_training(tmp_path, capsys, monkeypatch):
    _no_training(monkeypatch)
    assert main([*TRAIN_MADE, "--out", str(tmp_path)]) == 2
    assert "is a folder" in _error(capsys)


def test_train_refuses_an_unwritable_place_before_training(tmp_path, capsys, monkeypatch):
    _no_training(monkeypatch)
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main([*TRAIN_MADE, "--out", str(afile / "m.pt")]) == 2
    assert "is a file, not a folder" in _error(capsys)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(cli.tempfile, "TemporaryFile", read_only)
    assert main([*TRAIN_MADE, "--out", str(tmp_path / "sub" / "m.pt")]) == 2
    assert "cannot write in" in _error(capsys) and not (tmp_path / "sub").exists()


def test_a_failed_save_falls_back_and_says_where(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real_save = cli.save
    out = tmp_path / "m.pt"

    def failing(model, path, metadata=None):
        if path == out:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(model, path, metadata=metadata)

    monkeypatch.setattr(cli, "save", failing)
    assert main([*TRAIN_MADE, "--max-steps", "3", "--out", str(out)]) == 2
    err = _error(capsys)
    assert "could not write" in err and "No space left on device" in err
    fallback = tmp_path / f"m.unsaved-{os.getpid()}.pt"
    assert f"saved to {fallback}" in err
    assert load(fallback).checkpoint_metadata["model_name"] == "made"
    assert not out.exists()


def test_sample_checks_its_output_before_sampling(made_ckpt, tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("sampled before checking the output path")

    monkeypatch.setattr(MADE, "sample", refuse)
    assert main(["sample", str(made_ckpt), "--out", str(tmp_path)]) == 2
    assert "is a folder" in _error(capsys)
    assert main(["sample", str(made_ckpt), "--out", str(tmp_path / "grid.xyz")]) == 2
    assert "cannot write .xyz images" in _error(capsys)


def test_audio_output_is_checked_before_generating(tmp_path, capsys, monkeypatch):
    ckpt = tmp_path / "w.pt"
    args = ["train", "wavenet", "--dataset", "tones", "--quiet", "--max-steps", "1"]
    assert main([*args, "--out", str(ckpt)]) == 0
    (tmp_path / "clip.wav").mkdir()
    capsys.readouterr()
    assert (
        main(["sample", str(ckpt), "--seconds", "0.01", "--out", str(tmp_path / "clip.wav")]) == 2
    )
    assert "is a folder" in _error(capsys)
    assert main(["sample", str(ckpt), "--seconds", "1000", "--out", str(tmp_path / "a.wav")]) == 2
    assert "at most 1,000,000" in _error(capsys)


# -- 2. Ctrl-C -------------------------------------------------------------------------------


def _interrupt_fit_at(monkeypatch, call):
    real_loss = MADE.loss
    calls = {"n": 0}

    def loss(self, x):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real_loss(self, x)

    monkeypatch.setattr(MADE, "loss", loss)


def test_ctrl_c_saves_the_best_weights_beside_the_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "m.pt"
    assert main([*TRAIN_MADE, "--max-steps", "5", "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    _interrupt_fit_at(monkeypatch, 40)  # an epoch of digits-binary is 13 steps: 3 evaluations
    assert main([*TRAIN_MADE, "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    partial = tmp_path / "m.partial.pt"
    assert "interrupted at step 39: saved the best weights so far (step " in err
    assert f"to {partial}; {out} is unchanged" in err
    assert out.read_bytes() == before
    meta = load(partial).checkpoint_metadata
    assert meta["interrupted_at_step"] == 39 and meta["best_step"] in (13, 26, 39)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.partial.pt", "m.pt"]


def test_ctrl_c_before_any_evaluation_saves_nothing(tmp_path, capsys, monkeypatch):
    _interrupt_fit_at(monkeypatch, 3)
    assert main([*TRAIN_MADE, "--out", str(tmp_path / "m.pt")]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "interrupted at step 2, before the first evaluation: nothing saved"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_sampling_is_one_line(made_ckpt, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MADE, "sample", interrupted)
    assert main(["sample", str(made_ckpt)]) == 130
    assert capsys.readouterr().err.strip() == "interrupted: nothing written"


def test_a_real_sigint_stops_training_in_one_line(tmp_path):
    """The signal itself, in a child process: exit status 130, one line on stderr."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arbook",
            "train",
            "gpt",
            "--dataset",
            "shakespeare",
            "--quiet",
            "--out",
            str(tmp_path / "g.pt"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ARBOOK_THREADS": "1"},
        # A job started in the background (`cmd &`, as CI scripts often are) inherits SIGINT
        # ignored, and Python then installs no KeyboardInterrupt handler: give the child the
        # default disposition, as a terminal does.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout.readline().startswith("training gpt")  # training has begun
        time.sleep(3.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    # (Before the first evaluation, at step 250, nothing is saved; setting up, nothing either.)
    assert len(lines) == 1 and lines[0].startswith("interrupted"), err
    assert lines[0].endswith("nothing saved") or lines[0] == "interrupted: nothing written", err
    assert not (tmp_path / "g.pt").exists()
    assert [p.name for p in tmp_path.iterdir()] in ([], ["g.partial.pt"])


# -- 3. the path actually written --------------------------------------------------------------


def test_sample_reports_the_file_it_wrote(made_ckpt, tmp_path, capsys):
    assert main(["sample", str(made_ckpt), "-n", "4", "--out", str(tmp_path / "grid_noext")]) == 0
    assert f"wrote 4 samples to {tmp_path / 'grid_noext.png'}" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["grid_noext.png"]


# -- 4. files that are not checkpoints ---------------------------------------------------------


def test_a_file_that_is_not_a_checkpoint_is_one_plain_sentence(made_ckpt, tmp_path, capsys):
    png = tmp_path / "grid.png"
    assert main(["sample", str(made_ckpt), "-n", "1", "--out", str(png)]) == 0
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    truncated = tmp_path / "half.pt"
    truncated.write_bytes(made_ckpt.read_bytes()[:5000])
    capsys.readouterr()
    for path, says in (
        (png, "not a file written by torch.save"),
        (text, "not a file written by torch.save"),
        (truncated, "damaged (truncated?)"),
    ):
        assert main(["sample", str(path)]) == 2
        err = _error(capsys)
        assert says in err and "weights_only" not in err and "101" not in err


# -- 5, 6. options out of range -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prompt", "ab.c"], "contains the end marker '.'"),
        (["--length", "0"], "--length must be from 1 to 1,000,000, got 0"),
        (["--length", "1000000000"], "--length must be from 1 to 1,000,000, got 1,000,000,000"),
        (["--temperature", "0"], "--greedy on the command line"),
        (["-n", "0"], "number of samples must be at least 1"),
    ],
)
def test_sampling_options_are_checked(names_ckpt, capsys, argv, message):
    assert main(["sample", str(names_ckpt), *argv]) == 2
    assert message in _error(capsys)


@pytest.mark.parametrize("seconds", ["0", "-1"])
def test_max_seconds_must_be_positive(seconds, capsys, monkeypatch):
    _no_training(monkeypatch)
    assert main([*TRAIN_MADE, "--max-seconds", seconds]) == 2
    assert "--max-seconds must be positive" in _error(capsys)


def test_greedy_flag(names_ckpt, capsys):
    assert main(["sample", str(names_ckpt), "-n", "3", "--greedy", "--prompt", "ma"]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 3 and len(set(names)) == 1  # greedy: the same name every time


def test_long_generations_show_progress(names_ckpt, tmp_path, capsys, monkeypatch):
    ckpt = tmp_path / "lstm.pt"
    args = ["train", "lstm", "--dataset", "shakespeare", "--quiet", "--max-steps", "1"]
    assert main([*args, "--out", str(ckpt)]) == 0
    capsys.readouterr()
    assert main(["sample", str(ckpt), "-n", "1", "--length", "2500"]) == 0
    captured = capsys.readouterr()
    assert "generating text" in captured.err and "/2500 [" in captured.err
    assert len(captured.out.rsplit("\n\n" + "-" * 40, 1)[0]) == 2500


# -- 7, 9. what happens after training, and units ------------------------------------------


def test_train_says_what_it_does_after_training_in_one_wording(tmp_path, capsys):
    assert main([*TRAIN_MADE, "--max-steps", "3", "--out", str(tmp_path / "m.pt")]) == 0
    out = capsys.readouterr().out
    assert "trained 3 steps; evaluating the exact NLL of 360 test images ..." in out
    assert " nats per image = " in out and " nats per pixel = " in out and " bits per pixel " in out
    assert main(["evaluate", str(tmp_path / "m.pt")]) == 0
    captured = capsys.readouterr()
    assert "evaluating the exact NLL of 360 test images" in captured.err
    assert " nats per image = " in captured.out and " bits per pixel (360 images)" in captured.out


def test_text_units_in_train_and_evaluate(names_ckpt, capsys):
    assert main(["evaluate", str(names_ckpt)]) == 0
    out = capsys.readouterr().out
    assert " nats per name = " in out and " nats per character = " in out
    assert " bits per character " in out and "bits/dim" not in out


def test_progress_bar_values_have_units(toy_fit_output):
    assert "nats/example" in toy_fit_output and "positions/s" in toy_fit_output


@pytest.fixture
def toy_fit_output(capsys):
    from arbook import fit

    x = (torch.rand(200, 6, generator=torch.Generator().manual_seed(0)) < 0.5).long()
    fit(MADE(6, [8]), x, batch_size=20, max_steps=10, eval_every=5, progress=True)
    return capsys.readouterr().err


# -- 8. file modes --------------------------------------------------------------------------------


def test_checkpoints_get_the_ordinary_mode(tmp_path, capsys):
    umask = os.umask(0o022)
    try:
        out = tmp_path / "m.pt"
        assert main([*TRAIN_MADE, "--max-steps", "2", "--out", str(out)]) == 0
        assert out.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


# -- 10. every option explains itself -------------------------------------------------------------


def test_every_option_has_help():
    import argparse

    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"
