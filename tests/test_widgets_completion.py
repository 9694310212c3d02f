"""The completion explorer reacts to its controls, keeps the given rows and is reproducible."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from arbook import plots
from arbook.models import GatedPixelCNN
from arbook.widgets import CompletionExplorer

K, H, W = 4, 5, 5


@pytest.fixture
def explorer():
    torch.manual_seed(0)
    model = GatedPixelCNN(K, (H, W), channels=8, num_layers=2)
    images = torch.randint(K, (6, H, W), generator=torch.Generator().manual_seed(1))
    images[1] = (images[0] + 1) % K  # differs from image 0 in every pixel
    return CompletionExplorer(model, images, K, rows_kept=2, seed=0, num_completions=4)


def _keeps_rows(explorer):
    rows = explorer.rows.value
    original = explorer.images[explorer.index.value]
    assert torch.equal(explorer.original, original)
    assert explorer.completions.shape == (explorer.num_completions, H, W)
    assert explorer.completions.dtype == torch.long
    assert torch.equal(explorer.completions[:, :rows], original[:rows].expand(4, rows, W))
    assert 0 <= int(explorer.completions.min()) and int(explorer.completions.max()) < K


def test_completions_keep_the_given_rows(explorer):
    _keeps_rows(explorer)
    assert explorer.message.startswith("image 0: kept 2 of 5 rows")
    for rows in (0, 1, 3, 4):
        explorer.rows.value = rows
        _keeps_rows(explorer)


def test_controls_change_the_completions(explorer):
    first = explorer.completions.clone()
    explorer.seed.value = 1
    by_seed = explorer.completions.clone()
    assert not torch.equal(first, by_seed)
    explorer.seed.value = 0
    assert torch.equal(explorer.completions, first), "the same seed gives the same completions"

    explorer.index.value = 1
    _keeps_rows(explorer)
    assert not torch.equal(explorer.completions, first)
    explorer.index.value = 0
    assert torch.equal(explorer.completions, first)

    explorer.rows.value = 3
    _keeps_rows(explorer)
    assert not torch.equal(explorer.completions, first)
    assert "kept 3 of 5 rows" in explorer.message

    explorer.rows.value = 2
    explorer.temperature.value = 0.5
    assert "temperature 0.50" in explorer.message


def test_all_rows_kept_returns_the_original(explorer):
    explorer.index.value = 3
    explorer.rows.value = H
    assert torch.equal(explorer.completions, explorer.images[3].expand(4, H, W))


def test_the_same_settings_give_the_same_completions(explorer):
    explorer.seed.value = 7
    again = CompletionExplorer(explorer.model, explorer.images, K, rows_kept=2, seed=7)
    assert torch.equal(again.completions, explorer.completions)


def test_static_figure(explorer):
    fig = explorer.figure()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["original", "given (2 rows)", "completion 1"]
    assert len(fig.axes) == 2 + explorer.num_completions
    assert "2 rows kept" in fig._suptitle.get_text()
    plt.close("all")


def test_completions_figure_of_several_images():
    originals = torch.randint(K, (3, H, W))
    completions = torch.randint(K, (3, 2, H, W))
    fig = plots.completions_figure(originals, completions, 2, num_classes=K, title="grid")
    assert len(fig.axes) == 3 * 4
    with pytest.raises(ValueError, match="do not match"):
        plots.completions_figure(originals, completions[:2], 2)
    plt.close("all")


def test_bad_settings_are_rejected():
    model = GatedPixelCNN(K, (H, W), channels=4, num_layers=1)
    images = torch.zeros(2, H, W, dtype=torch.long)
    with pytest.raises(ValueError, match="num_classes"):
        CompletionExplorer(model, images, 3)
    with pytest.raises(ValueError, match="rows_kept"):
        CompletionExplorer(model, images, K, rows_kept=H + 1)
    with pytest.raises(ValueError, match="shape"):
        CompletionExplorer(model, torch.zeros(2, H, W + 1, dtype=torch.long), K)
    with pytest.raises(TypeError, match="integer data"):
        CompletionExplorer(model, images.float(), K)
    with pytest.raises(ValueError, match="num_completions"):
        CompletionExplorer(model, images, K, num_completions=0)
