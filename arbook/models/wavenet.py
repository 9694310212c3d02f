"""WaveNet (van den Oord et al., 2016): audio one sample at a time, from dilated causal
convolutions.

The input at step ``t`` is the sample ``x_{t-1}`` (a learned start vector at ``t = 0``), embedded
into ``residual_channels``. The embedding starts out knowing what each code means
(:meth:`WaveNet.amplitude_embedding`): two of its channels hold the code's μ-law value and its
linear amplitude, so neighbouring codes begin close together instead of 256 unrelated vectors. A stack of residual layers follows; layer ``l`` applies a causal
convolution with dilation ``2 ** (l mod layers_per_block)`` and a gated activation
``tanh(W_f * h) . sigmoid(W_g * h)``, then two 1x1 convolutions: one back into the residual
stream (``h + ...``), one into the skip connections. The sum of the skips goes through
``ReLU -> 1x1 -> ReLU -> 1x1`` to the logits of the 256 μ-law classes. Dilations double within a
block, so the receptive field grows exponentially with depth
(:attr:`WaveNet.receptive_field`), and every path only looks back: the logits at ``t`` depend on
``x_{t - R}, ..., x_{t-1}`` and nothing later.

**Fast generation** (Paine et al., 2016, "Fast WaveNet"). Generating naively means running the
whole stack over the last ``R`` samples for every new sample, although almost all of that work
was done at the previous step. A layer with dilation ``d`` only needs its own input from ``d``
steps ago, so :meth:`WaveNet.prefill` keeps each layer's past inputs in a queue (here one ring
buffer for all layers) and :meth:`WaveNet.extend` computes one new column per layer: a few
matrix-vector products per layer per sample, whatever the receptive field.
``sample(..., use_cache=False)`` runs the naive loop; both draw the same samples.

**Reading order.** The file gives the architecture first -- :class:`ResidualLayer`, then
:class:`WaveNet`'s network and the contract -- and the generation path after it: WaveNet's
generation methods, then the state they carry (:class:`Queues`, one ``_LayerStep`` per
layer).

Chapter "WaveNet".
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from arbook.audio import mu_law_decode
from arbook.layers import CausalConv1d
from arbook.models.base import check_positive
from arbook.models.sequence import SequenceModel

# -- the architecture ------------------------------------------------------------------------------


class ResidualLayer(nn.Module):
    """One WaveNet layer on ``[B, C, T]``: dilated causal convolution, gate, residual and skip.

    ``residual=False`` (the last layer) drops the 1x1 convolution back into the residual
    stream, whose output nothing would read.
    """

    def __init__(
        self,
        residual_channels: int,
        dilation_channels: int,
        skip_channels: int,
        kernel_size: int,
        dilation: int,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.conv = CausalConv1d(residual_channels, 2 * dilation_channels, kernel_size, dilation)
        self.skip = nn.Conv1d(dilation_channels, skip_channels, 1)
        self.res = nn.Conv1d(dilation_channels, residual_channels, 1) if residual else None

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """``(the next layer's input or None, this layer's skip output)``."""
        filt, gate = self.conv(h).chunk(2, dim=1)
        gated = torch.tanh(filt) * torch.sigmoid(gate)
        return (h + self.res(gated) if self.res is not None else None), self.skip(gated)


class WaveNet(SequenceModel):
    """A WaveNet over ``num_classes`` quantisation levels (μ-law codes), read as ``[B, T]``.

    Args:
        num_classes: quantisation levels (256 for 8-bit μ-law).
        residual_channels: width of the residual stream and of the input embedding.
        skip_channels: width of the skip connections.
        layers_per_block: layers with dilations ``1, 2, ..., 2 ** (layers_per_block - 1)``.
        blocks: how many times the dilation pattern repeats.
        kernel_size: taps of each dilated convolution (2 in the paper).
        dilation_channels: width of the gated activations (default: ``residual_channels``).
        output_channels: width of the layer between the skips and the logits (default:
            ``skip_channels``).
        length: default number of samples
            :meth:`~arbook.models.base.AutoregressiveModel.sample` generates.
        amplitude_embedding: start the input embedding from each code's amplitude
            (:meth:`amplitude_embedding`) rather than from random vectors alone.
    """

    def __init__(
        self,
        num_classes: int = 256,
        residual_channels: int = 32,
        skip_channels: int = 256,
        layers_per_block: int = 10,
        blocks: int = 3,
        kernel_size: int = 2,
        *,
        dilation_channels: int | None = None,
        output_channels: int | None = None,
        length: int = 8000,
        amplitude_embedding: bool = True,
    ) -> None:
        super().__init__(num_classes, length)
        dilation_channels = dilation_channels or residual_channels
        output_channels = output_channels or skip_channels
        check_positive(
            residual_channels=residual_channels,
            skip_channels=skip_channels,
            layers_per_block=layers_per_block,
            blocks=blocks,
            kernel_size=kernel_size,
            dilation_channels=dilation_channels,
            output_channels=output_channels,
        )
        self.kernel_size, self.dilation_channels = kernel_size, dilation_channels
        self.output_channels = output_channels
        self.dilations = [2**i for _ in range(blocks) for i in range(layers_per_block)]
        self.embed = nn.Embedding(num_classes, residual_channels)
        if amplitude_embedding:
            with torch.no_grad():
                self.embed.weight.copy_(self.amplitude_embedding(num_classes, residual_channels))
        self.start = nn.Parameter(0.1 * torch.randn(residual_channels))
        self.layers = nn.ModuleList(
            ResidualLayer(
                residual_channels,
                dilation_channels,
                skip_channels,
                kernel_size,
                d,
                residual=i < len(self.dilations) - 1,
            )
            for i, d in enumerate(self.dilations)
        )
        self.hidden = nn.Conv1d(skip_channels, output_channels, 1)
        self.out = nn.Conv1d(output_channels, num_classes, 1)

    @staticmethod
    def amplitude_embedding(num_classes: int, channels: int) -> torch.Tensor:
        """An initial embedding ``[K, C]`` in which each μ-law code ``c`` carries its meaning.

        Channel 0 is the companded value ``2c / (K - 1) - 1`` (a ramp over the codes), channel 1
        three times the linear amplitude ``mu_law_decode(c)`` (the quantity in which a tone's
        samples obey a linear recurrence); the other channels are small random vectors
        (standard deviation 0.1) that training shapes. A random embedding treats the 256 codes
        as unrelated symbols, and the loud codes, which are rare, take thousands of steps to
        learn where they lie; this one starts with every code in its place.
        """
        weight = 0.1 * torch.randn(num_classes, channels)
        codes = torch.arange(num_classes)
        weight[:, 0] = 2 * codes / (num_classes - 1) - 1
        if channels > 1:
            weight[:, 1] = 3 * mu_law_decode(codes, num_classes)
        return weight

    @property
    def receptive_field(self) -> int:
        """How many past samples ``R`` the logits at ``t`` see (``x_{t-R}, ..., x_{t-1}``), with
        ``R = 1 + (kernel_size - 1) * sum(dilations)`` (3,070 for 3 blocks of 10 layers)."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)

    # -- the contract ------------------------------------------------------------------------------

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Sample embeddings ``[B, T, C]``."""
        return self.embed(x)

    def _shifted(self, h: torch.Tensor) -> torch.Tensor:
        """``[B, C, T]`` network input: step ``t`` reads ``x_{t-1}``, step 0 the start vector."""
        start = self.start.expand(h.shape[0], 1, -1)
        return torch.cat([start, h[:, :-1]], dim=1).transpose(1, 2)

    def _stack(self, h: torch.Tensor, inputs: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits ``[B, K, T]`` from the network input ``h [B, C, T]``; appends each layer's
        input to ``inputs`` when given (to fill the generation queues)."""
        skips = None
        for layer in self.layers:
            if inputs is not None:
                inputs.append(h)
            h, skip = layer(h)
            skips = skip if skips is None else skips + skip
        return self.out(F.relu(self.hidden(F.relu(skips))))

    def network(self, h: torch.Tensor) -> torch.Tensor:
        return self._stack(self._shifted(h)).transpose(1, 2)

    # -- generation: queues of past inputs (Fast WaveNet) ------------------------------------------

    def recompute(self, prefix: torch.Tensor) -> torch.Tensor:
        """The naive step: run the whole stack over the last ``receptive_field`` samples of
        ``prefix`` (all the logits of the next position can see) and keep the last logits."""
        window = prefix[:, max(0, prefix.shape[1] - self.receptive_field) :]
        return super().recompute(window)

    def prefill(self, prompt: torch.Tensor) -> tuple[torch.Tensor, Queues]:
        batch, length = prompt.shape
        start = self.start.expand(batch, 1, -1)
        h = torch.cat([start, self.features(prompt)], dim=1).transpose(1, 2)  # P + 1 positions
        inputs: list[torch.Tensor] = []
        logits = self._stack(h, inputs)[:, :, -1]
        rings = []
        for layer, inputs_l in zip(self.layers, inputs, strict=True):
            size = layer.conv.left_padding + 1
            ring = h.new_zeros(size, batch, inputs_l.shape[1])
            kept = torch.arange(max(0, length + 1 - size), length + 1, device=h.device)
            ring[kept % size] = inputs_l[:, :, kept].permute(2, 0, 1)
            rings.append(ring)
        gated = h.new_zeros(batch, len(self.layers), self.dilation_channels + 1)
        gated[:, :, -1] = 1.0
        steps = [
            _LayerStep(layer, ring, gated[:, i])
            for i, (layer, ring) in enumerate(zip(self.layers, rings, strict=True))
        ]
        for step, above in pairwise(steps):
            step.next_slots = above.slots
        head = dict(
            skip=torch.cat(
                [
                    torch.cat([lay.skip.weight[:, :, 0].t(), lay.skip.bias[None]])
                    for lay in self.layers
                ]
            ).contiguous(),  # [L (D + 1), S]
            hidden_bias=self.hidden.bias,
            hidden=self.hidden.weight[:, :, 0].t().contiguous(),
            out_bias=self.out.bias,
            out=self.out.weight[:, :, 0].t().contiguous(),
        )
        return logits, Queues(rings, gated, length + 1, steps, head)

    def extend(self, token: torch.Tensor, state: Queues) -> tuple[torch.Tensor, Queues]:
        """One new sample: one column per layer, reading each layer's queue at its dilation.
        Updates ``state`` in place and returns it."""
        p, steps = state.position, state.steps
        h = steps[0].slots[p % len(steps[0].slots)]
        torch.index_select(self.embed.weight, 0, token, out=h)
        for step in steps:
            torch.addmm(step.bias, h, step.current, out=step.z)
            for lag, w in step.taps:
                step.z.addmm_(step.slots[(p - lag) % len(step.slots)], w)
            torch.mul(step.zf.tanh_(), step.zg.sigmoid_(), out=step.g)
            if step.residual is not None:
                below, h = h, step.next_slots[p % len(step.next_slots)]
                torch.addmm(below, step.g1, step.residual, out=h)
        head, gated = state.head, state.gated
        skips = torch.mm(gated.view(gated.shape[0], -1), head["skip"]).relu_()
        hidden = torch.addmm(head["hidden_bias"], skips, head["hidden"]).relu_()
        logits = torch.addmm(head["out_bias"], hidden, head["out"])
        state.position = p + 1
        return logits, state


# -- generation: the queues, and one layer's step for a new sample ---------------------------------


@dataclass
class Queues:
    """The state of fast generation: what each layer still needs from the past.

    ``rings[l][p % R_l]`` holds layer ``l``'s input (``[B, C]``) at position ``p`` for the last
    ``R_l = (kernel_size - 1) * dilation_l + 1`` positions, all that the layer's taps reach
    (zeros before the start, as in the padded convolution); ``position`` is the next position
    to compute. ``gated`` holds one step's gated activations of every layer, each with a
    constant 1 appended so that the biases of the 1x1 convolutions ride along in the matrix
    products.
    """

    rings: list[torch.Tensor]  # [R_l, B, C] per layer
    gated: torch.Tensor  # [B, L, D + 1]
    position: int
    steps: list[_LayerStep]
    head: dict[str, torch.Tensor]


class _LayerStep:
    """One layer's part of a generation step: its queue, and the weights and scratch tensors
    of one time step, with every view made once up front (indexing tensors in the inner loop
    would cost more than the arithmetic)."""

    __slots__ = (
        "bias",
        "current",
        "g",
        "g1",
        "next_slots",
        "residual",
        "slots",
        "taps",
        "z",
        "zf",
        "zg",
    )

    def __init__(self, layer: ResidualLayer, ring: torch.Tensor, gated: torch.Tensor) -> None:
        w = layer.conv.weight  # [2D, C, k]
        width = w.shape[0] // 2
        self.bias = layer.conv.bias
        self.current = w[:, :, -1].t().contiguous()  # the tap at lag 0
        self.taps = [
            (lag, w[:, :, i].t().contiguous()) for i, lag in enumerate(layer.conv.lags) if lag
        ]
        self.residual = (
            torch.cat([layer.res.weight[:, :, 0].t(), layer.res.bias[None]]).contiguous()
            if layer.res is not None
            else None
        )
        self.slots = list(ring.unbind(0))  # slots[p % R] is the input at position p
        self.z = ring.new_empty(ring.shape[1], 2 * width)
        self.zf, self.zg = self.z[:, :width], self.z[:, width:]
        self.g, self.g1 = gated[:, :width], gated  # the gate's output, and with its 1 appended
        self.next_slots: list[torch.Tensor] = []


__all__ = ["Queues", "ResidualLayer", "WaveNet"]
