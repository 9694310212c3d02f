"""Attention figures (chapter "Transformers and GPT"): one labelled panel per head, clear errors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from arbook import plots
from arbook.layers import CausalSelfAttention


def causal_weights(heads: int = 3, length: int = 6) -> torch.Tensor:
    torch.manual_seed(0)
    layer = CausalSelfAttention(4 * heads, heads).eval()
    with torch.no_grad():
        return layer.attention(torch.randn(1, length, 4 * heads))[0]  # [H, T, T]


def test_attention_maps_draws_one_labelled_panel_per_head():
    weights = causal_weights(heads=3, length=6)
    labels = list("abcdef")
    fig = plots.attention_maps(weights, labels, ncols=2, title="three heads")
    panels = [ax for ax in fig.axes if ax.images and ax.get_title().startswith("head")]
    assert [ax.get_title() for ax in panels] == ["head 0", "head 1", "head 2"]
    assert len(fig.axes) == 2 * 2 + 1  # a 2 x 2 grid (one panel off) and the colour bar
    for h, ax in enumerate(panels):
        assert [t.get_text() for t in ax.get_xticklabels()] == labels
        assert [t.get_text() for t in ax.get_yticklabels()] == labels
        assert torch.allclose(torch.as_tensor(ax.images[0].get_array().data), weights[h].double())
        assert ax.get_xlabel() and ax.get_ylabel()
    assert fig.get_suptitle() == "three heads"
    plt.close(fig)


def test_attention_maps_accepts_one_head_and_custom_titles():
    weights = causal_weights(heads=1, length=4)[0]  # [T, T]
    fig = plots.attention_maps(weights, titles=["layer 0, head 0"])
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["layer 0, head 0"]
    plt.close(fig)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(weights=torch.ones(2, 3, 4)), r"\[H, T, T\]"),
        (dict(weights=torch.ones(2, 3, 3), labels=["a", "b"]), "3 positions but 2 labels"),
        (dict(weights=torch.ones(2, 3, 3), titles=["x"]), "2 heads but 1 titles"),
        (dict(weights=torch.ones(2, 3, 3), ncols=0), "ncols"),
    ],
)
def test_attention_maps_rejects_bad_input(kwargs, message):
    weights = kwargs.pop("weights")
    with pytest.raises(ValueError, match=message):
        plots.attention_maps(weights, **kwargs)
