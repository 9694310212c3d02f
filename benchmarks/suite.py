"""The benchmark suite: for every model of the book, on the data its chapter trains it on,

* **training throughput** -- positions (pixels, characters, audio samples) per second of
  optimisation with the model's ``quick`` recipe, over a fixed number of steps after as many
  warm-up steps (validation excluded, as :attr:`arbook.train.History.positions_per_second`
  counts it);
* **test likelihood after a fixed budget** -- the ``quick`` recipe trained for a fixed number of
  steps (the learning-rate schedule compressed into them, one validation at the end), then the
  exact NLL of the whole test split in nats per example, nats per position and bits per
  position (bits/pixel, bits/char, bits/sample);
* **sampling speed** -- time per generated position of the trained model, batch 1 and 8: the
  sequence models (RNN family, GPT, WaveNet) at several lengths with their cache (hidden state,
  KV cache, WaveNet's queues) and with ``use_cache=False`` (everything recomputed per step);
  MADE, the logistic model and the PixelCNNs one whole image, a full pass per pixel.

    python -m benchmarks                          # all models, best available device
    python -m benchmarks --device cuda --models gpt wavenet
    python -m benchmarks --quick --out /tmp/bench # tiny budgets: a smoke test in seconds

It writes ``suite-<device>.json`` (every number and a record of the machine) and
``suite-<device>.md`` (the tables it prints) to ``--out`` (default ``benchmarks/results``);
``--quick`` writes ``suite-<device>-quick.*`` so a smoke test never replaces real results.
Every run is the model's recipe (:func:`arbook.recipes.recipe`) with its budget set to the
suite's number of steps: budgets are steps, never seconds, so the likelihoods are the same on
any machine and only the timings differ. The whole suite takes four to seven minutes on two
CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from arbook import recipes, runtime
from arbook.data import Windows
from arbook.models import AutoregressiveModel
from arbook.models.sequence import SequenceModel
from arbook.models.wavenet import WaveNet
from arbook.train import FitConfig, evaluate, fit
from benchmarks.common import RESULTS, best_time, machine


@dataclass(frozen=True)
class Setting:
    """How one model is benchmarked.

    Attributes:
        dataset: the data set of its chapter (a name in :data:`arbook.recipes.DATASETS`).
        steps: the training budget of the likelihood run, in optimisation steps.
        unit: what one position is, for "bits per ..." (pixel, char, sample).
        sampling: ``(batch, length)`` pairs timed; ``length`` ``None`` is one whole image.
    """

    dataset: str
    steps: int
    unit: str
    sampling: tuple[tuple[int, int | None], ...]


IMAGE_SAMPLING = ((1, None), (8, None))
TEXT_SAMPLING = ((1, 64), (1, 256), (1, 1024), (8, 256))
#: WaveNet's quick model sees 511 samples: 500 fit inside its receptive field, 2,000 do not.
AUDIO_SAMPLING = ((1, 500), (1, 2000), (8, 500))

#: Per-model settings. The step budgets keep the whole suite to four to seven minutes on two
#: CPU cores.
SETTINGS: dict[str, Setting] = {
    "logistic": Setting("digits-binary", 2000, "pixel", IMAGE_SAMPLING),
    "made": Setting("digits-binary", 2000, "pixel", IMAGE_SAMPLING),
    "pixelcnn": Setting("digits", 500, "pixel", IMAGE_SAMPLING),
    "gated-pixelcnn": Setting("digits", 200, "pixel", IMAGE_SAMPLING),
    "rnn": Setting("shakespeare", 400, "char", TEXT_SAMPLING),
    "lstm": Setting("shakespeare", 400, "char", TEXT_SAMPLING),
    "gru": Setting("shakespeare", 400, "char", TEXT_SAMPLING),
    "gpt": Setting("shakespeare", 800, "char", TEXT_SAMPLING),
    "wavenet": Setting("tones", 100, "sample", AUDIO_SAMPLING),
}

#: The likelihood runs validate once, at their end (no early stopping within a fixed budget),
#: so a small validation split will do; the recipes' 10% of Shakespeare would take longer to
#: read than some of the training.
VALIDATION_FRACTION = 0.01


@dataclass(frozen=True)
class Budget:
    """How much of each measurement to do: the full suite or a smoke test."""

    throughput_steps: int  #: timed training steps (after as many warm-up steps)
    quick: bool = False  #: tiny budgets, a prefix of the test split, short samples
    steps: int | None = None  #: training steps of every likelihood run (``None``: per model)
    test_examples: int | None = None  #: evaluate on this many test examples (``None``: all)
    #: sample sequences of this length at batches 1 and 2 (``None``: the settings' pairs)
    sample_length: int | None = None
    sampling_repeats: int = 3  #: best of this many runs...
    sampling_seconds: float = 1.0  #: ...or fewer once this much time is spent


FULL = Budget(throughput_steps=20)
QUICK = Budget(
    throughput_steps=2,
    quick=True,
    steps=3,
    test_examples=16,
    sample_length=8,
    sampling_repeats=1,
)


# -- the three measurements -------------------------------------------------------------------


def training_throughput(
    name: str, setting: Setting, device: torch.device, budget: Budget
) -> dict[str, Any]:
    """Positions per second of training with the ``quick`` recipe (its batch size, optimiser
    and schedule): ``throughput_steps`` steps timed after as many warm-up steps. A few training
    examples stand in for the validation split, which the timing excludes anyway."""
    model, config, train = _prepared(name, setting, device)
    steps = budget.throughput_steps
    val = (
        train.sample(4, torch.Generator().manual_seed(0))
        if isinstance(train, Windows)
        else train[:4]
    )
    history = fit(
        model,
        train,
        _fixed_steps(config, 2 * steps, eval_every=steps),
        val_data=val,
        progress=False,
    )
    per_example = train.length if isinstance(train, Windows) else train[0].numel()
    rate = history.positions_per_second[-1]
    positions_per_step = config.batch_size * per_example
    return {
        "steps": steps,
        "warmup_steps": steps,
        "batch_size": config.batch_size,
        "positions_per_step": positions_per_step,
        "positions_per_second": rate,
        "ms_per_step": 1000 * positions_per_step / rate,
    }


def budget_likelihood(
    name: str, setting: Setting, device: torch.device, budget: Budget
) -> tuple[dict[str, Any], AutoregressiveModel]:
    """Train with the ``quick`` recipe for a fixed number of steps, then the exact NLL of the
    test split. Returns the numbers and the trained model (for :func:`sampling_speed`)."""
    model, config, train = _prepared(name, setting, device)
    steps = budget.steps or setting.steps
    config = _fixed_steps(config, steps, eval_every=steps).replace(val_fraction=VALIDATION_FRACTION)
    history = fit(model, train, config, progress=False)
    # Test splits are whole examples: images, consecutive windows of text, whole clips.
    test = recipes.recipe(name, setting.dataset).load("test")
    split_size = len(test)
    if budget.test_examples is not None:
        test = test[: budget.test_examples]
    result = evaluate(model, test)
    return {
        "steps": history.step[-1],
        "train_seconds": history.train_seconds,
        "train_positions_per_second": _mean_rate(history.positions_per_second),
        "test_examples": result.num_examples,
        "test_split_examples": split_size,
        "positions_per_example": result.num_dims,
        "nats_per_example": result.nll_nats,
        "nats_per_position": result.nll_nats_per_dim,
        "bits_per_position": result.bits_per_dim,
        "unit": setting.unit,
    }, model


def sampling_speed(
    model: AutoregressiveModel, setting: Setting, device: torch.device, budget: Budget
) -> list[dict[str, Any]]:
    """Time per generated position, for each ``(batch, length)`` of the setting: with the
    model's cache and without it (sequence models), or a full pass per pixel (images, which
    have no cache: their ``"cached"`` entry is ``None``)."""
    sequence = isinstance(model, (SequenceModel, WaveNet))
    pairs = setting.sampling
    if budget.sample_length is not None:
        pairs = tuple((batch, budget.sample_length if sequence else None) for batch in (1, 2))
    rows = []
    for batch, length in pairs:
        positions = model.num_dims if length is None else length
        row: dict[str, Any] = {"batch": batch, "length": positions, "cached": None}
        for mode in ("cached", "recompute") if sequence else ("recompute",):
            options = {"length": length, "use_cache": mode == "cached"} if sequence else {}
            warm_up = {**options, "length": min(8, positions)} if sequence else options
            model.sample(batch, generator=_generator(device), **warm_up)
            seconds = best_time(
                lambda options=options, batch=batch: model.sample(
                    batch, generator=_generator(device), **options
                ),
                device,
                budget.sampling_repeats,
                warmup=False,  # (the short warm-up run above)
                enough=budget.sampling_seconds,
            )
            row[mode] = {
                "seconds": seconds,
                "ms_per_step": 1000 * seconds / positions,
                "ms_per_position": 1000 * seconds / (batch * positions),
                "positions_per_second": batch * positions / seconds,
            }
        row["speedup"] = (
            row["recompute"]["seconds"] / row["cached"]["seconds"] if row["cached"] else None
        )
        rows.append(row)
    return rows


# -- helpers ----------------------------------------------------------------------------------


def _prepared(
    name: str, setting: Setting, device: torch.device
) -> tuple[AutoregressiveModel, FitConfig, torch.Tensor | Windows]:
    """A freshly seeded model of the ``quick`` recipe on ``device``, its fit settings and its
    training data."""
    r = recipes.recipe(name, setting.dataset, "quick")
    runtime.seed_everything(0)
    return r.build().to(device), r.fit, r.load("train")


def _fixed_steps(config: FitConfig, steps: int, *, eval_every: int) -> FitConfig:
    """The recipe's settings for a run of exactly ``steps`` steps: no early stopping, no epoch
    limit, the cosine schedule (where the recipe has one) fitted to the steps."""
    return config.replace(max_steps=steps, max_epochs=10**9, eval_every=eval_every, patience=None)


def _mean_rate(rates: list[float]) -> float:
    """The harmonic mean of per-window rates over equally long windows: total over time."""
    return len(rates) / sum(1.0 / r for r in rates)


def _generator(device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(0)


# -- the suite --------------------------------------------------------------------------------


def run_model(name: str, device: torch.device, budget: Budget) -> dict[str, Any]:
    """All three measurements of one model."""
    setting = SETTINGS[name]
    start = time.perf_counter()
    throughput = training_throughput(name, setting, device, budget)
    print(
        f"{name:>14} | training {throughput['positions_per_second']:>10,.0f} positions/s",
        flush=True,
    )
    likelihood, model = budget_likelihood(name, setting, device, budget)
    print(
        f"{name:>14} | {likelihood['steps']} steps in {likelihood['train_seconds']:.1f} s | "
        f"test {likelihood['nats_per_position']:.4f} nats/{setting.unit} = "
        f"{likelihood['bits_per_position']:.4f} bits/{setting.unit}",
        flush=True,
    )
    sampling = sampling_speed(model, setting, device, budget)
    for row in sampling:
        cached = row["cached"]
        print(
            f"{name:>14} | sample batch {row['batch']}, {row['length']:>4} positions | "
            + (f"cached {cached['ms_per_position']:.3f} ms/position | " if cached else "")
            + f"recompute {row['recompute']['ms_per_position']:.3f} ms/position",
            flush=True,
        )
    return {
        "model": name,
        "dataset": setting.dataset,
        "profile": "quick",
        "parameters": model.num_parameters(),
        "training": throughput,
        "likelihood": likelihood,
        "sampling": sampling,
        "seconds": time.perf_counter() - start,
    }


def run_suite(
    models: list[str], device: torch.device, budget: Budget, out: Path
) -> tuple[dict[str, Any], Path, Path]:
    """Benchmark ``models`` and write the JSON and Markdown results to ``out``."""
    unknown = sorted(set(models) - set(SETTINGS))
    if unknown:
        raise ValueError(
            f"unknown model(s) {', '.join(unknown)}; choose from: {', '.join(SETTINGS)}"
        )
    start = time.perf_counter()
    info = machine(device)
    print(json.dumps(info), flush=True)
    results = [run_model(name, device, budget) for name in models]
    suite = {
        "machine": info,
        "quick": budget.quick,
        "total_seconds": time.perf_counter() - start,
        "results": results,
    }
    out.mkdir(parents=True, exist_ok=True)
    stem = f"suite-{device.type}" + ("-quick" if budget.quick else "")
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(suite, indent=1) + "\n")
    md_path.write_text(markdown(suite))
    return suite, json_path, md_path


# -- the tables -------------------------------------------------------------------------------


def markdown(suite: dict[str, Any]) -> str:
    """The suite's results as Markdown: the machine, then a table of training and likelihood
    and a table of sampling speed."""
    m = suite["machine"]
    where = m.get("gpu", m["cpu"]) if m["device"].startswith("cuda") else m["cpu"]
    lines = [
        f"# arbook benchmark suite{' (quick smoke test)' if suite['quick'] else ''}",
        "",
        f"{where}; device {m['device']}, torch threads {m['threads']} ({m['cores']} cores); "
        f"torch {m['torch']}, arbook {m['arbook']}; {m['date']}; "
        f"suite {suite['total_seconds']:.0f} s.",
        "",
        "## Training and test likelihood (quick recipes, fixed step budgets)",
        "",
        "| model | data | parameters | training positions/s | steps | training s "
        "| test nats/position | test bits/position |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in suite["results"]:
        lik = r["likelihood"]
        steps = f"{lik['steps']}"
        partial = (
            f" ({lik['test_examples']} of {lik['test_split_examples']} test examples)"
            if lik["test_examples"] < lik["test_split_examples"]
            else ""
        )
        lines.append(
            f"| {r['model']} | {r['dataset']} | {r['parameters']:,} "
            f"| {r['training']['positions_per_second']:,.0f} | {steps} "
            f"| {lik['train_seconds']:.1f} | {lik['nats_per_position']:.4f} "
            f"| {lik['bits_per_position']:.4f} bits/{lik['unit']}{partial} |"
        )
    lines += [
        "",
        "## Sampling: milliseconds per generated position",
        "",
        "Sequence models with their cache (hidden state, KV cache, WaveNet's queues) and "
        "recomputing every step; image models take a full pass per pixel (no cache).",
        "",
        "| model | batch | positions | with cache | recomputed | speed-up |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in suite["results"]:
        for row in r["sampling"]:
            cached = _ms(row["cached"])
            speedup = f"{row['speedup']:.1f}x" if row["speedup"] else "—"
            lines.append(
                f"| {r['model']} | {row['batch']} | {row['length']} | {cached} "
                f"| {_ms(row['recompute'])} | {speedup} |"
            )
    return "\n".join(lines) + "\n"


def _ms(timing: dict[str, float] | None) -> str:
    return "—" if timing is None else f"{timing['ms_per_position']:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device", help="cpu or cuda (default: the best available)")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=list(SETTINGS),
        default=list(SETTINGS),
        metavar="MODEL",
        help=f"models to benchmark (default: all of {', '.join(SETTINGS)})",
    )
    parser.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})"
    )
    args = parser.parse_args(argv)
    try:
        device = runtime.device(args.device)
        runtime.cpu_threads(device)  # the book's threads: one on the CPU (ARBOOK_THREADS: more)
    except ValueError as exc:
        parser.error(str(exc))
    suite, json_path, md_path = run_suite(
        args.models, device, QUICK if args.quick else FULL, args.out
    )
    print()
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path} in {suite['total_seconds']:.0f} s")
    return 0


__all__ = [
    "SETTINGS",
    "Budget",
    "Setting",
    "budget_likelihood",
    "main",
    "markdown",
    "run_suite",
    "sampling_speed",
    "training_throughput",
]
