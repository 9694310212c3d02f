"""Weights for the browser: a trained model as a JSON header and one binary file.

:func:`export_model` writes what the JavaScript inference core (``arbook/js/core.mjs``) reads to
run a model in a web page, with no Python and no server: ``NAME.json`` (the model's class and
configuration, its vocabulary if it has one, and the name, shape and place of every tensor) and
``NAME.bin`` (the tensors one after another, little-endian ``float32``, or ``float16`` at half
the size). The exported models are the character RNNs (:class:`~arbook.models.rnn.CharRNN`: RNN,
GRU, LSTM), :class:`~arbook.models.gpt.GPT` and :class:`~arbook.models.made.MADE` (one mask: the
current one, its masks already applied to the weights). The core's conditionals agree with
PyTorch's to 1e-5 (tested in ``tests/test_js_core.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arbook.files import atomic_write
from arbook.models import GPT, MADE, CharRNN
from arbook.models.base import AutoregressiveModel

#: The ``format`` entry of every exported header.
EXPORT_FORMAT = "arbook-weights"
#: The version of the header this arbook writes.
EXPORT_VERSION = 1
#: The floating-point types a weight file can hold, by name.
DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}


def export_tensors(model: AutoregressiveModel) -> dict[str, torch.Tensor]:
    """The tensors the JavaScript core reads for ``model``, by name (in evaluation mode; a
    MADE's masks multiplied into its weights)."""
    if isinstance(model, CharRNN):
        names = ["embed.weight", "start", "h0", "head.weight", "head.bias"]
        if model.c0 is not None:
            names.append("c0")
        for layer in range(model.rnn.num_layers):
            names += [f"rnn.{kind}_l{layer}" for kind in ("weight_ih", "weight_hh", "bias_ih")]
            names.append(f"rnn.bias_hh_l{layer}")
        state = dict(model.named_parameters())
        return {name: state[name] for name in names}
    if isinstance(model, GPT):
        return dict(model.named_parameters())
    if isinstance(model, MADE):
        tensors = {}
        for i, layer in enumerate([*model.hidden, model.output]):
            tensors[f"layers.{i}.weight"] = layer.weight * layer.mask
            tensors[f"layers.{i}.bias"] = layer.bias
        tensors["order"] = model.order.to(torch.float32)
        return tensors
    raise TypeError(
        f"export_model exports CharRNN, GPT and MADE models, got {type(model).__name__}"
    )


def export_model(
    model: AutoregressiveModel,
    path: str | os.PathLike,
    *,
    dtype: str = "float32",
    symbols: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``model`` for the JavaScript core: ``path`` with the suffix ``.json`` (the header)
    and ``.bin`` (the weights). Returns the two paths.

    Args:
        model: a :class:`~arbook.models.rnn.CharRNN`, :class:`~arbook.models.gpt.GPT` or
            :class:`~arbook.models.made.MADE`.
        path: where to write; any suffix is replaced.
        dtype: ``"float32"`` (exact) or ``"float16"`` (half the bytes; the conditionals then
            are those of the model with its weights rounded to float16).
        symbols: the text of each symbol (``CharVocab.symbols``), so a page can show and type
            text; ``None`` for models of numbers.
        metadata: plain JSON values stored in the header (what the model was trained on, its
            test likelihood).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if symbols is not None and len(symbols) != model.num_classes:
        raise ValueError(
            f"symbols holds {len(symbols)} entries, but the model has {model.num_classes} symbols"
        )
    tensors = export_tensors(model)
    base = Path(path).with_suffix("")
    entries, chunks, offset = [], [], 0
    for name, tensor in tensors.items():
        data = tensor.detach().cpu().to(torch.float64).numpy().astype(DTYPES[dtype]).tobytes()
        entries.append(dict(name=name, shape=list(tensor.shape), offset=offset, bytes=len(data)))
        chunks.append(data)
        offset += len(data)
    header = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "model": type(model).__name__,
        "config": model.config,
        "num_classes": model.num_classes,
        "stop_index": getattr(model, "stop_index", None),
        "symbols": None if symbols is None else list(symbols),
        "dtype": dtype,
        "tensors": entries,
        "metadata": metadata or {},
    }
    text = json.dumps(header, indent=1)  # also checks that the metadata is plain JSON
    weights = atomic_write(base.with_suffix(".bin"), lambda fh: fh.write(b"".join(chunks)))
    head = atomic_write(base.with_suffix(".json"), lambda fh: fh.write(text.encode()))
    return head, weights


__all__ = ["DTYPES", "EXPORT_FORMAT", "EXPORT_VERSION", "export_model", "export_tensors"]
