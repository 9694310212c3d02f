"""Sampling speed: cached against recomputed generation, and image sampling time.

    python -m benchmarks.sampling rnn        # characters/s, cached vs uncached, T = 64, 256, 1024
    python -m benchmarks.sampling pixelcnn   # seconds for 16 images, digits and Fashion-MNIST
    python -m benchmarks.sampling wavenet    # samples/s, fast (queues) vs naive, 1,000 and 4,000
    python -m benchmarks.sampling gpt        # tokens/s, KV cache vs recompute, 256 and 1,024
    python -m benchmarks.sampling all --device cuda

Weights do not change the cost of a step, so the models are freshly initialised with the
configurations the recipes train. Each timing is the best of ``--repeats`` runs; the results
are printed as a table and written to ``benchmarks/results/sampling-*.json`` with a record of
the machine.
"""

from __future__ import annotations

import argparse
import json

import torch

from arbook import recipes, runtime
from benchmarks.common import RESULTS, best_time, machine

__all__ = ["RESULTS", "best_time", "gpt", "machine", "main", "pixelcnn", "rnn", "wavenet"]


def rnn(device: torch.device, lengths=(64, 256, 1024), repeats: int = 3) -> list[dict]:
    """Characters per second of the Shakespeare LSTM, batch 1, with and without its cache."""
    rows = []
    for cell in ("lstm", "gru"):
        runtime.seed_everything(0)
        model = recipes.recipe(cell, "shakespeare", "quick").build()
        model.to(device).eval()
        for length in lengths:
            row = {"model": f"{cell} {model.config['hidden_size']}", "length": length}
            for cached in (True, False):

                def generate(model=model, cached: bool = cached, length: int = length) -> None:
                    g = torch.Generator(device=device).manual_seed(0)
                    model.sample(1, length=length, use_cache=cached, generator=g)

                seconds = best_time(generate, device, repeats if length < 1024 else 1)
                row["cached" if cached else "uncached"] = length / seconds
            row["speedup"] = row["cached"] / row["uncached"]
            rows.append(row)
            print(
                f"{row['model']:>9} | {length:>5} chars | cached {row['cached']:9.0f} chars/s | "
                f"recompute {row['uncached']:8.0f} chars/s | {row['speedup']:6.1f}x",
                flush=True,
            )
    return rows


def pixelcnn(device: torch.device, repeats: int = 2, num_images: int = 16) -> list[dict]:
    """Seconds to sample ``num_images`` images with the gated PixelCNNs the recipes train
    (the ``full`` profile's 28x28 models only on a GPU: minutes per image batch on a CPU)."""
    rows = []
    for dataset in ("digits", "fashion-mnist-binary", "fashion-mnist"):
        small = recipes.dataset(dataset).shape[0] <= 8
        for profile in ("quick", "full") if small or device.type == "cuda" else ("quick",):
            runtime.seed_everything(0)
            model = recipes.recipe("gated-pixelcnn", dataset, profile).build()
            model.to(device).eval()
            seconds = best_time(lambda model=model: model.sample(num_images), device, repeats)
            height, width = model.event_shape
            row = {
                "dataset": dataset,
                "profile": profile,
                "parameters": model.num_parameters(),
                "pixels": height * width,
                "images": num_images,
                "seconds": seconds,
                "ms_per_pixel_step": 1000 * seconds / (height * width),
            }
            rows.append(row)
            print(
                f"{dataset:>20} ({profile:>5}, {row['parameters']:>9,} parameters) | "
                f"{num_images} images in {seconds:7.2f} s | "
                f"{row['ms_per_pixel_step']:6.2f} ms per pixel step",
                flush=True,
            )
    return rows


def wavenet(
    device: torch.device, lengths=(1000, 4000), repeats: int = 3, batch: int = 1
) -> list[dict]:
    """Samples per second of Fast WaveNet (per-layer queues) against the naive loop (a pass
    over the receptive field per sample), batch 1, for the configuration of the WaveNet paper's
    speed comparisons: 3 blocks of 10 layers, kernel 2, 32 residual and dilation channels, 256
    skip and output channels, 256 classes. The naive loop runs once per length (minutes at
    4,000 samples on a CPU); the two must give the same samples for the same seed."""
    from arbook.models import WaveNet

    runtime.seed_everything(0)
    model = WaveNet(256, 32, 256, layers_per_block=10, blocks=3, kernel_size=2).to(device).eval()
    rows = []
    for length in lengths:
        samples = {}

        def generate(cached: bool, length: int = length, samples: dict = samples) -> None:
            g = torch.Generator(device=device).manual_seed(0)
            samples[cached] = model.sample(batch, length=length, use_cache=cached, generator=g)

        fast = best_time(lambda: generate(True), device, repeats)
        naive = best_time(lambda: generate(False), device, 1, warmup=False)  # warm already
        row = {
            "model": "wavenet 3x10, 32 residual, 256 skip",
            "receptive_field": model.receptive_field,
            "parameters": model.num_parameters(),
            "batch": batch,
            "length": length,
            "fast": batch * length / fast,
            "naive": batch * length / naive,
            "speedup": naive / fast,
            "identical": bool(torch.equal(samples[True], samples[False])),
        }
        rows.append(row)
        print(
            f"wavenet 3x10 | {length:>5} samples | fast {row['fast']:7.0f} samples/s | "
            f"naive {row['naive']:6.1f} samples/s | {row['speedup']:6.1f}x | "
            f"identical samples: {row['identical']}",
            flush=True,
        )
    return rows


def gpt(device: torch.device, lengths=(256, 1024), repeats: int = 3) -> list[dict]:
    """Tokens per second of GPT generation with the KV cache against recomputing the whole
    window for every token, batch 1, for the ``full`` Shakespeare configuration (6 layers x 6
    heads x 384, context 256; beyond it the window slides by half a block). Recompute runs once
    per length."""
    runtime.seed_everything(0)
    model = recipes.recipe("gpt", "shakespeare", "full").build()
    model.to(device).eval()
    rows = []
    for length in lengths:
        samples = {}

        def generate(cached: bool, length: int = length, samples: dict = samples) -> None:
            g = torch.Generator(device=device).manual_seed(0)
            samples[cached] = model.sample(1, length=length, use_cache=cached, generator=g)

        cached = best_time(lambda: generate(True), device, repeats)
        recompute = best_time(lambda: generate(False), device, 1, warmup=False)
        row = {
            "model": "gpt 6x6x384, context 256",
            "parameters": model.num_parameters(),
            "length": length,
            "cached": length / cached,
            "recompute": length / recompute,
            "speedup": recompute / cached,
            "identical": bool(torch.equal(samples[True], samples[False])),
        }
        rows.append(row)
        print(
            f"gpt 6x6x384 | {length:>5} tokens | KV cache {row['cached']:7.0f} tokens/s | "
            f"recompute {row['recompute']:6.1f} tokens/s | {row['speedup']:6.1f}x | "
            f"identical samples: {row['identical']}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sampling", description=__doc__)
    parser.add_argument("which", choices=("rnn", "pixelcnn", "wavenet", "gpt", "all"))
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    device = runtime.device(args.device)
    runtime.cpu_threads(device)  # the book's threads: one on the CPU
    RESULTS.mkdir(parents=True, exist_ok=True)
    print(json.dumps(machine(device)))
    benches = (("rnn", rnn), ("pixelcnn", pixelcnn), ("wavenet", wavenet), ("gpt", gpt))
    for name, bench in benches:
        if args.which in (name, "all"):
            rows = bench(device, repeats=args.repeats)
            out = RESULTS / f"sampling-{name}-{device.type}.json"
            out.write_text(json.dumps({"machine": machine(device), "results": rows}, indent=1))
            print(f"wrote {out}")


if __name__ == "__main__":
    main()
