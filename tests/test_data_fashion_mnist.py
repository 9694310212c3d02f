"""Fashion-MNIST: IDX parsing, where the files are looked for, the download and its checksum.

Every test but the last writes its own tiny IDX files; none touches the network (the download
tests serve bytes from memory through a fake ``urllib.request.urlopen``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from arbook import data
from arbook.data import fashion

SPLIT_SIZES = {"train": 6, "test": 4}


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """``array`` (uint8) in the IDX format: magic number, one big-endian uint32 per dimension,
    then the values in C order."""
    magic = (0x0800 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def fake_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images that use the whole 0..255 range (so the threshold at 128 matters) and labels."""
    rng = np.random.default_rng(0 if split == "train" else 1)
    n = SPLIT_SIZES[split]
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, :4] = [127, 128, 0, 255]  # both sides of the threshold, for sure
    return images, rng.integers(0, 10, size=n, dtype=np.uint8)


def write_split(folder: Path, split: str, gzipped: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Write ``split``'s two IDX files into ``folder``; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = fake_split(split)
    for name, array in zip(data.FASHION_MNIST_FILES[split], (images, labels), strict=True):
        raw = idx_bytes(array)
        if gzipped:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return images, labels


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No data anywhere but where a test puts it: no ARBOOK_DATA, an empty Debian folder, an
    empty cache, and a network that refuses every connection."""
    monkeypatch.delenv("ARBOOK_DATA", raising=False)
    monkeypatch.setattr(fashion, "FASHION_MNIST_DEBIAN", tmp_path / "debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_reads_a_folder(offline, split, gzipped):
    images, labels = write_split(offline / "mine", split, gzipped)
    raw, y = data.fashion_mnist(split, 256, folder=offline / "mine", return_labels=True)
    assert raw.shape == (SPLIT_SIZES[split], 28, 28) and raw.dtype == torch.long
    assert torch.equal(raw, torch.from_numpy(images.astype(np.int64)))
    assert y.dtype == torch.long and torch.equal(y, torch.from_numpy(labels.astype(np.int64)))
    binary = data.fashion_mnist(split, folder=offline / "mine")  # levels=2 is the default
    assert binary.dtype == torch.long and set(binary.unique().tolist()) == {0, 1}
    assert torch.equal(binary, (raw >= 128).long())
    assert binary[0, 0, :4].tolist() == [0, 1, 0, 1]


def test_reads_arbook_data_and_debian_in_order(offline, monkeypatch):
    env_images, _ = write_split(offline / "env", "test", gzipped=True)
    monkeypatch.setenv("ARBOOK_DATA", str(offline / "env"))
    assert torch.equal(data.fashion_mnist("test", 256), torch.from_numpy(env_images.astype(int)))

    # ``folder`` comes before $ARBOOK_DATA ...
    other = offline / "other"
    write_split(other, "test")
    (other / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((4, 28, 28), np.uint8)))
    assert data.fashion_mnist("test", 256, folder=other).sum() == 0
    # ... and a folder without the split's files is passed over.
    assert torch.equal(
        data.fashion_mnist("test", 256, folder=offline / "empty"), data.fashion_mnist("test", 256)
    )

    # Debian's folder is used where neither is set.
    monkeypatch.delenv("ARBOOK_DATA")
    debian_images, _ = write_split(fashion.FASHION_MNIST_DEBIAN, "test", gzipped=True)
    assert torch.equal(data.fashion_mnist("test", 256), torch.from_numpy(debian_images.astype(int)))


def test_repeated_calls_are_cached_and_independent(offline):
    write_split(offline, "train")
    fashion._read_idx_cached.cache_clear()
    first = data.fashion_mnist("train", 256, folder=offline)
    first.zero_()  # the caller owns its tensor: this must not reach the cache
    again = data.fashion_mnist("train", 256, folder=offline)
    assert again.sum() > 0
    assert fashion._read_idx_cached.cache_info().hits == 2  # images and labels


def test_bad_arguments(offline):
    write_split(offline, "test")
    with pytest.raises(ValueError, match=r"levels must be 2 .* or 256"):
        data.fashion_mnist("test", 17, folder=offline)
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        data.fashion_mnist("valid", folder=offline)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_truncated_file(offline, gzipped):
    images, _ = write_split(offline, "test", gzipped)
    name = "t10k-images-idx3-ubyte" + (".gz" if gzipped else "")
    raw = idx_bytes(images)[:-100]  # the header promises 4 images, the data stops short
    (offline / name).write_bytes(gzip.compress(raw) if gzipped else raw)
    with pytest.raises(ValueError, match=rf"{name} is truncated: {len(raw)} bytes"):
        data.fashion_mnist("test", folder=offline)
    (offline / name).write_bytes(b"\x00\x00" if not gzipped else gzip.compress(b"\x00\x00"))
    with pytest.raises(ValueError, match=f"{name} is truncated"):
        data.fashion_mnist("test", folder=offline)


def test_cut_off_gzip_file(offline):
    write_split(offline, "test", gzipped=True)
    path = offline / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz is not a complete gzip file"):
        data.fashion_mnist("test", folder=offline)


def test_wrong_magic(offline):
    images, labels = write_split(offline, "test")
    # Images and labels swapped: each file has the other's magic number.
    (offline / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(
        ValueError,
        match=r"t10k-images-idx3-ubyte is not an IDX images file: magic number 0x00000801, expected 0x00000803",
    ):
        data.fashion_mnist("test", folder=offline)
    (offline / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (offline / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels, magic=0x0D01))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte is not an IDX labels file"):
        data.fashion_mnist("test", folder=offline)


def test_images_and_labels_must_agree(offline):
    write_split(offline, "test")
    (offline / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(ValueError, match=r"has 4 images but .* has 3 labels"):
        data.fashion_mnist("test", folder=offline)


def test_missing_data_says_how_to_get_it(offline, monkeypatch):
    monkeypatch.setenv("ARBOOK_DATA", str(offline / "env"))
    with pytest.raises(FileNotFoundError) as info:
        data.fashion_mnist("train", folder=offline / "mine", download=False)
    message = str(info.value)
    for needed in [
        str(offline / "mine"),  # every place searched
        str(offline / "env"),
        str(fashion.FASHION_MNIST_DEBIAN),
        "apt-get install dataset-fashion-mnist",
        "ARBOOK_DATA=/path/to/folder",
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        ".gz",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        "download=False",
    ]:
        assert needed in message, needed
    assert not (offline / "env").exists(), "download=False must not create the cache"


def test_offline_download_gives_the_same_help(offline):
    with pytest.raises(FileNotFoundError, match=r"(?s)Offline.*no network in the tests.*apt-get"):
        data.fashion_mnist("test")  # download=None: try, then explain
    with pytest.raises(ConnectionError, match=r"(?s)no network in the tests.*ARBOOK_DATA="):
        data.fashion_mnist("test", download=True)


def serve(monkeypatch, files: dict[str, bytes], fail_first_mirror: bool = False) -> list[str]:
    """Make ``urllib.request.urlopen`` serve ``files`` by name; returns the URLs asked for."""
    asked = []

    def fake_urlopen(url, timeout=None):
        asked.append(url)
        if fail_first_mirror and url.startswith(data.FASHION_MNIST_URLS[0]):
            raise urllib.error.HTTPError(url, 503, "Service Unavailable", None, None)
        return io.BytesIO(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return asked


def gz_files(split: str) -> dict[str, bytes]:
    arrays = fake_split(split)
    return {
        f"{name}.gz": gzip.compress(idx_bytes(array), mtime=0)
        for name, array in zip(data.FASHION_MNIST_FILES[split], arrays, strict=True)
    }


@pytest.mark.parametrize("env", [False, True], ids=["xdg-cache", "arbook-data"])
def test_download_checks_and_caches(offline, monkeypatch, env):
    files = gz_files("test")
    monkeypatch.setattr(
        fashion, "FASHION_MNIST_MD5", {k: hashlib.md5(v).hexdigest() for k, v in files.items()}
    )
    if env:
        monkeypatch.setenv("ARBOOK_DATA", str(offline / "env"))
    cache = offline / "env" if env else offline / "cache" / "arbook" / "fashion-mnist"
    assert data.fashion_mnist_cache() == cache
    asked = serve(monkeypatch, files, fail_first_mirror=True)

    images, labels = data.fashion_mnist("test", 256, return_labels=True)
    assert torch.equal(images, torch.from_numpy(fake_split("test")[0].astype(np.int64)))
    assert len(labels) == 4
    assert sorted(p.name for p in cache.iterdir()) == sorted(files)  # no temporary files left
    assert asked[:2] == [
        data.FASHION_MNIST_URLS[0] + "t10k-images-idx3-ubyte.gz",
        data.FASHION_MNIST_URLS[1] + "t10k-images-idx3-ubyte.gz",
    ]

    # Next time the files come from the cache, without the network.
    asked.clear()
    assert torch.equal(data.fashion_mnist("test", 256), images)
    assert asked == []


def test_download_with_a_wrong_checksum_is_deleted(offline, monkeypatch):
    files = gz_files("test")
    checksums = {k: hashlib.md5(v).hexdigest() for k, v in files.items()}
    checksums["t10k-labels-idx1-ubyte.gz"] = "0" * 32  # what the bytes served are not
    monkeypatch.setattr(fashion, "FASHION_MNIST_MD5", checksums)
    serve(monkeypatch, files)
    with pytest.raises(
        ValueError,
        match=r"(?s)t10k-labels-idx1-ubyte.gz does not match its published checksum, so it was deleted.*expected 0{32}",
    ):
        data.fashion_mnist("test")
    cache = data.fashion_mnist_cache()
    # The good file stays (and is reused next time); nothing of the bad one is left.
    assert sorted(p.name for p in cache.iterdir()) == ["t10k-images-idx3-ubyte.gz"]


# -- the real data, where Debian's package is installed ---------------------------------------------

DEBIAN_HAS_IT = all(
    (fashion.FASHION_MNIST_DEBIAN / f"{name}.gz").is_file()
    for pair in data.FASHION_MNIST_FILES.values()
    for name in pair
)


@pytest.mark.skipif(
    not DEBIAN_HAS_IT,
    reason=f"Debian's dataset-fashion-mnist package is not installed ({fashion.FASHION_MNIST_DEBIAN})",
)
def test_real_fashion_mnist():
    for split, n in [("train", 60000), ("test", 10000)]:
        images, labels = data.fashion_mnist(
            split, folder=fashion.FASHION_MNIST_DEBIAN, return_labels=True
        )
        assert images.shape == (n, 28, 28) and images.dtype == torch.long
        assert images.min() == 0 and images.max() == 1
        assert 0.25 < images.float().mean() < 0.4  # about 31% of the pixels are on
        assert torch.equal(torch.bincount(labels, minlength=10), torch.full((10,), n // 10))
    raw = data.fashion_mnist("test", 256, folder=fashion.FASHION_MNIST_DEBIAN)
    assert raw.min() == 0 and raw.max() == 255
    assert torch.equal((raw >= 128).long(), images)
