"""PixelCNN and Gated PixelCNN (van den Oord et al., 2016): images pixel by pixel.

Both read integer images ``[B, H, W]`` with ``K`` levels and return logits ``[B, H, W, K]`` in
raster order (row by row, left to right): the logits of pixel ``(i, j)`` depend only on the
pixels above it and to its left in the same row.

* :class:`PixelCNN` stacks masked convolutions (mask A, then B). Its receptive field has a
  *blind spot*: pixels above and to the right that it never sees.
* :class:`GatedPixelCNN` splits the work into a vertical stack (the rows above) and a
  horizontal stack (the row so far), with gated activations and residual connections; the two
  stacks together see every earlier pixel.

Sampling draws the ``H * W`` pixels one at a time; :meth:`PixelCNN.complete` fills in the bottom
of given images. Chapter "PixelCNN".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from arbook.layers import GatedMaskedConv2d, MaskedConv2d
from arbook.models.base import AutoregressiveModel, check_count, check_positive


class _ImageModel(AutoregressiveModel):
    """What both PixelCNNs share: one-hot input, the output head, completion."""

    def __init__(self, num_classes: int, image_shape: Sequence[int]) -> None:
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 2:
            raise ValueError(f"image_shape must be (height, width), got {image_shape}")
        super().__init__(num_classes, image_shape)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot pixels ``[B, H, W, K]``."""
        return F.one_hot(x, self.num_classes).to(self.dtype)

    def _head(self, channels: int, hidden: int) -> nn.Sequential:
        return nn.Sequential(
            nn.ELU(),
            nn.Conv2d(channels, hidden, 1),
            nn.ELU(),
            nn.Conv2d(hidden, self.num_classes, 1),
        )

    def complete(
        self, images: torch.Tensor, rows_kept: int, **sampling_options: Any
    ) -> torch.Tensor:
        """Keep the first ``rows_kept`` rows of ``images [B, H, W]`` and sample the rest.

        The kept rows are returned unchanged; every later pixel is drawn from the model's
        conditional given everything above and to its left. It is
        :meth:`~arbook.models.base.AutoregressiveModel.sample` with the kept rows as its prefix,
        ``sample(len(images), prefix=prefix_of(images, rows_kept * W), **sampling_options)``,
        and takes the same ``sampling_options`` (temperature, top_k, top_p, greedy, generator).
        """
        self.check_data(images)
        check_count(len(images), "the number of images to complete")
        height, width = self.event_shape
        if (
            isinstance(rows_kept, bool)
            or not isinstance(rows_kept, int)
            or not 0 <= rows_kept <= height
        ):
            raise ValueError(f"rows_kept must be an integer in [0, {height}], got {rows_kept!r}")
        return self.sample(
            len(images), prefix=self.prefix_of(images, rows_kept * width), **sampling_options
        )


class PixelCNN(_ImageModel):
    """The plain PixelCNN: a mask-A convolution, then residual blocks of mask-B convolutions.

    Args:
        num_classes: grey levels ``K``.
        image_shape: ``(H, W)``.
        channels: feature maps per layer.
        num_layers: residual mask-B layers after the first.
        kernel_size: kernel of the mask-B layers; ``first_kernel_size`` of the mask-A layer.
    """

    def __init__(
        self,
        num_classes: int,
        image_shape: Sequence[int],
        channels: int = 64,
        num_layers: int = 5,
        kernel_size: int = 3,
        first_kernel_size: int = 7,
    ) -> None:
        super().__init__(num_classes, image_shape)
        check_positive(channels=channels, num_layers=num_layers)
        self.first = MaskedConv2d(num_classes, channels, first_kernel_size, "A")
        self.layers = nn.ModuleList(
            MaskedConv2d(channels, channels, kernel_size, "B") for _ in range(num_layers)
        )
        self.head = self._head(channels, channels)

    def network(self, h: torch.Tensor) -> torch.Tensor:
        h = self.first(h.permute(0, 3, 1, 2))  # [B, C, H, W]
        for layer in self.layers:
            h = h + layer(F.relu(h))
        return self.head(h).permute(0, 2, 3, 1)  # [B, H, W, K]


class GatedPixelCNN(_ImageModel):
    """The Gated PixelCNN: vertical and horizontal stacks with gated activations, no blind spot.

    Args:
        num_classes: grey levels ``K``.
        image_shape: ``(H, W)``.
        channels: feature maps per stack.
        num_layers: gated layers after the first (strict) one.
        kernel_size: kernel size of every layer.
        dilations: optional dilation of each of the ``num_layers`` layers (widens the
            receptive field without more layers).
        head_channels: width of the 1x1 output layers.
        dropout: dropout on each gated layer's output before its residual 1x1 convolution
            (a regulariser for small data sets).
    """

    def __init__(
        self,
        num_classes: int,
        image_shape: Sequence[int],
        channels: int = 64,
        num_layers: int = 6,
        kernel_size: int = 3,
        dilations: Sequence[int] | None = None,
        head_channels: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(num_classes, image_shape)
        check_positive(channels=channels, num_layers=num_layers)
        dilations = [1] * num_layers if dilations is None else [int(d) for d in dilations]
        if len(dilations) != num_layers or any(d < 1 for d in dilations):
            raise ValueError(f"dilations must be {num_layers} positive integers, got {dilations}")
        head_channels = head_channels or channels
        self.dilations, self.head_channels = dilations, head_channels
        self.first = GatedMaskedConv2d(channels, kernel_size, first=True, in_channels=num_classes)
        self.layers = nn.ModuleList(
            GatedMaskedConv2d(channels, kernel_size, dilation=d, dropout=dropout) for d in dilations
        )
        self.head = self._head(channels, head_channels)

    def network(self, h: torch.Tensor) -> torch.Tensor:
        h = h.permute(0, 3, 1, 2)  # [B, K, H, W]
        v, h = self.first(h, h)
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h).permute(0, 2, 3, 1)  # [B, H, W, K]


__all__ = ["GatedPixelCNN", "PixelCNN"]
