"""The command line: train, sample, evaluate, and clear errors for unknown names."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from arbook.__main__ import main


def test_train_sample_evaluate(tmp_path, capsys):
    ckpt = tmp_path / "made.pt"
    code = main(
        [
            "train",
            "made",
            "--dataset",
            "digits-binary",
            "--max-steps",
            "30",
            "--quiet",
            "--json",
            "--out",
            str(ckpt),
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    for key in (
        "test_nll_nats",
        "test_nll_nats_per_dim",
        "test_bits_per_dim",
        "train_seconds",
        "parameters",
    ):
        assert key in result
    assert result["test_nll_nats_per_dim"] == pytest.approx(result["test_nll_nats"] / 64)
    assert 0 < result["test_bits_per_dim"] < 1.0
    assert ckpt.is_file()

    assert (
        main(
            ["sample", str(ckpt), "-n", "4", "--out", str(tmp_path / "grid.png"), "--top-p", "0.9"]
        )
        == 0
    )
    assert (tmp_path / "grid.png").stat().st_size > 1000
    assert main(["sample", str(ckpt), "-n", "1"]) == 0
    assert "sample 0:" in capsys.readouterr().out

    assert main(["evaluate", str(ckpt), "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert evaluation["nll_nats"] == pytest.approx(result["test_nll_nats"], rel=1e-6)


def test_made_ensemble_option(tmp_path, capsys):
    ckpt = tmp_path / "ens.pt"
    assert (
        main(
            [
                "train",
                "made",
                "--dataset",
                "digits-binary",
                "--num-masks",
                "2",
                "--max-steps",
                "5",
                "--quiet",
                "--json",
                "--out",
                str(ckpt),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["options"] == {
        "num_masks": 2
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "pixelsnake", "--dataset", "digits"],
            "unknown model 'pixelsnake'; choose one of: gated-pixelcnn, gpt, gru, logistic, lstm, made, "
            "pixelcnn, rnn, wavenet",
        ),
        (
            ["train", "made", "--dataset", "cifar"],
            (
                "unknown dataset 'cifar'; choose one of: digits, digits-binary, fashion-mnist, "
                "fashion-mnist-binary, names, shakespeare, tones"
            ),
        ),
        (
            ["train", "logistic", "--dataset", "digits", "--num-masks", "3"],
            "--num-masks applies to the made model only",
        ),
        (
            ["train", "lstm", "--dataset", "tones"],
            "'lstm' is a text model; choose one of the text data sets: names, shakespeare "
            "(or an image data set, read as a sequence of pixels)",
        ),
        (
            ["train", "made", "--dataset", "names"],
            "'made' is an image model; choose one of the image data sets",
        ),
        (
            ["train", "wavenet", "--dataset", "names"],
            "'wavenet' is an audio model; choose one of the audio data sets: tones",
        ),
        (
            ["train", "gpt", "--dataset", "names", "--max-steps", "0"],
            "--max-steps must be at least 1, got 0",
        ),
        (
            ["train", "gpt", "--dataset", "names", "--max-seconds", "0"],
            "--max-seconds must be positive, got 0.0",
        ),
        (["sample", "nowhere.pt"], "no checkpoint at nowhere.pt"),
        (["sample", "nowhere.pt", "--temperature", "0"], "no checkpoint"),
    ],
)
def test_clear_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_sampling_option_is_reported(tmp_path, capsys):
    from arbook import LogisticAR, save

    ckpt = save(LogisticAR(64), tmp_path / "l.pt")
    assert main(["sample", str(ckpt), "--temperature", "-1"]) == 2
    assert "temperature must be" in capsys.readouterr().err


def test_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "arbook", "--help"], capture_output=True, text=True, check=True
    )
    assert "train" in out.stdout and "sample" in out.stdout and "evaluate" in out.stdout


def test_train_gated_pixelcnn_on_digits(tmp_path, capsys):
    ckpt = tmp_path / "g.pt"
    argv = [
        "train",
        "gated-pixelcnn",
        "--dataset",
        "digits",
        "--max-steps",
        "40",
        "--quiet",
        "--json",
        "--out",
        str(ckpt),
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        result["model"] == "gated-pixelcnn" and 0 < result["test_bits_per_dim"] < 4.09
    )  # log2(17)
    assert main(["sample", str(ckpt), "-n", "2", "--out", str(tmp_path / "s.png")]) == 0


@pytest.mark.parametrize("model", ["gru", "gpt"])
def test_train_and_sample_names(model, tmp_path, capsys):
    ckpt = tmp_path / f"{model}.pt"
    argv = ["train", model, "--dataset", "names", "--max-steps", "20", "--quiet", "--json"]
    assert main([*argv, "--out", str(ckpt)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["test_nll_nats_per_dim"] < result["test_nll_nats"]  # names have 7 positions
    argv = [
        "sample",
        str(ckpt),
        "-n",
        "5",
        "--prompt",
        "ma",
        "--temperature",
        "0.8",
        "--top-k",
        "5",
    ]
    assert main(argv) == 0
    names = capsys.readouterr().out.strip().splitlines()
    assert len(names) == 5 and all(name.startswith("ma") for name in names)
    assert main(["sample", str(ckpt), "-n", "2", "--no-cache", "--length", "5"]) == 0
    assert all(len(n) <= 5 for n in capsys.readouterr().out.strip().splitlines())
    assert main(["sample", str(ckpt), "--prompt", "M"]) == 2
    assert "'M' is not in the vocabulary" in capsys.readouterr().err
    assert result["train_positions_per_second"] > 0
    assert main(["sample", str(ckpt), "--out", str(tmp_path / "x.png")]) == 2
    assert "text samples are printed" in capsys.readouterr().err
    assert main(["evaluate", str(ckpt), "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert evaluation["nll_nats"] == pytest.approx(result["test_nll_nats"], rel=1e-6)


def test_prompt_needs_a_text_model(tmp_path, capsys):
    from arbook import LogisticAR, save

    ckpt = save(LogisticAR(64), tmp_path / "l.pt")
    assert main(["sample", str(ckpt), "--prompt", "ab"]) == 2
    assert "text and audio models only" in capsys.readouterr().err


def test_train_and_sample_wavenet_audio(tmp_path, capsys):
    from arbook import audio

    ckpt = tmp_path / "wavenet.pt"
    argv = ["train", "wavenet", "--dataset", "tones", "--max-steps", "10", "--quiet", "--json"]
    assert main([*argv, "--out", str(ckpt)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["test_nll_nats_per_dim"] == pytest.approx(result["test_nll_nats"] / 8000)
    assert 0 < result["test_bits_per_dim"] < 8  # better than uniform over 256 codes after 10 steps
    assert result["steps"] == 10

    clip = tmp_path / "clip.wav"
    assert main(["sample", str(ckpt), "--seconds", "0.05", "--out", str(clip)]) == 0
    assert "wrote 1 clip(s) of 0.05 s at 8000 Hz" in capsys.readouterr().out
    wave, rate = audio.read_wav(clip)
    assert rate == 8000 and wave.shape == (400,)

    # the naive loop writes the same audio; -n 2 writes two numbered files
    naive = tmp_path / "naive.wav"
    assert main(["sample", str(ckpt), "--seconds", "0.05", "--out", str(naive), "--no-cache"]) == 0
    assert naive.read_bytes() == clip.read_bytes()
    assert main(["sample", str(ckpt), "--seconds", "0.01", "-n", "2", "--out", str(clip)]) == 0
    assert (tmp_path / "clip-0.wav").is_file() and (tmp_path / "clip-1.wav").is_file()

    capsys.readouterr()
    assert main(["sample", str(ckpt), "--seconds", "0.1"]) == 2
    assert "need --out FILE.wav" in capsys.readouterr().err
    assert main(["sample", str(ckpt), "--prompt", "ab", "--out", str(clip)]) == 2
    assert "not --prompt or --length" in capsys.readouterr().err
    assert main(["evaluate", str(ckpt), "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert evaluation["nll_nats"] == pytest.approx(result["test_nll_nats"], rel=1e-5)


def test_seconds_needs_an_audio_model(tmp_path, capsys):
    from arbook import LogisticAR, save

    ckpt = save(LogisticAR(64), tmp_path / "l.pt")
    assert main(["sample", str(ckpt), "--seconds", "1"]) == 2
    assert "--seconds applies to audio models only" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["lstm", "gpt", "wavenet"])
def test_sequence_models_read_images_as_pixel_sequences(model, tmp_path, capsys):
    ckpt = tmp_path / f"{model}-digits.pt"
    argv = ["train", model, "--dataset", "digits", "--max-steps", "20", "--quiet", "--json"]
    assert main([*argv, "--out", str(ckpt)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["test_nll_nats_per_dim"] == pytest.approx(result["test_nll_nats"] / 64)
    assert 0 < result["test_bits_per_dim"] < 4.09  # 17 levels: log2(17) = 4.09 bits uniform
    assert main(["sample", str(ckpt), "-n", "2", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 1000
    assert main(["sample", str(ckpt), "-n", "1"]) == 0
    picture = capsys.readouterr().out.split("sample 0:\n")[1].splitlines()
    assert len(picture) == 8 and all(len(row) == 16 for row in picture)  # 8 rows of 8 pixels
    assert main(["evaluate", str(ckpt), "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert evaluation["nll_nats"] == pytest.approx(result["test_nll_nats"], rel=1e-5)
