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
training data for early stopping, reports the exact test NLL (nats per example and bits/dim)
and saves a checkpoint. With ``--json`` the last line printed is one
JSON object with the results.

``train`` also runs on several GPUs, one process each, started by ``torchrun``::

    torchrun --nproc-per-node 4 -m arbook train gpt --dataset shakespeare

Every process trains (each on its share of the data, see :func:`arbook.train.fit`) and
evaluates; only rank 0 prints and writes the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from arbook import audio, data, recipes, runtime
from arbook.train import evaluate, fit, load, save


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m arbook", description="Train, sample and evaluate arbook models."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model and save a checkpoint")
    train.add_argument("model", help=f"one of: {', '.join(sorted(recipes.MODELS))}")
    train.add_argument(
        "--dataset", required=True, help=f"one of: {', '.join(sorted(recipes.DATASETS))}"
    )
    train.add_argument(
        "--profile", choices=runtime.PROFILES, help="size profile (default: by device)"
    )
    train.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    train.add_argument("--out", type=Path, help="checkpoint path (default: runs/MODEL-DATASET.pt)")
    train.add_argument("--seed", type=int, default=0)
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
    sample.add_argument("checkpoint", type=Path)
    sample.add_argument(
        "-n", "--num", type=int, help="number of samples (default: 16; audio models: 1)"
    )
    sample.add_argument(
        "--out",
        type=Path,
        help="write an image grid (PNG) here; audio models: the WAV file (required; with -n N "
        "the clips are written to OUT-0.wav ... OUT-(N-1).wav)",
    )
    sample.add_argument("--temperature", type=float, default=1.0)
    sample.add_argument("--top-k", type=int)
    sample.add_argument("--top-p", type=float)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--prompt", help="text models: continue this text")
    sample.add_argument(
        "--length", type=int, help="text models: characters to generate (default: the model's)"
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
    sample.add_argument("--device")

    ev = sub.add_parser("evaluate", help="exact NLL of a checkpoint on a data split")
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument("--split", choices=("train", "test"), default="test")
    ev.add_argument("--device")
    ev.add_argument("--json", action="store_true")
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
    history = fit(model, train_x, config, progress=not args.quiet and main_process)
    result = evaluate(model, test_x)
    if not main_process:
        return None
    out = args.out or Path("runs") / f"{args.model}-{args.dataset}.pt"
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
    save(
        model,
        out,
        metadata={
            "dataset": args.dataset,
            "model_name": args.model,
            **(
                {"vocab": spec.vocab().symbols}
                if spec.is_text
                else {"sample_rate": spec.sample_rate}
                if spec.kind == "audio"
                else {"image_shape": list(spec.shape)}
            ),
            **{
                k: summary[k]
                for k in ("test_nll_nats", "test_bits_per_dim", "train_seconds", "profile", "seed")
            },
        },
    )
    per = {"text": "character", "audio": "sample"}.get(spec.kind, "dim")
    print(
        f"test NLL {result.nll_nats:.3f} nats per {spec.unit} = {result.nll_nats_per_dim:.4f} "
        f"nats = {result.bits_per_dim:.4f} bits per {per} (validation {history.best_val_nll:.3f}); "
        f"trained {history.train_seconds:.1f} s "
        f"({summary['train_positions_per_second'] or 0:,.0f} {spec.unit} positions/s); saved {out}"
    )
    return summary


def _silent(*args: object, **kwargs: object) -> None:
    pass


def _sample(args: argparse.Namespace) -> None:
    dev = runtime.device(args.device)
    runtime.cpu_threads(dev)
    model = load(args.checkpoint, device=dev)
    meta = model.checkpoint_metadata
    g = torch.Generator().manual_seed(args.seed)
    options = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, generator=g)
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
    x = model.sample(args.num, **options).cpu()
    shape = tuple(meta.get("image_shape") or model.event_shape)
    images = x.view(args.num, *shape)
    if args.out is not None:
        if len(shape) != 2:
            raise ValueError(
                f"--out writes image grids; samples of shape {list(shape)} are not images"
            )
        import matplotlib

        matplotlib.use("Agg")
        from arbook import plots

        ax = plots.image_grid(
            images,
            num_classes=model.num_classes,
            title=f"{args.num} samples from {args.checkpoint.name}",
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        ax.figure.savefig(args.out, dpi=150)
        print(f"wrote {args.num} samples to {args.out}")
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
    num = 1 if args.num is None else args.num
    start = time.perf_counter()
    x = model.sample(num, length=length, use_cache=not args.no_cache, **options).cpu()
    elapsed = time.perf_counter() - start
    waves = data.mu_law_decode(x, model.num_classes)
    paths = (
        [args.out]
        if num == 1
        else [args.out.with_name(f"{args.out.stem}-{k}.wav") for k in range(num)]
    )
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
    prompt = vocab.encode(args.prompt) if args.prompt else None
    x = model.sample(
        args.num, prompt=prompt, length=args.length, use_cache=not args.no_cache, **options
    ).cpu()
    stop = model.stop_index
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
    result = evaluate(model, x)
    unit = spec.unit
    print(
        f"{args.split} NLL {result.nll_nats:.3f} nats per {unit} = {result.bits_per_dim:.4f} bits/dim ({result.num_examples} {unit}s)"
    )
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
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        # A torchrun launch of train: fit joined the process group, and leaves it here.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
