"""arbook: autoregressive generative models from the chain rule to GPT.

The package behind the book: models that follow one contract (:mod:`arbook.models.base`),
masks, data, a trainer, samplers, plots and widgets.
"""

__version__ = "0.1.0"

from arbook import (
    chain_rule,
    checkpoint,
    checks,
    data,
    distributed,
    export,
    files,
    layers,
    masks,
    metrics,
    models,
    plots,
    recipes,
    sampling,
    speculative,
)
from arbook.checkpoint import load, save
from arbook.data import digits
from arbook.metrics import bits_per_dim
from arbook.models import (
    GPT,
    MADE,
    AutoregressiveModel,
    Bigram,
    CharRNN,
    GatedPixelCNN,
    LogisticAR,
    PixelCNN,
    SequenceModel,
    WaveNet,
)
from arbook.runtime import device, profile, seed_everything, setup
from arbook.train import FitConfig, evaluate, fit

__all__ = [
    "GPT",
    "MADE",
    "AutoregressiveModel",
    "Bigram",
    "CharRNN",
    "FitConfig",
    "GatedPixelCNN",
    "LogisticAR",
    "PixelCNN",
    "SequenceModel",
    "WaveNet",
    "__version__",
    "bits_per_dim",
    "chain_rule",
    "checkpoint",
    "checks",
    "data",
    "device",
    "digits",
    "distributed",
    "evaluate",
    "export",
    "files",
    "fit",
    "layers",
    "load",
    "masks",
    "metrics",
    "models",
    "plots",
    "profile",
    "recipes",
    "sampling",
    "save",
    "seed_everything",
    "setup",
    "speculative",
]
