"""Masks that make a network autoregressive.

MADE (Germain et al., 2015) gives every unit a *degree*. The inputs get degrees ``1..D``
according to the order: the input generated ``k``-th has degree ``k``. A hidden unit of degree
``m`` may only see inputs of degree at most ``m``, so a connection from a unit of degree
``d_in`` to a hidden unit of degree ``d_out`` is allowed when ``d_out >= d_in``. An output of
degree ``d`` must only see inputs generated strictly before it: ``d_out > d_in``. Multiplying
the masks of all layers gives the *connectivity*: entry ``[i, j]`` counts the paths from input
``j`` to output ``i``, and it is zero unless ``j`` comes before ``i`` in the order. See the
chapter "Masks and MADE".

Mask convention: a mask for a layer with ``n_in`` inputs and ``n_out`` outputs has shape
``[n_out, n_in]``, like ``torch.nn.Linear.weight``; 1 keeps a weight, 0 removes it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch


def check_order(order: Sequence[int] | torch.Tensor, num_inputs: int) -> torch.Tensor:
    """Validate a permutation of ``range(num_inputs)`` and return it as a ``LongTensor``.

    ``order[k]`` is the input generated ``k``-th.
    """
    order_t = torch.as_tensor(order)
    if order_t.dtype.is_floating_point or order_t.dtype == torch.bool:
        raise TypeError(f"an order must hold integers, got dtype {order_t.dtype}")
    order_t = order_t.long()
    if order_t.shape != (num_inputs,):
        raise ValueError(
            f"an order for {num_inputs} inputs must have shape ({num_inputs},), got {tuple(order_t.shape)}"
        )
    if not torch.equal(order_t.sort().values, torch.arange(num_inputs)):
        raise ValueError(
            f"order must be a permutation of 0..{num_inputs - 1}, got {order_t.tolist()}"
        )
    return order_t


def input_degrees(order: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Degrees of the inputs: input ``order[k]`` gets degree ``k + 1``."""
    order_t = check_order(order, len(order))
    degrees = torch.empty_like(order_t)
    degrees[order_t] = torch.arange(1, len(order_t) + 1)
    return degrees


def hidden_degrees(
    size: int,
    num_inputs: int,
    previous: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    method: str = "random",
) -> torch.Tensor:
    """Degrees of one hidden layer of ``size`` units after a layer with degrees ``previous``.

    Degrees lie in ``[min(previous), D - 1]``: a unit of degree ``D`` could only feed outputs
    that depend on everything, which no output may. ``method="random"`` draws them uniformly
    (as in the MADE paper); ``"sequential"`` cycles through the range, spreading units evenly.
    """
    if size < 1:
        raise ValueError(f"a hidden layer needs at least one unit, got {size}")
    if num_inputs < 2:
        raise ValueError("MADE hidden layers need at least 2 inputs")
    low = int(previous.min().clamp(max=num_inputs - 1))
    if method == "random":
        return torch.randint(low, num_inputs, (size,), generator=generator)
    if method == "sequential":
        return low + torch.arange(size) % (num_inputs - low)
    raise ValueError(f"unknown degree method {method!r}; choose 'random' or 'sequential'")


def made_degrees(
    num_inputs: int,
    hidden_sizes: Sequence[int],
    order: Sequence[int] | torch.Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
    method: str = "random",
) -> list[torch.Tensor]:
    """Degrees of the input and every hidden layer: ``[d_input, d_hidden_1, ...]``."""
    order_t = torch.arange(num_inputs) if order is None else check_order(order, num_inputs)
    degrees = [input_degrees(order_t)]
    for size in hidden_sizes:
        degrees.append(
            hidden_degrees(size, num_inputs, degrees[-1], generator=generator, method=method)
        )
    return degrees


def made_masks(degrees: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Masks of every layer from the degrees ``[d_input, d_hidden_1, ..., d_hidden_L]``.

    Hidden layers use ``d_out >= d_in``; the output layer, whose units take the input degrees
    again, uses the strict ``d_out > d_in``. Returns ``L + 1`` float masks ``[n_out, n_in]``.
    """
    if len(degrees) < 1:
        raise ValueError("need at least the input degrees")
    masks = [
        (d_out[:, None] >= d_in[None, :]).float() for d_in, d_out in itertools.pairwise(degrees)
    ]
    masks.append((degrees[0][:, None] > degrees[-1][None, :]).float())
    return masks


def connectivity(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """The product of the masks, ``M_L ... M_1``: entry ``[i, j]`` counts paths from input j to output i.

    The network is autoregressive in an order exactly when this is zero wherever input ``j``
    is not generated before output ``i``.
    """
    if len(masks) == 0:
        raise ValueError("need at least one mask")
    # Path counts on the CPU in float64: exact for any realistic size, and MPS has no float64.
    result = masks[0].detach().cpu().double()
    for mask in masks[1:]:
        if mask.shape[1] != result.shape[0]:
            raise ValueError(
                f"masks do not chain: a mask with {mask.shape[1]} inputs follows one with {result.shape[0]} outputs"
            )
        result = mask.detach().cpu().double() @ result
    return result


def allowed(order: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """The dependencies an autoregressive model in ``order`` may have: ``[i, j]`` is True when j comes before i."""
    degrees = input_degrees(order)
    return degrees[:, None] > degrees[None, :]


def causal_mask(
    queries: int,
    keys: int | None = None,
    *,
    strict: bool = False,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Boolean mask ``[queries, keys]`` of a causal model: True where query ``i`` may see key
    ``j``.

    The queries are the last ``queries`` of the ``keys`` positions: query ``i`` sits at position
    ``keys - queries + i`` and sees every key up to and including its own position, or, with
    ``strict=True``, only the keys strictly before it (the position itself excluded).

    ``keys=None`` means ``keys = queries``: the square lower-triangular mask of one sequence,
    ``j <= i`` (``j < i`` with ``strict=True``). With ``keys > queries`` the queries are the
    newest positions after ``keys - queries`` earlier ones, as when new queries attend to a
    key/value cache: ``causal_mask(2, 5)`` is the last two rows of ``causal_mask(5)``.
    """
    keys = queries if keys is None else keys
    if queries < 0 or keys < queries:
        raise ValueError(
            f"a causal mask needs 0 <= queries <= keys, got {queries} queries and {keys} keys"
        )
    rows = torch.arange(keys - queries, keys, device=device)[:, None]
    cols = torch.arange(keys, device=device)[None, :]
    return cols < rows if strict else cols <= rows


def expand_mask(mask: torch.Tensor, out_repeat: int = 1, in_repeat: int = 1) -> torch.Tensor:
    """Repeat a mask's rows and columns when every variable has several units.

    With ``K`` classes each output variable has ``K`` logits and a one-hot input has ``K``
    units; unit ``v * K + k`` belongs to variable ``v``.
    """
    return mask.repeat_interleave(out_repeat, dim=0).repeat_interleave(in_repeat, dim=1)
