"""arbook: autoregressive generative models from the chain rule to GPT.

The package behind the book: models that follow one contract (:mod:`arbook.models.base`),
masks, data, a trainer, samplers, plots and widgets.
"""

__version__ = "0.1.0"

from arbook import (
    chain_rule,
    checks,
    data,
    layers,
    masks,
    metrics,
    models,
    plots,
    recipes,
    sampling,
    speculative,
)
from arbook.data import digits
from arbook.metrics import bits_per_dim
from arbook.models import MADE, AutoregressiveModel, LogisticAR
from arbook.runtime import device, profile, seed_everything, setup
from arbook.train import FitConfig, evaluate, fit, load, save

__all__ = [
    "MADE",
    "AutoregressiveModel",
    "FitConfig",
    "LogisticAR",
    "__version__",
    "bits_per_dim",
    "chain_rule",
    "checks",
    "data",
    "device",
    "digits",
    "evaluate",
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
