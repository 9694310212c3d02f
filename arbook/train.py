"""Training by maximum likelihood, and evaluation in nats and bits/dim.

:func:`fit` minimises ``model.loss`` (the mean negative log-likelihood per example, in nats)
with Adam, measures the exact NLL on a validation split carved from the training data, stops
early when it stops improving and restores the best weights. :func:`evaluate` reports the
exact test NLL. Trained models are saved and loaded by :mod:`arbook.checkpoint`.
Chapter "Training by maximum likelihood".

The same :func:`fit` trains on several GPUs (or machines) when ``torchrun`` starts one process
per GPU (:mod:`arbook.distributed`): each process reads its own share of every epoch,
DistributedDataParallel averages the gradients, so a step sees ``batch_size x processes``
examples, and every process takes the same decisions (validation, early stopping, time limit)
and ends with the same weights.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from typing import Any

import torch
from torch import nn

from arbook import distributed, fitcache, runtime
from arbook.data.splits import split_validation
from arbook.data.windows import Windows
from arbook.metrics import bits_per_dim
from arbook.models import AutoregressiveModel
from arbook.models.base import evaluating
from arbook.runtime import World


@dataclass(frozen=True)
class Evaluation:
    """Exact negative log-likelihood of a data set under a model."""

    nll_nats: float  #: mean NLL per example (an image, a name, a clip), nats
    nll_nats_per_dim: float  #: mean NLL per position (pixel, character, sample), nats
    bits_per_dim: float  #: the same in bits
    num_examples: int
    num_dims: float  #: positions per example (the mean, where examples differ in length)

    def __str__(self) -> str:
        return (
            f"NLL {self.nll_nats:.3f} nats per example, {self.nll_nats_per_dim:.4f} nats/dim, "
            f"{self.bits_per_dim:.4f} bits/dim ({self.num_examples} examples)"
        )


@torch.no_grad()
def evaluate(
    model: AutoregressiveModel, data: torch.Tensor, batch_size: int | None = None
) -> Evaluation:
    """The exact mean NLL of ``data [N, *event_shape]`` under ``model`` (in evaluation mode).

    ``batch_size`` examples go through the model at once; by default as many as make about
    65,536 positions (at most 500), so long clips are read a few at a time.
    """
    if len(data) == 0:
        raise ValueError("cannot evaluate on an empty data set")
    model.check_data(data[:1])
    total, positions = _nll_sum(model, data, batch_size)
    nll = total / len(data)
    return Evaluation(
        nll_nats=nll,
        nll_nats_per_dim=total / positions,
        bits_per_dim=bits_per_dim(total, positions),
        num_examples=len(data),
        num_dims=positions / len(data),
    )


@torch.no_grad()
def _nll_sum(
    model: AutoregressiveModel, data: torch.Tensor, batch_size: int | None = None
) -> tuple[float, int]:
    """``(summed NLL in nats, positions counted)`` of ``data`` (in evaluation mode)."""
    if batch_size is None:
        batch_size = max(1, min(500, 65536 // max(1, data[0].numel())))
    total, positions = 0.0, 0
    with evaluating(model):
        for start in range(0, len(data), batch_size):
            batch = data[start : start + batch_size].to(model.device)
            total += -model.log_prob(batch).cpu().double().sum().item()
            positions += int(model.num_positions(batch).sum())
    return total, positions


@dataclass
class History:
    """What happened during :func:`fit`, one entry per evaluation (for loss curves)."""

    step: list[int] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    train_loss: list[float] = field(
        default_factory=list
    )  #: mean training loss since the last entry, nats/example
    val_nll: list[float] = field(default_factory=list)  #: exact validation NLL, nats/example
    seconds: list[float] = field(default_factory=list)
    #: training throughput since the last entry, in positions (tokens, pixels, samples) per
    #: second of optimisation, evaluation excluded
    positions_per_second: list[float] = field(default_factory=list)
    best_step: int = 0
    best_val_nll: float = math.inf
    stopped_early: bool = False
    train_seconds: float = 0.0  #: wall-clock seconds of the whole run, validation included
    num_dims: float = 1.0  #: positions per validation example, to convert NLLs per position
    #: positions per training example (a window of ``Windows``), to convert training losses
    train_num_dims: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by :func:`fit` when training is interrupted (Ctrl-C).

    The model then holds the best weights evaluated so far, in evaluation mode (if no
    evaluation ran yet, the weights at the interrupt: ``history.step`` is empty). ``history``
    covers the evaluations made and ``step`` is the step reached. Being a
    ``KeyboardInterrupt``, it stops a program that does not catch it, as Ctrl-C does.
    """

    def __init__(self, history: History, step: int) -> None:
        super().__init__(f"training interrupted at step {step}")
        self.history = history
        self.step = step


@dataclass(frozen=True)
class FitConfig:
    """How :func:`fit` trains: every setting that changes what training computes, in one frozen
    record. A recipe (:mod:`arbook.recipes`) pairs one with a model builder; the fit cache
    (:mod:`arbook.fitcache`) keys on it.

    Budgets are counted in optimisation steps and epochs, so the same settings and seeds give the
    same run on any machine. ``max_seconds`` is a wall-clock limit for a caller who asks for one
    explicitly; a run it cuts short depends on the machine's speed, so it is never cached.

    Attributes:
        batch_size: examples (or windows) per minibatch.
        lr: AdamW's (peak) learning rate.
        weight_decay: AdamW's decoupled weight decay, applied to weight matrices and
            embeddings, not to biases and normalisation gains.
        betas: AdamW's averaging constants (``(0.9, 0.99)`` suits short Transformer runs).
        max_epochs: at most this many passes over the training data.
        max_steps: at most this many optimisation steps (``None``: ``max_epochs`` decides).
        max_seconds: at most this many seconds, wall-clock from the first step, validation
            included (``None``: no time limit). Training stops at the first limit reached.
        patience: stop after this many evaluations without a better validation NLL
            (``None``: never stop early).
        lr_patience: halve the learning rate after this many evaluations without a better
            validation NLL (``None``: keep it constant).
        cosine: decay the learning rate along a cosine from ``lr`` to ``lr / 10`` over the
            run's steps (``max_steps``, else ``max_epochs``), after ``warmup_steps`` of linear
            warm-up from zero.
        warmup_steps: steps of linear warm-up of the learning rate (also without ``cosine``).
        eval_every: optimisation steps between evaluations (``None``: once per epoch).
        grad_clip: clip the gradient norm to this value (``None``: no clipping).
        ema: keep an exponential moving average of the weights with this decay (e.g. 0.999)
            and validate, keep and return the averaged weights (Polyak averaging: a cheap,
            reliable gain in likelihood on small data sets). ``None``: the raw weights.
        restore_best: end with the weights of the best validation NLL (also when ``patience``
            is ``None``); ``False`` keeps the last weights (to look at over-fitting).
        val_fraction: the fraction of the training data held out for validation when
            :func:`fit` is given no ``val_data`` (of a text: its end; of clips: the last ones).
        amp: run the forward pass under bfloat16 autocast (``None``: on CUDA only). Weights,
            optimiser state and the evaluation stay in float32; on CUDA the AdamW update is
            the fused kernel.
        compile: train through ``torch.compile(model.loss)`` (a GPU and a long run repay the
            compilation time; the same code runs eagerly without it).
        seed: seed of the validation split and the minibatch order.
    """

    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    max_epochs: int = 100
    max_steps: int | None = None
    max_seconds: float | None = None
    patience: int | None = 10
    lr_patience: int | None = None
    cosine: bool = False
    warmup_steps: int = 0
    eval_every: int | None = None
    grad_clip: float | None = None
    ema: float | None = None
    restore_best: bool = True
    val_fraction: float = 0.1
    amp: bool | None = None
    compile: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        # Tuples survive a round trip through JSON or a checkpoint as lists.
        object.__setattr__(self, "betas", tuple(self.betas))
        positive = {"batch_size": self.batch_size, "max_epochs": self.max_epochs}
        positive |= {
            k: v
            for k, v in (
                ("max_steps", self.max_steps),
                ("eval_every", self.eval_every),
                ("patience", self.patience),
                ("lr_patience", self.lr_patience),
            )
            if v is not None
        }
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.max_seconds is not None and not self.max_seconds >= 0:
            raise ValueError(
                f"max_seconds must be a number of seconds >= 0, got {self.max_seconds}"
            )
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.cosine and self.lr_patience is not None:
            raise ValueError("choose one learning-rate schedule: cosine or lr_patience, not both")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema must be a decay in (0, 1), got {self.ema}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive, got {self.grad_clip}")

    def replace(self, **changes: Any) -> FitConfig:
        """A copy with ``changes`` applied; an unknown name is an error that lists the settings."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(
                f"unknown fit setting(s) {', '.join(unknown)}; the settings are: "
                f"{', '.join(f.name for f in fields(self))}"
            )
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def timed(self) -> bool:
        """Whether a wall-clock limit can end the run (so that it depends on the machine)."""
        return self.max_seconds is not None


def fit(
    model: AutoregressiveModel,
    train_data: torch.Tensor | Windows,
    config: FitConfig | None = None,
    *,
    val_data: torch.Tensor | None = None,
    progress: bool = True,
    cache: bool | str | os.PathLike = False,
    **settings: Any,
) -> History:
    """Train ``model`` by maximum likelihood and return the :class:`History`.

    Args:
        train_data: ``[N, *event_shape]`` training examples, or
            :class:`~arbook.data.windows.Windows` over a long text or a set of clips (each batch
            is random windows of it). Unless ``val_data`` is given, a fraction
            ``config.val_fraction`` of them (of a text: its end; of clips: the last ones) is held
            out for validation, so early stopping never sees the test split.
        config: the settings (:class:`FitConfig`; default: ``FitConfig()``), for example a
            recipe's ``recipe.fit``.
        val_data: ``[N, *event_shape]`` validation examples (instead of a held-out fraction).
        progress: show a progress bar.
        cache: reuse an identical earlier run (:mod:`arbook.fitcache`): ``True`` for the
            default folder (``$ARBOOK_CACHE/fit`` or ``~/.cache/arbook/fit``), or a folder. If
            the same model, initial weights, data, settings, random state and training code
            ran before, its final weights, history and random state are loaded instead of
            training again; otherwise the run is trained and stored. Ignored under ``torchrun``
            and for runs with a time limit (``max_seconds``), whose result depends on the
            machine.
        settings: fields of :class:`FitConfig` that replace those of ``config``:
            ``fit(model, x, batch_size=100, patience=30)`` or ``fit(model, x, recipe.fit,
            max_steps=500)``.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls ``fit`` with the same
    arguments. It joins the process group (NCCL on CUDA, gloo on the CPU) unless one exists,
    trains a model on CUDA on the process's own GPU ``cuda:LOCAL_RANK`` (moving it there if
    needed), and wraps the training step in DistributedDataParallel, which starts every process
    from rank 0's weights and averages the gradients. Each epoch is split between the processes
    (random windows: each process draws its own), so one step reads ``batch_size`` examples per
    process and an epoch takes ``1 / processes`` as many steps; each process also draws its own
    dropout noise (the global generator is reseeded from ``seed`` and the rank). The validation
    NLL is summed over the processes' shares of the validation data and the time limit is
    decided together, so all processes evaluate, stop and keep the same weights at the same
    step. The history's training loss and throughput cover all processes; only rank 0 shows
    the progress bar. Buffers (masks) must be the same in every process: they are taken from
    rank 0 at the start and not synchronised afterwards.
    """
    if config is not None and not isinstance(config, FitConfig):
        raise TypeError(
            f"config must be a FitConfig, got {type(config).__name__}; pass settings by name "
            "(fit(model, x, batch_size=100)) or as FitConfig(...)"
        )
    config = (config or FitConfig()).replace(**settings)
    where = None
    if runtime.world().size == 1 and not config.timed:
        where = fitcache.folder(cache)
    if where is None:
        return _fit(model, train_data, config, val_data=val_data, progress=progress)
    path = where / f"{fitcache.key(model, train_data, val_data, config.as_dict())}.pt"
    record = fitcache.load(path, model)
    if record is not None:
        return History(**record)
    history = _fit(model, train_data, config, val_data=val_data, progress=progress)
    fitcache.store(path, model, history.as_dict())
    return history


def _fit(
    model: AutoregressiveModel,
    train_data: torch.Tensor | Windows,
    config: FitConfig,
    *,
    val_data: torch.Tensor | None,
    progress: bool,
) -> History:
    """:func:`fit` without the cache."""
    from tqdm.auto import tqdm

    c = config
    batch_size, max_seconds, ema, seed = c.batch_size, c.max_seconds, c.ema, c.seed
    windows = isinstance(train_data, Windows)
    if val_data is None:
        if windows:
            train_data, val_data = train_data.split(c.val_fraction)
        else:
            train_data, val_data = split_validation(train_data, c.val_fraction, seed=seed)
    model.check_data(train_data.codes.view(1, -1) if windows else train_data)  # all of it
    model.check_data(val_data)
    team = distributed.join_processes(model)
    dev = model.device
    train_data = train_data.to(dev)
    # Under torchrun each process reads an equal share of every epoch (the same number of steps
    # in every process: DistributedDataParallel needs every process at every step).
    share = math.ceil(len(train_data) / team.size)
    steps_per_epoch = math.ceil(share / batch_size)
    eval_every = c.eval_every or steps_per_epoch
    total_steps = c.max_epochs * steps_per_epoch
    if c.max_steps is not None:
        total_steps = min(c.max_steps, total_steps)

    cuda = dev.type == "cuda"
    amp = cuda if c.amp is None else c.amp
    if team.size > 1:
        # Before the weight average and the best weights are copied: DDP starts every process
        # from rank 0's weights.
        step_module = nn.parallel.DistributedDataParallel(
            distributed.Objective(model),
            device_ids=[dev.index] if cuda else None,
            **distributed.NO_BUFFER_SYNC,
        )
        loss_fn = torch.compile(step_module) if c.compile else step_module
        comm = dev if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
        ranked = torch.Generator().manual_seed(seed * team.size + team.rank)
        torch.manual_seed(int(torch.randint(2**62, (), generator=ranked)))  # own dropout noise
    else:
        loss_fn = torch.compile(model.loss) if c.compile else model.loss
        comm, ranked = torch.device("cpu"), None
    # Weight decay shrinks the weight matrices and embeddings, never biases or norm gains.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": c.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(
        [g for g in groups if g["params"]], lr=c.lr, betas=c.betas, fused=cuda or None
    )
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=c.lr_patience)
        if c.lr_patience is not None
        else None
    )
    averaged = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(ema)
        )
        if ema is not None
        else None
    )
    if c.cosine or c.warmup_steps:
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            partial(_warmup_cosine, warmup=c.warmup_steps, total=total_steps, decay=c.cosine),
        )
    else:
        schedule = None
    order_gen = torch.Generator().manual_seed(seed)  # the same in every process
    window_gen = order_gen if ranked is None else ranked
    history = History(
        num_dims=float(model.num_positions(val_data).double().mean()),
        train_num_dims=float(
            train_data.length if windows else model.num_positions(train_data).double().mean()
        ),
    )
    best_state = copy.deepcopy(model.state_dict())
    since_best = 0
    running, running_n = 0.0, 0
    positions, busy = 0, 0.0  # since the last evaluation: positions trained on, seconds
    start = time.perf_counter()
    bar = tqdm(
        total=total_steps,
        desc=f"training {type(model).__name__}",
        unit="step",
        disable=not progress or not team.is_main,
    )
    step = 0
    out_of_time = False
    model.train()
    try:
        while step < total_steps:
            perm = torch.randperm(len(train_data), generator=order_gen).to(dev)
            if team.size > 1:
                perm = distributed.share(perm, team)
            for first in range(0, len(perm), batch_size):
                if windows:
                    batch = train_data.sample(len(perm[first : first + batch_size]), window_gen)
                else:
                    batch = train_data[perm[first : first + batch_size]]
                tick = time.perf_counter()
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                    loss = loss_fn(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if c.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                running += loss.item()  # waits for the device: the step's time is complete
                running_n += 1
                positions += batch.numel()
                busy += time.perf_counter() - tick
                step += 1
                bar.update(1)
                out_of_time = max_seconds is not None and time.perf_counter() - start >= max_seconds
                if max_seconds is not None and team.size > 1:
                    # Clocks differ between processes: one out of time stops them all.
                    out_of_time = distributed.all_sum([float(out_of_time)], team, comm)[0] > 0
                if step % eval_every == 0 or step == total_steps or out_of_time:
                    judged = model if averaged is None else _synced(averaged, model)
                    val = _validation_nll(judged, val_data, team, comm)
                    model.train()
                    running, running_n, positions, busy = distributed.all_sum(
                        [running, running_n, positions, busy], team, comm
                    )
                    busy /= team.size  # the processes step together: their mean busy time
                    history.step.append(step)
                    history.epoch.append(step / steps_per_epoch)
                    history.train_loss.append(running / running_n)
                    history.val_nll.append(val)
                    history.seconds.append(time.perf_counter() - start)
                    history.positions_per_second.append(positions / max(busy, 1e-9))
                    running, running_n = 0.0, 0
                    positions, busy = 0, 0.0
                    if plateau is not None:
                        plateau.step(val)
                    if val < history.best_val_nll:
                        history.best_val_nll, history.best_step = val, step
                        best_state = copy.deepcopy(judged.state_dict())
                        since_best = 0
                    else:
                        since_best += 1
                    bar.set_postfix(
                        {
                            "train": f"{history.train_loss[-1]:.3f} nats/example",
                            "val": f"{val:.3f}",
                            "best val": f"{history.best_val_nll:.3f}",
                            "positions/s": f"{history.positions_per_second[-1]:,.0f}",
                        }
                    )
                    if c.patience is not None and since_best >= c.patience:
                        history.stopped_early = True
                if history.stopped_early or out_of_time or step >= total_steps:
                    break
            if history.stopped_early or out_of_time:
                break
    except KeyboardInterrupt:
        # Ctrl-C: hand back the best weights evaluated so far (none yet: the weights as they
        # are) and the history up to here; the caller decides whether to save them.
        bar.close()
        if history.step and c.restore_best:
            model.load_state_dict(best_state)
        model.eval()
        history.train_seconds = time.perf_counter() - start
        raise TrainingInterrupted(history, step) from None
    bar.close()
    del loss_fn  # (and the DistributedDataParallel wrapper with it)
    if c.restore_best:
        model.load_state_dict(best_state)
    elif averaged is not None:
        model.load_state_dict(_synced(averaged, model).state_dict())
    model.eval()
    history.train_seconds = time.perf_counter() - start
    return history


def _validation_nll(
    model: AutoregressiveModel, data: torch.Tensor, team: World, comm: torch.device
) -> float:
    """The mean validation NLL; under torchrun each process scores every ``team.size``-th
    example and the sums are added, so every process gets the same number."""
    if team.size == 1:
        return evaluate(model, data).nll_nats
    part = data[team.rank :: team.size]
    total = _nll_sum(model, part)[0] if len(part) else 0.0
    total, count = distributed.all_sum([total, float(len(part))], team, comm)
    return total / count


def _warmup_cosine(step: int, *, warmup: int, total: int, decay: bool) -> float:
    """The learning-rate factor at ``step``: linear warm-up, then a cosine down to 0.1."""
    if step < warmup:
        return (step + 1) / warmup
    if not decay:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.45 * (1.0 + math.cos(math.pi * progress))


def _synced(averaged: torch.optim.swa_utils.AveragedModel, model: nn.Module) -> nn.Module:
    """The averaged copy of ``model``, with its buffers (masks and the like) taken from ``model``."""
    with torch.no_grad():
        for mine, theirs in zip(averaged.module.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)
    return averaged.module
