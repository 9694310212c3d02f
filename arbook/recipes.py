"""Tuned settings: which model, how big, and how to train it, per data set and profile.

The command line (``python -m arbook train MODEL --dataset NAME``) and the chapters both take
their settings from here, so the numbers a chapter prints are the numbers the command line
reproduces.

* :data:`DATASETS` -- data sets by name: loader, number of values, shape.
* :func:`recipe` -- a fresh model and the keyword arguments for :func:`arbook.train.fit`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from arbook import data
from arbook.models import MADE, AutoregressiveModel, GatedPixelCNN, LogisticAR, PixelCNN
from arbook.runtime import PROFILES


@dataclass(frozen=True)
class DatasetSpec:
    """A data set the command line knows: ``load(split)`` gives ``[N, *shape]`` integers."""

    name: str
    load: Callable[[str], torch.Tensor]
    num_classes: int
    shape: tuple[int, ...]
    unit: str  #: what one example is ("image", "name", "clip")
    description: str


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "digits",
            lambda split: data.digits(split),
            17,
            (8, 8),
            "image",
            "scikit-learn 8x8 digits, 17 grey levels",
        ),
        DatasetSpec(
            "digits-binary",
            lambda split: data.digits(split, binary=True),
            2,
            (8, 8),
            "image",
            "scikit-learn 8x8 digits, binarized at level 8",
        ),
        DatasetSpec(
            "fashion-mnist-binary",
            lambda split: data.fashion_mnist(split, levels=2),
            2,
            (28, 28),
            "image",
            "Fashion-MNIST 28x28, binarized at 128",
        ),
        DatasetSpec(
            "fashion-mnist",
            lambda split: data.fashion_mnist(split, levels=256),
            256,
            (28, 28),
            "image",
            "Fashion-MNIST 28x28, 256 grey levels",
        ),
    )
}


def _made(
    spec: DatasetSpec, profile: str, num_masks: int = 1
) -> tuple[AutoregressiveModel, dict[str, Any]]:
    num_inputs = 1
    for s in spec.shape:
        num_inputs *= s
    if num_masks == 1:
        model = MADE(num_inputs, [2000], num_classes=spec.num_classes, dropout=0.7)
        fit_kwargs: dict[str, Any] = dict(
            batch_size=100, lr=1e-3, patience=30, max_epochs=2000, max_seconds=170
        )
    else:
        # Order-agnostic training: every mask has its own random order; the model is their mixture.
        model = MADE(
            num_inputs,
            [1000, 1000],
            num_classes=spec.num_classes,
            num_masks=num_masks,
            order="random",
            dropout=0.3,
        )
        fit_kwargs = dict(batch_size=100, lr=1e-3, patience=30, max_epochs=3000, max_seconds=170)
    if profile == "full":
        fit_kwargs["max_seconds"] = None
    return model, fit_kwargs


def _logistic(spec: DatasetSpec, profile: str) -> tuple[AutoregressiveModel, dict[str, Any]]:
    num_inputs = 1
    for s in spec.shape:
        num_inputs *= s
    model = LogisticAR(num_inputs, num_classes=spec.num_classes)
    return model, dict(batch_size=100, lr=1e-2, weight_decay=0.0, patience=20, max_epochs=1000)


def _pixelcnn(spec: DatasetSpec, profile: str) -> tuple[AutoregressiveModel, dict[str, Any]]:
    channels = 64 if profile == "quick" else 128
    model = PixelCNN(spec.num_classes, spec.shape, channels=channels, num_layers=6)
    return model, _image_fit(spec, profile)


def _gated_pixelcnn(spec: DatasetSpec, profile: str) -> tuple[AutoregressiveModel, dict[str, Any]]:
    channels = 64 if profile == "quick" else 128
    layers = 6 if spec.shape[0] <= 8 else 10
    model = GatedPixelCNN(spec.num_classes, spec.shape, channels=channels, num_layers=layers)
    return model, _image_fit(spec, profile)


def _image_fit(spec: DatasetSpec, profile: str) -> dict[str, Any]:
    small = spec.shape[0] <= 8
    fit_kwargs: dict[str, Any] = dict(
        batch_size=64 if small else 128,
        lr=2e-3,
        patience=10,
        max_epochs=500 if small else 30,
        max_seconds=300,
    )
    if profile == "full":
        fit_kwargs["max_seconds"] = None
    return fit_kwargs


#: Model names the command line accepts, with the data shape each model reads.
MODELS: dict[str, Callable[..., tuple[AutoregressiveModel, dict[str, Any]]]] = {
    "made": _made,
    "logistic": _logistic,
    "pixelcnn": _pixelcnn,
    "gated-pixelcnn": _gated_pixelcnn,
}

#: Models that read each example as a flat vector ``[B, D]`` rather than in its own shape.
FLAT_MODELS = {"made", "logistic"}


def dataset(name: str) -> DatasetSpec:
    """The data set called ``name``; an unknown name is an error listing the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def load_split(model_name: str, dataset_name: str, split: str) -> torch.Tensor:
    """A split of a data set in the shape ``model_name`` reads (flattened for MADE)."""
    x = dataset(dataset_name).load(split)
    return x.flatten(1) if model_name in FLAT_MODELS else x


def recipe(
    model_name: str, dataset_name: str, profile: str = "quick", **options: Any
) -> tuple[AutoregressiveModel, dict[str, Any]]:
    """A freshly initialised model and the :func:`~arbook.train.fit` arguments for it.

    ``options`` are model-specific (``num_masks`` for ``made``). Seed the generators first
    (:func:`arbook.runtime.seed_everything`) for a reproducible initialisation.
    """
    if model_name not in MODELS:
        raise ValueError(
            f"unknown model {model_name!r}; choose one of: {', '.join(sorted(MODELS))}"
        )
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    spec = dataset(dataset_name)
    build = MODELS[model_name]
    try:
        inspect.signature(build).bind(spec, profile, **options)
    except TypeError:
        raise ValueError(
            f"model {model_name!r} takes no option(s) {', '.join(sorted(options))}"
        ) from None
    return build(spec, profile, **options)
