"""Fashion-MNIST: Zalando's 28x28 grey images of clothes, read from IDX files.

:func:`fashion_mnist` reads the split's IDX files (:func:`read_idx`) from the first folder that
holds them: one named by the caller, ``$ARBOOK_DATA``, where Debian's ``dataset-fashion-mnist``
package installs them (:data:`FASHION_MNIST_DEBIAN`) or the download cache
(:func:`fashion_mnist_cache`). Where none has them it downloads them (:data:`FASHION_MNIST_URLS`)
and checks them against their published MD5 checksums (:data:`FASHION_MNIST_MD5`), or, offline,
says how to get them. Chapter "PixelCNN".
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from arbook.data.splits import check_split

FASHION_MNIST_SHAPE = (28, 28)
FASHION_MNIST_LEVELS = (2, 256)

#: Where Debian's (and Ubuntu's) ``dataset-fashion-mnist`` package puts the four ``.gz`` files.
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")

#: split -> (images file, labels file), without the optional ``.gz``.
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: Download locations, tried in order. The official one is an S3 *website* endpoint, which
#: serves plain HTTP only; the GitHub copy (the repository's ``data/fashion``) is the same
#: bytes over HTTPS. Either way every file is checked against the published MD5 below.
FASHION_MNIST_URLS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

#: MD5 of the ``.gz`` files as published in the "Get the Data" table of
#: https://github.com/zalandoresearch/fashion-mnist (README.md). Debian's package re-compresses
#: the files, so its ``.gz`` differ byte-wise; only downloads are checked against these.
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

#: IDX magic number of an image file (unsigned bytes, 3 dimensions ``[N, rows, columns]``).
IDX_IMAGES_MAGIC = 0x00000803
#: IDX magic number of a label file (unsigned bytes, 1 dimension ``[N]``).
IDX_LABELS_MAGIC = 0x00000801

_DOWNLOAD_TIMEOUT_S = 60


def fashion_mnist_cache() -> Path:
    """The folder downloads go to: ``$ARBOOK_DATA`` if set, else ``~/.cache/arbook/fashion-mnist``
    (``$XDG_CACHE_HOME`` replaces ``~/.cache`` where it is set)."""
    if os.environ.get("ARBOOK_DATA"):
        return Path(os.environ["ARBOOK_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "arbook" / "fashion-mnist"


def _fashion_mnist_folders(folder: str | os.PathLike | None) -> list[Path]:
    """The folders searched, in order, without duplicates."""
    candidates = []
    if folder is not None:
        candidates.append(Path(folder).expanduser())
    if os.environ.get("ARBOOK_DATA"):
        candidates.append(Path(os.environ["ARBOOK_DATA"]).expanduser())
    candidates += [FASHION_MNIST_DEBIAN, fashion_mnist_cache()]
    return list(dict.fromkeys(candidates))


def _find_idx(root: Path, name: str) -> Path | None:
    # The plain file first: it is read without decompressing.
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _find_split(folders: Sequence[Path], split: str) -> tuple[Path, Path] | None:
    """Images and labels of ``split`` from the first folder that holds both."""
    for root in folders:
        found = [_find_idx(root, name) for name in FASHION_MNIST_FILES[split]]
        if all(found):
            return found[0], found[1]  # type: ignore[return-value]
    return None


def _fashion_mnist_help(split: str, folders: Sequence[Path], note: str) -> str:
    """The message for missing data: where we looked, what we looked for, how to get it."""
    names_ = FASHION_MNIST_FILES[split]
    searched = "\n".join(
        f"  - {root}{'' if root.is_dir() else ' (does not exist)'}" for root in folders
    )
    return (
        f"Fashion-MNIST {split!r} data not found. {note}\n"
        f"Searched, in order:\n{searched}\n"
        f"Expected files (each may also be gzipped, ending in .gz): {names_[0]}, {names_[1]}.\n"
        "Get the data in one of these ways:\n"
        "  - on Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist` "
        f"(installs them in {FASHION_MNIST_DEBIAN});\n"
        "  - download the four .gz files from "
        f"{FASHION_MNIST_URLS[-1]} (e.g. {FASHION_MNIST_URLS[-1]}{names_[0]}.gz) or "
        f"{FASHION_MNIST_URLS[0]} into a folder and set ARBOOK_DATA=/path/to/folder, or pass "
        "fashion_mnist(..., folder='/path/to/folder');\n"
        "  - on a machine with the internet, call fashion_mnist(..., download=True) to fetch "
        f"and checksum them into {fashion_mnist_cache()}."
    )


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)  # an integrity check, not security
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_file(name: str, dest: Path) -> Path:
    """Fetch ``name`` (a ``.gz`` file) into folder ``dest`` and check its MD5.

    Each URL of :data:`FASHION_MNIST_URLS` is tried in turn. The bytes go to a temporary file
    in ``dest`` that replaces ``dest / name`` (``os.replace``, atomic) only once its checksum
    matches, so an interrupted or corrupt download never leaves a file that looks complete.
    Raises ``ValueError`` if some URL served bytes with the wrong checksum (they are deleted)
    and none served the right ones, ``ConnectionError`` if no URL could be reached.
    """
    expected = FASHION_MNIST_MD5[name]
    dest.mkdir(parents=True, exist_ok=True)
    network_errors: list[str] = []
    bad_checksums: list[str] = []
    for base in FASHION_MNIST_URLS:
        url = base + name
        handle, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
                    for chunk in iter(lambda r=response: r.read(1 << 20), b""):
                        out.write(chunk)
            actual = _md5_of(tmp)
            if actual != expected:
                bad_checksums.append(f"{url}: MD5 {actual}, expected {expected}")
                continue
            os.replace(tmp, dest / name)
            return dest / name
        except (urllib.error.URLError, OSError) as exc:  # HTTP errors, DNS, refused, timeout
            network_errors.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)  # a no-op after os.replace
    if bad_checksums:
        raise ValueError(
            f"downloaded {name} does not match its published checksum, so it was deleted:\n  "
            + "\n  ".join(bad_checksums + network_errors)
        )
    raise ConnectionError(f"could not download {name}:\n  " + "\n  ".join(network_errors))


def _read_idx_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile) as exc:  # a cut-off or corrupt .gz
        raise ValueError(f"{path} is not a complete gzip file ({exc}); fetch it again") from exc


@lru_cache(maxsize=8)
def _read_idx_cached(path: str, expected_magic: int, mtime_ns: int, size: int) -> np.ndarray:
    # Keyed on the resolved path plus modification time and size, so a file replaced on disk
    # is read again while repeated calls on the same file cost nothing.
    del mtime_ns, size
    file = Path(path)
    raw = _read_idx_bytes(file)
    if len(raw) < 4:
        raise ValueError(f"{file} is truncated: {len(raw)} bytes, not even an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        kind = "images" if expected_magic == IDX_IMAGES_MAGIC else "labels"
        raise ValueError(
            f"{file} is not an IDX {kind} file: magic number 0x{magic:08x}, expected "
            f"0x{expected_magic:08x}"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{file} is truncated: {len(raw)} bytes, shorter than its header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    promised = header + int(np.prod(dims))
    if len(raw) != promised:
        what = "truncated" if len(raw) < promised else "longer than its header says"
        raise ValueError(
            f"{file} is {what}: {len(raw)} bytes, but its header (shape {dims}) promises "
            f"{promised}; fetch it again"
        )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    array.flags.writeable = False  # shared by every caller through the cache
    return array


def read_idx(path: str | os.PathLike, expected_magic: int) -> np.ndarray:
    """An IDX file (optionally gzipped) as a read-only ``uint8`` array shaped by its header.

    ``expected_magic`` is :data:`IDX_IMAGES_MAGIC` (``[N, rows, columns]``) or
    :data:`IDX_LABELS_MAGIC` (``[N]``). A wrong magic number, a truncated file or trailing
    bytes raise ``ValueError`` naming the file. Parsed files are cached in memory.
    """
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    return _read_idx_cached(str(resolved), expected_magic, stat.st_mtime_ns, stat.st_size)


def fashion_mnist(
    split: str = "train",
    levels: int = 2,
    *,
    folder: str | os.PathLike | None = None,
    download: bool | None = None,
    return_labels: bool = False,
):
    """Zalando's Fashion-MNIST: 28x28 grey images of clothes, 60000 train and 10000 test.

    Returns a ``LongTensor`` ``[N, 28, 28]``: with ``levels=2`` a pixel is 1 where its grey
    level (0..255) is at least 128, else 0; with ``levels=256`` the raw grey levels 0..255.
    With ``return_labels=True`` returns ``(images, labels)``, labels a ``LongTensor [N]`` in
    0..9 (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot).

    The split's IDX files (``train-images-idx3-ubyte``/``train-labels-idx1-ubyte`` or
    ``t10k-images-idx3-ubyte``/``t10k-labels-idx1-ubyte``, each plain or ``.gz``) are read
    from the first of these folders that has both: ``folder``, ``$ARBOOK_DATA``, Debian's
    ``dataset-fashion-mnist`` package (:data:`FASHION_MNIST_DEBIAN`), and the download cache
    (:func:`fashion_mnist_cache`). Where none has them, ``download=None`` (the default) tries
    to download them into the cache and raises ``FileNotFoundError`` saying how to get the
    data if the machine is offline; ``download=True`` raises ``ConnectionError`` instead;
    ``download=False`` never touches the network. Downloads are checked against the published
    MD5 checksums; a mismatch deletes the file and raises ``ValueError``.
    """
    check_split(split)
    if levels not in FASHION_MNIST_LEVELS:
        raise ValueError(
            f"Fashion-MNIST levels must be 2 (binarized at 128) or 256 (raw), got {levels!r}"
        )
    folders = _fashion_mnist_folders(folder)
    found = _find_split(folders, split)
    if found is None:
        if download is False:
            raise FileNotFoundError(
                _fashion_mnist_help(split, folders, "Not downloading (download=False).")
            )
        cache = fashion_mnist_cache()
        try:
            # A file an earlier, interrupted call already fetched (and checked) is kept.
            images_path, labels_path = (
                _find_idx(cache, name) or _download_file(f"{name}.gz", cache)
                for name in FASHION_MNIST_FILES[split]
            )
        except ConnectionError as exc:
            if download:
                raise ConnectionError(
                    _fashion_mnist_help(split, folders, f"The download failed: {exc}")
                ) from exc
            raise FileNotFoundError(
                _fashion_mnist_help(split, folders, f"Offline? The download failed: {exc}")
            ) from exc
    else:
        images_path, labels_path = found
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    # astype copies: the cached arrays stay untouched whatever the caller does to the tensors.
    pixels = images >= 128 if levels == 2 else images
    x = torch.from_numpy(pixels.astype(np.int64))
    if return_labels:
        return x, torch.from_numpy(labels.astype(np.int64))
    return x
