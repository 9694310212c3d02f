"""Where and how big: device choice, seeding and the ``quick``/``full`` profile.

Every chapter starts with :func:`setup`, which picks the device (CUDA, then Apple MPS, then
CPU), seeds every random number generator and chooses the profile:

* ``quick`` -- sizes that let a chapter run in minutes on two CPU cores (how the published
  book is built);
* ``full`` -- the sizes that give good likelihoods and samples, meant for a GPU.

The environment variables ``ARBOOK_DEVICE`` and ``ARBOOK_PROFILE`` override both choices. On
the CPU the book computes on one thread (:func:`cpu_threads`; ``ARBOOK_THREADS`` overrides it),
so that a seed gives the same numbers on every machine, whatever its number of cores.

Under ``torchrun`` (several processes, one per GPU) :func:`world` tells a process its rank and
the number of processes, and :func:`device` gives each process its own GPU, ``cuda:LOCAL_RANK``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

PROFILES = ("quick", "full")


def device(name: str | None = None) -> torch.device:
    """The device to compute on.

    ``name`` (or the ``ARBOOK_DEVICE`` environment variable) picks one explicitly, e.g.
    ``"cpu"`` or ``"cuda:1"``; otherwise CUDA if available, then Apple MPS, then the CPU.
    In a process that ``torchrun`` started, a CUDA device without an index is the process's
    own GPU, ``cuda:LOCAL_RANK``.
    """
    name = name or os.environ.get("ARBOOK_DEVICE") or None
    if name is not None:
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ValueError(f"unknown device {name!r}: {exc}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r} requested but Apple MPS is not available")
        return _own_gpu() if dev.type == "cuda" and dev.index is None else dev
    if torch.cuda.is_available():
        return _own_gpu()
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _own_gpu() -> torch.device:
    """``cuda``, or ``cuda:LOCAL_RANK`` under ``torchrun`` (modulo the GPUs this process sees,
    for launchers that show each process only its own)."""
    local = os.environ.get("LOCAL_RANK")
    if local is None or world().size == 1:
        return torch.device("cuda")
    return torch.device("cuda", int(local) % torch.cuda.device_count())


@dataclass(frozen=True)
class World:
    """The processes training together: this one is number ``rank`` of ``size``."""

    rank: int
    size: int

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0, the one that prints and writes files."""
        return self.rank == 0


def world() -> World:
    """This process's rank and the number of processes: from the initialised
    ``torch.distributed`` process group, else from the ``RANK`` and ``WORLD_SIZE`` variables
    that ``torchrun`` sets, else ``World(rank=0, size=1)`` (a single process)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return World(rank=dist.get_rank(), size=dist.get_world_size())
    try:
        size = int(os.environ.get("WORLD_SIZE") or 1)
        if size <= 1:
            return World(rank=0, size=1)
        rank = int(os.environ.get("RANK") or 0)
    except ValueError:
        raise ValueError(
            f"RANK={os.environ.get('RANK')!r} and WORLD_SIZE={os.environ.get('WORLD_SIZE')!r} "
            "must be integers"
        ) from None
    if not 0 <= rank < size:
        raise ValueError(f"RANK={rank} must lie in [0, WORLD_SIZE={size})")
    return World(rank=rank, size=size)


def profile(name: str | None = None, dev: torch.device | str | None = None) -> str:
    """The size profile: ``name``, else ``ARBOOK_PROFILE``, else ``full`` on CUDA, ``quick`` elsewhere."""
    name = name or os.environ.get("ARBOOK_PROFILE") or None
    if name is not None:
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
        return name
    dev = torch.device(dev) if dev is not None else device()
    return "full" if dev.type == "cuda" else "quick"


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python's, NumPy's and PyTorch's generators; return a fresh CPU ``torch.Generator``.

    Pass the returned generator to ``model.sample(..., generator=g)`` for samples that do not
    depend on how much other random work ran before.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 -- seeds the legacy global state other libraries use
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cpu_threads(dev: torch.device | str | None = None) -> int:
    """Use the book's number of CPU threads for ``dev`` and return it: one thread for work on
    the CPU, unless the ``ARBOOK_THREADS`` environment variable asks for more.

    PyTorch splits a matrix product or a convolution between its threads, and how it splits one
    changes the order of the floating-point additions: the same seed would then give other
    numbers in the last digits on a machine with another number of cores. On one thread a run
    is the same on every machine of a processor family, and the book's ``quick`` models, whose
    operations are small, train about as fast on one thread as on two. One thread also keeps a
    run from stalling when another process is busy on the machine (threads that wait for each
    other spin). Work on a GPU keeps PyTorch's default.
    """
    dev = torch.device(dev) if dev is not None else device()
    env = os.environ.get("ARBOOK_THREADS", "").strip()
    if env:
        try:
            threads = int(env)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(f"ARBOOK_THREADS must be a positive integer, got {env!r}")
    elif dev.type == "cpu":
        threads = 1
    else:
        return torch.get_num_threads()
    torch.set_num_threads(threads)
    return threads


@dataclass(frozen=True)
class Runtime:
    """What :func:`setup` chose."""

    device: torch.device
    profile: str
    seed: int
    threads: int  #: intra-op CPU threads (:func:`cpu_threads`)

    def __str__(self) -> str:
        from arbook import __version__

        return (
            f"arbook {__version__} | torch {torch.__version__} | device {self.device} | "
            f"profile {self.profile} | seed {self.seed} | CPU threads {self.threads}"
        )


def setup(
    seed: int = 0, *, device_name: str | None = None, profile_name: str | None = None
) -> Runtime:
    """Pick the device, the profile and the CPU threads (:func:`cpu_threads`) and seed
    everything: the first line of every chapter."""
    dev = device(device_name)
    rt = Runtime(
        device=dev, profile=profile(profile_name, dev), seed=seed, threads=cpu_threads(dev)
    )
    seed_everything(seed)
    return rt
