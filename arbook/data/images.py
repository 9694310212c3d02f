"""Images: scikit-learn's 8x8 handwritten digits with the book's fixed split.

:func:`digits` gives them with 17 grey levels (0..16) or binary, as a ``LongTensor [N, 8, 8]``.
They are the images of the chapters "The chain rule", "Masks and MADE", "PixelCNN" and
"Comparison and beyond"; the larger Fashion-MNIST images are read by :mod:`arbook.data.fashion`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from arbook.data.splits import check_split

#: Grey levels of :func:`digits` (0..16).
DIGITS_LEVELS = 17
#: Height and width of :func:`digits`.
DIGITS_SHAPE = (8, 8)


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
    check_split(split)
    x_train, x_test, y_train, y_test = _digits_split()
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    images = torch.from_numpy(x.copy())
    if binary:
        images = (images >= 8).long()
    if return_labels:
        return images, torch.from_numpy(y.astype(np.int64))
    return images
