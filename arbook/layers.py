"""Layers that respect an autoregressive order.

* :class:`MaskedLinear` -- a linear layer whose weight is multiplied by a fixed 0/1 mask
  (MADE; chapter "Masks and MADE").
* :class:`MaskedConv2d` -- a convolution whose kernel is masked so that a pixel sees only the
  pixels before it in raster order (PixelCNN, mask types A and B).
* :class:`GatedMaskedConv2d` -- one layer of the Gated PixelCNN: a vertical and a horizontal
  stack with gated activations, the vertical-to-horizontal link and a residual connection.
* :class:`CausalConv1d` -- a dilated 1-D convolution padded on the left only, so output ``t``
  sees inputs ``t, t - d, ..., t - (k - 1) d`` and nothing later (WaveNet).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """``y = x @ (W * M).T + b`` with a fixed mask ``M`` of shape ``[out_features, in_features]``.

    The mask is a buffer, so it moves with the module and is saved in its state dict. Masked
    weights still exist but never influence the output, and their gradient is exactly zero.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.ones(out_features, in_features))

    def set_mask(self, mask: torch.Tensor) -> None:
        """Replace the mask (e.g. to switch MADE to another ordering)."""
        if mask.shape != self.weight.shape:
            raise ValueError(
                f"mask shape {tuple(mask.shape)} does not match weight shape {tuple(self.weight.shape)}"
            )
        self.mask.copy_(mask.to(self.mask.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        kept = int(self.mask.sum().item())
        return f"{super().extra_repr()}, kept={kept}/{self.mask.numel()}"


def pixelcnn_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """The ``[k, k]`` kernel mask of a PixelCNN convolution in raster order.

    Rows above the centre are kept, the centre row is kept left of the centre, and the centre
    itself is kept for type ``"B"`` (a later layer: the feature at a pixel already depends only
    on earlier pixels) and removed for type ``"A"`` (the first layer: a pixel must not see its
    own value).
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    centre = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:centre] = 1
    mask[centre, :centre] = 1
    if mask_type == "B":
        mask[centre, centre] = 1
    return mask


class _FixedMaskConv2d(nn.Conv2d):
    """A 2-D convolution whose kernel is multiplied by a fixed ``[kh, kw]`` mask, with the
    padding that keeps the image size (kernels may be non-square and off-centre)."""

    def __init__(
        self, in_channels: int, out_channels: int, mask: torch.Tensor, dilation: int = 1
    ) -> None:
        kh, kw = mask.shape
        super().__init__(in_channels, out_channels, (kh, kw), dilation=dilation, padding=0)
        self.register_buffer("mask", mask.expand_as(self.weight).clone())
        self.pad = (
            dilation * (kw // 2),
            dilation * (kw // 2),
            dilation * (kh // 2),
            dilation * (kh // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(
            F.pad(x, self.pad), self.weight * self.mask, self.bias, dilation=self.dilation
        )


class MaskedConv2d(_FixedMaskConv2d):
    """A ``k x k`` convolution that only sees earlier pixels in raster order (PixelCNN).

    Mask type ``"A"`` (first layer) excludes the centre pixel, ``"B"`` (later layers) includes
    it; see :func:`pixelcnn_mask`. The output has the input's height and width. Stacking these
    layers leaves a *blind spot*: pixels above and to the right that no path reaches (chapter
    "PixelCNN"). For colour images the mask would additionally order the channels R, G, B
    within a pixel; single-channel images need no channel mask.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        mask_type: str,
        dilation: int = 1,
    ) -> None:
        super().__init__(in_channels, out_channels, pixelcnn_mask(kernel_size, mask_type), dilation)
        self.mask_type = mask_type


def vertical_mask(kernel_size: int, include_centre_row: bool) -> torch.Tensor:
    """Kernel mask of the vertical stack: every row above the centre, all columns (and the centre
    row too when ``include_centre_row``). It grows a rectangle upwards: no blind spot."""
    centre = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[: centre + int(include_centre_row)] = 1
    return mask


def horizontal_mask(kernel_size: int, include_centre: bool) -> torch.Tensor:
    """Kernel mask ``[1, k]`` of the horizontal stack: pixels to the left in the same row
    (and the pixel itself when ``include_centre``)."""
    centre = kernel_size // 2
    mask = torch.zeros(1, kernel_size)
    mask[0, : centre + int(include_centre)] = 1
    return mask


class GatedMaskedConv2d(nn.Module):
    """One Gated PixelCNN layer (van den Oord et al., 2016) on ``(vertical, horizontal)`` features.

    * vertical stack: a convolution over the rows above (and, after the first layer, the current
      row of vertical features, which themselves only see rows above), gated:
      ``v_out = tanh(a) * sigmoid(b)``;
    * horizontal stack: a convolution over the pixels to the left in the same row, plus a 1x1
      link from the vertical features at the same pixel (they see only rows above), gated, then a
      1x1 convolution and a residual connection ``h_out = h + conv(gated)``.

    ``first=True`` makes the layer strict (no current row in the vertical stack, no centre in
    the horizontal stack), so that no feature ever depends on its own pixel's value. The two
    stacks together cover every pixel above and to the left: no blind spot.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        *,
        first: bool = False,
        in_channels: int | None = None,
        dilation: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels = channels if in_channels is None else in_channels
        self.first = first
        self.vertical = _FixedMaskConv2d(
            in_channels, 2 * channels, vertical_mask(kernel_size, not first), dilation
        )
        self.horizontal = _FixedMaskConv2d(
            in_channels, 2 * channels, horizontal_mask(kernel_size, not first), dilation
        )
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)
        self.residual = not first and in_channels == channels

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_feat = self.vertical(v)  # [B, 2C, H, W]
        v_a, v_b = v_feat.chunk(2, dim=1)
        v_out = torch.tanh(v_a) * torch.sigmoid(v_b)
        h_feat = self.horizontal(h) + self.link(v_feat)
        h_a, h_b = h_feat.chunk(2, dim=1)
        h_out = self.out(self.dropout(torch.tanh(h_a) * torch.sigmoid(h_b)))
        if self.residual:
            h_out = h_out + h
        return v_out, h_out


class CausalConv1d(nn.Conv1d):
    """A dilated 1-D convolution that never looks ahead: ``[B, C_in, T] -> [B, C_out, T]``.

    Output ``t`` is ``b + sum_i W[:, :, i] @ x[t - (k - 1 - i) * dilation]``: the input at ``t``
    and ``k - 1`` earlier ones, ``dilation`` apart, with zeros before the start (padding on the
    left only). A stack with dilations 1, 2, 4, ... therefore sees ``1 + (k - 1)(1 + 2 + 4 +
    ...)`` inputs (its *receptive field*) at the cost of one layer per doubling (WaveNet).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 2, dilation: int = 1
    ) -> None:
        for name, value in (("kernel_size", kernel_size), ("dilation", dilation)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_padding = (kernel_size - 1) * dilation

    @property
    def lags(self) -> list[int]:
        """How far back each kernel tap reads: ``lags[i]`` for ``weight[:, :, i]``."""
        k, d = self.kernel_size[0], self.dilation[0]
        return [(k - 1 - i) * d for i in range(k)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_padding, 0)))
