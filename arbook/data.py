"""Data sets, all offline and with fixed splits so results compare across models.

Every loader returns integer ``LongTensor`` data in ``[0, K)``, the form every model in
:mod:`arbook.models` takes.

* :func:`digits` -- scikit-learn's 8x8 handwritten digits, 17 grey levels (0..16) or binary.
"""

from __future__ import annotations

from functools import lru_cache

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
