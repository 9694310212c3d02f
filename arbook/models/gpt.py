"""GPT: a decoder-only Transformer over symbols (Radford et al., 2018, 2019).

Each symbol is embedded, a learned position embedding is added, and ``n_layer`` pre-norm blocks
follow: ``x + attention(LayerNorm(x))`` then ``x + MLP(LayerNorm(x))`` (the MLP four times as wide,
with GPT-2's tanh approximation of the GELU). A final LayerNorm and
the transposed input embedding (tied weights) give the logits. The input at step ``t`` is
``x_{t-1}`` (a learned start vector at ``t = 0``) and attention is causal
(:class:`~arbook.layers.CausalSelfAttention`), so the logits at ``t`` depend on ``x_<t`` only.
Weights start GPT-2 style: normal with standard deviation 0.02, and the projections that write
into the residual stream scaled down by ``sqrt(2 n_layer)``.

**Context.** The network reads at most ``block_size`` inputs (start vector and symbols). Write
``s = (start, x_0, x_1, ...)``: the logits of ``x_t`` are read at ``s_t`` from the window
``s[w(t) .. t]``, positions numbered from the window's start. For ``t < block_size`` the window
starts at the start vector (``w = 0``). Beyond, the context **slides in steps of** ``stride``
symbols: ``w(t) = stride * ((t - block_size) // stride + 1)``, so every conditional sees
between ``block_size - stride + 1`` and ``block_size`` previous symbols. ``stride = 1`` is the
plain sliding window (always the last ``block_size`` symbols); the default, half a block, lets
the cache below keep its keys and values for half a block at a time.
:meth:`~GPT.log_prob` and both generation paths use the same windows, so they agree exactly.

**KV cache.** Generation keeps every layer's keys and values (:class:`~arbook.layers.KVCache`):
:meth:`GPT.prefill` reads the prompt in one pass, and each :meth:`GPT.extend` computes one new
position, attending to the cached ones. When the window slides, the cache is rebuilt from the
symbols the new window keeps (one pass of ``block_size - stride`` symbols every ``stride``
steps). ``sample(..., use_cache=False)`` recomputes the whole window for every symbol.

Chapter "Transformers and GPT".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from arbook.layers import CausalSelfAttention, KVCache
from arbook.models.base import check_positive
from arbook.models.sequence import SequenceModel


class Block(nn.Module):
    """One pre-norm Transformer block: attention, then a 4x-wide GELU MLP, each residual."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(approximate="tanh"),  # GPT-2's GELU
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.mlp(self.ln2(x))

    def step_weights(self) -> tuple:
        """The tensors :meth:`step` reads, gathered once per generation."""
        ln1, attn, ln2, (fc, _, out, _) = self.ln1, self.attn, self.ln2, self.mlp
        return (
            (ln1.weight, ln1.bias, ln1.eps),
            (attn.qkv.weight, attn.qkv.bias, attn.n_head, attn.head_size),
            (attn.proj.weight, attn.proj.bias),
            (ln2.weight, ln2.bias, ln2.eps),
            (fc.weight, fc.bias, out.weight, out.bias),
        )

    @staticmethod
    def step(x: torch.Tensor, cache: KVCache, weights: tuple) -> torch.Tensor:
        """:meth:`forward` for one new position ``x [B, C]`` in evaluation mode: the same
        arithmetic in plain functions on 2-D tensors, with the block's tensors from
        :meth:`step_weights`. Generating one token is a chain of matrix-vector products, so the
        calls around them cost as much as the products themselves."""
        (g1, b1, eps1), (wqkv, bqkv, heads, size), (wp, bp), (g2, b2, eps2), (w1, c1, w2, c2) = (
            weights
        )
        batch, width = x.shape
        qkv = F.linear(F.layer_norm(x, (width,), g1, b1, eps1), wqkv, bqkv)
        qkv = qkv.view(batch, 3, heads, 1, size)
        keys, values = cache.append_packed(qkv[:, 1:])
        y = F.scaled_dot_product_attention(qkv[:, 0], keys, values)  # [B, H, 1, d]
        x = x + F.linear(y.view(batch, width), wp, bp)
        h = F.layer_norm(x, (width,), g2, b2, eps2)
        return x + F.linear(F.gelu(F.linear(h, w1, c1), approximate="tanh"), w2, c2)


@dataclass
class GPTState:
    """Generation state: the caches, the symbols of the current window (without the start
    vector) and ``t``, the index in ``s`` of the newest input read."""

    caches: list[KVCache]
    window: torch.Tensor  # [B, n] symbols s[max(w, 1) .. t]
    start: int  # w: where the window starts in s
    t: int
    #: the blocks' tensors for :meth:`Block.step`, or None where the general path must run
    #: (training mode, the explicit or the unmasked attention)
    steps: list[tuple] | None = None


class GPT(SequenceModel):
    """A GPT over ``num_classes`` symbols.

    Args:
        num_classes: vocabulary size.
        block_size: the most inputs (start vector and symbols) the network reads at once.
        n_layer, n_head, n_embd: blocks, attention heads and width.
        dropout: dropout on attention weights, residual branches and embeddings (training only).
        length: default number of symbols :meth:`sample` generates (default ``block_size``).
        stride: how far the context slides beyond ``block_size`` (default ``block_size // 2``;
            see the module docstring).
        stop_index: see :class:`~arbook.models.sequence.SequenceModel`.
    """

    def __init__(
        self,
        num_classes: int,
        block_size: int,
        n_layer: int,
        n_head: int,
        n_embd: int,
        dropout: float = 0.0,
        *,
        length: int | None = None,
        stride: int | None = None,
        stop_index: int | None = None,
    ) -> None:
        check_positive(block_size=block_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
        length = block_size if length is None else length
        stride = max(1, block_size // 2) if stride is None else stride
        super().__init__(num_classes, length, stop_index)
        check_positive(stride=stride)
        if stride > block_size:
            raise ValueError(f"stride must be in [1, block_size={block_size}], got {stride}")
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be a multiple of n_head ({n_head})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.config = dict(
            num_classes=num_classes,
            block_size=block_size,
            n_layer=n_layer,
            n_head=n_head,
            n_embd=n_embd,
            dropout=dropout,
            length=length,
            stride=stride,
            stop_index=stop_index,
        )
        self.block_size, self.stride = block_size, stride
        self.wte = nn.Embedding(num_classes, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.start = nn.Parameter(torch.zeros(n_embd))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self._init_weights(n_layer)

    def _init_weights(self, n_layer: int) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.start, std=0.02)
        for block in self.blocks:  # the layers that add into the residual stream
            nn.init.normal_(block.attn.proj.weight, std=0.02 / math.sqrt(2 * n_layer))
            nn.init.normal_(block.mlp[2].weight, std=0.02 / math.sqrt(2 * n_layer))

    # -- the network ---------------------------------------------------------------------------

    def set_attention(self, *, explicit: bool | None = None, causal: bool | None = None) -> GPT:
        """Switch every attention layer to the explicit masked softmax (``explicit=True``) or to
        ``scaled_dot_product_attention``, and (for demonstrations only) remove the causal mask
        with ``causal=False``. Returns the model."""
        for block in self.blocks:
            if explicit is not None:
                block.attn.explicit = explicit
            if causal is not None:
                block.attn.causal = causal
        return self

    def window_start(self, t: int) -> int:
        """``w(t)``: where in ``s = (start, x_0, ...)`` the window that predicts ``x_t`` starts."""
        if t < self.block_size:
            return 0
        return self.stride * ((t - self.block_size) // self.stride + 1)

    def _run(self, h: torch.Tensor, caches: list[KVCache] | None = None) -> torch.Tensor:
        """Logits ``[B, T, K]`` of input features ``h [B, T, C]`` that continue the positions
        already in ``caches`` (or start a window)."""
        offset = caches[0].length if caches else 0
        positions = torch.arange(offset, offset + h.shape[1], device=h.device)
        x = self.drop(h + self.wpe(positions))
        for i, block in enumerate(self.blocks):
            x = block(x, caches[i] if caches else None)
        return self.ln_f(x) @ self.wte.weight.t()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Symbol embeddings ``[B, T, C]``."""
        return self.wte(x)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        batch, length, _ = h.shape
        s = torch.cat([self.start.expand(batch, 1, -1), h[:, :-1]], dim=1)  # inputs s_0..s_{T-1}
        first = min(length, self.block_size)
        pieces = [self._run(s[:, :first])]
        t = first
        while t < length:  # the positions sharing the window that starts at w(t)
            w = self.window_start(t)
            last = min(length, w + self.block_size)
            pieces.append(self._run(s[:, w:last])[:, t - w :])
            t = last
        return torch.cat(pieces, dim=1)

    # -- generation ----------------------------------------------------------------------------

    def _window(self, tokens: torch.Tensor, t: int) -> tuple[torch.Tensor, int]:
        """Input features of the window ending at ``s_t``, given the symbols ``tokens`` =
        ``x_0 .. x_{t-1}`` (or a suffix of them that covers the window)."""
        w = self.window_start(t)
        if w == 0:
            start = self.start.expand(tokens.shape[0], 1, -1)
            return torch.cat([start, self.wte(tokens[:, tokens.shape[1] - t :])], dim=1), w
        return self.wte(tokens[:, tokens.shape[1] - (t - w + 1) :]), w

    def recompute(self, prefix: torch.Tensor) -> torch.Tensor:
        h, _ = self._window(prefix, prefix.shape[1])
        return self._run(h)[:, -1]

    def new_caches(self, batch: int) -> list[KVCache]:
        """Empty key/value caches for ``batch`` sequences, one per block."""
        n_head = self.config["n_head"]
        head_size = self.config["n_embd"] // n_head
        return [KVCache(batch, n_head, self.block_size, head_size, self.start) for _ in self.blocks]

    def _fill(self, tokens: torch.Tensor, t: int) -> tuple[torch.Tensor, GPTState]:
        """Read the window ending at ``s_t`` into fresh caches."""
        h, w = self._window(tokens, t)
        caches = self.new_caches(tokens.shape[0])
        logits = self._run(h, caches)[:, -1]
        kept = tokens[:, tokens.shape[1] - (t - max(w, 1) + 1) :] if t else tokens[:, :0]
        plain = not self.training and all(
            b.attn.causal and not b.attn.explicit for b in self.blocks
        )
        steps = [b.step_weights() for b in self.blocks] if plain else None
        return logits, GPTState(caches, kept, w, t, steps)

    def prefill(self, prompt: torch.Tensor) -> tuple[torch.Tensor, GPTState]:
        return self._fill(prompt, prompt.shape[1])

    def extend(self, token: torch.Tensor, state: GPTState) -> tuple[torch.Tensor, GPTState]:
        t = state.t + 1
        window = torch.cat([state.window, token[:, None]], dim=1)
        if self.window_start(t) != state.start:  # the window slides: rebuild the caches
            return self._fill(window, t)
        if state.steps is None:
            logits = self._run(self.wte(token)[:, None], state.caches)[:, -1]
        else:
            x = self.wte.weight[token] + self.wpe.weight[state.caches[0].length]
            for weights, cache in zip(state.steps, state.caches, strict=True):
                x = Block.step(x, cache, weights)
            logits = F.linear(
                F.layer_norm(x, x.shape[-1:], self.ln_f.weight, self.ln_f.bias, self.ln_f.eps),
                self.wte.weight,
            )
        return logits, GPTState(state.caches, window, state.start, t, state.steps)

    def cache_bytes(self, state: GPTState) -> int:
        """Memory of the keys and values held in ``state``."""
        return sum(cache.nbytes() for cache in state.caches)


__all__ = ["GPT", "Block", "GPTState"]
