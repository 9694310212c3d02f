"""Training under ``torchrun``: two CPU processes on the gloo backend.

The tests start ``torchrun`` in a subprocess; under it this file runs as a script
(:func:`_worker`), trains tiny models with :func:`arbook.fit` in each process and saves what
every process saw and ended with, which the tests then compare.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 180  # seconds; a launch that deadlocks is killed and fails


def _codes() -> torch.Tensor:
    """The 256 distinct 8-bit vectors ``[256, 8]``: an example's bits tell which one it is."""
    return (torch.arange(256)[:, None] >> torch.arange(8)) & 1


def _ids(batch: torch.Tensor) -> list[int]:
    return (batch << torch.arange(8)).sum(dim=1).tolist()


def _record(model: torch.nn.Module) -> list[torch.Tensor]:
    """Keep a copy of every training batch that reaches ``model.loss``."""
    seen: list[torch.Tensor] = []
    loss = model.loss

    def recording(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.detach().cpu().clone())
        return loss(x)

    model.loss = recording
    return seen


def _same(a: object, b: object) -> bool:
    """Equal tensors, or equal extra state (MADE's current mask set)."""
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        k: v.detach().cpu().clone() if isinstance(v, torch.Tensor) else v
        for k, v in model.state_dict().items()
    }


def _worker(out: Path) -> None:
    import arbook.train
    from arbook import MADE, data, fit
    from arbook.models import GPT

    rank = int(os.environ["RANK"])
    x = _codes()
    results = {}

    # Different initial weights in each process: training must start all of them from rank 0's.
    torch.manual_seed(rank)
    model = MADE(8, [16])
    init = _state(model)
    seen = _record(model)
    fit(model, x, val_fraction=0.25, batch_size=16, max_steps=1, patience=None, progress=False)
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}  # the last step's
    results["one_step"] = dict(init=init, batches=seen, grads=grads)

    torch.manual_seed(10 + rank)
    model = MADE(8, [16], dropout=0.1)
    init = _state(model)
    seen = _record(model)
    history = fit(
        model,
        x,
        val_fraction=0.25,
        batch_size=32,
        lr=1e-2,
        max_epochs=4,
        ema=0.9,
        cosine=True,
        warmup_steps=2,
        patience=2,
        progress=False,
    )
    results["epochs"] = dict(
        init=init, final=_state(model), batches=seen, history=history.as_dict()
    )

    # Random windows, and a time limit that only rank 1 reaches (its clock runs a million
    # times faster): every process must stop at the same step, or the next gradient exchange hangs.
    text = data.CharVocab("abcdefgh ").encode("abc def gha bad hag " * 40)
    torch.manual_seed(20 + rank)
    model = GPT(9, block_size=16, num_layers=1, num_heads=2, embed_dim=16)
    seen = _record(model)
    if rank == 1:
        arbook.train.time = types.SimpleNamespace(perf_counter=lambda: 1e6 * time.perf_counter())
    history = fit(
        model,
        data.Windows(text, 16),
        batch_size=4,
        max_steps=200,
        max_seconds=5.0,
        patience=None,
        progress=False,
    )
    arbook.train.time = time
    results["windows"] = dict(final=_state(model), batches=seen, history=history.as_dict())
    torch.save(results, out / f"rank{rank}.pt")


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``torchrun --standalone --nproc-per-node 2 ARGS`` (a free port of its own) and
    kill the whole process group if it does not finish within :data:`TIMEOUT`."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    env["ARBOOK_DEVICE"] = "cpu"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", *args]
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"torchrun did not finish in {TIMEOUT} s:\n{stdout}\n{stderr}")
    assert proc.returncode == 0, f"torchrun failed:\n{stdout}\n{stderr}"
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def test_world_from_torchrun_variables(monkeypatch):
    from arbook import runtime

    for name in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert runtime.world() == runtime.World(rank=0, size=1) and runtime.world().is_main
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    assert runtime.world() == runtime.World(rank=2, size=4) and not runtime.world().is_main
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK=4"):
        runtime.world()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="must be integers"):
        runtime.world()


@pytest.mark.parametrize("n", [1, 5, 6, 7])
def test_shares_of_an_epoch_are_equal_and_cover_it(n):
    from arbook.distributed import share
    from arbook.runtime import World

    perm = torch.randperm(n)
    shares = [share(perm, World(rank=r, size=3)) for r in range(3)]
    assert {len(s) for s in shares} == {math.ceil(n / 3)}
    assert set(torch.cat(shares).tolist()) == set(range(n))
    assert share(perm, World(rank=0, size=1)).tolist() == perm.tolist()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ranks")
    _torchrun(str(Path(__file__).resolve()), str(out), cwd=out)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


def test_gradients_are_averaged_over_the_processes(ranks):
    from arbook import MADE

    first, second = (r["one_step"] for r in ranks)
    assert not torch.equal(first["init"]["hidden.0.weight"], second["init"]["hidden.0.weight"])
    (b0,), (b1,) = first["batches"], second["batches"]
    assert len(b0) == len(b1) == 16 and not set(_ids(b0)) & set(_ids(b1))
    for name in first["grads"]:
        assert torch.equal(first["grads"][name], second["grads"][name]), name
    # The gradient of one process-wide batch of 32, from rank 0's initial weights.
    model = MADE(8, [16])
    model.load_state_dict(first["init"])
    model.train()
    model.loss(torch.cat([b0, b1])).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(first["grads"][name], p.grad, rtol=1e-5, atol=1e-7)


def test_processes_split_each_epoch_and_end_with_the_same_weights(ranks):
    first, second = (r["epochs"] for r in ranks)
    for key in ("step", "epoch", "train_loss", "val_nll", "best_step", "stopped_early"):
        assert first["history"][key] == second["history"][key], key
    steps = first["history"]["step"][-1]
    assert len(first["batches"]) == len(second["batches"]) == steps
    # 192 training examples, 32 per process and step: an epoch is 3 steps, and in every epoch
    # the two processes read disjoint halves of the training set.
    per_epoch = 3
    assert first["history"]["epoch"][0] == 1.0 and first["history"]["step"][0] == per_epoch
    for start in range(0, steps, per_epoch):
        mine = [i for b in first["batches"][start : start + per_epoch] for i in _ids(b)]
        theirs = [i for b in second["batches"][start : start + per_epoch] for i in _ids(b)]
        assert len(mine) == len(set(mine)) == len(theirs) == len(set(theirs)) == 96
        assert not set(mine) & set(theirs)
    for name, value in first["final"].items():
        assert _same(value, second["final"][name]), name
    assert not torch.equal(first["final"]["hidden.0.weight"], first["init"]["hidden.0.weight"])
    assert first["history"]["val_nll"][-1] < first["history"]["val_nll"][0]


def test_random_windows_differ_and_the_time_limit_is_shared(ranks):
    first, second = (r["windows"] for r in ranks)
    # Rank 1 ran out of (its fast) time after one step; rank 0 stopped with it.
    assert first["history"]["step"] == second["history"]["step"] == [1]
    assert first["history"]["val_nll"] == second["history"]["val_nll"]
    assert not torch.equal(first["batches"][0], second["batches"][0])
    for name, value in first["final"].items():
        assert _same(value, second["final"][name]), name


def test_command_line_under_torchrun_writes_one_checkpoint(tmp_path):
    from arbook import load

    run = _torchrun(
        "-m",
        "arbook",
        "train",
        "logistic",
        "--dataset",
        "digits-binary",
        "--max-steps",
        "20",
        "--quiet",
        "--json",
        "--out",
        "runs/logistic.pt",
        cwd=tmp_path,
    )
    lines = run.stdout.strip().splitlines()
    assert sum(line.startswith("training logistic") for line in lines) == 1, run.stdout
    assert sum(line.startswith("{") for line in lines) == 1, run.stdout
    summary = json.loads(lines[-1])
    assert summary["steps"] == 20
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["logistic.pt"]
    model = load(tmp_path / "runs" / "logistic.pt")
    assert model.checkpoint_metadata["test_nll_nats"] == pytest.approx(summary["test_nll_nats"])


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
