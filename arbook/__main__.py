"""Command line: train, sample and evaluate the book's models.

    python -m arbook train made --dataset digits-binary [--num-masks 8] [--json]
    python -m arbook sample runs/made-digits-binary.pt -n 16 --out grid.png
    python -m arbook evaluate runs/made-digits-binary.pt
    python -m arbook train lstm --dataset names          # or rnn, gru; --dataset shakespeare
    python -m arbook sample runs/lstm-names.pt -n 10 --prompt "ma" --temperature 0.8
    python -m arbook train gpt --dataset shakespeare [--compile]
    python -m arbook sample runs/gpt-shakespeare.pt --prompt "ROMEO:" --length 300 --top-p 0.9
    python -m arbook train wavenet --dataset tones
    python -m arbook sample runs/wavenet-tones.pt --seconds 2 --out clip.wav

``train`` runs the recipe (:mod:`arbook.recipes`) of the model, data set and profile, whose
budget is steps or epochs (the same run on any machine), holds out a validation split of the
training data for early stopping, reports the exact test NLL (nats per example, nats and bits
per position) and saves a checkpoint. With ``--json`` the last line printed is one JSON object
with the results.

Every output path is checked before any work starts. Ctrl-C during ``train`` stops cleanly and
saves the best weights evaluated so far next to the checkpoint, as ``NAME.partial.pt``, leaving
an existing checkpoint untouched. Errors are one line on stderr (exit status 2; 130 after
Ctrl-C).

``train`` also runs on several GPUs, one process each, started by ``torchrun``::

    torchrun --nproc-per-node 4 -m arbook train gpt --dataset shakespeare

Every process trains (each on its share of the data, see :func:`arbook.train.fit`) and
evaluates; only rank 0 prints and writes the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from arbook import audio, data, recipes, runtime
from arbook.checkpoint import load, save
from arbook.models.base import check_count
from arbook.sampling import check_options
from arbook.train import TrainingInterrupted, evaluate, fit

#: The most positions ``sample`` generates per example (characters, audio samples): a bound on
#: the memory of ``n x length`` values and on the time a mistyped length would take.
MAX_LENGTH = 1_000_000
#: Generations at least this long show a progress bar.
PROGRESS_LENGTH = 2_000


class CommandError(Exception):
    """A problem the command line reports in one line (exit status 2)."""


class Interrupted(Exception):
    """Ctrl-C, reported in one line (exit status 130)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m arbook", description="Train, sample and evaluate arbook models."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    device_help = "cpu, cuda, cuda:1, mps (default: the best available)"

    train = sub.add_parser("train", help="train a model and save a checkpoint")
    train.add_argument("model", help=f"one of: {', '.join(sorted(recipes.MODELS))}")
    train.add_argument(
        "--dataset", required=True, help=f"one of: {', '.join(sorted(recipes.DATASETS))}"
    )
    train.add_argument(
        "--profile", choices=runtime.PROFILES, help="size profile (default: by device)"
    )
    train.add_argument("--device", help=device_help)
    train.add_argument("--out", type=Path, help="checkpoint path (default: runs/MODEL-DATASET.pt)")
    train.add_argument(
        "--seed", type=int, default=0, help="seed of the weights, data order and split (default 0)"
    )
    train.add_argument(
        "--max-steps",
        type=int,
        help="at most this many optimisation steps (default: the recipe's budget); like the "
        "recipe's, a step budget gives the same run on any machine",
    )
    train.add_argument(
        "--max-seconds",
        type=float,
        help="also stop after this many seconds of training (a wall-clock limit: the result then "
        "depends on the machine's speed)",
    )
    train.add_argument(
        "--num-masks", type=int, help="made: number of masks (orders) in the ensemble"
    )
    train.add_argument(
        "--json", action="store_true", help="print the results as JSON on the last line"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument(
        "--compile", action="store_true", help="train through torch.compile (worth it on a GPU)"
    )

    sample = sub.add_parser("sample", help="draw samples from a checkpoint")
    sample.add_argument("checkpoint", type=Path, help="a checkpoint written by train")
    sample.add_argument(
        "-n", "--num", type=int, help="number of samples (default: 16; audio models: 1)"
    )
    sample.add_argument(
        "--out",
        type=Path,
        help="image models: write an image grid here (PNG, or PDF/SVG by the extension; no "
        "extension: .png is added); audio models: the WAV file (required; with -n N the clips "
        "are written to OUT-0.wav ... OUT-(N-1).wav)",
    )
    sample.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="divide the logits by this (> 0; below 1 sharpens, above 1 flattens; default 1)",
    )
    sample.add_argument("--top-k", type=int, help="keep only the K most probable values")
    sample.add_argument(
        "--top-p",
        type=float,
        help="keep the smallest set of most probable values whose probability reaches P (0 < P <= 1)",
    )
    sample.add_argument(
        "--greedy",
        action="store_true",
        help="always take the most probable value (the limit of temperature -> 0)",
    )
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument("--prompt", help="text models: continue this text")
    sample.add_argument(
        "--length",
        type=int,
        help=f"text models: characters to generate, 1 to {MAX_LENGTH:,} (default: the model's)",
    )
    sample.add_argument(
        "--seconds", type=float, help="audio models: seconds of audio to generate (default 1)"
    )
    sample.add_argument(
        "--no-cache",
        action="store_true",
        help="text and audio models: recompute every conditional from the prefix instead of "
        "using the state/queues (slow; same samples)",
    )
    sample.add_argument("--device", help=device_help)

    ev = sub.add_parser("evaluate", help="exact NLL of a checkpoint on a data split")
    ev.add_argument("checkpoint", type=Path, help="a checkpoint written by train")
    ev.add_argument(
        "--split",
        choices=("train", "test"),
        default="test",
        help="the split of the checkpoint's data set (default: test)",
    )
    ev.add_argument("--device", help=device_help)
    ev.add_argument(
        "--json", action="store_true", help="print the results as JSON on the last line"
    )
    return parser


def _train(args: argparse.Namespace) -> dict | None:
    """Train, evaluate and save; returns the summary (``None`` in the processes of a
    ``torchrun`` launch other than rank 0, which neither print nor write)."""
    main_process = runtime.world().is_main
    say = print if main_process else _silent
    dev = runtime.device(args.device)
    runtime.cpu_threads(dev)
    profile = runtime.profile(args.profile, dev)
    spec = recipes.dataset(args.dataset)
    options = {} if args.num_masks is None else {"num_masks": args.num_masks}
    if options and args.model != "made":
        raise ValueError("--num-masks applies to the made model only")
    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError(f"--max-steps must be at least 1, got {args.max_steps}")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise ValueError(f"--max-seconds must be positive, got {args.max_seconds}")
    r = recipes.recipe(args.model, args.dataset, profile, **options)
    out = args.out or Path("runs") / f"{args.model}-{args.dataset}.pt"
    if main_process:
        _check_writable(out, "--out")
    # The recipe's budget is steps or epochs; --max-steps replaces it, and a time limit is
    # only ever the caller's own choice.
    config = r.fit.replace(seed=args.seed, compile=args.compile)
    if args.max_steps is not None:
        config = config.replace(max_steps=args.max_steps)
    if args.max_seconds is not None:
        config = config.replace(max_seconds=args.max_seconds)
    runtime.seed_everything(args.seed)
    model = r.build().to(dev)
    train_x, test_x = r.load("train"), r.load("test")
    parameters = model.num_parameters()
    say(
        f"training {args.model} ({parameters:,} parameters) on {args.dataset} "
        f"({len(train_x)} training {spec.unit}s) | profile {profile} | device {dev}",
        flush=True,
    )
    metadata = {
        "dataset": args.dataset,
        "model_name": args.model,
        **(
            {"vocab": spec.vocab().symbols}
            if spec.is_text
            else {"sample_rate": spec.sample_rate}
            if spec.kind == "audio"
            else {"image_shape": list(spec.shape)}
        ),
        "profile": profile,
        "seed": args.seed,
    }
    try:
        history = fit(model, train_x, config, progress=not args.quiet and main_process)
    except TrainingInterrupted as stop:
        if not main_process:
            raise Interrupted("") from None
        _save_interrupted(model, out, stop, metadata, spec)
    say(
        f"trained {history.step[-1] if history.step else 0:,} steps; evaluating the exact NLL of "
        f"{len(test_x):,} test {spec.unit}s ...",
        flush=True,
    )
    result = evaluate(model, test_x)
    if not main_process:
        return None
    summary = {
        "model": args.model,
        "dataset": args.dataset,
        "profile": profile,
        "device": str(dev),
        "seed": args.seed,
        "options": options,
        "test_nll_nats": result.nll_nats,
        "test_nll_nats_per_dim": result.nll_nats_per_dim,
        "test_bits_per_dim": result.bits_per_dim,
        "best_val_nll_nats": history.best_val_nll,
        "train_seconds": history.train_seconds,
        "train_positions_per_second": (
            history.positions_per_second[-1] if history.positions_per_second else None
        ),
        "steps": history.step[-1] if history.step else 0,
        "stopped_early": history.stopped_early,
        "parameters": parameters,
        "checkpoint": str(out),
    }
    metadata.update(
        test_nll_nats=result.nll_nats,
        test_bits_per_dim=result.bits_per_dim,
        train_seconds=history.train_seconds,
    )
    _save_or_fallback(model, out, metadata)
    print(
        f"test {_nll_wording(result, spec)} (validation {history.best_val_nll:.3f} nats per "
        f"{spec.unit}); trained {history.train_seconds:.1f} s "
        f"({summary['train_positions_per_second'] or 0:,.0f} positions/s); saved {out}"
    )
    return summary


def _nll_wording(result, spec: recipes.DatasetSpec) -> str:
    """One wording of an NLL everywhere: per example, then nats and bits per position."""
    per = {"text": "character", "audio": "sample"}.get(spec.kind, "pixel")
    return (
        f"NLL {result.nll_nats:.3f} nats per {spec.unit} = {result.nll_nats_per_dim:.4f} nats "
        f"per {per} = {result.bits_per_dim:.4f} bits per {per}"
    )


def _check_writable(path: Path, option: str) -> None:
    """Fail before any work unless a file can be written at ``path`` (folders are created)."""
    if path.is_dir():
        raise CommandError(f"{option} {path} is a folder; give a file name inside it")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise CommandError(f"{option} {path}: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CommandError(
            f"{option} {path}: cannot write in {folder} ({exc.strerror or exc})"
        ) from None


def _save_or_fallback(model: torch.nn.Module, out: Path, metadata: dict) -> None:
    """Save the trained model at ``out``; if that fails after all, save it where it can be
    and say where, rather than lose the run."""
    try:
        save(model, out, metadata=metadata)
    except OSError as exc:
        for folder in (Path.cwd(), Path(tempfile.gettempdir())):
            fallback = folder / f"{out.stem}.unsaved-{os.getpid()}{out.suffix or '.pt'}"
            try:
                save(model, fallback, metadata=metadata)
            except OSError:
                continue
            raise CommandError(
                f"could not write {out} ({exc.strerror or exc}); the trained model is saved "
                f"to {fallback} instead"
            ) from None
        raise CommandError(
            f"could not write {out} ({exc.strerror or exc}) nor a fallback"
        ) from None


def _save_interrupted(
    model: torch.nn.Module,
    out: Path,
    stop: TrainingInterrupted,
    metadata: dict,
    spec: recipes.DatasetSpec,
) -> None:
    """Ctrl-C during training: save the best weights evaluated so far beside ``out`` (never
    over it) and stop with one line."""
    history = stop.history
    if not history.step:
        raise Interrupted(
            f"interrupted at step {stop.step:,}, before the first evaluation: nothing saved"
        )
    partial = out.with_name(f"{out.stem}.partial{out.suffix or '.pt'}")
    metadata = {**metadata, "interrupted_at_step": stop.step, "best_step": history.best_step}
    try:
        save(model, partial, metadata=metadata)
    except OSError as exc:
        raise Interrupted(
            f"interrupted at step {stop.step:,}; could not save to {partial} "
            f"({exc.strerror or exc})"
        ) from None
    kept = f"; {out} is unchanged" if out.exists() else ""
    raise Interrupted(
        f"interrupted at step {stop.step:,}: saved the best weights so far (step "
        f"{history.best_step:,}, validation {history.best_val_nll:.3f} nats per {spec.unit}) "
        f"to {partial}{kept}"
    )


def _silent(*args: object, **kwargs: object) -> None:
    pass


def _sample(args: argparse.Namespace) -> None:
    dev = runtime.device(args.device)
    runtime.cpu_threads(dev)
    model = load(args.checkpoint, device=dev)
    meta = model.checkpoint_metadata
    g = torch.Generator().manual_seed(args.seed)
    options = dict(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        greedy=args.greedy,
        generator=g,
    )
    check_options(args.temperature, args.top_k, args.top_p)
    if args.num is not None:
        check_count(args.num)
    if "sample_rate" in meta:
        _sample_audio(args, model, meta["sample_rate"], options)
        return
    if args.seconds is not None:
        raise ValueError("--seconds applies to audio models only")
    args.num = 16 if args.num is None else args.num
    if "vocab" in meta:
        _sample_text(args, model, data.CharVocab("", specials=meta["vocab"]), options)
        return
    if args.prompt is not None or args.length is not None or args.no_cache:
        raise ValueError("--prompt, --length and --no-cache apply to text and audio models only")
    shape = tuple(meta.get("image_shape") or model.event_shape)
    out = None
    if args.out is not None:
        if len(shape) != 2:
            raise ValueError(
                f"--out writes image grids; samples of shape {list(shape)} are not images"
            )
        out = _image_path(args.out)
    x = model.sample(args.num, **options).cpu()
    images = x.view(args.num, *shape)
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        from arbook import plots

        ax = plots.image_grid(
            images,
            num_classes=model.num_classes,
            title=f"{args.num} samples from {args.checkpoint.name}",
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        ax.figure.savefig(out, dpi=150)
        print(f"wrote {args.num} samples to {out}")
    elif len(shape) == 2:
        shades = " .:-=+*#%@"
        for k, image in enumerate(images):
            print(f"sample {k}:")
            for row in image.tolist():
                print(
                    "".join(
                        shades[v * (len(shades) - 1) // (model.num_classes - 1)] * 2 for v in row
                    )
                )
    else:
        for row in images.reshape(args.num, -1).tolist():
            print(" ".join(map(str, row)))


def _image_path(out: Path) -> Path:
    """The file an image grid goes to: ``out``, with ``.png`` added if it has no extension;
    checked (format and folder) before any sampling."""
    from matplotlib.figure import Figure

    _check_writable(out, "--out")
    if not out.suffix:
        out = out.with_name(out.name + ".png")
    formats = Figure().canvas.get_supported_filetypes()
    if out.suffix[1:].lower() not in formats:
        raise CommandError(
            f"--out {out}: cannot write {out.suffix} images; use one of "
            f"{', '.join('.' + f for f in sorted(formats))}"
        )
    return out


def _generate(
    model: torch.nn.Module, num: int, length: int, what: str, **sample_args: object
) -> torch.Tensor:
    """``model.sample`` of ``num`` sequences of ``length`` new positions, with a progress bar
    (on stderr) when the generation is long."""
    if length < PROGRESS_LENGTH:
        return model.sample(num, length=length, **sample_args)
    from tqdm.auto import tqdm

    with tqdm(total=length, desc=f"generating {what}", unit=" positions", leave=False) as bar:
        return model.sample(num, length=length, on_step=lambda *_: bar.update(1), **sample_args)


def _sample_audio(
    args: argparse.Namespace, model: torch.nn.Module, sample_rate: int, options: dict
) -> None:
    if args.prompt is not None or args.length is not None:
        raise ValueError("audio models take --seconds, not --prompt or --length")
    if args.out is None:
        raise ValueError("audio models need --out FILE.wav for the generated audio")
    if args.out.suffix.lower() != ".wav":
        raise ValueError(f"--out must name a .wav file for audio, got {args.out}")
    seconds = 1.0 if args.seconds is None else args.seconds
    length = round(seconds * sample_rate)
    if not length >= 1:
        raise ValueError(f"--seconds must be positive, got {seconds}")
    if length > MAX_LENGTH:
        raise ValueError(
            f"--seconds {seconds:g} is {length:,} samples; at most {MAX_LENGTH:,} "
            f"({MAX_LENGTH / sample_rate:g} s) per clip"
        )
    num = 1 if args.num is None else args.num
    paths = (
        [args.out]
        if num == 1
        else [args.out.with_name(f"{args.out.stem}-{k}.wav") for k in range(num)]
    )
    for path in paths:
        _check_writable(path, "--out")
    print(
        f"generating {num} clip(s) of {seconds:g} s ({length:,} samples each, "
        f"{'naive' if args.no_cache else 'fast'} generation) ...",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    x = _generate(model, num, length, "audio", use_cache=not args.no_cache, **options).cpu()
    elapsed = time.perf_counter() - start
    waves = data.mu_law_decode(x, model.num_classes)
    for path, wave in zip(paths, waves, strict=True):
        audio.write_wav(path, wave, sample_rate)
    print(
        f"wrote {num} clip(s) of {seconds:g} s at {sample_rate} Hz to {', '.join(map(str, paths))} "
        f"({num * length / elapsed:,.0f} samples/s, {'naive' if args.no_cache else 'fast'} generation)"
    )


def _sample_text(
    args: argparse.Namespace, model: torch.nn.Module, vocab: data.CharVocab, options: dict
) -> None:
    if args.out is not None:
        raise ValueError("--out writes image grids; text samples are printed")
    stop = model.stop_index
    if args.prompt and stop is not None and vocab.symbols[stop] in args.prompt:
        raise ValueError(
            f"--prompt {args.prompt!r} contains the end marker {vocab.symbols[stop]!r}, which "
            "ends an example; give only its beginning"
        )
    prompt = vocab.encode(args.prompt) if args.prompt else None
    length = model.event_shape[0] if args.length is None else args.length
    if not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"--length must be from 1 to {MAX_LENGTH:,}, got {length:,}")
    x = _generate(
        model, args.num, length, "text", prompt=prompt, use_cache=not args.no_cache, **options
    ).cpu()
    for row in x:
        text = vocab.decode(row)
        if stop is not None:
            text = text.split(vocab.symbols[stop], 1)[0]
            print(text)
        else:
            print(text, end="\n\n" + "-" * 40 + "\n")


def _evaluate(args: argparse.Namespace) -> dict:
    dev = runtime.device(args.device)
    runtime.cpu_threads(dev)
    model = load(args.checkpoint, device=dev)
    meta = model.checkpoint_metadata
    if "dataset" not in meta or "model_name" not in meta:
        raise ValueError(
            f"{args.checkpoint} does not record its data set; evaluate it from Python instead"
        )
    spec = recipes.dataset(meta["dataset"])
    length = model.event_shape[0] if spec.is_text else None
    x = recipes.load_split(meta["model_name"], meta["dataset"], args.split, length)
    if isinstance(x, data.Windows):  # training data: a text's consecutive windows, whole clips
        x = x.codes if x.codes.dim() == 2 else data.text_chunks(x.codes, x.length)
    print(
        f"evaluating the exact NLL of {len(x):,} {args.split} {spec.unit}s ...",
        file=sys.stderr,
        flush=True,
    )
    result = evaluate(model, x)
    print(f"{args.split} {_nll_wording(result, spec)} ({result.num_examples:,} {spec.unit}s)")
    return {
        "split": args.split,
        "dataset": meta["dataset"],
        "nll_nats": result.nll_nats,
        "nll_nats_per_dim": result.nll_nats_per_dim,
        "bits_per_dim": result.bits_per_dim,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            summary = _train(args)
            if args.json and summary is not None:
                print(json.dumps(summary))
        elif args.command == "sample":
            _sample(args)
        else:
            summary = _evaluate(args)
            if args.json:
                print(json.dumps(summary))
    except (KeyboardInterrupt, Interrupted) as exc:
        message = str(exc) if isinstance(exc, Interrupted) else ""
        if message or runtime.world().is_main:
            print(f"\n{message or 'interrupted: nothing written'}", file=sys.stderr)
        return 130
    except (CommandError, ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        # A torchrun launch of train: fit joined the process group, and leaves it here.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
