"""The logistic autoregressive model (fully visible sigmoid belief network; Neal, 1992).

The simplest neural autoregressive model: the logits of variable ``i`` are a linear function
of the variables before it::

    logit p(x_i | x_<i) = b_i + sum_{j before i} W_ij x_j,

which is a single masked linear layer -- MADE with no hidden layers. Chapter "The chain rule".

Like every model in arbook it outputs ``K`` logits per variable, also for binary data: the
layer stores ``K`` rows of weights per variable, ``K (D (D - 1) / 2 + D)`` numbers in all
(:meth:`~arbook.models.base.AutoregressiveModel.num_parameters`), of which ``D (D - 1) / 2 + D``
are free for ``K = 2``, since adding the same number to both logits changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from arbook.models.made import MADE


class LogisticAR(MADE):
    """Logistic autoregression over ``num_inputs`` variables with ``num_classes`` values each.

    With ``K > 2`` classes the inputs enter one-hot and each conditional is a softmax
    regression on the earlier variables. ``order`` is ``None`` (natural) or a permutation.
    """

    def __init__(
        self,
        num_inputs: int,
        num_classes: int = 2,
        order: Sequence[int] | torch.Tensor | None = None,
    ) -> None:
        if isinstance(order, str):
            raise ValueError(f"order must be None or a permutation, got {order!r}")
        super().__init__(num_inputs, [], num_classes=num_classes, order=order)
