"""Reusing a training run: the result of an identical earlier :func:`~arbook.train.fit`.

``fit(model, data, ..., cache=True)`` first looks for an earlier run with exactly the same
inputs; if there is one, it loads that run's final weights, its :class:`~arbook.train.History`
and the state of the random number generators after it, and returns as if it had trained.
Otherwise it trains and stores all three. The run is identified by a SHA-256 over everything
that determines what training computes:

* the model's class, configuration, the plain attributes of its modules (flags such as a
  switched-off causal mask) and its **initial** weights (so the seed that initialised it);
* the training and validation data (their bytes) and the :class:`~arbook.train.FitConfig`;
* the state of PyTorch's global random number generator when ``fit`` starts (dropout noise);
* the number of CPU threads, which changes how PyTorch splits, and so rounds, a sum;
* the code that training runs: the trainer (``TRAINER``: ``arbook/train.py``,
  ``arbook/distributed.py`` and the data modules that split off the validation set and cut
  windows) and every module of the package that a probe -- one loss, its gradient and one
  evaluation on a copy of the model -- calls into (:func:`code_digest`), each read as its syntax
  tree without comments and docstrings; and the PyTorch version and the device type.

Change any of them -- one line of a model's forward pass included -- and the run is trained
afresh; a change to code training does not run (a plot, a widget, a docstring) keeps it. The
chapters use it so that running a chapter a second time in the same environment (the test run
and the book build, or a reader who re-runs a notebook) does not train the same model twice;
what the second run prints about training (steps, seconds, losses) is the record of the first.

Entries live in ``$ARBOOK_CACHE/fit`` (default ``~/.cache/arbook/fit``), one file per run,
written atomically and read with ``weights_only=True``. ``ARBOOK_CACHE=off`` turns the cache
off everywhere; deleting the folder forgets every run.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from arbook.files import atomic_write

#: Version of the entry format; a new version makes older entries unreachable.
FORMAT = "arbook-fit-cache-2"


def folder(where: str | os.PathLike | bool = True) -> Path | None:
    """The folder of the cache entries, or ``None`` when caching is off (``where`` false, or
    ``ARBOOK_CACHE=off``). ``where=True`` means ``$ARBOOK_CACHE/fit``, else
    ``~/.cache/arbook/fit``; a path names a folder of its own."""
    if where is False or where is None:
        return None
    env = os.environ.get("ARBOOK_CACHE", "")
    if env.strip().lower() in ("off", "0", "no", "false"):
        return None
    if where is True:
        root = Path(env).expanduser() if env else Path.home() / ".cache" / "arbook"
        return root / "fit"
    return Path(where).expanduser()


#: The package's folder: the code under it is what :func:`code_digest` reads.
PACKAGE = Path(__file__).resolve().parent

#: Modules every training run executes, whatever the model, by their place in the package: the
#: training loop, its work across processes, and the data code it runs (the validation split,
#: random windows).
TRAINER = ("train.py", "distributed.py", "data/splits.py", "data/windows.py")


def module_digest(path: Path) -> str:
    """SHA-256 of a source file's syntax tree, docstrings dropped (comments never reach it):
    an edit that changes no code leaves it as it was."""
    stat = path.stat()
    return _tree_digest(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _tree_digest(path: Path, mtime_ns: int, size: int) -> str:
    """:func:`module_digest` of one version of a file (the file's time and size tell versions
    apart, so a long-lived kernel sees an edit)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def modules_run(model: torch.nn.Module, example: torch.Tensor) -> list[Path]:
    """The package's source files whose functions run when ``model`` computes its loss on
    ``example`` (a batch), takes its gradient and scores it in evaluation mode -- traced on a
    copy, with PyTorch's random state restored afterwards, so the caller's run is unchanged."""
    from arbook.train import evaluate

    probe = copy.deepcopy(model)
    probe.train()
    seen: set[str] = set()
    root = str(PACKAGE)

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(root):
            seen.add(frame.f_code.co_filename)

    device = next(model.parameters()).device
    devices = [device.index or torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        previous = sys.getprofile()
        sys.setprofile(hook)
        try:
            probe.check_data(example)
            probe.loss(example).backward()
            evaluate(probe, example)
        finally:
            sys.setprofile(previous)
    return sorted(Path(f) for f in seen)


def code_digest(model: torch.nn.Module, example: torch.Tensor) -> str:
    """SHA-256 over the code a training run of ``model`` executes: the trainer's modules and
    those of :func:`modules_run`, by their place in the package and :func:`module_digest`."""
    paths = {PACKAGE / name for name in TRAINER} | set(modules_run(model, example))
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.relative_to(PACKAGE).as_posix().encode())
        h.update(module_digest(path).encode())
    return h.hexdigest()


def _tensor(h: Any, t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")


_PLAIN = (bool, int, float, str, type(None))


def _attributes(model: torch.nn.Module) -> list[Any]:
    """Every module's plain attributes (flags such as ``causal``, sizes, dropout rates), which
    change what the same weights compute."""
    out = []
    for name, module in model.named_modules():
        plain = {
            k: v
            for k, v in vars(module).items()
            if not k.startswith("_")
            and k != "training"
            and (
                isinstance(v, _PLAIN)
                or (isinstance(v, (tuple, list)) and all(isinstance(e, _PLAIN) for e in v))
            )
        }
        out.append([name, type(module).__qualname__, plain])
    return out


def _data(h: Any, x: Any) -> None:
    if x is None:
        h.update(b"none")
    elif isinstance(x, torch.Tensor):
        _tensor(h, x)
    else:  # arbook.data.Windows: the codes and the window length
        h.update(f"{type(x).__name__}:{x.length}".encode())
        _tensor(h, x.codes)


def _example(data: Any) -> torch.Tensor:
    """A batch of one or two training examples (one window of a text or of a clip)."""
    if isinstance(data, torch.Tensor):
        return data[:2]
    codes = data.codes
    return codes[: data.length].view(1, -1) if codes.dim() == 1 else codes[:1, : data.length]


def key(model: torch.nn.Module, train_data: Any, val_data: Any, settings: dict[str, Any]) -> str:
    """The identity of a training run (see the module docstring), as a hex digest."""
    h = hashlib.sha256()
    cls = type(model)
    config = getattr(model, "config", None)
    h.update(
        json.dumps(
            [
                FORMAT,
                code_digest(model, _example(train_data).to(next(model.parameters()).device)),
                torch.__version__,
                next(model.parameters()).device.type,
                torch.get_num_threads(),
                f"{cls.__module__}.{cls.__qualname__}",
                config,
                _attributes(model),
                settings,
            ],
            sort_keys=True,
            default=repr,
        ).encode()
    )
    for name, value in model.state_dict().items():
        h.update(name.encode())
        if isinstance(value, torch.Tensor):
            _tensor(h, value)
        else:  # extra state
            h.update(json.dumps(value, sort_keys=True, default=repr).encode())
    _data(h, train_data)
    _data(h, val_data)
    _tensor(h, torch.get_rng_state())
    return h.hexdigest()


def load(path: Path, model: torch.nn.Module) -> dict[str, Any] | None:
    """Apply the entry at ``path`` to ``model`` (weights, generator states) and return its
    history as a dict; ``None`` if there is no usable entry (missing, or another format)."""
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged file is a miss, never an error: the run is trained again
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        return None
    model.load_state_dict(entry["state_dict"])
    torch.set_rng_state(entry["rng"])
    if entry.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(entry["cuda_rng"])
    model.eval()
    return entry["history"]


def store(path: Path, model: torch.nn.Module, history: dict[str, Any]) -> Path:
    """Write the entry of a finished run: final weights, history, generator states."""
    entry = {
        "format": FORMAT,
        "state_dict": {
            k: v.detach().cpu() if isinstance(v, torch.Tensor) else v
            for k, v in model.state_dict().items()
        },
        "history": history,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    return atomic_write(path, lambda fh: torch.save(entry, fh))


__all__ = [
    "FORMAT",
    "code_digest",
    "folder",
    "key",
    "load",
    "module_digest",
    "modules_run",
    "store",
]
