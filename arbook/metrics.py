"""Units of likelihood: nats, bits, and bits per dimension.

A model's negative log-likelihood (NLL) of one example ``x`` with ``D`` dimensions (pixels,
characters, audio samples) is measured in nats (natural logarithm). Dividing by ``D ln 2``
gives bits per dimension, the unit that compares across data sets of different sizes:
``bits/dim = NLL_nats / (D ln 2)``. See the chapter "Masks and MADE".
"""

from __future__ import annotations

import math

LN2 = math.log(2.0)


def nats_to_bits(nats: float) -> float:
    """Convert nats to bits (divide by ln 2)."""
    return nats / LN2


def bits_to_nats(bits: float) -> float:
    """Convert bits to nats (multiply by ln 2)."""
    return bits * LN2


def _check_dims(num_dims: int) -> None:
    if not isinstance(num_dims, int) or isinstance(num_dims, bool) or num_dims < 1:
        raise ValueError(f"num_dims must be a positive integer, got {num_dims!r}")


def bits_per_dim(nll_nats: float, num_dims: int) -> float:
    """Bits per dimension of an NLL of ``nll_nats`` nats per example of ``num_dims`` dimensions."""
    _check_dims(num_dims)
    return nll_nats / (num_dims * LN2)


def nats_from_bits_per_dim(bpd: float, num_dims: int) -> float:
    """The NLL in nats per example that corresponds to ``bpd`` bits per dimension."""
    _check_dims(num_dims)
    return bpd * num_dims * LN2


def perplexity(nll_nats_per_dim: float) -> float:
    """Perplexity ``exp(NLL per dimension)``: the effective number of equally likely choices."""
    return math.exp(nll_nats_per_dim)
