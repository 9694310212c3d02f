"""Figures are labelled; the mask explorer reacts to its controls."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from arbook import MADE, LogisticAR, digits, fit, plots
from arbook.widgets import MaskExplorer, parse_sizes


def test_image_grid_and_masks_figure():
    ax = plots.image_grid(digits("test")[:10], num_classes=17, title="Real digits")
    assert ax.get_title() == "Real digits"
    model = MADE(6, [8, 8], order="random")
    fig = plots.made_masks_figure(model.masks(), model.order)
    assert len(fig.axes) >= 4 and all(a.get_title() for a in fig.axes[:4])
    plt.close("all")


def test_loss_curves_have_units():
    model = LogisticAR(64)
    history = fit(
        model, digits("train", binary=True).flatten(1)[:200], max_epochs=2, progress=False
    )
    ax = plots.loss_curves(history, title="LogisticAR")
    assert "nats" in ax.get_ylabel() and ax.get_xlabel() == "epoch"
    ax = plots.loss_curves(history, per_dim=True)
    assert "bits/dim" in ax.get_ylabel()
    ax = plots.bar_chart(["a", "b"], [1.0, 2.0], title="NLL", ylabel="nats")
    assert ax.get_ylabel() == "nats"
    plt.close("all")


def test_mask_explorer_follows_its_controls():
    explorer = MaskExplorer(num_inputs=5, hidden_sizes="8", order="natural")
    assert explorer.order.tolist() == [0, 1, 2, 3, 4]
    assert [m.shape for m in explorer.masks] == [torch.Size([8, 5]), torch.Size([5, 8])]
    assert "causal" in explorer.message

    explorer.order_choice.value = "reversed"
    assert explorer.order.tolist() == [4, 3, 2, 1, 0]
    reordered = explorer.connectivity[explorer.order][:, explorer.order]
    assert torch.equal(reordered, reordered.tril(-1))

    explorer.hidden.value = "7, 9, 4"
    assert [m.shape[0] for m in explorer.masks] == [7, 9, 4, 5]

    explorer.inputs.value = 9
    assert explorer.connectivity.shape == (9, 9)

    explorer.order_choice.value = "random"
    first = explorer.order.clone()
    explorer.seed.value = 11
    assert not torch.equal(first, explorer.order) or explorer.inputs.value < 3
    assert "NOT" not in explorer.message

    previous = explorer.masks
    explorer.hidden.value = "ten"
    assert explorer.message.startswith("error:") and "whole numbers" in explorer.status.value
    assert explorer.masks is previous, "a bad entry keeps the last valid masks"
    plt.close("all")


def test_parse_sizes():
    assert parse_sizes("12, 10") == [12, 10]
    assert parse_sizes("") == []
    for bad in ("0", "1000", "1,2,3,4,5"):
        try:
            parse_sizes(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} should be rejected")
