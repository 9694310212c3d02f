"""Units, the runtime (device, profile, seeding) and the digits data set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from arbook import data, metrics, runtime


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


def test_digits_split():
    train, test = data.digits("train"), data.digits("test")
    assert train.shape == (1437, 8, 8) and test.shape == (360, 8, 8)
    assert train.dtype == torch.long and train.min() == 0 and train.max() == 16
    binary = data.digits("test", binary=True)
    assert set(binary.unique().tolist()) == {0, 1}
    assert torch.equal(binary, (test >= 8).long())
    images, labels = data.digits("test", return_labels=True)
    assert torch.equal(images, test) and torch.bincount(labels).min() >= 35  # stratified
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        data.digits("valid")


def test_digits_split_is_the_documented_one():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    _, x_test, _, _ = train_test_split(
        bunch.images, bunch.target, test_size=0.2, random_state=0, stratify=bunch.target
    )
    assert torch.equal(data.digits("test"), torch.from_numpy(x_test.astype(np.int64)))


def test_split_validation():
    x = torch.arange(100)
    train, val = data.split_validation(x, 0.1, seed=0)
    assert len(train) == 90 and len(val) == 10
    assert sorted(torch.cat([train, val]).tolist()) == list(range(100))
    assert torch.equal(val, data.split_validation(x, 0.1, seed=0)[1])
    with pytest.raises(ValueError, match="fraction"):
        data.split_validation(x, 1.0)
    with pytest.raises(ValueError, match="cannot carve"):
        data.split_validation(torch.arange(3), 0.1)
