"""The same numbers everywhere: a chapter's training run, repeated in fresh processes, prints
bit-identical likelihoods, also when PyTorch would use another number of threads (as on a
machine with another number of cores).

The recipes' budgets are steps and epochs, never seconds, PyTorch's CPU kernels are
deterministic, and the package computes on one CPU thread (:func:`arbook.runtime.cpu_threads`),
so nothing in a run depends on how fast the machine is or how many cores it has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: What the runs must agree on, to the last bit (JSON round-trips a float exactly).
NUMBERS = ("test_nll_nats", "test_nll_nats_per_dim", "best_val_nll_nats", "steps", "stopped_early")


def _train(argv: list[str], cores: int, out: Path) -> dict:
    """Train in a fresh process whose PyTorch would use ``cores`` threads by default."""
    env = dict(os.environ, OMP_NUM_THREADS=str(cores), MKL_NUM_THREADS=str(cores))
    env.pop("ARBOOK_THREADS", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("ARBOOK_PROFILE", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "arbook",
            "train",
            *argv,
            "--device",
            "cpu",
            "--quiet",
            "--json",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        # The chain rule chapter's run: the logistic model's recipe, until early stopping ends it.
        ["logistic", "--dataset", "digits-binary"],
        # The first steps of models whose products and convolutions PyTorch would split between
        # threads: attention, and the gated PixelCNN (the PixelCNN chapter's recipe).
        ["gpt", "--dataset", "names", "--max-steps", "30"],
        ["gated-pixelcnn", "--dataset", "digits", "--max-steps", "30"],
    ],
    ids=["logistic-digits-binary", "gpt-names", "gated-pixelcnn-digits"],
)
def test_a_recipe_gives_the_same_numbers_in_every_run(argv, tmp_path):
    runs = [_train(argv, cores, tmp_path / f"{i}.pt") for i, cores in enumerate((2, 2, 1))]
    first = {k: runs[0][k] for k in NUMBERS}
    assert first["steps"] > 0
    for run in runs[1:]:
        assert {k: run[k] for k in NUMBERS} == first
