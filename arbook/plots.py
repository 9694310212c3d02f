"""Figures the chapters reuse. Every figure has a title, axis labels and units.

Each function draws on a given ``ax`` (or makes a new figure) and returns the ``Axes`` or
``Figure``, so a chapter can place figures side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _axes(ax, figsize=(5, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def image_grid(
    images: torch.Tensor,
    *,
    num_classes: int | None = None,
    nrow: int | None = None,
    title: str = "Samples",
    ax=None,
    cmap: str = "gray_r",
):
    """Show integer images ``[N, H, W]`` as one grid; values are scaled by ``num_classes - 1``.

    ``gray_r`` draws ink dark on white, like the digits were written.
    """
    images = torch.as_tensor(images).detach().cpu()
    if images.dim() != 3:
        raise ValueError(f"expected images of shape [N, H, W], got {list(images.shape)}")
    n, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    top = float(num_classes - 1) if num_classes else float(max(images.max().item(), 1))
    pad = 1
    canvas = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad), np.nan)
    for k in range(n):
        r, c = divmod(k, nrow)
        canvas[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = images[k].numpy() / top
    ax = _axes(ax, figsize=(0.6 * nrow + 1, 0.6 * ncol + 1))
    cm = plt.get_cmap(cmap).with_extremes(bad="#d0d7de")
    ax.imshow(canvas, cmap=cm, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def mask_heatmap(
    mask: torch.Tensor,
    *,
    title: str = "Mask",
    xlabel: str = "input unit",
    ylabel: str = "output unit",
    ax=None,
):
    """A 0/1 mask ``[n_out, n_in]`` (or a connectivity matrix) as a heatmap."""
    mask = torch.as_tensor(mask).detach().cpu().double()
    ax = _axes(ax)
    image = ax.imshow(mask.numpy(), cmap="Blues", interpolation="nearest", aspect="auto", vmin=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax, image


def made_masks_figure(
    masks: Sequence[torch.Tensor], order: torch.Tensor | None = None, *, title: str = "MADE masks"
):
    """Every layer's mask and the connectivity (their product) in one row of panels.

    Rows and columns of the connectivity are sorted by ``order``, so a causal model shows a
    strictly lower-triangular matrix whatever its order.
    """
    from arbook.masks import connectivity

    conn = connectivity(masks)
    n = len(masks) + 1
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), layout="constrained")
    names = [f"layer {i + 1}" for i in range(len(masks) - 1)] + ["output layer"]
    for i, (ax, mask, name) in enumerate(zip(axes, masks, names, strict=False)):
        mask_heatmap(
            mask,
            title=f"{name} mask {tuple(mask.shape)}",
            xlabel="input" if i == 0 else f"hidden unit (layer {i})",
            ylabel="output" if i == len(masks) - 1 else f"hidden unit (layer {i + 1})",
            ax=ax,
        )
    if order is not None:
        conn = conn[order][:, order]
        label = "position in the order"
    else:
        label = "variable"
    _, image = mask_heatmap(
        conn,
        title="connectivity (paths)",
        xlabel=f"input ({label})",
        ylabel=f"output ({label})",
        ax=axes[-1],
    )
    fig.colorbar(image, ax=axes[-1], shrink=0.8, label="number of paths")
    fig.suptitle(title)
    return fig


def loss_curves(history, *, title: str = "Training", per_dim: bool = False, ax=None):
    """Training loss and validation NLL against epochs, in nats per example (or bits/dim)."""
    ax = _axes(ax, figsize=(6, 4))
    scale = 1.0 / (history.num_dims * math.log(2)) if per_dim else 1.0
    unit = "bits/dim" if per_dim else "nats per example"
    ax.plot(history.epoch, np.array(history.train_loss) * scale, label="training loss")
    ax.plot(history.epoch, np.array(history.val_nll) * scale, label="validation NLL")
    if history.best_step:
        best_epoch = history.epoch[history.step.index(history.best_step)]
        ax.axvline(best_epoch, color="gray", linestyle=":", label="best (kept)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"negative log-likelihood ({unit})")
    ax.set_title(title)
    ax.legend()
    return ax


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    ylabel: str,
    ax=None,
    fmt: str = "{:.2f}",
):
    """Labelled bars with their values written on top (for comparing test NLLs)."""
    ax = _axes(ax, figsize=(6, 4))
    bars = ax.bar(range(len(values)), values, color="#4c72b0")
    ax.set_xticks(range(len(values)), labels, rotation=20, ha="right")
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            fmt.format(value),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    return ax


def completions_figure(
    originals: torch.Tensor,
    completions: torch.Tensor,
    rows_kept: int,
    *,
    num_classes: int | None = None,
    title: str = "Completions",
    cmap: str = "gray_r",
):
    """Image completions as a figure: one row per image, with the original, the part the model
    was given (rows ``>= rows_kept`` hidden, in grey) and the completions beside it.

    ``originals [N, H, W]`` and ``completions [N, M, H, W]`` (``M`` completions of each image);
    a single image ``[H, W]`` with completions ``[M, H, W]`` draws one row. A red line marks
    where the given rows end and sampling began.
    """
    originals = torch.as_tensor(originals).detach().cpu()
    completions = torch.as_tensor(completions).detach().cpu()
    if originals.dim() == 2:
        originals, completions = originals[None], completions[None]
    if originals.dim() != 3 or completions.dim() != 4:
        raise ValueError(
            "expected originals [N, H, W] and completions [N, M, H, W], got "
            f"{list(originals.shape)} and {list(completions.shape)}"
        )
    n, h, w = originals.shape
    if completions.shape[0] != n or tuple(completions.shape[2:]) != (h, w):
        raise ValueError(
            f"completions {list(completions.shape)} do not match originals {list(originals.shape)}"
        )
    if not 0 <= rows_kept <= h:
        raise ValueError(f"rows_kept must be in [0, {h}], got {rows_kept}")
    m = completions.shape[1]
    top = float(num_classes - 1) if num_classes else float(max(originals.max().item(), 1))
    size = 1.1 if h <= 16 else 1.3
    fig, axes = plt.subplots(
        n,
        m + 2,
        figsize=(size * (m + 2) + 0.4, size * n + 0.7),
        squeeze=False,
        layout="constrained",
    )
    cm = plt.get_cmap(cmap).with_extremes(bad="#d0d7de")
    names = ["original", f"given ({rows_kept} rows)"] + [f"completion {k + 1}" for k in range(m)]
    for r in range(n):
        given = originals[r].double().numpy() / top
        given[rows_kept:] = np.nan
        panels = [originals[r], given] + [completions[r, k] for k in range(m)]
        for c, (ax, panel) in enumerate(zip(axes[r], panels, strict=True)):
            values = panel if isinstance(panel, np.ndarray) else panel.double().numpy() / top
            ax.imshow(values, cmap=cm, vmin=0, vmax=1, interpolation="nearest")
            if c >= 1 and 0 < rows_kept < h:
                ax.axhline(rows_kept - 0.5, color="#d62728", lw=1.2)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(names[c], fontsize=9)
    fig.suptitle(title)
    return fig


def conditional_bars(
    probs: torch.Tensor,
    labels: Sequence[str],
    *,
    chosen: int | None = None,
    filtered: torch.Tensor | None = None,
    ax=None,
    title: str = "Next-symbol distribution",
    ylabel: str = "probability",
    limit: int | None = None,
    sort: bool = False,
):
    """A next-symbol distribution ``probs [K]`` as bars over the vocabulary ``labels``.

    ``filtered`` (the distribution actually sampled after temperature, top-k and top-p; see
    :func:`arbook.sampling.filter_logits`) is drawn beside each bar, and the ``chosen`` symbol
    is outlined and its label marked. ``limit`` shows only the ``limit`` most probable symbols
    (under either distribution, always with the chosen one); ``sort`` orders the bars from most
    to least probable under ``probs`` instead of in vocabulary order. Chapter "Sampling".
    """
    probs = torch.as_tensor(probs).detach().cpu().double().flatten()
    if len(labels) != len(probs):
        raise ValueError(f"{len(probs)} probabilities but {len(labels)} labels")
    if filtered is not None:
        filtered = torch.as_tensor(filtered).detach().cpu().double().flatten()
        if filtered.shape != probs.shape:
            raise ValueError(f"filtered has {len(filtered)} values, but probs has {len(probs)}")
    if chosen is not None and not 0 <= int(chosen) < len(probs):
        raise ValueError(f"chosen must index one of the {len(probs)} symbols, got {chosen}")
    score = probs if filtered is None else torch.maximum(probs, filtered)
    index = torch.arange(len(probs))
    if sort:
        index = probs.argsort(descending=True, stable=True)
    if limit is not None and limit < len(probs):
        top = set(score.topk(limit).indices.tolist())
        if chosen is not None:
            top.add(int(chosen))
        index = torch.tensor([i for i in index.tolist() if i in top])
    x = np.arange(len(index))
    ax = _axes(ax, figsize=(max(5.0, 0.32 * len(index) + 1.5), 3.5))
    width = 0.8 if filtered is None else 0.42
    shift = 0.0 if filtered is None else -width / 2
    ax.bar(x + shift, probs[index].numpy(), width, color="#9fb7d9", label="model")
    if filtered is not None:
        ax.bar(
            x + width / 2,
            filtered[index].numpy(),
            width,
            color="#dd8452",
            label="after filters (sampled)",
        )
    ax.set_xticks(x, [labels[i] for i in index.tolist()])
    if chosen is not None and int(chosen) in index.tolist():
        k = index.tolist().index(int(chosen))
        top_value = float(score[int(chosen)])
        ax.bar(
            k,
            top_value,
            2 * width if filtered is not None else width,
            fill=False,
            edgecolor="#c44e52",
            linewidth=2,
            label=f"chosen: {labels[int(chosen)]!r}",
        )
        tick = ax.get_xticklabels()[k]
        tick.set_color("#c44e52")
        tick.set_fontweight("bold")
    ax.set_xlim(-0.7, len(index) - 0.3)
    ax.set_ylim(0, min(1.05, float(score.max()) * 1.12 + 0.02))
    ax.set_xlabel("next symbol")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return ax


def text_strip(
    symbols: Sequence[str],
    *,
    num_prompt: int = 0,
    selected: int | None = None,
    ax=None,
    title: str = "Generated text",
):
    """A generated text one symbol per cell: the first ``num_prompt`` symbols (the prompt) in
    grey, the generated ones in black with their step number below, and the symbol at index
    ``selected`` on a highlighted background. Chapter "Sampling"."""
    ax = _axes(ax, figsize=(max(4.0, 0.4 * len(symbols) + 1), 1.2))
    for i, symbol in enumerate(symbols):
        generated = i >= num_prompt
        box = None
        if i == selected:
            box = dict(boxstyle="round,pad=0.25", facecolor="#ffd966", edgecolor="#c44e52")
        ax.text(
            i,
            0.6,
            symbol,
            ha="center",
            va="center",
            family="monospace",
            fontsize=15,
            color="black" if generated else "0.55",
            fontweight="bold" if i == selected else "normal",
            bbox=box,
        )
        if generated:
            ax.text(i, 0.05, str(i - num_prompt), ha="center", va="center", fontsize=7, color="0.4")
    ax.set_xlim(-0.7, max(len(symbols), 12) - 0.3)
    ax.set_ylim(-0.2, 1.0)
    ax.set_title(title)
    ax.axis("off")
    return ax
