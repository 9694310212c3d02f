"""Units and the runtime (device, profile, seeding)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from arbook import metrics, runtime


def test_bits_per_dim():
    assert metrics.bits_per_dim(64 * math.log(2), 64) == pytest.approx(1.0)
    assert metrics.nats_from_bits_per_dim(1.0, 64) == pytest.approx(64 * math.log(2))
    assert metrics.bits_to_nats(metrics.nats_to_bits(3.0)) == pytest.approx(3.0)
    assert metrics.perplexity(math.log(27)) == pytest.approx(27)
    with pytest.raises(ValueError, match="num_dims"):
        metrics.bits_per_dim(1.0, 0)


def test_profile_choice(monkeypatch):
    monkeypatch.delenv("ARBOOK_PROFILE", raising=False)
    assert runtime.profile(dev="cpu") == "quick"
    assert runtime.profile(dev="cuda") == "full"
    monkeypatch.setenv("ARBOOK_PROFILE", "full")
    assert runtime.profile(dev="cpu") == "full"
    assert runtime.profile("quick") == "quick"
    monkeypatch.setenv("ARBOOK_PROFILE", "huge")
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        runtime.profile()


def test_device_choice(monkeypatch):
    monkeypatch.delenv("ARBOOK_DEVICE", raising=False)
    assert runtime.device("cpu") == torch.device("cpu")
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert runtime.device().type == expected
    monkeypatch.setenv("ARBOOK_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        runtime.device("gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.device("cuda")


def test_seeding_and_setup():
    g = runtime.seed_everything(3)
    a = (torch.rand(2), np.random.rand(), torch.rand(2, generator=g))  # noqa: NPY002
    g = runtime.seed_everything(3)
    b = (torch.rand(2), np.random.rand(), torch.rand(2, generator=g))  # noqa: NPY002
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2])
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(-1)
    rt = runtime.setup(seed=1, device_name="cpu", profile_name="quick")
    assert (rt.device.type, rt.profile, rt.seed) == ("cpu", "quick", 1)
    assert "profile quick" in str(rt)


def test_the_book_computes_on_one_cpu_thread(monkeypatch):
    """One thread: the number of cores cannot change how a sum is split, and so its last digits."""
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("ARBOOK_THREADS", raising=False)
        rt = runtime.setup(0, device_name="cpu")
        assert rt.threads == 1 == torch.get_num_threads() and "CPU threads 1" in str(rt)
        monkeypatch.setenv("ARBOOK_THREADS", "2")
        assert runtime.cpu_threads("cpu") == 2 == torch.get_num_threads()
        for bad in ("0", "two"):
            monkeypatch.setenv("ARBOOK_THREADS", bad)
            with pytest.raises(ValueError, match="ARBOOK_THREADS must be a positive integer"):
                runtime.cpu_threads("cpu")
    finally:
        torch.set_num_threads(before)
