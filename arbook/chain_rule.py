"""The chain rule on tables small enough to write down.

For a joint distribution over ``D`` discrete variables with ``K`` values each, stored as a
table of shape ``[K] * D``, these helpers compute every conditional
``p(x_{o_i} | x_{o_1}, ..., x_{o_{i-1}})`` in an order ``o`` and multiply them back, so the
chain rule ``p(x) = prod_i p(x_{o_i} | x_{o_<i})`` can be checked exactly. Chapter "The chain
rule".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

from arbook.masks import check_order


def all_values(num_classes: int, event_shape: int | Sequence[int]) -> torch.Tensor:
    """Every possible example, ``[K ** D, *event_shape]``, in lexicographic order.

    The ``n``-th row is ``n`` written in base ``K`` (most significant position first), so
    ``all_values(K, D)[n]`` matches the flat index ``n`` of a joint table of shape ``[K] * D``.
    """
    shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
    num_dims = 1
    for s in shape:
        num_dims *= s
    if num_classes**num_dims > 2**22:
        raise ValueError(f"{num_classes}^{num_dims} values are too many to enumerate")
    rows = torch.tensor(
        list(itertools.product(range(num_classes), repeat=num_dims)), dtype=torch.long
    )
    return rows.view(-1, *shape)


def random_joint(
    num_vars: int, num_classes: int, *, seed: int = 0, concentration: float = 1.0
) -> torch.Tensor:
    """A random joint distribution: a float64 table of shape ``[K] * D`` drawn from a
    symmetric Dirichlet (``concentration < 1`` gives peakier tables)."""
    if num_vars < 1 or num_classes < 2:
        raise ValueError(
            f"need at least 1 variable and 2 classes, got D={num_vars}, K={num_classes}"
        )
    probs = np.random.default_rng(seed).dirichlet(
        np.full(num_classes**num_vars, float(concentration))
    )
    return torch.from_numpy(probs).view([num_classes] * num_vars)


def check_joint(joint: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``joint`` is a table of non-negative numbers summing to 1."""
    if joint.dim() < 1 or len(set(joint.shape)) != 1:
        raise ValueError(f"a joint table has shape [K] * D, got {list(joint.shape)}")
    if (joint < 0).any():
        raise ValueError("a joint table cannot hold negative probabilities")
    total = float(joint.sum())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"a joint table must sum to 1, got {total}")


def conditionals(joint: torch.Tensor, order: Sequence[int] | None = None) -> list[torch.Tensor]:
    """The conditional tables of ``joint`` in ``order`` (default ``0..D-1``).

    Table ``i`` has shape ``[K] * (i + 1)`` indexed by ``(x_{o_0}, ..., x_{o_i})`` and holds
    ``p(x_{o_i} | x_{o_0}, ..., x_{o_{i-1}})``, computed as a ratio of two marginals. Where the
    prefix has probability zero the conditional is undefined; it is set to uniform there.
    """
    check_joint(joint)
    num_vars, num_classes = joint.dim(), joint.shape[0]
    order_t = torch.arange(num_vars) if order is None else check_order(order, num_vars)
    permuted = joint.permute(*order_t.tolist())
    marginals = [
        permuted.sum(dim=tuple(range(i + 1, num_vars))) if i + 1 < num_vars else permuted
        for i in range(num_vars)
    ]
    tables = [marginals[0]]
    for i in range(1, num_vars):
        prefix = marginals[i - 1].unsqueeze(-1)
        table = torch.where(
            prefix > 0,
            marginals[i] / prefix.clamp_min(1e-300),
            torch.full_like(marginals[i], 1.0 / num_classes),
        )
        tables.append(table)
    return tables


def joint_from_conditionals(
    tables: Sequence[torch.Tensor], order: Sequence[int] | None = None
) -> torch.Tensor:
    """Multiply conditional tables (as returned by :func:`conditionals`) back into the joint."""
    num_vars = len(tables)
    order_t = torch.arange(num_vars) if order is None else check_order(order, num_vars)
    product = tables[0]
    for table in tables[1:]:
        product = product.unsqueeze(-1) * table
    # Axis i of the product is variable order[i]; put the variables back in natural order.
    return product.permute(*torch.argsort(order_t).tolist())


def table_sizes(num_vars: int, num_classes: int) -> dict[str, int]:
    """Free parameters of a full joint table and of each tabulated conditional.

    The joint needs ``K^D - 1`` numbers. The ``i``-th conditional table (0-based) needs
    ``K^i (K - 1)``: one distribution over ``K`` values for every prefix; together they need
    exactly ``K^D - 1`` as well -- the chain rule saves nothing until the conditionals are
    shared through a parametric model.
    """
    sizes = {"joint": num_classes**num_vars - 1}
    for i in range(num_vars):
        sizes[f"conditional {i + 1}"] = num_classes**i * (num_classes - 1)
    return sizes
