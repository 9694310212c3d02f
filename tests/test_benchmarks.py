"""The benchmark suite's smoke mode: ``python -m benchmarks --quick`` on two small models writes
a JSON record and a Markdown table with every measurement, all of them positive and finite.
Timings are never asserted (they depend on the machine)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _positive(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_quick_suite_writes_json_and_markdown(tmp_path):
    # One image model (no cache) and one sequence model (cached and recomputed sampling).
    done = _run("--quick", "--device", "cpu", "--models", "logistic", "rnn", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    suite = json.loads((tmp_path / "suite-cpu-quick.json").read_text())
    table = (tmp_path / "suite-cpu-quick.md").read_text()

    machine = suite["machine"]
    for key in ("cpu", "threads", "cores", "torch", "arbook", "device", "date"):
        assert machine[key], key
    assert machine["threads"] == 1 and machine["device"] == "cpu"
    assert suite["quick"] is True and _positive(suite["total_seconds"])
    assert [r["model"] for r in suite["results"]] == ["logistic", "rnn"]

    for r in suite["results"]:
        assert r["parameters"] > 0
        training = r["training"]
        assert _positive(training["positions_per_second"]) and _positive(training["ms_per_step"])
        lik = r["likelihood"]
        assert lik["steps"] == 3
        assert lik["test_examples"] == 16 < lik["test_split_examples"]
        for key in ("nats_per_example", "nats_per_position", "bits_per_position"):
            assert _positive(lik[key]), key
        assert math.isclose(lik["bits_per_position"], lik["nats_per_position"] / math.log(2))
        assert math.isclose(
            lik["nats_per_example"], lik["nats_per_position"] * lik["positions_per_example"]
        )
        assert len(r["sampling"]) == 2 and [row["batch"] for row in r["sampling"]] == [1, 2]
        for row in r["sampling"]:
            timings = [row["recompute"]] + ([row["cached"]] if row["cached"] else [])
            for timing in timings:
                assert all(_positive(v) for v in timing.values())
                assert math.isclose(
                    timing["positions_per_second"], 1000 / timing["ms_per_position"]
                )
    logistic, rnn = suite["results"]
    assert logistic["likelihood"]["unit"] == "pixel" and rnn["likelihood"]["unit"] == "char"
    # Images have no cache; the RNN is timed both ways.
    assert all(row["cached"] is None and row["speedup"] is None for row in logistic["sampling"])
    assert all(row["length"] == 64 for row in logistic["sampling"])
    assert all(_positive(row["speedup"]) and row["length"] == 8 for row in rnn["sampling"])

    assert "## Training and test likelihood" in table and "## Sampling" in table
    rows = [line for line in table.splitlines() if line.startswith("| logistic |")]
    assert len(rows) == 1 + 2  # one likelihood row, two sampling rows
    assert "bits/char" in table and "bits/pixel" in table
    assert table in done.stdout  # the table is also printed


def test_unknown_model_is_refused(tmp_path):
    done = _run("--quick", "--models", "nade", "--out", str(tmp_path))
    assert done.returncode == 2
    assert "nade" in done.stderr and "gpt" in done.stderr  # names the valid choices
    assert not list(tmp_path.iterdir())
