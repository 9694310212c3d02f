"""What every benchmark shares: a record of the machine and a timer that waits for the device."""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

import arbook

#: Where the benchmarks write their results by default.
RESULTS = Path(__file__).parent / "results"


def cpu_name() -> str:
    """The processor's model name (from ``/proc/cpuinfo`` where there is one)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict:
    """What the numbers were measured on: processor, threads, GPU, library versions, date."""
    info = {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "arbook": arbook.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device if device.type == "cuda" else None)
    return info


def synchronize(device: torch.device) -> None:
    """Wait until the work queued on ``device`` is done (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(
    fn: Callable[[], object],
    device: torch.device,
    repeats: int,
    warmup: bool = True,
    enough: float | None = None,
) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds (after one warm-up run unless
    ``warmup`` is False); with ``enough``, fewer runs once that many seconds have gone into
    them (the slowest samplers take seconds per run)."""
    if warmup:
        fn()
    times: list[float] = []
    while len(times) < repeats and (enough is None or sum(times) < enough):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)
