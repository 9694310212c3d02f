"""Layers that respect an autoregressive order.

* :class:`MaskedLinear` -- a linear layer whose weight is multiplied by a fixed 0/1 mask
  (MADE; chapter "Masks and MADE").
* :class:`MaskedConv2d` -- a convolution whose kernel is masked so that a pixel sees only the
  pixels before it in raster order (PixelCNN, mask types A and B).
* :class:`GatedMaskedConv2d` -- one layer of the Gated PixelCNN: a vertical and a horizontal
  stack with gated activations, the vertical-to-horizontal link and a residual connection.
* :class:`CausalConv1d` -- a dilated 1-D convolution padded on the left only, so output ``t``
  sees inputs ``t, t - d, ..., t - (k - 1) d`` and nothing later (WaveNet).
* :class:`CausalSelfAttention` -- multi-head self-attention in which position ``t`` attends to
  positions ``<= t`` only, with an optional key/value cache (GPT).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from arbook.masks import causal_mask


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
        """How far back each kernel tap reads (``lags[i]`` for ``weight[:, :, i]``)."""
        k, d = self.kernel_size[0], self.dilation[0]
        return [(k - 1 - i) * d for i in range(k)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_padding, 0)))


class KVCache:
    """Keys and values of the positions read so far, for one attention layer: one tensor
    ``kv [B, 2, H, capacity, d]`` allocated once and filled as positions arrive.
    :meth:`append` returns the filled part of the keys and of the values, ``[B, H, length, d]``."""

    def __init__(
        self, batch: int, heads: int, capacity: int, head_size: int, like: torch.Tensor
    ) -> None:
        self.kv = like.new_zeros(batch, 2, heads, capacity, head_size)
        self.length = 0

    def append_packed(self, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store keys and values ``kv [B, 2, H, T, d]`` after the positions already held;
        return all the keys and values."""
        end = self.length + kv.shape[3]
        if end > self.kv.shape[3]:
            raise ValueError(
                f"the cache holds {self.kv.shape[3]} positions; cannot add {kv.shape[3]} "
                f"to {self.length}"
            )
        self.kv[:, :, :, self.length : end] = kv
        self.length = end
        return self.kv[:, 0, :, :end], self.kv[:, 1, :, :end]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k, v [B, H, T, d]`` after the positions already held; return all of them."""
        return self.append_packed(torch.stack([k, v], dim=1))

    def truncate(self, length: int) -> None:
        """Forget every position from ``length`` on (roll back to an earlier length): the next
        :meth:`append` writes over them. Speculative sampling uses it to drop the keys and
        values of rejected draft symbols."""
        if isinstance(length, bool) or not isinstance(length, int):
            raise TypeError(f"length must be an integer, got {length!r}")
        if not 0 <= length <= self.length:
            raise ValueError(
                f"length must be in [0, {self.length}] (the positions held), got {length}"
            )
        self.length = length

    def nbytes(self) -> int:
        """Bytes of the keys and values held so far."""
        batch, _, heads, _, head_size = self.kv.shape
        return 2 * batch * heads * self.length * head_size * self.kv.element_size()


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention on ``[B, T, C]``: ``softmax(q k^T / sqrt(d) + mask) v``.

    Two interchangeable paths compute the same thing:

    * ``explicit=True``: the scores, the causal mask (a real ``[T, T]`` tensor, -inf above the
      diagonal) and the softmax written out, as in the chapter; :meth:`attention` returns the
      weights for drawing;
    * ``explicit=False`` (default): ``torch.nn.functional.scaled_dot_product_attention``, which
      uses fused kernels (flash attention on a GPU).

    ``causal = False`` removes the mask (every position sees the whole sequence): the leak that
    the chapter and the tests use to show what the mask is for. With a :class:`KVCache`, the
    queries are the newest positions and attend to everything cached before them.
    """

    def __init__(
        self, embed_dim: int, num_heads: int, dropout: float = 0.0, *, explicit: bool = False
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be a multiple of num_heads ({num_heads})"
            )
        self.num_heads, self.head_size = num_heads, embed_dim // num_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)
        self.explicit = explicit
        self.causal = True

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        return tuple(
            z.view(b, t, self.num_heads, self.head_size).transpose(1, 2) for z in (q, k, v)
        )

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights ``[B, H, T, T]`` (rows sum to 1; zero above the diagonal)."""
        q, k, _ = self._heads(x)
        return self._weights(q, k)

    def _weights(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_size)
        if self.causal:
            mask = causal_mask(q.shape[2], k.shape[2], device=q.device)
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(dim=-1)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self._heads(x)
        if cache is not None:
            k, v = cache.append(k, v)
        dropout = self.dropout if self.training else 0.0
        if self.explicit:
            weights = F.dropout(self._weights(q, k), dropout, self.training)
            y = weights @ v
        elif not self.causal or t == 1:  # one new query attends to everything before it
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        elif t == k.shape[2]:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:  # several new queries after cached ones: the mask is offset
            mask = causal_mask(t, k.shape[2], device=x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(b, t, c)))
