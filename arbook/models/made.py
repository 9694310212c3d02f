"""MADE: Masked Autoencoder for Distribution Estimation (Germain et al., 2015).

A multilayer perceptron from ``D`` inputs to ``D x K`` logits whose weights are masked so
that the logits of variable ``i`` depend only on the variables before ``i`` in an order. The
masks come from degrees (:mod:`arbook.masks`). With ``num_masks > 1`` the model holds several
orders/connectivities sharing one set of weights: training cycles through them, and the model's
distribution is the uniform mixture::

    p(x) = (1/M) sum_m p_m(x),

so :meth:`MADE.log_prob` is a log-mean-exp over masks -- an exactly normalised likelihood -- and
:meth:`~arbook.models.base.AutoregressiveModel.sample` picks a mask, then samples in its order.
Chapter "Masks and MADE".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from arbook.layers import MaskedLinear
from arbook.masks import check_order, expand_mask, made_degrees, made_masks
from arbook.models.base import AutoregressiveModel, check_positive
from arbook.sampling import SamplingOptions


class MADE(AutoregressiveModel):
    """MADE over ``num_inputs`` variables with ``num_classes`` values each.

    Args:
        num_inputs: number of variables ``D``; data has shape ``[B, D]``.
        hidden_sizes: sizes of the hidden layers (may be empty: see
            :class:`~arbook.models.logistic.LogisticAR`).
        num_classes: values per variable ``K``. Binary inputs enter as 0/1; with ``K > 2`` each
            variable enters one-hot.
        num_masks: number of masks (orders and hidden degrees) sharing the weights.
        order: ``None`` (natural order ``0..D-1`` for every mask), ``"random"`` (a new random
            order for each mask), an explicit permutation (the same for every mask) or
            ``num_masks`` permutations ``[M, D]``, one per mask.
        seed: seed of the random degrees and orders, so a model is reproducible from its config.
        dropout: dropout on the hidden units during training (0 disables it).
    """

    def __init__(
        self,
        num_inputs: int,
        hidden_sizes: Sequence[int],
        num_classes: int = 2,
        num_masks: int = 1,
        order: Sequence[int] | torch.Tensor | str | None = None,
        seed: int = 0,
        dropout: float = 0.0,
    ) -> None:
        check_positive(num_inputs=num_inputs)
        super().__init__(num_classes, (num_inputs,))
        hidden_sizes = [int(h) for h in hidden_sizes]
        if any(h < 1 for h in hidden_sizes):
            raise ValueError(f"hidden sizes must be positive, got {hidden_sizes}")
        check_positive(num_masks=num_masks)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if isinstance(order, str) and order != "random":
            raise ValueError(
                f"order must be None, 'random', a permutation or one permutation per mask, "
                f"got {order!r}"
            )
        explicit = None  # [M, D]: the order of every mask
        if order is not None and not isinstance(order, str):
            given = torch.as_tensor(order)
            if given.dim() == 2:
                if given.shape[0] != num_masks:
                    raise ValueError(
                        f"one order per mask: got {given.shape[0]} orders for {num_masks} masks"
                    )
                explicit = torch.stack([check_order(o, num_inputs) for o in given])
            else:
                explicit = check_order(given, num_inputs).expand(num_masks, -1)
        self.num_masks = num_masks
        self.in_units = 1 if num_classes == 2 else num_classes

        # Orders and hidden degrees of every mask, drawn once from the seed.
        g = torch.Generator().manual_seed(seed)
        orders, hidden = [], []
        for m in range(num_masks):
            if order == "random":
                mask_order = torch.randperm(num_inputs, generator=g)
            else:
                mask_order = explicit[m] if explicit is not None else torch.arange(num_inputs)
            degrees = made_degrees(num_inputs, hidden_sizes, mask_order, generator=g)
            orders.append(mask_order)
            hidden.append(degrees[1:])
        self.register_buffer("orders", torch.stack(orders))  # [M, D]
        for layer, _ in enumerate(hidden_sizes):
            self.register_buffer(
                f"degrees_{layer}", torch.stack([h[layer] for h in hidden])
            )  # [M, H_l]

        sizes = [num_inputs * self.in_units, *hidden_sizes]
        self.hidden = nn.ModuleList(MaskedLinear(a, b) for a, b in itertools.pairwise(sizes))
        self.output = MaskedLinear(sizes[-1], num_inputs * num_classes)
        self.drop = nn.Dropout(dropout)
        self._mask_cache: dict[tuple[int, str], list[torch.Tensor]] = {}
        self.register_load_state_dict_post_hook(MADE._after_load)
        self.mask_index = 0
        self.set_mask(0)

    # -- masks ---------------------------------------------------------------------------------

    def degrees(self, index: int | None = None) -> list[torch.Tensor]:
        """Degrees ``[input, hidden_1, ...]`` of mask ``index`` (default: the current one)."""
        index = self.mask_index if index is None else index
        inputs = torch.empty(self.num_dims, dtype=torch.long, device=self.orders.device)
        inputs[self.orders[index]] = torch.arange(1, self.num_dims + 1, device=inputs.device)
        return [inputs, *(getattr(self, f"degrees_{i}")[index] for i in range(len(self.hidden)))]

    def masks(self, index: int | None = None) -> list[torch.Tensor]:
        """Masks of mask set ``index`` per variable (before expanding to one-hot units and K logits)."""
        return made_masks(self.degrees(index))

    def set_mask(self, index: int) -> None:
        """Use mask set ``index`` (its order and connectivity) from now on."""
        if not 0 <= index < self.num_masks:
            raise ValueError(f"mask index must be in [0, {self.num_masks}), got {index}")
        layers = [*self.hidden, self.output]
        for layer, mask in zip(layers, self._layer_masks(index), strict=True):
            layer.set_mask(mask)
        self.mask_index = index

    def get_extra_state(self) -> dict[str, int]:
        """The current mask set, which ``state_dict`` (and so a checkpoint) keeps."""
        return {"mask_index": self.mask_index}

    def set_extra_state(self, state: dict[str, int]) -> None:
        index = int(state["mask_index"])
        if not 0 <= index < self.num_masks:
            raise ValueError(f"mask index must be in [0, {self.num_masks}), got {index}")
        self.mask_index = index  # applied by _after_load

    @staticmethod
    def _after_load(module: MADE, _keys: object) -> None:
        # Loaded degrees may differ from those the cache was built from, and the loaded layer
        # masks belong to whichever mask set was current when the weights were saved.
        module._mask_cache.clear()
        module.set_mask(module.mask_index)

    def _layer_masks(self, index: int) -> list[torch.Tensor]:
        """The masks of every layer for mask set ``index``, expanded to one-hot input units and
        ``K`` logits. Cached, since order-agnostic training switches masks at every step."""
        key = (index, str(self.orders.device))
        if key not in self._mask_cache:
            masks = self.masks(index)
            last = len(masks) - 1
            self._mask_cache[key] = [
                expand_mask(
                    mask,
                    out_repeat=self.num_classes if i == last else 1,
                    in_repeat=self.in_units if i == 0 else 1,
                )
                for i, mask in enumerate(masks)
            ]
        return self._mask_cache[key]

    @property
    def order(self) -> torch.Tensor:
        return self.orders[self.mask_index].cpu()

    # -- the contract --------------------------------------------------------------------------

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, D, 1]`` (the 0/1 values) for binary data, else one-hot ``[B, D, K]``."""
        if self.in_units == 1:
            return x.to(self.dtype).unsqueeze(-1)
        return F.one_hot(x, self.num_classes).to(self.dtype)

    def network(self, h: torch.Tensor) -> torch.Tensor:
        batch = h.shape[0]
        h = h.flatten(1)  # [B, D * units], variable-major like the masks
        for layer in self.hidden:
            h = self.drop(F.relu(layer(h)))
        return self.output(h).view(batch, self.num_dims, self.num_classes)

    def log_prob_per_mask(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, B]``: the log-likelihood of ``x`` under each mask's model."""
        current = self.mask_index
        try:
            result = []
            for m in range(self.num_masks):
                self.set_mask(m)
                result.append(super().log_prob(x))
        finally:
            self.set_mask(current)
        return torch.stack(result)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-likelihood of the mixture over masks: ``logsumexp_m log p_m(x) - log M``."""
        if self.num_masks == 1:
            return super().log_prob(x)
        return torch.logsumexp(self.log_prob_per_mask(x), dim=0) - math.log(self.num_masks)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """In training with several masks, the NLL under the next mask in turn (order-agnostic
        training); otherwise the exact mean NLL of the model."""
        if self.training and self.num_masks > 1:
            self.set_mask((self.mask_index + 1) % self.num_masks)
            return -super().log_prob(x).mean()
        return super().loss(x)

    def _generate(
        self,
        n: int,
        prefix: torch.Tensor,
        options: SamplingOptions,
        generator: torch.Generator | None,
        **model_options: Any,
    ) -> torch.Tensor:
        """Sample the mixture: each example picks a mask uniformly, then samples in its order."""
        if self.num_masks == 1:
            return super()._generate(n, prefix, options, generator, **model_options)
        if prefix.shape[1]:
            raise ValueError(
                f"a prefix needs one order; this MADE mixes {self.num_masks} orders "
                "(set_mask(i) and sample from a single-mask copy instead)"
            )
        if model_options:
            raise TypeError(f"MADE.sample() got unexpected options {sorted(model_options)}")
        x = torch.zeros(n, self.num_dims, dtype=torch.long, device=self.device)
        choice = torch.randint(self.num_masks, (n,), generator=generator)
        current = self.mask_index
        try:
            for m in range(self.num_masks):
                rows = (choice == m).nonzero().flatten().to(x.device)
                if len(rows):
                    self.set_mask(m)
                    x[rows] = super()._generate(len(rows), prefix[rows], options, generator)
        finally:
            self.set_mask(current)
        return x
