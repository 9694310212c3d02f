"""Speculative sampling against plain KV-cache sampling of a Shakespeare GPT, batch 1.

    python -m benchmarks.speculative                        # train briefly, then measure
    python -m benchmarks.speculative --target gpt-full.pt   # a trained target checkpoint
    python -m benchmarks.speculative --device cuda --ks 2 4 8 16

Targets and drafts (all trained here on the Shakespeare text unless a checkpoint is given):

* ``full``: the ``full`` recipe's GPT (6 layers x 6 heads x 384, context 256, 10.8M
  parameters), trained for ``--target-steps`` (150) batches of 8 windows of 128 symbols (about
  two minutes on two idle CPU cores) and far from converged, which is why ``--target`` takes a
  checkpoint instead (``python -m arbook train gpt --dataset shakespeare --profile full``);
* ``quick``: the ``quick`` recipe's GPT (4 x 4 x 128, context 64, 0.8M parameters), the
  chapter's model, trained with its recipe (``--draft-steps``, 2,000 steps, about a minute):
  a draft of ``full``, and a target of its own;
* ``bigram``: symbol-pair counts of the training text: a draft that costs a table look-up.

For each pair and each ``k`` it measures tokens per second of ``target.sample`` (the KV cache,
one pass per token) and of :func:`arbook.speculative.speculative_sample` (same length, prompt
and temperature), the acceptance rate, tokens per target pass and the speed-up; and, to explain
the speed-up, how long one target pass over ``k + 1`` positions takes relative to one. Each
timing is the best of ``--repeats`` runs, plain and speculative measured back to back so the
ratio is fair on a shared machine. Results go to ``benchmarks/results/speculative-<device>.json``
with a record of the machine and of the training.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from arbook import data, fit, load, recipes, runtime
from arbook.models import GPT, Bigram, SequenceModel
from arbook.speculative import speculative_sample
from benchmarks.sampling import RESULTS, best_time, machine

#: Training windows (and the most positions a benchmark run generates, prompt included, so
#: that a briefly trained target never reads position embeddings it has not learned).
WINDOW = 128


def train(
    profile: str, device: torch.device, steps: int, train_text: torch.Tensor, val: torch.Tensor
) -> tuple[GPT, dict]:
    """A recipe's Shakespeare GPT trained for ``steps`` steps (its learning-rate schedule
    compressed into them)."""
    r = recipes.recipe("gpt", "shakespeare", profile)
    config = r.fit.replace(
        max_steps=steps,
        eval_every=steps,  # one validation, at the end
        warmup_steps=min(r.fit.warmup_steps, max(1, steps // 10)),
    )
    if profile == "full":  # a few hundred CPU steps: small batches, a high peak rate
        config = config.replace(batch_size=8, lr=2e-3)
    runtime.seed_everything(0)
    model = r.build().to(device)
    windows = data.Windows(train_text, min(WINDOW, model.block_size))
    history = fit(model, windows, config, val_data=val, progress=False)
    record = {"steps": history.step[-1], "seconds": round(history.train_seconds, 1)}
    return model.eval(), record


def nats_per_char(model: SequenceModel, val: torch.Tensor) -> float:
    with torch.no_grad():
        return float(-model.log_prob(val.to(model.device)).mean() / val.shape[1])


def pass_cost(target: GPT, ks: list[int], device: torch.device, repeats: int) -> dict[int, float]:
    """Time of one ``extend_many`` over ``k + 1`` positions relative to one ``extend``."""
    x = torch.randint(target.num_classes, (1, 64), device=device)
    out = {}
    with torch.inference_mode():
        _, state = target.prefill(x[:, :32])

        def run(m: int) -> None:
            nonlocal state
            if m == 1:
                _, state = target.extend(x[:, 32], state)
            else:
                _, state = target.extend_many(x[:, 32 : 32 + m], state)
            state = target.rollback(state, 32)

        def many(m: int) -> float:
            return best_time(lambda: [run(m) for _ in range(20)], device, repeats)

        one = many(1)
        for k in ks:
            out[k] = many(k + 1) / one
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speculative", description=__doc__)
    parser.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    parser.add_argument("--target", help="checkpoint of a trained target GPT (replaces 'full')")
    parser.add_argument("--target-steps", type=int, default=150)
    parser.add_argument("--draft-steps", type=int, default=2000)
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--length", type=int, default=WINDOW - 16, help="symbols per sample")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    device = runtime.device(args.device)
    runtime.cpu_threads(device)  # the book's threads: one on the CPU
    print(json.dumps(machine(device)), flush=True)

    vocab = data.shakespeare_vocab()
    train_text = vocab.encode(data.shakespeare("train"))
    test_text = vocab.encode(data.shakespeare("test"))
    val = data.text_chunks(test_text[: 64 * WINDOW], WINDOW)  # 8,192 held-out characters
    prompt = test_text[64 * WINDOW : 64 * WINDOW + 16].to(device)

    models: dict[str, SequenceModel] = {}
    training: dict[str, dict] = {}
    if args.target:
        models["full"] = load(args.target).to(device).eval()
        training["full"] = {"checkpoint": args.target}
    else:
        models["full"], training["full"] = train("full", device, args.target_steps, train_text, val)
    models["quick"], training["quick"] = train("quick", device, args.draft_steps, train_text, val)
    models["bigram"] = Bigram(len(vocab)).fit_counts(train_text[None]).to(device).eval()
    training["bigram"] = {}
    for name, model in models.items():
        training[name].update(
            parameters=model.num_parameters(), val_nats_per_char=nats_per_char(model, val)
        )
        print(f"{name:>6}: {json.dumps(training[name])}", flush=True)

    pairs = [("full", "bigram"), ("full", "quick"), ("quick", "bigram")]
    costs = {
        name: pass_cost(models[name], args.ks, device, args.repeats) for name in {"full", "quick"}
    }
    opts = dict(length=args.length, prompt=prompt, temperature=args.temperature)
    rows = []
    for target_name, draft_name in pairs:
        target, draft = models[target_name], models[draft_name]
        for k in args.ks:
            seen = []

            def plain(target=target) -> None:
                g = torch.Generator(device=device).manual_seed(0)
                target.sample(1, generator=g, **opts)

            def speculative(target=target, draft=draft, k=k, seen=seen) -> None:
                g = torch.Generator(device=device).manual_seed(len(seen))
                _, info = speculative_sample(target, draft, 1, k=k, generator=g, stats=True, **opts)
                seen.append(info)

            plain_s = best_time(plain, device, args.repeats)
            spec_s = best_time(speculative, device, args.repeats)
            proposed = sum(s.proposed for s in seen)
            row = {
                "target": target_name,
                "draft": draft_name,
                "k": k,
                "plain_tokens_per_s": args.length / plain_s,
                "speculative_tokens_per_s": args.length / spec_s,
                "speedup": plain_s / spec_s,
                "acceptance_rate": sum(s.accepted for s in seen) / proposed,
                "tokens_per_target_call": sum(s.tokens for s in seen)
                / sum(s.target_calls for s in seen),
                "target_pass_cost_k_plus_1": costs[target_name][k],
            }
            rows.append(row)
            print(
                f"{target_name:>5} <- {draft_name:<6} k={k:<2} | plain {row['plain_tokens_per_s']:6.0f} "
                f"tok/s | speculative {row['speculative_tokens_per_s']:6.0f} tok/s | "
                f"{row['speedup']:4.2f}x | accepted {row['acceptance_rate']:.2f} | "
                f"{row['tokens_per_target_call']:.2f} tokens/pass | a pass over k+1 costs "
                f"{row['target_pass_cost_k_plus_1']:.2f} passes",
                flush=True,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"speculative-{device.type}.json"
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    out.write_text(
        json.dumps(
            {"machine": machine(device), "settings": settings, "models": training, "results": rows},
            indent=1,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
