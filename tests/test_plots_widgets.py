"""Figures are labelled; hidden sizes are parsed as the masks explorer takes them."""

from __future__ import annotations

import matplotlib.pyplot as plt

from arbook import MADE, LogisticAR, digits, fit, plots
from arbook.widgets import parse_sizes


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


def test_parse_sizes():
    assert parse_sizes("12, 10") == [12, 10]
    assert parse_sizes("") == []
    for bad in ("0", "1000", "1,2,3,4,5"):
        try:
            parse_sizes(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} should be rejected")
