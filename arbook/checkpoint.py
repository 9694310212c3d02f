"""Checkpoints: a trained model in one file that rebuilds it without the code that trained it.

:func:`save` writes the model's name, its configuration (the constructor's arguments), its
weights and plain metadata, atomically (:func:`arbook.files.atomic_write`); :func:`load` checks
the file and rebuilds the model in evaluation mode, and :func:`load_checkpoint` reads a file
without building anything. A checkpoint is read with ``weights_only=True``, so loading a file
never runs code it holds. The command line (``python -m arbook``) writes one per training run and
reads it back to sample and evaluate; the chapters train in memory (chapter "Training by maximum
likelihood" explains the training) and need none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from arbook.files import atomic_write
from arbook.models import REGISTRY, AutoregressiveModel

#: The ``format`` entry of every checkpoint.
CHECKPOINT_FORMAT = "arbook-checkpoint"
#: The checkpoint version this arbook writes and reads.
CHECKPOINT_VERSION = 1

#: Constructor arguments under earlier names, as checkpoints written by earlier versions of
#: arbook store them: model name -> {earlier name: current name}.
RENAMED_ARGUMENTS = {"GPT": {"n_layer": "num_layers", "n_head": "num_heads", "n_embd": "embed_dim"}}


def save(
    model: AutoregressiveModel, path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> Path:
    """Write a checkpoint (model name, configuration, weights, ``metadata``) atomically.

    The file is written to a temporary name in the same folder and renamed into place, so a
    crash never leaves a half-written checkpoint at ``path``.
    """
    name = type(model).__name__
    if REGISTRY.get(name) is not type(model):
        raise TypeError(
            f"{name} is not a registered arbook model; known: {', '.join(sorted(REGISTRY))}"
        )
    metadata = _plain_metadata(metadata or {})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": name,
        "config": model.config,
        "state_dict": {
            k: v.detach().cpu() if isinstance(v, torch.Tensor) else v
            for k, v in model.state_dict().items()
        },
        "metadata": metadata,
    }
    return atomic_write(path, lambda fh: torch.save(payload, fh))


def _plain_metadata(metadata: Any) -> dict[str, Any]:
    """``metadata`` as the plain values a checkpoint can hold and :func:`load` reads back with
    ``weights_only=True``: ``None``, booleans, numbers, strings, tensors, and lists, tuples and
    string-keyed dicts of them. NumPy scalars and arrays become Python numbers and tensors, and
    paths strings; anything else is a ``TypeError`` that names the entry, before any file is
    written."""
    import numpy as np

    def plain(value: Any, where: str) -> Any:
        if value is None or type(value) in (bool, int, float, str):
            return value
        if isinstance(value, np.generic):  # (np.float64 is also a float: test it first)
            return value.item()
        for plain_type in (int, float, str):  # subclasses (enums, ...) as their plain type
            if isinstance(value, plain_type):
                return plain_type(value)
        if isinstance(value, torch.Tensor):
            return value.detach().cpu()
        if isinstance(value, np.ndarray):
            return torch.from_numpy(value.copy())
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, (list, tuple)):
            return type(value)(plain(v, f"{where}[{k}]") for k, v in enumerate(value))
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str)]
            if bad:
                raise TypeError(f"checkpoint metadata keys must be strings: {where} has {bad[0]!r}")
            return {k: plain(v, f"{where}[{k!r}]") for k, v in value.items()}
        raise TypeError(
            f"checkpoint metadata {where} is a {type(value).__name__}; a checkpoint holds only "
            "None, booleans, numbers, strings, tensors and lists or dicts of them (convert it, "
            "for example with str())"
        )

    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    return plain(metadata, "metadata")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a checkpoint file (safely: ``weights_only=True``); returns its contents."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head != b"PK\x03\x04":  # torch.save writes a zip archive
        raise ValueError(
            f"{path} is not an arbook checkpoint: it is not a file written by torch.save"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        # (PyTorch's own message suggests weights_only=False, which would run any code the
        # file holds: never the advice to give about a file of unknown origin.)
        raise ValueError(
            f"{path} is not a readable arbook checkpoint: it is damaged (truncated?) or holds "
            "more than weights and plain values"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an arbook checkpoint (no '{CHECKPOINT_FORMAT}' header)")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has checkpoint version {payload.get('version')!r}; this arbook reads version {CHECKPOINT_VERSION}"
        )
    missing = {"model", "config", "state_dict", "metadata"} - payload.keys()
    if missing:
        raise ValueError(f"{path} is missing {', '.join(sorted(missing))}")
    return payload


def load(path: str | os.PathLike, device: torch.device | str | None = None) -> AutoregressiveModel:
    """Rebuild a model from a checkpoint written by :func:`save`, in evaluation mode.

    The checkpoint's metadata is available as ``model.checkpoint_metadata``.
    """
    payload = load_checkpoint(path)
    name = payload["model"]
    if name not in REGISTRY:
        raise ValueError(
            f"{path} holds an unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}"
        )
    renamed = RENAMED_ARGUMENTS.get(name, {})
    config = {renamed.get(key, key): value for key, value in payload["config"].items()}
    try:
        model = REGISTRY[name](**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{path}: cannot build {name} from its stored configuration: {exc}"
        ) from None
    try:
        state = dict(payload["state_dict"])
        for k, v in model.state_dict().items():  # extra state newer than the checkpoint
            if k.endswith("_extra_state"):
                state.setdefault(k, v)
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(
            f"{path}: the weights do not match the {name} configuration: {exc}"
        ) from None
    model.checkpoint_metadata = payload["metadata"]
    if device is not None:
        model.to(device)
    return model.eval()
