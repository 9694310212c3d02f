"""Layers that respect an autoregressive order.

* :class:`MaskedLinear` -- a linear layer whose weight is multiplied by a fixed 0/1 mask
  (MADE; chapter "Masks and MADE").
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
