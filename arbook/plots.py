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
