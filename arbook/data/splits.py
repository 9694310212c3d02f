"""The fixed splits of the data sets, and the validation set carved out of training data.

Every loader of :mod:`arbook.data` takes a ``split``, ``"train"`` or ``"test"`` (:data:`SPLITS`),
fixed once for all so that results compare across models. Early stopping needs a third set,
which must never come from the test split: :func:`split_validation` carves it out of the training
data, as :func:`arbook.train.fit` does with a tensor of examples when it is given no validation
data (chapter "Training by maximum likelihood").
"""

from __future__ import annotations

import torch

#: The splits every data set has.
SPLITS = ("train", "test")


def check_split(split: str) -> None:
    """Raise ``ValueError`` unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


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
