"""Synthetic data whose entropy is known exactly.

:class:`MarkovSource` is a random Markov chain: a model trained on its sequences can be compared
with the best possible NLL, its entropy rate. Chapter "Training by maximum likelihood". The
synthetic melodies of chapter "WaveNet" are :func:`arbook.audio.tones`.
"""

from __future__ import annotations

import numpy as np
import torch


class MarkovSource:
    """A random order-``order`` Markov chain over ``num_symbols`` symbols: a source of sequences
    whose entropy rate is known exactly, so a model's NLL can be compared with the best
    possible.

    The next-symbol distribution of every context (the previous ``order`` symbols) is drawn
    from a symmetric Dirichlet(``concentration``) with ``numpy.random.default_rng(seed)``;
    smaller concentrations give more predictable chains. Sequences start from the stationary
    distribution of contexts, so every position has the same marginal statistics.
    """

    def __init__(
        self, num_symbols: int = 4, order: int = 2, seed: int = 0, concentration: float = 0.5
    ) -> None:
        if num_symbols < 2 or order < 1 or concentration <= 0:
            raise ValueError("need num_symbols >= 2, order >= 1 and concentration > 0")
        self.num_symbols, self.order = int(num_symbols), int(order)
        rng = np.random.default_rng(seed)
        contexts = num_symbols**order
        #: ``[num_symbols ** order, num_symbols]``, one row per context (base-K digits, oldest
        #: first)
        self.transition = rng.dirichlet(np.full(num_symbols, concentration), size=contexts)
        # The chain over contexts: context c = (a, ..., b) moves to (..., b, s) with p(s | c).
        moves = np.zeros((contexts, contexts))
        for c in range(contexts):
            for s in range(num_symbols):
                moves[c, (c * num_symbols + s) % contexts] += self.transition[c, s]
        values, vectors = np.linalg.eig(moves.T)
        stationary = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
        #: stationary distribution over contexts
        self.stationary = stationary / stationary.sum()

    def __repr__(self) -> str:
        return (
            f"MarkovSource({self.num_symbols} symbols, order {self.order}, "
            f"entropy rate {self.entropy_rate():.4f} nats/symbol)"
        )

    def entropy_rate(self) -> float:
        """``H = sum_c pi(c) H(p(. | c))`` in nats per symbol: the lowest NLL per symbol any
        model can reach on long sequences."""
        p = self.transition
        conditional = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
        return float((self.stationary * conditional).sum())

    def floor(self, length: int) -> float:
        """The exact expected NLL per symbol of the true model on sequences of ``length``
        symbols read from the start: the first ``order`` symbols cost the entropy of the
        stationary context distribution, every later one the entropy rate."""
        if length < self.order:
            raise ValueError(f"length must be at least the order {self.order}")
        pi = self.stationary[self.stationary > 0]
        start = float(-(pi * np.log(pi)).sum())
        return (start + (length - self.order) * self.entropy_rate()) / length

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``[N]``: the exact log-probability in nats of sequences ``x [N, T]`` under the source
        (the stationary probability of the first ``order`` symbols, then the transitions)."""
        x = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] < self.order:
            raise ValueError(f"expected sequences [N, T] with T >= {self.order}")
        if x.min() < 0 or x.max() >= self.num_symbols:
            raise ValueError(f"symbols must be in [0, {self.num_symbols})")
        k, contexts = self.num_symbols, len(self.stationary)
        context = np.zeros(len(x), dtype=np.int64)
        for i in range(self.order):
            context = context * k + x[:, i]
        with np.errstate(divide="ignore"):
            total = np.log(self.stationary[context])
            for t in range(self.order, x.shape[1]):
                total = total + np.log(self.transition[context, x[:, t]])
                context = (context * k + x[:, t]) % contexts
        return torch.from_numpy(total)

    def sample(self, num_sequences: int, length: int, seed: int = 0) -> torch.Tensor:
        """``[num_sequences, length]`` sequences, reproducible from ``seed``."""
        if length < self.order:
            raise ValueError(f"length must be at least the order {self.order}")
        rng = np.random.default_rng(seed)
        k = self.num_symbols
        contexts = rng.choice(len(self.stationary), size=num_sequences, p=self.stationary)
        out = np.zeros((num_sequences, length), dtype=np.int64)
        for i in range(self.order):  # the digits of the starting context, oldest first
            out[:, i] = (contexts // k ** (self.order - 1 - i)) % k
        cumulative = np.cumsum(self.transition, axis=1)
        for t in range(self.order, length):
            u = rng.random(num_sequences)
            symbol = (u[:, None] > cumulative[contexts]).sum(axis=1)
            out[:, t] = np.minimum(symbol, k - 1)
            contexts = (contexts * k + out[:, t]) % len(self.stationary)
        return torch.from_numpy(out)
