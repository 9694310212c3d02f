"""The contract every model in arbook follows.

A model is a ``torch.nn.Module`` that speaks integers:

* data is a ``LongTensor [B, *event_shape]`` with values in ``[0, num_classes)``;
* ``model(x)`` returns logits ``[B, *event_shape, num_classes]``, and the logits at a position
  depend only on the values at positions strictly *before* it in ``model.order``;
* ``model.log_prob(x)`` returns ``[B]``, the exact log-likelihood in nats (a sum over
  positions of the log of each conditional, by the chain rule);
* ``model.sample(n, ...)`` draws values position by position in ``model.order`` from the
  model's own conditionals, reshaped by :class:`arbook.sampling.SamplingOptions`;
  ``sample(n, prefix=...)`` keeps the values of the first positions and draws the rest.

Subclasses implement two steps: :meth:`~AutoregressiveModel.features` turns the integers into
per-position features ``[B, *event_shape, E]`` (one-hot vectors, embeddings) and
:meth:`~AutoregressiveModel.network` turns features into logits. Splitting them gives the
property checks in :mod:`arbook.checks` a differentiable input: the gradient of the logits at
one position with respect to the features at another shows whether one depends on the other.
``forward`` validates its input first; :meth:`~AutoregressiveModel.logits` skips the checks
for hot loops. The chapter "The chain rule" explains why this is all
a model needs.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from arbook.sampling import SamplingOptions


class AutoregressiveModel(nn.Module):
    """Base class: validation, exact ``log_prob`` and a position-by-position ``sample``.

    ``config`` holds the arguments the model was built with, every parameter of its class's
    constructor (sequences as lists), so ``type(model)(**model.config)`` builds the same
    architecture and a checkpoint can rebuild the model. A default that the constructor
    resolves (``None`` for "as wide as the residual stream") is recorded as resolved when the
    model keeps the value under the parameter's own name (``model.dilation_channels``). Every
    subclass gets this by constructing itself: the base class records the arguments of the
    outermost ``__init__`` (:meth:`__init_subclass__`).
    """

    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__dict__["__init__"]
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: AutoregressiveModel, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            if type(self).__init__ is recording_init:  # the class being built, not a parent
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                self.config = _config_of(bound, vars(self))

        cls.__init__ = recording_init  # type: ignore[method-assign]

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
        ``model.double()``): the type of the input features :meth:`features` builds."""
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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-position input features ``[B, *event_shape, E]`` of valid data ``x``."""
        raise NotImplementedError

    def network(self, h: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, *event_shape, K]`` from input features ``h [B, *event_shape, E]``."""
        raise NotImplementedError

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, *event_shape, K]`` for valid data ``x`` (no input checks)."""
        return self.network(self.features(x))

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
        prefix: torch.Tensor | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        **model_options: Any,
    ) -> torch.Tensor:
        """Draw ``n`` examples ``[n, *event_shape]``, one position at a time in ``self.order``.

        ``prefix`` (``[m]`` for every sample, or ``[n, m]``) holds the values of the first ``m``
        positions of the order, ``x_order[0] .. x_order[m-1]``: they are kept, and the rest is
        drawn from the model's conditionals given them (completions and prompts; see
        :meth:`prefix_of`). ``temperature``, ``top_k``, ``top_p`` and ``greedy`` reshape each
        conditional as described in :mod:`arbook.sampling` (checked once, as a
        :class:`~arbook.sampling.SamplingOptions`); with the defaults the samples follow the model
        exactly. Pass a seeded ``generator`` for reproducible samples. Other ``model_options``
        belong to a particular model's sampler (such as ``use_cache``).
        """
        options = SamplingOptions(temperature, top_k, top_p, greedy)
        n = check_count(n)
        prefix = self.check_prefix(prefix, n)
        # Inference mode: no autograd bookkeeping at all, which matters when each step is a
        # handful of small operations. The samples are handed back as an ordinary tensor.
        with evaluating(self), torch.inference_mode():
            x = self._generate(n, prefix, options, generator, **model_options)
        return x.clone()

    def prefix_of(self, x: torch.Tensor, num_kept: int) -> torch.Tensor:
        """``[B, num_kept]``: the values of ``x [B, *event_shape]`` at the first ``num_kept``
        positions of the order, the ``prefix`` that :meth:`sample` continues."""
        self.check_data(x)
        if isinstance(num_kept, bool) or not isinstance(num_kept, int):
            raise TypeError(f"num_kept must be an integer, got {num_kept!r}")
        if not 0 <= num_kept <= self.num_dims:
            raise ValueError(f"num_kept must be in [0, {self.num_dims}], got {num_kept}")
        return x.reshape(len(x), self.num_dims)[:, self.order[:num_kept].to(x.device)]

    def check_prefix(self, prefix: Any, n: int, name: str = "prefix") -> torch.Tensor:
        """The ``prefix`` of :meth:`sample` as ``[n, m]`` on the model's device (``m = 0``
        without one), or a clear error naming what is wrong with it (as ``name``)."""
        if prefix is None:
            return torch.zeros(n, 0, dtype=torch.long, device=self.device)
        if not isinstance(prefix, torch.Tensor):
            raise TypeError(f"{name} must be a LongTensor of values, got {type(prefix).__name__}")
        if prefix.dim() == 1:
            prefix = prefix.unsqueeze(0)
        if prefix.dim() != 2 or prefix.shape[0] not in (1, n):
            raise ValueError(
                f"{name} must have shape [m] or [{n}, m] for {n} samples, got {list(prefix.shape)}"
            )
        limit = self.max_prefix
        if limit is not None and prefix.shape[1] > limit:
            raise ValueError(
                f"{name} holds {prefix.shape[1]} values, but an example has only {limit} positions"
            )
        if prefix.shape[1]:
            self.check_values(prefix)
        return prefix.expand(n, -1).to(self.device)

    @property
    def max_prefix(self) -> int | None:
        """The longest prefix :meth:`sample` continues: every position of a fixed-shape
        example (sequence models take any length: ``None``)."""
        return self.num_dims

    def _generate(
        self,
        n: int,
        prefix: torch.Tensor,
        options: SamplingOptions,
        generator: torch.Generator | None,
        **model_options: Any,
    ) -> torch.Tensor:
        """Sampling proper, with checked arguments: keep ``prefix [n, m]`` at positions
        ``order[:m]`` and draw the rest. Models with a cache or several orders override this."""
        if model_options:
            raise TypeError(
                f"{type(self).__name__}.sample() got unexpected options {sorted(model_options)}"
            )
        x = torch.zeros(n, *self.event_shape, dtype=torch.long, device=self.device)
        m = prefix.shape[1]
        x.view(n, self.num_dims)[:, self.order[:m].to(x.device)] = prefix
        return self._sample_positions(x, m, options, generator)

    def _sample_positions(
        self,
        x: torch.Tensor,
        start: int,
        options: SamplingOptions,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Draw positions ``order[start:]`` of ``x`` in place, recomputing the logits each step."""
        flat = x.view(x.shape[0], self.num_dims)
        for pos in self.order[start:].tolist():
            step_logits = self.logits(x).view(x.shape[0], self.num_dims, self.num_classes)[:, pos]
            flat[:, pos] = options.draw(step_logits, generator)
        return x

    # -- validation ----------------------------------------------------------------------------

    def check_data(self, x: Any) -> None:
        """Raise a clear ``TypeError``/``ValueError`` unless ``x`` is valid data for this model.

        Skipped inside ``torch.compile`` (:func:`arbook.train.fit` checks all its data before
        training), where reading the values back would break the compiled graph.
        """
        if _compiling():
            return
        self.check_values(x)
        self.check_shape(x)

    def check_values(self, x: Any) -> None:
        """Raise a clear ``TypeError``/``ValueError`` unless ``x`` is an int64 tensor of values
        in ``[0, num_classes)`` (any shape)."""
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


def _config_of(bound: inspect.BoundArguments, kept: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments as plain values (tensors and tuples become lists), each replaced by
    the plain value the model keeps under the same name in ``kept`` (its attributes), if any."""

    def plain(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.tolist()
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    def is_plain(value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return all(map(is_plain, value))
        return value is None or isinstance(value, (bool, int, float, str))

    config: dict[str, Any] = {}
    for name, value in list(bound.arguments.items())[1:]:  # without self
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError("model constructors take named arguments, not *args")
        values = value if kind is inspect.Parameter.VAR_KEYWORD else {name: value}
        for key, given in values.items():
            resolved = kept.get(key, given)
            config[key] = plain(resolved if is_plain(resolved) else given)
    return config


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
