"""Training on several processes: what :func:`arbook.train.fit` does under ``torchrun``.

``torchrun`` starts one process per GPU (or several CPU processes); :func:`join_processes` puts
each in the process group, :class:`Objective` lets DistributedDataParallel run a model's loss and
average its gradients, :func:`share` gives each process its part of an epoch and :func:`all_sum`
adds numbers over the processes, so that every process takes the same decisions. The process's
rank and the number of processes come from :func:`arbook.runtime.world`. No chapter needs it:
``torchrun ... -m arbook train`` (the command line) and scripts of one's own that ``torchrun``
starts train this way; in a single process :func:`~arbook.train.fit` calls only
:func:`join_processes` and :func:`all_sum`, which then change nothing.
"""

from __future__ import annotations

import inspect
import math
import os

import torch
from torch import nn

from arbook import runtime
from arbook.models import AutoregressiveModel
from arbook.runtime import World


class Objective(nn.Module):
    """``model.loss`` as a module's forward, so that DistributedDataParallel runs it and
    averages the gradients of the model's parameters over the processes."""

    def __init__(self, model: AutoregressiveModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.loss(x)


#: The keyword argument that keeps DistributedDataParallel from synchronising buffers. The
#: buffers (masks, orders) are fixed or change the same way in every process; broadcasting them
#: before every step would send every mask at every step. Newer PyTorch spells it
#: ``forward_sync_buffers``.
NO_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers"
    in inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)


def join_processes(model: nn.Module) -> World:
    """This process's place among those ``torchrun`` started; joins the process group (NCCL
    for a model on CUDA, else gloo) unless it exists, and puts a CUDA model on its own GPU."""
    team = runtime.world()
    if team.size == 1:
        return team
    dist = torch.distributed
    if not dist.is_available():
        raise RuntimeError(
            f"started as one of {team.size} processes (WORLD_SIZE), but this PyTorch has no "
            "torch.distributed"
        )
    if model.device.type == "cuda" and "LOCAL_RANK" in os.environ:
        own = runtime.device("cuda")
        model.to(own)  # in place: the caller's model is the one on the process's GPU
        torch.cuda.set_device(own)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if model.device.type == "cuda" else "gloo")
    return runtime.world()


def share(perm: torch.Tensor, team: World) -> torch.Tensor:
    """Process ``team.rank``'s share of the epoch order ``perm``: every ``team.size``-th index,
    after repeating the first ones so the shares have equal lengths (as DistributedSampler)."""
    each = math.ceil(len(perm) / team.size)
    repeats = math.ceil(each * team.size / len(perm))
    return perm.repeat(repeats)[: each * team.size][team.rank :: team.size]


def all_sum(values: list[float], team: World, comm: torch.device) -> list[float]:
    """``values`` summed over the processes (unchanged in a single process)."""
    if team.size == 1:
        return values
    total = torch.tensor(values, dtype=torch.float64, device=comm)
    torch.distributed.all_reduce(total)
    return total.tolist()
