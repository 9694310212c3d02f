"""Weights for the browser: a trained model as a JSON header and one binary file.

:func:`export_model` writes what the JavaScript inference core (``arbook/js/core.mjs``) reads to
run a model in a web page, with no Python and no server: ``NAME.json`` (the model's class and
configuration, its vocabulary if it has one, and the name, shape, type and place of every tensor)
and ``NAME.bin`` (the tensors one after another, little-endian). Three weight types:

* ``float32``: exact (for a float32 model);
* ``float16``: half the size, every tensor rounded to float16;
* ``int8``: about a quarter of the size. Every tensor of two or more dimensions (the matrices
  and embeddings, nearly all the bytes) is stored as 8-bit integers with one float32 scale per
  row (per index along its first dimension: an output unit of a Linear, a symbol of an
  embedding): ``scale = max|row| / 127`` (1 for a row of zeros) and
  ``value = round(w / scale)`` in ``[-127, 127]``, so each weight is off by at most
  ``scale / 2``; a reader takes ``value * scale`` rounded to float32. Vectors (biases, layer
  norms, start vectors, MADE's order) stay float32.

:func:`rounded_copy` gives the model with exactly the weights a file of a given type holds (the
same quantizer, :func:`stored_tensor`): its conditionals are those the JavaScript core computes.
The exported models are the character RNNs (:class:`~arbook.models.rnn.CharRNN`: RNN, GRU,
LSTM), :class:`~arbook.models.gpt.GPT` and :class:`~arbook.models.made.MADE` (one mask: the
current one, its masks already applied to the weights). The core's conditionals agree with those
of :func:`rounded_copy` to 1e-5 for every type (tested in ``tests/test_js_core.py``).

The header (``format`` ``"arbook-weights"``) lists ``tensors``, each with ``name``, ``shape``,
``dtype`` (``"float32"``, ``"float16"`` or ``"int8"``), ``offset`` and ``bytes`` (of its values in
the ``.bin``), and for ``int8`` ``scale_offset`` (where its float32 scales, one per row, start).
Its ``dtype`` names the file's type. float32 and float16 files are ``version`` 1, as before int8
existed; int8 files are ``version`` 2, as their tensors are not all of the file's type (a reader
of version 1 refuses them). In int8 files every block starts at a multiple of 4 bytes.
"""

from __future__ import annotations

import copy
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
#: The newest header version this arbook writes (int8 files; float32 and float16 files are
#: version 1, which readers from before int8 read).
EXPORT_VERSION = 2
#: The weight types of a file, by name: the type of its matrices (in ``int8`` files, vectors are
#: float32; see the module's description).
DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2"), "int8": np.dtype("i1")}
#: The header version of a file of each type.
VERSIONS = {"float32": 1, "float16": 1, "int8": 2}
_FLOAT32 = np.dtype("<f4")


def quantize_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (two or more dimensions) as int8 with one float32 scale per row (per index
    along the first dimension): ``scale = max|row| / 127`` (1 for a row of zeros) and
    ``round(value / scale)`` clamped to ``[-127, 127]``. Returns ``(integers, scales)``, the
    integers of ``values``' shape; ``integers * scales`` (per row) is within ``scale / 2`` of
    ``values``. The one quantizer of :func:`export_model` and :func:`rounded_copy`."""
    values = np.asarray(values, dtype=np.float64)
    rows = values.reshape(values.shape[0], int(np.prod(values.shape[1:])))
    if not np.isfinite(rows).all():
        raise ValueError("int8 export needs finite weights; the model has inf or nan")
    scales = (np.abs(rows).max(axis=1, initial=0.0) / 127).astype(_FLOAT32)
    scales[scales == 0] = 1  # a row of zeros (or one too small for a float32 scale)
    integers = np.clip(np.rint(rows / scales[:, None].astype(np.float64)), -127, 127)
    return integers.astype(DTYPES["int8"]).reshape(values.shape), scales


def _encode(tensor: torch.Tensor, dtype: str) -> tuple[str, np.ndarray, np.ndarray | None]:
    """How a file of type ``dtype`` stores ``tensor``: ``(type, values, scales or None)``."""
    values = tensor.detach().cpu().to(torch.float64).numpy()
    if dtype == "int8":
        if values.ndim >= 2:
            return "int8", *quantize_rows(values)
        dtype = "float32"
    return dtype, values.astype(DTYPES[dtype]), None


def stored_tensor(tensor: torch.Tensor, dtype: str) -> torch.Tensor:
    """``tensor`` as a file of type ``dtype`` holds it and the JavaScript core reads it, in
    float64: rounded to float32 or float16, or quantized to int8 rows and scaled back (each
    integer times its row's scale, the product rounded to float32, so a float32 model can hold
    it exactly)."""
    _check_dtype(dtype)
    _, values, scales = _encode(tensor, dtype)
    if scales is not None:  # integer times scale, rounded to float32 (as the core does)
        values = values.astype(_FLOAT32) * scales.reshape(-1, *[1] * (values.ndim - 1))
    return torch.from_numpy(values.astype(np.float64))


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")


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


def rounded_copy(model: AutoregressiveModel, dtype: str) -> AutoregressiveModel:
    """A copy of ``model`` (in evaluation mode) whose weights are exactly those an export of type
    ``dtype`` holds, so its conditionals are those the JavaScript core computes from the file:
    ``"float32"`` unchanged (for a float32 model), ``"float16"`` rounded to float16, ``"int8"``
    quantized and scaled back as :func:`quantize_rows` does. ``model`` is left as it is.

    For MADE the exported weights are ``weight * mask`` of the current mask: the copy's weights
    are those exported weights, so its effective weights under that mask equal them (under its
    other masks it is not what any file holds)."""
    _check_dtype(dtype)
    result = copy.deepcopy(model).eval()
    stored = {name: stored_tensor(t, dtype) for name, t in export_tensors(result).items()}
    _load(result, stored)
    return result


def _load(model: AutoregressiveModel, tensors: dict[str, torch.Tensor]) -> None:
    """Copy exported ``tensors`` (by their export names) into ``model``'s parameters."""
    if isinstance(model, MADE):
        params = {}
        for i, layer in enumerate([*model.hidden, model.output]):
            params[f"layers.{i}.weight"], params[f"layers.{i}.bias"] = layer.weight, layer.bias
        if "order" in tensors and not torch.equal(tensors["order"].long(), model.order.cpu()):
            raise ValueError("the exported MADE's order is not the one its configuration makes")
    else:
        params = dict(model.named_parameters())
    with torch.no_grad():
        for name, param in params.items():
            if name not in tensors:
                continue  # parameters the core does not read (a CharRNN's unused ones)
            if tuple(tensors[name].shape) != tuple(param.shape):
                raise ValueError(
                    f"tensor {name} has shape {tuple(tensors[name].shape)}, "
                    f"the model's {tuple(param.shape)}"
                )
            param.copy_(tensors[name])


def read_tensors(header: dict[str, Any], data: bytes) -> dict[str, torch.Tensor]:
    """The tensors of an export (its parsed header and the bytes of its weights), by name, in
    float64, as the JavaScript core reads them (int8 values times their row's scale, rounded to
    float32)."""
    if header.get("format") != EXPORT_FORMAT or header.get("version") not in (1, 2):
        raise ValueError(
            f"not an arbook weights header (format {header.get('format')!r}, "
            f"version {header.get('version')!r})"
        )
    out = {}
    for entry in header["tensors"]:
        kind = entry.get("dtype", header["dtype"])
        if kind not in DTYPES:
            raise ValueError(f"tensor {entry['name']} has an unknown type {kind!r}")
        shape = entry["shape"]
        count = int(np.prod(shape))
        values = np.frombuffer(data, DTYPES[kind], count, entry["offset"]).astype(np.float64)
        if kind == "int8":
            rows = shape[0]
            scales = np.frombuffer(data, _FLOAT32, rows, entry["scale_offset"])
            scaled = values.astype(_FLOAT32).reshape(rows, -1) * scales[:, None]
            values = scaled.astype(np.float64)
        out[entry["name"]] = torch.from_numpy(values.reshape(shape).copy())
    return out


def imported(header: dict[str, Any], data: bytes) -> AutoregressiveModel:
    """The PyTorch model of an export (its parsed header and the bytes of its weights), in
    evaluation mode: the model the JavaScript core runs from it, equal to
    :func:`rounded_copy` of the model exported. Use it to check, or to go on from, a model that
    was shared as a web page's weights."""
    classes = {"CharRNN": CharRNN, "GPT": GPT, "MADE": MADE}
    if header.get("model") not in classes:
        raise ValueError(f"exports hold CharRNN, GPT and MADE models, not {header.get('model')!r}")
    tensors = read_tensors(header, data)
    model = classes[header["model"]](**header["config"]).eval()
    _load(model, tensors)
    return model


def exported(
    model: AutoregressiveModel,
    *,
    dtype: str = "float32",
    symbols: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], bytes]:
    """``model`` as the JavaScript core reads it: the header (plain JSON values) and the bytes
    of the weights, in memory (what :func:`export_model` writes, and what an explorer widget
    sends to the page). The arguments are :func:`export_model`'s."""
    _check_dtype(dtype)
    if symbols is not None and len(symbols) != model.num_classes:
        raise ValueError(
            f"symbols holds {len(symbols)} entries, but the model has {model.num_classes} symbols"
        )
    tensors = export_tensors(model)
    entries, chunks, offset = [], [], 0

    def add(data: bytes) -> int:
        nonlocal offset
        start = offset
        chunks.append(data)
        offset += len(data)
        if dtype == "int8" and offset % 4:  # int8 files: every block starts 4-byte aligned
            chunks.append(bytes(4 - offset % 4))
            offset += 4 - offset % 4
        return start

    for name, tensor in tensors.items():
        kind, values, scales = _encode(tensor, dtype)
        data = values.tobytes()
        start = add(data)
        entry = dict(name=name, shape=list(tensor.shape), dtype=kind, offset=start, bytes=len(data))
        if scales is not None:
            entry["scale_offset"] = add(scales.astype(_FLOAT32).tobytes())
        entries.append(entry)
    header = {
        "format": EXPORT_FORMAT,
        "version": VERSIONS[dtype],
        "model": type(model).__name__,
        "config": model.config,
        "num_classes": model.num_classes,
        "stop_index": getattr(model, "stop_index", None),
        "symbols": None if symbols is None else list(symbols),
        "dtype": dtype,
        "tensors": entries,
        "metadata": metadata or {},
    }
    json.dumps(header)  # checks that the metadata is plain JSON
    return header, b"".join(chunks)


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
        dtype: ``"float32"`` (exact), ``"float16"`` (half the bytes) or ``"int8"`` (about a
            quarter of the float32 bytes: matrices and embeddings as 8-bit integers with a
            float32 scale per row, vectors float32). The conditionals in the page are those of
            :func:`rounded_copy` ``(model, dtype)``.
        symbols: the text of each symbol (``CharVocab.symbols``), so a page can show and type
            text; ``None`` for models of numbers.
        metadata: plain JSON values stored in the header (what the model was trained on, its
            test likelihood).
    """
    header, data = exported(model, dtype=dtype, symbols=symbols, metadata=metadata)
    base = Path(path).with_suffix("")
    text = json.dumps(header, indent=1)
    weights = atomic_write(base.with_suffix(".bin"), lambda fh: fh.write(data))
    head = atomic_write(base.with_suffix(".json"), lambda fh: fh.write(text.encode()))
    return head, weights


__all__ = [
    "DTYPES",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "VERSIONS",
    "export_model",
    "export_tensors",
    "exported",
    "imported",
    "quantize_rows",
    "read_tensors",
    "rounded_copy",
    "stored_tensor",
]
