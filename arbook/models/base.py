"""The contract every model in arbook follows.

A model is a ``torch.nn.Module`` that speaks integers:

* data is a ``LongTensor [B, *event_shape]`` with values in ``[0, num_classes)``;
* ``model(x)`` returns logits ``[B, *event_shape, num_classes]``, and the logits at a position
  depend only on the values at positions strictly *before* it in ``model.order``;
* ``model.log_prob(x)`` returns ``[B]``, the exact log-likelihood in nats (a sum over
  positions of the log of each conditional, by the chain rule);
* ``model.sample(n, ...)`` draws values position by position in ``model.order`` from the
  model's own conditionals, through :func:`arbook.sampling.sample_logits`.

Subclasses implement two steps: :meth:`~AutoregressiveModel.encode` turns the integers into
per-position features ``[B, *event_shape, E]`` (one-hot vectors, embeddings) and
:meth:`~AutoregressiveModel.decode` turns features into logits. Splitting them gives the
property checks in :mod:`arbook.checks` a differentiable input: the gradient of the logits at
one position with respect to the features at another shows whether one depends on the other.
``forward`` validates its input first; :meth:`~AutoregressiveModel.logits` skips the checks
for hot loops. The chapter "The chain rule" explains why this is all
a model needs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from arbook.sampling import check_options, sample_logits


class AutoregressiveModel(nn.Module):
    """Base class: validation, exact ``log_prob`` and a position-by-position ``sample``.

    ``config`` holds the constructor's arguments, so a checkpoint can rebuild the model.
    """

    config: dict[str, Any]

    def __init__(self, num_classes: int, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        event_shape = tuple(int(s) for s in event_shape)
        if not event_shape or any(s < 1 for s in event_shape):
            raise ValueError(
                f"event_shape must be a non-empty tuple of positive sizes, got {event_shape}"
            )
        self.num_classes = num_classes
        self.event_shape = event_shape
        self.config = {}

    # -- the contract ------------------------------------------------------------------------

    @property
    def num_dims(self) -> int:
        """Number of positions (pixels, characters, samples) in one example."""
        return math.prod(self.event_shape)

    @property
    def order(self) -> torch.Tensor:
        """``[D]``, the generation order over flattened positions (``order[0]`` comes first)."""
        return torch.arange(self.num_dims)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type of the weights (``float32``, or ``float64`` after
        ``model.double()``): the type of the input features :meth:`encode` builds."""
        return next(self.parameters()).dtype

    def num_parameters(self) -> int:
        """Trainable numbers that can influence the output: weights removed by a mask (a
        ``mask`` buffer beside a ``weight``, as in :class:`~arbook.layers.MaskedLinear`) do not
        count, though they are stored."""
        total = 0
        for module in self.modules():
            mask = getattr(module, "mask", None)
            for name, param in module.named_parameters(recurse=False):
                if not param.requires_grad:
                    continue
                if (
                    name == "weight"
                    and isinstance(mask, torch.Tensor)
                    and mask.shape == param.shape
                ):
                    total += int((mask != 0).sum())
                else:
                    total += param.numel()
        return total

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Per-position input features ``[B, *event_shape, E]`` of valid data ``x``."""
        raise NotImplementedError

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, *event_shape, K]`` from input features ``h [B, *event_shape, E]``."""
        raise NotImplementedError

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, *event_shape, K]`` for valid data ``x`` (no input checks)."""
        return self.decode(self.encode(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, *event_shape, K]`` of data ``x``, after :meth:`check_data`."""
        self.check_data(x)
        return self.logits(x)

    def counted(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean ``[B, *shape]``: the positions whose conditionals
        :meth:`~arbook.models.base.AutoregressiveModel.log_prob` counts.

        Every position, except in models whose examples end at a stop marker (names): there,
        the positions after the first marker are padding and count for nothing.
        """
        return torch.ones_like(x, dtype=torch.bool)

    def num_positions(self, x: torch.Tensor) -> torch.Tensor:
        """``[B]``: how many positions of each example
        :meth:`~arbook.models.base.AutoregressiveModel.log_prob` counts."""
        return self.counted(x).flatten(1).sum(dim=1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-likelihood in nats, ``[B]``: the sum of ``log p(x_i | x_<i)`` over the
        positions (the :meth:`counted` ones)."""
        logits = self(x)
        per_position = -F.cross_entropy(
            logits.reshape(-1, self.num_classes), x.reshape(-1), reduction="none"
        ).view(x.shape)
        return (per_position * self.counted(x)).flatten(1).sum(dim=1)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The training objective: mean negative log-likelihood per example, in nats."""
        return -self.log_prob(x).mean()

    def sample(
        self,
        n: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        **model_options: Any,
    ) -> torch.Tensor:
        """Draw ``n`` examples ``[n, *event_shape]``, one position at a time in ``self.order``.

        ``temperature``, ``top_k``, ``top_p`` and ``greedy`` reshape each conditional as
        described in :mod:`arbook.sampling`; with the defaults the samples follow the model
        exactly. Pass a seeded ``generator`` for reproducible samples.

        ``given=values, num_given=m`` keeps ``values`` at the first ``m`` positions of the order
        and samples the rest (completions and prompts). Other ``model_options`` belong to a
        particular model's sampler (such as ``use_cache``).
        """
        check_options(temperature, top_k, top_p)
        n = check_count(n)
        opts = dict(
            temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy, generator=generator
        )
        # Inference mode: no autograd bookkeeping at all, which matters when each step is a
        # handful of small operations. The samples are handed back as an ordinary tensor.
        with evaluating(self), torch.inference_mode():
            x = self._generate(n, opts, **model_options)
        return x.clone()

    def _generate(
        self,
        n: int,
        opts: dict[str, Any],
        *,
        given: torch.Tensor | None = None,
        num_given: int = 0,
        **model_options: Any,
    ) -> torch.Tensor:
        """Sampling proper, with validated options. ``given [n, *event_shape]`` with
        ``num_given`` keeps the values at positions ``order[:num_given]`` and samples the rest
        (completions, prompts). Models with a cache or several orders override this."""
        if model_options:
            raise TypeError(
                f"{type(self).__name__}.sample() got unexpected options {sorted(model_options)}"
            )
        if given is None:
            if num_given:
                raise ValueError("num_given needs the given values")
            x = torch.zeros(n, *self.event_shape, dtype=torch.long, device=self.device)
        else:
            self.check_data(given)
            if len(given) != n:
                raise ValueError(
                    f"given holds {len(given)} examples, but {n} samples were asked for"
                )
            if (
                isinstance(num_given, bool)
                or not isinstance(num_given, int)
                or not 0 <= num_given <= self.num_dims
            ):
                raise ValueError(
                    f"num_given must be an integer in [0, {self.num_dims}], got {num_given!r}"
                )
            x = given.clone().to(self.device)
            x.view(n, self.num_dims)[:, self.order[num_given:].to(x.device)] = 0
        return self._fill(x, start=num_given, **opts)

    def _fill(self, x: torch.Tensor, start: int, **opts: Any) -> torch.Tensor:
        """Generate positions ``order[start:]`` of ``x`` in place, recomputing the logits each step."""
        flat = x.view(x.shape[0], self.num_dims)
        for pos in self.order[start:].tolist():
            step_logits = self.logits(x).view(x.shape[0], self.num_dims, self.num_classes)[:, pos]
            flat[:, pos] = sample_logits(step_logits, **opts)
        return x

    # -- validation ----------------------------------------------------------------------------

    def check_data(self, x: Any) -> None:
        """Raise a clear ``TypeError``/``ValueError`` unless ``x`` is valid data for this model.

        Skipped inside ``torch.compile`` (:func:`arbook.train.fit` checks all its data before
        training), where reading the values back would break the compiled graph.
        """
        if _compiling():
            return
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.LongTensor of class indices, got {type(x).__name__}")
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise TypeError(
                f"expected integer data (a LongTensor of values in [0, {self.num_classes})), got dtype "
                f"{x.dtype}; quantise the data and convert it with .long()"
            )
        if x.dtype != torch.long:
            # Embeddings, one-hot codes and the loss index with int64 only: say so here, the
            # same way for every model, rather than deep inside PyTorch.
            raise TypeError(
                f"expected int64 data (a LongTensor of values in [0, {self.num_classes})), got dtype "
                f"{x.dtype}; convert it with .long() (uint8 images too: images.long())"
            )
        self.check_shape(x)
        if x.numel():
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.num_classes:
                bad = low if low < 0 else high
                raise ValueError(
                    f"data values must be in [0, {self.num_classes}) for this model, found {bad}"
                )

    def check_shape(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` has the shape ``[B, *event_shape]``."""
        expected = tuple(self.event_shape)
        if x.dim() != len(expected) + 1 or tuple(x.shape[1:]) != expected:
            want = ", ".join(["B", *map(str, expected)])
            raise ValueError(f"expected data of shape [{want}], got {list(x.shape)}")


def _compiling() -> bool:
    is_compiling = getattr(torch.compiler, "is_compiling", None)  # torch >= 2.3
    return bool(is_compiling and is_compiling())


def check_positive(**values: Any) -> None:
    """Raise ``ValueError`` unless every value is a positive integer (names it otherwise)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_count(n: Any, what: str = "the number of samples") -> int:
    """Validate a number of samples (or of the examples ``what`` names)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be an integer, got {n!r}")
    if n < 1:
        raise ValueError(f"{what} must be at least 1, got {n}")
    return n


class evaluating:
    """Context manager: put a module in eval mode and restore its previous mode afterwards."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __enter__(self) -> nn.Module:
        self.was_training = self.module.training
        self.module.eval()
        return self.module

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was_training)
