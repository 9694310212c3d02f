"""GPT: a decoder-only Transformer over symbols (Radford et al., 2018, 2019).

Each symbol is embedded, a learned position embedding is added, and ``num_layers`` pre-norm blocks
follow: ``x + attention(LayerNorm(x))`` then ``x + MLP(LayerNorm(x))`` (the MLP four times as wide,
with GPT-2's tanh approximation of the GELU). A final LayerNorm and
the transposed input embedding (tied weights) give the logits. The input at step ``t`` is
``x_{t-1}`` (a learned start vector at ``t = 0``) and attention is causal
(:class:`~arbook.layers.CausalSelfAttention`), so the logits at ``t`` depend on ``x_<t`` only.
Weights start GPT-2 style: normal with standard deviation 0.02, and the projections that write
into the residual stream scaled down by ``sqrt(2 num_layers)``.

**Context.** The network reads at most ``block_size`` inputs (start vector and symbols). Write
``s = (start, x_0, x_1, ...)``: the logits of ``x_t`` are read at ``s_t`` from the window
``s[w(t) .. t]``, positions numbered from the window's start. For ``t < block_size`` the window
starts at the start vector (``w = 0``). Beyond, the context **slides in steps of** ``stride``
symbols: ``w(t) = stride * ((t - block_size) // stride + 1)``, so every conditional sees
between ``block_size - stride + 1`` and ``block_size`` previous symbols. ``stride = 1`` is the
plain sliding window (always the last ``block_size`` symbols); the default, half a block, lets
the cache below keep its keys and values for half a block at a time.
:meth:`~arbook.models.base.AutoregressiveModel.log_prob` and both generation paths use the same windows, so they agree exactly.

**KV cache.** Generation keeps every layer's keys and values (:class:`~arbook.layers.KVCache`):
:meth:`GPT.prefill` reads the prompt in one pass, and each :meth:`GPT.extend` computes one new
position, attending to the cached ones. When the window slides, the cache is rebuilt from the
symbols the new window keeps (one pass of ``block_size - stride`` symbols every ``stride``
steps). ``sample(..., use_cache=False)`` recomputes the whole window for every symbol.

**Several positions at once, and going back.** :meth:`GPT.extend_many` appends ``m`` symbols in
one pass (the new queries attend to the cache and, causally, to each other) and returns the
logits after each of them: what ``m`` calls of :meth:`~GPT.extend` return, including across a
slide of the window. :meth:`GPT.rollback` returns to an earlier length: within the current
window it cuts the caches (:meth:`~arbook.layers.KVCache.truncate`); if the earlier length
belongs to an earlier window, it rebuilds that window from the symbols. Together they are what
speculative sampling (:mod:`arbook.speculative`) needs: score ``k`` proposed symbols in one
pass, then forget the rejected ones.

**Reading order.** The file gives the architecture first -- :class:`Block`, then :class:`GPT`'s
network and the contract -- and the generation path after it: :class:`GPT`'s generation methods,
the state they carry (:class:`GPTState`) and, last, :class:`BlockStep`, one block's arithmetic for
new positions during generation.

Chapter "Transformers and GPT".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from arbook.layers import CausalSelfAttention, KVCache
from arbook.masks import causal_mask
from arbook.models.base import check_positive
from arbook.models.sequence import SequenceModel

# -- the architecture ------------------------------------------------------------------------------


class Block(nn.Module):
    """One pre-norm Transformer block: attention, then a 4x-wide GELU MLP, each residual."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(embed_dim)
        self.attn = CausalSelfAttention(embed_dim, num_heads, dropout)
        self.ln2 = nn.LayerNorm(embed_dim)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim, 4 * embed_dim),
            nn.GELU(approximate="tanh"),  # GPT-2's GELU
            nn.Linear(4 * embed_dim, embed_dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.mlp(self.ln2(x))


class GPT(SequenceModel):
    """A GPT over ``num_classes`` symbols (every other argument by name).

    Args:
        num_classes: vocabulary size.
        block_size: the most inputs (start vector and symbols) the network reads at once.
        num_layers: Transformer blocks.
        num_heads: attention heads per block.
        embed_dim: width of the residual stream (a multiple of ``num_heads``).
        dropout: dropout on attention weights, residual branches and embeddings (training only).
        length: default number of symbols
            :meth:`~arbook.models.base.AutoregressiveModel.sample` generates (default
            ``block_size``).
        stride: how far the context slides beyond ``block_size`` (default ``block_size // 2``;
            see the module docstring).
        stop_index: see :class:`~arbook.models.sequence.SequenceModel`.
    """

    #: :meth:`extend` appends to the caches in place; :meth:`rollback` cuts them back.
    state_rollback = "rollback"

    def __init__(
        self,
        num_classes: int,
        *,
        block_size: int,
        num_layers: int,
        num_heads: int,
        embed_dim: int,
        dropout: float = 0.0,
        length: int | None = None,
        stride: int | None = None,
        stop_index: int | None = None,
    ) -> None:
        check_positive(
            block_size=block_size, num_layers=num_layers, num_heads=num_heads, embed_dim=embed_dim
        )
        length = block_size if length is None else length
        stride = max(1, block_size // 2) if stride is None else stride
        super().__init__(num_classes, length, stop_index)
        check_positive(stride=stride)
        if stride > block_size:
            raise ValueError(f"stride must be in [1, block_size={block_size}], got {stride}")
        if embed_dim % num_heads:
            raise ValueError(
                f"embed_dim ({embed_dim}) must be a multiple of num_heads ({num_heads})"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.block_size, self.stride = block_size, stride
        self.num_heads, self.embed_dim = num_heads, embed_dim
        self.wte = nn.Embedding(num_classes, embed_dim)
        self.wpe = nn.Embedding(block_size, embed_dim)
        self.start = nn.Parameter(torch.zeros(embed_dim))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, dropout) for _ in range(num_layers))
        self.ln_f = nn.LayerNorm(embed_dim)
        self._init_weights(num_layers)

    def _init_weights(self, num_layers: int) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.start, std=0.02)
        for block in self.blocks:  # the layers that add into the residual stream
            nn.init.normal_(block.attn.proj.weight, std=0.02 / math.sqrt(2 * num_layers))
            nn.init.normal_(block.mlp[2].weight, std=0.02 / math.sqrt(2 * num_layers))

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

    def _run(
        self,
        h: torch.Tensor,
        caches: list[KVCache] | None = None,
        maps: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, T, K]`` of input features ``h [B, T, C]`` that continue the positions
        already in ``caches`` (or start a window). A list ``maps`` receives every block's
        attention weights ``[B, H, T, T]`` (without caches only)."""
        offset = caches[0].length if caches else 0
        positions = torch.arange(offset, offset + h.shape[1], device=h.device)
        x = self.drop(h + self.wpe(positions))
        for i, block in enumerate(self.blocks):
            if maps is not None:
                maps.append(block.attn.attention(block.ln1(x)))
            x = block(x, caches[i] if caches else None)
        return self.ln_f(x) @ self.wte.weight.t()

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights ``[L, B, H, T, T]`` of every block on ``x [B, T]`` (at most
        ``block_size`` symbols: one window, starting at the start vector).

        Row ``t`` of a map belongs to the position that reads ``s_t`` (``x_{t-1}``, or the start
        vector at ``t = 0``) and predicts ``x_t``; column ``j`` is the weight it gives to the value
        of position ``j <= t``. Rows sum to 1, and with the causal mask everything above the
        diagonal is zero. They are the weights of the very pass that gives
        :meth:`~arbook.models.base.AutoregressiveModel.logits`.
        """
        self.check_data(x)
        if x.shape[1] > self.block_size:
            raise ValueError(
                f"attention_weights reads one window of at most block_size={self.block_size} "
                f"symbols, got {x.shape[1]}"
            )
        s = torch.cat([self.start.expand(x.shape[0], 1, -1), self.wte(x[:, :-1])], dim=1)
        maps: list[torch.Tensor] = []
        self._run(s, maps=maps)
        return torch.stack(maps)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Symbol embeddings ``[B, T, C]``."""
        return self.wte(x)

    def network(self, h: torch.Tensor) -> torch.Tensor:
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

    # -- generation: the key/value cache -----------------------------------------------------------

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
        head_size = self.embed_dim // self.num_heads
        return [
            KVCache(batch, self.num_heads, self.block_size, head_size, self.start)
            for _ in self.blocks
        ]

    def _read_window(
        self, tokens: torch.Tensor, t: int, steps: list[BlockStep] | None = None
    ) -> tuple[torch.Tensor, GPTState]:
        """Read the window ending at ``s_t`` into fresh caches (``steps``: the blocks' tensors
        of the generation this continues, gathered once for all of its windows)."""
        h, w = self._window(tokens, t)
        caches = self.new_caches(tokens.shape[0])
        logits = self._run(h, caches)[:, -1]
        kept = tokens[:, tokens.shape[1] - (t - max(w, 1) + 1) :] if t else tokens[:, :0]
        plain = not self.training and all(
            b.attn.causal and not b.attn.explicit for b in self.blocks
        )
        if not plain:
            steps = None
        elif steps is None:
            steps = [BlockStep(b) for b in self.blocks]
        return logits, GPTState(caches, kept, w, t, steps)

    def prefill(self, prompt: torch.Tensor) -> tuple[torch.Tensor, GPTState]:
        return self._read_window(prompt, prompt.shape[1])

    def extend(self, token: torch.Tensor, state: GPTState) -> tuple[torch.Tensor, GPTState]:
        t = state.t + 1
        window = torch.cat([state.window, token[:, None]], dim=1)
        if self.window_start(t) != state.start:  # the window slides: rebuild the caches
            return self._read_window(window, t, state.steps)
        if state.steps is None:
            logits = self._run(self.wte(token)[:, None], state.caches)[:, -1]
        else:
            x = self.wte.weight[token] + self.wpe.weight[state.caches[0].length]
            for block, cache in zip(state.steps, state.caches, strict=True):
                x = block.step(x, cache)
            logits = F.linear(
                F.layer_norm(x, x.shape[-1:], self.ln_f.weight, self.ln_f.bias, self.ln_f.eps),
                self.wte.weight,
            )
        return logits, GPTState(state.caches, window, state.start, t, state.steps)

    def extend_many(self, tokens: torch.Tensor, state: GPTState) -> tuple[torch.Tensor, GPTState]:
        """Append ``tokens [B, m]`` (``m >= 1``) to the sequence behind ``state``: the logits
        ``[B, m, K]``, where ``[:, i]`` are the logits of the position after ``tokens[:, i]``
        (what the ``i``-th of ``m`` :meth:`extend` calls returns), and the new state.

        The positions that stay in the current window are computed in one pass through the
        caches (a causal mask offset by the cached length); where the window slides, the caches
        are rebuilt exactly as :meth:`extend` rebuilds them, and the rest continues in the new
        window. Like :meth:`extend`, it writes into the caches of ``state``.
        """
        if tokens.dim() != 2 or tokens.shape[1] < 1 or tokens.shape[0] != state.window.shape[0]:
            raise ValueError(
                f"tokens must have shape [{state.window.shape[0]}, m] with m >= 1, "
                f"got {list(tokens.shape)}"
            )
        if tokens.shape[1] == 1:
            logits, state = self.extend(tokens[:, 0], state)
            return logits[:, None], state
        pieces = []
        i, m = 0, tokens.shape[1]
        while i < m:
            t = state.t + 1
            if self.window_start(t) != state.start:  # the window slides at s_t: rebuild
                window = torch.cat([state.window, tokens[:, i : i + 1]], 1)
                logits, state = self._read_window(window, t, state.steps)
                pieces.append(logits[:, None])
                i += 1
                continue
            # s_t .. s_{w + block_size - 1} share the window that starts at w
            j = min(m, i + state.start + self.block_size - t)
            chunk = tokens[:, i:j]
            if state.steps is None:
                pieces.append(self._run(self.wte(chunk), state.caches))
            else:  # evaluation: the blocks' plain functions, as in extend
                offset = state.caches[0].length
                x = self.wte.weight[chunk] + self.wpe.weight[offset : offset + j - i]
                for block, cache in zip(state.steps, state.caches, strict=True):
                    x = block.step_many(x, cache)
                ln_f = self.ln_f
                x = F.layer_norm(x, x.shape[-1:], ln_f.weight, ln_f.bias, ln_f.eps)
                pieces.append(F.linear(x, self.wte.weight))
            window = torch.cat([state.window, chunk], dim=1)
            state = GPTState(state.caches, window, state.start, state.t + j - i, state.steps)
            i = j
        return torch.cat(pieces, dim=1), state

    def rollback(
        self, state: GPTState, length: int, history: torch.Tensor | None = None
    ) -> GPTState:
        """The state after reading only the first ``length`` symbols ``x_0 .. x_{length-1}``
        of the sequence behind ``state`` (``length <= state.t``), ready for :meth:`extend`.

        If the window that predicts ``x_length`` is the current one, the caches are cut to
        its ``length - w + 1`` inputs and nothing is recomputed. If it started earlier (the
        current window slid past it), the caches are rebuilt from ``history``: the symbols
        ``x_0 .. x_{length-1}``, or a suffix of them that covers that window; without it this
        raises ``ValueError``. Like :meth:`extend`, it changes the caches of ``state`` in place,
        so the old state is not to be used afterwards.
        """
        if isinstance(length, bool) or not isinstance(length, int):
            raise TypeError(f"length must be an integer, got {length!r}")
        if not 0 <= length <= state.t:
            raise ValueError(
                f"can only roll back to a length in [0, {state.t}] (the symbols read), got {length}"
            )
        w = self.window_start(length)
        if w == state.start:
            for cache in state.caches:
                cache.truncate(length - w + 1)
            window = state.window[:, : length - max(w, 1) + 1]
            return GPTState(state.caches, window, w, length, state.steps)
        needed = length - max(w, 1) + 1  # the symbols of the earlier window
        if history is None or history.dim() != 2 or history.shape[1] < needed:
            got = None if history is None else list(history.shape)
            raise ValueError(
                f"rolling back to length {length} returns to an earlier window: pass history, "
                f"the symbols x_0 .. x_{length - 1} (at least the last {needed} of them), "
                f"got {got}"
            )
        _, state = self._read_window(history, length, state.steps)
        return state

    def cache_bytes(self, state: GPTState) -> int:
        """Memory of the keys and values held in ``state``."""
        return sum(cache.nbytes() for cache in state.caches)


# -- generation: its state, and one block's step for new positions ---------------------------------


@dataclass
class GPTState:
    """Generation state: the caches, the symbols of the current window (without the start
    vector) and ``t``, the index in ``s`` of the newest input read."""

    caches: list[KVCache]
    window: torch.Tensor  # [B, n] symbols s[max(w, 1) .. t]
    start: int  # w: where the window starts in s
    t: int
    #: every block's :class:`BlockStep`, or None where the general path must run (training
    #: mode, the explicit or the unmasked attention)
    steps: list[BlockStep] | None = None


class BlockStep:
    """One :class:`Block` for new positions during generation, in evaluation mode: the same
    arithmetic as :meth:`Block.forward` in plain functions, reading and extending a key/value
    cache.

    The block's tensors are gathered once per generation, and the weight matrices copied
    transposed, ``[in, out]``: a product ``x @ W^T`` of a single row with a matrix in that
    layout streams it from memory about twice as fast on a CPU as ``F.linear`` does with
    ``[out, in]``, and one generated token reads every weight once. Generating one token is a
    chain of matrix-vector products, so the calls around them cost as much as the products
    themselves.
    """

    def __init__(self, block: Block) -> None:
        ln1, attn, ln2, (fc, _, out, _) = block.ln1, block.attn, block.ln2, block.mlp

        def t(weight: torch.Tensor) -> torch.Tensor:
            return weight.detach().t().contiguous()

        self.ln1 = (ln1.weight, ln1.bias, ln1.eps)
        self.qkv = (t(attn.qkv.weight), attn.qkv.bias, attn.num_heads, attn.head_size)
        self.proj = (t(attn.proj.weight), attn.proj.bias)
        self.ln2 = (ln2.weight, ln2.bias, ln2.eps)
        self.mlp = (t(fc.weight), fc.bias, t(out.weight), out.bias)

    def step(self, x: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """The block's output for one new position ``x [B, C]``, attending to the cache (to
        which its key and value are appended)."""
        (g1, b1, eps1), (wqkv, bqkv, heads, size) = self.ln1, self.qkv
        (wp, bp), (g2, b2, eps2), (w1, c1, w2, c2) = self.proj, self.ln2, self.mlp
        batch, width = x.shape
        qkv = torch.addmm(bqkv, F.layer_norm(x, (width,), g1, b1, eps1), wqkv)
        qkv = qkv.view(batch, 3, heads, 1, size)
        keys, values = cache.append_packed(qkv[:, 1:])
        y = F.scaled_dot_product_attention(qkv[:, 0], keys, values)  # [B, H, 1, d]
        x = x + torch.addmm(bp, y.view(batch, width), wp)
        h = F.layer_norm(x, (width,), g2, b2, eps2)
        return x + torch.addmm(c2, F.gelu(torch.addmm(c1, h, w1), approximate="tanh"), w2)

    def step_many(self, x: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """:meth:`step` for ``m`` new positions ``x [B, m, C]`` at once: each attends to the
        cached positions and, causally, to the new ones before it."""
        (g1, b1, eps1), (wqkv, bqkv, heads, size) = self.ln1, self.qkv
        (wp, bp), (g2, b2, eps2), (w1, c1, w2, c2) = self.proj, self.ln2, self.mlp
        batch, m, width = x.shape
        qkv = torch.matmul(F.layer_norm(x, (width,), g1, b1, eps1), wqkv) + bqkv
        qkv = qkv.view(batch, m, 3, heads, size).permute(0, 2, 3, 1, 4)  # [B, 3, H, m, d]
        keys, values = cache.append_packed(qkv[:, 1:])
        mask = causal_mask(m, keys.shape[2], device=x.device)
        y = F.scaled_dot_product_attention(qkv[:, 0], keys, values, attn_mask=mask)
        x = x + (torch.matmul(y.transpose(1, 2).reshape(batch, m, width), wp) + bp)
        h = F.layer_norm(x, (width,), g2, b2, eps2)
        return x + (torch.matmul(F.gelu(torch.matmul(h, w1) + c1, approximate="tanh"), w2) + c2)


__all__ = ["GPT", "Block", "BlockStep", "GPTState"]
