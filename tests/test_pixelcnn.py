"""PixelCNN and Gated PixelCNN beyond the shared properties: masks A and B, the blind spot of
the plain model, full coverage of the gated one, completion."""

from __future__ import annotations

import pytest
import torch

from arbook import checks, load, save
from arbook.layers import MaskedConv2d, horizontal_mask, pixelcnn_mask, vertical_mask
from arbook.masks import allowed
from arbook.models import GatedPixelCNN, PixelCNN


def test_masks_a_and_b():
    assert pixelcnn_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert pixelcnn_mask(3, "B").tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    assert vertical_mask(3, include_centre_row=False).tolist() == [[1, 1, 1], [0, 0, 0], [0, 0, 0]]
    assert horizontal_mask(5, include_centre=True).tolist() == [[1, 1, 1, 0, 0]]
    with pytest.raises(ValueError, match="mask_type"):
        pixelcnn_mask(3, "C")
    with pytest.raises(ValueError, match="odd"):
        MaskedConv2d(1, 1, 4, "A")


def test_masked_conv_sees_only_earlier_pixels():
    torch.manual_seed(0)
    conv = MaskedConv2d(1, 1, 5, "A", dilation=2)
    x = torch.randn(1, 1, 9, 9, requires_grad=True)
    conv(x)[0, 0, 4, 4].backward()
    seen = x.grad[0, 0] != 0
    rows, cols = seen.nonzero().T.tolist()
    assert all(r < 4 or (r == 4 and c < 4) for r, c in zip(rows, cols, strict=True))
    assert seen[0, 0] and seen[4, 2], "dilation 2 reaches two pixels away per tap"
    assert conv(torch.randn(2, 1, 9, 9)).shape == (2, 1, 9, 9)


def _coverage(model):
    deps = checks.dependencies(model)
    return deps, allowed(model.order)


def test_plain_pixelcnn_has_a_blind_spot_but_no_leak():
    torch.manual_seed(0)
    model = PixelCNN(2, (6, 6), channels=8, num_layers=4, kernel_size=3, first_kernel_size=3)
    deps, ok = _coverage(model)
    assert not (deps & ~ok).any(), "nothing may depend on a later pixel"
    # Pixel (3, 1) never sees (1, 5): up and to the right lies outside every stacked mask.
    assert ok[3 * 6 + 1, 1 * 6 + 5] and not deps[3 * 6 + 1, 1 * 6 + 5]
    assert (ok & ~deps).sum() > 0


@pytest.mark.parametrize("dilations", [None, [1, 2, 1, 2]])
def test_gated_pixelcnn_sees_every_earlier_pixel(dilations):
    torch.manual_seed(0)
    model = GatedPixelCNN(2, (6, 6), channels=8, num_layers=4, dilations=dilations)
    deps, ok = _coverage(model)
    assert torch.equal(deps, ok), "no leak and no blind spot"


def test_a_shallow_gated_pixelcnn_is_still_causal():
    model = GatedPixelCNN(2, (8, 8), channels=4, num_layers=1)
    deps, ok = _coverage(model)
    assert not (deps & ~ok).any() and (ok & ~deps).any()


def test_complete_keeps_the_given_rows():
    torch.manual_seed(0)
    model = GatedPixelCNN(4, (5, 5), channels=8, num_layers=2)
    images = torch.randint(4, (3, 5, 5), generator=torch.Generator().manual_seed(1))
    done = model.complete(images, rows_kept=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(done[:, :2], images[:, :2])
    assert done.shape == images.shape and done.min() >= 0 and done.max() < 4
    again = model.complete(images, rows_kept=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(done, again)
    assert torch.equal(model.complete(images, rows_kept=5), images)
    for bad in (-1, 6, 2.0):
        with pytest.raises(ValueError, match="rows_kept"):
            model.complete(images, rows_kept=bad)
    with pytest.raises(TypeError, match="integer data"):
        model.complete(images.float(), rows_kept=1)


def test_complete_samples_from_the_conditional():
    """With every row but the last kept, the last row's frequencies follow the model."""
    torch.manual_seed(0)
    model = PixelCNN(2, (2, 2), channels=8, num_layers=1, first_kernel_size=3).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    top = torch.tensor([[1, 0]])
    rows = torch.tensor([[a, b] for a in range(2) for b in range(2)])
    full = torch.cat([top.expand(4, 2).unsqueeze(1), rows.unsqueeze(1)], dim=1)  # [4, 2, 2]
    probs = model.log_prob(full).exp()
    probs = probs / probs.sum()
    draws = model.complete(
        full[:1].expand(20000, 2, 2).contiguous(),
        rows_kept=1,
        generator=torch.Generator().manual_seed(0),
    )
    codes = draws[:, 1, 0] * 2 + draws[:, 1, 1]
    freq = torch.bincount(codes, minlength=4).double() / len(codes)
    torch.testing.assert_close(freq, probs.double(), atol=0.015, rtol=0)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = GatedPixelCNN(3, (4, 4), channels=8, num_layers=2, dilations=[1, 2]).eval()
    loaded = load(save(model, tmp_path / "g.pt"))
    x = torch.randint(3, (2, 4, 4))
    torch.testing.assert_close(loaded.log_prob(x), model.log_prob(x))
    assert loaded.config == model.config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_shape": (4,)}, "height, width"),
        ({"image_shape": (4, 4), "channels": 0}, "channels"),
        ({"image_shape": (4, 4), "num_layers": 2, "dilations": [1]}, "dilations"),
    ],
)
def test_bad_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GatedPixelCNN(2, **kwargs)
