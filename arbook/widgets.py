"""Live explorers for the chapters.

The sampling and masks explorers are JavaScript (``arbook/js/*_explorer.mjs``): the model runs in
the reader's browser, through the inference core ``core.mjs``, from weights written by
:mod:`arbook.export`. In Jupyter and Colab they are anywidget widgets whose settings are traits
synced with Python; in the book's static pages the same modules draw themselves from markup the
widget's output carries (:func:`arbook.bundle.static_html`, :mod:`arbook.book`), with no kernel,
server or network. What the page computes comes back to Python as traits (``text``, ``steps``,
``masks``, ...), so code (and a test) can drive an explorer and read what it shows.

The completion explorer of the PixelCNN chapter draws with matplotlib and needs a kernel (its
model is a convolutional network this package does not run in JavaScript); in the book's
pages its static figure stands beside it.
"""

from __future__ import annotations

import html
import math
from typing import Any, ClassVar

import anywidget
import matplotlib.pyplot as plt
import torch
import traitlets

from arbook import plots
from arbook.bundle import STATIC_HTML, bundle, static_html

ORDERS = ("natural", "reversed", "random")
#: How the masks explorer chooses hidden degrees.
DEGREES = ("random", "sequential")


def parse_sizes(text: str) -> list[int]:
    """``"12, 10"`` -> ``[12, 10]``; an empty string means no hidden layers."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"hidden sizes must be whole numbers separated by commas, got {text!r}"
        ) from None
    if any(s < 1 or s > 256 for s in sizes):
        raise ValueError(f"each hidden size must be between 1 and 256, got {sizes}")
    if len(sizes) > 4:
        raise ValueError(f"at most 4 hidden layers in the explorer, got {len(sizes)}")
    return sizes


class _JSExplorer(anywidget.AnyWidget):
    """An explorer written in JavaScript: the settings are the traits named in ``_settings``;
    the page writes back the rest (and ``error``, the message for a setting it refuses)."""

    #: the JavaScript module (a file of ``arbook/js``)
    _entry: ClassVar[str]
    #: the traits a static page starts from
    _settings: ClassVar[tuple[str, ...]]

    error = traitlets.Unicode("", help="what the page refused, or empty").tag(sync=True)

    def static_html(self) -> str:
        """The markup that shows this explorer, with its current settings, in a static page."""
        values = {name: getattr(self, name) for name in self._settings}
        fallback = "This explorer runs in the browser; turn JavaScript on to use it."
        return static_html(self._entry, f"arbook-{self.model_id}", values, fallback=fallback)

    def _repr_mimebundle_(self, **kwargs: Any):
        shown = super()._repr_mimebundle_(**kwargs)
        if shown is None:
            return None
        data, metadata = shown
        return data, {**metadata, STATIC_HTML: self.static_html()}


def _check_range(name: str, value: float, low: float, high: float) -> float:
    if not (isinstance(value, (int, float)) and low <= value <= high):
        raise traitlets.TraitError(f"{name} must be between {low} and {high}, got {value!r}")
    return value


class SamplingExplorer(_JSExplorer):
    """Generate a text with a sequence model, in the browser, and step through its conditionals.

    ``SamplingExplorer(model, vocab, prompt=..., temperature=..., top_k=..., top_p=..., seed=...,
    length=...)`` exports ``model`` (a :class:`~arbook.models.rnn.CharRNN` or
    :class:`~arbook.models.gpt.GPT`) with :func:`arbook.export.exported` and shows, for one
    generated text, the model's conditional ``p(x_t | x_<t)`` at the position the ``step``
    control picks, before the filters and after (what the symbol was drawn from), the chosen
    symbol marked. ``top_k=0`` and ``top_p=1`` switch a filter off; the text ends at the stop
    marker or after ``length`` symbols. The random numbers are the page's own (a seeded
    generator in ``core.mjs``), so a seed gives another text than ``model.sample`` with a
    PyTorch generator of that seed; the conditionals are the model's (to 1e-5, tested).

    Traits the page writes: ``text`` (prompt and generated symbols), ``tokens``, ``steps`` (per
    generated symbol: ``position``, ``token``, ``probs`` -- the model's conditional -- and
    ``filtered``), ``ms_per_symbol`` and ``error``.

    ``dtype`` is the precision of the weights the page receives (``"float16"``: half the bytes
    of ``"float32"``, the conditionals of the model with its weights rounded; ``"int8"``: a
    quarter).
    """

    _entry = "sampling_explorer.mjs"
    _esm = bundle(_entry)
    _settings = (
        "header",
        "weights",
        "prompt",
        "temperature",
        "top_k",
        "top_p",
        "seed",
        "length",
        "step",
    )

    header = traitlets.Dict(help="the exported model's header").tag(sync=True)
    weights = traitlets.Bytes(help="the exported model's weights").tag(sync=True)
    prompt = traitlets.Unicode("").tag(sync=True)
    temperature = traitlets.Float(1.0).tag(sync=True)
    top_k = traitlets.Int(0, help="0: off").tag(sync=True)
    top_p = traitlets.Float(1.0, help="1: off").tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)
    length = traitlets.Int(20).tag(sync=True)
    step = traitlets.Int(0, help="the generated position shown").tag(sync=True)

    text = traitlets.Unicode("").tag(sync=True)
    tokens = traitlets.List(traitlets.Int()).tag(sync=True)
    steps = traitlets.List().tag(sync=True)
    ms_per_symbol = traitlets.Float(0.0).tag(sync=True)

    def __init__(
        self,
        model,
        vocab,
        *,
        prompt: str = "",
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
        length: int | None = None,
        dtype: str = "float16",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        from arbook.export import exported
        from arbook.models.sequence import SequenceModel

        if not isinstance(model, SequenceModel):
            raise TypeError(
                f"the explorer needs a sequence model (CharRNN, GPT), got {type(model).__name__}"
            )
        if len(vocab) != model.num_classes:
            raise ValueError(
                f"the vocabulary has {len(vocab)} symbols but the model {model.num_classes}"
            )
        length = model.event_shape[0] if length is None else length
        header, weights = exported(model, dtype=dtype, symbols=vocab.symbols, metadata=metadata)
        self._symbols = list(vocab.symbols)
        self._stop = model.stop_index
        super().__init__(
            header=header,
            weights=weights,
            prompt=prompt,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            length=length,
        )

    @traitlets.validate("prompt")
    def _valid_prompt(self, proposal):
        text = proposal["value"]
        unknown = sorted(set(text) - set(self._symbols))
        if unknown:
            raise traitlets.TraitError(
                f"the prompt has {', '.join(map(repr, unknown))}, which the model's "
                "vocabulary does not hold"
            )
        if self._stop is not None and self._symbols[self._stop] in text:
            raise traitlets.TraitError(
                f"the prompt contains the end marker {self._symbols[self._stop]!r}, "
                "so the text would already be finished"
            )
        return text

    @traitlets.validate("temperature")
    def _valid_temperature(self, proposal):
        return _check_range("temperature", proposal["value"], 0.05, 2.0)

    @traitlets.validate("top_k")
    def _valid_top_k(self, proposal):
        return _check_range("top_k", proposal["value"], 0, len(self._symbols))

    @traitlets.validate("top_p")
    def _valid_top_p(self, proposal):
        value = proposal["value"]
        if not (isinstance(value, float) and 0 < value <= 1 and math.isfinite(value)):
            raise traitlets.TraitError(f"top_p must be in (0, 1], got {value!r}")
        return value

    @traitlets.validate("seed")
    def _valid_seed(self, proposal):
        return _check_range("seed", proposal["value"], 0, 1_000_000)

    @traitlets.validate("length")
    def _valid_length(self, proposal):
        return _check_range("length", proposal["value"], 1, 1000)

    def options(self) -> dict[str, Any]:
        """The sampling options of the settings, as ``model.sample`` takes them."""
        return dict(
            temperature=self.temperature,
            top_k=self.top_k or None,
            top_p=self.top_p if self.top_p < 1 else None,
        )


class MaskExplorer(_JSExplorer):
    """MADE's degrees, masks and connectivity for a number of inputs, an order, hidden sizes and
    a seed, recomputed in the browser with the arithmetic of :mod:`arbook.masks`
    (``arbook/js/masks.mjs``, tested against it).

    ``order`` is ``"natural"``, ``"reversed"`` or ``"random"`` (a permutation drawn with the
    page's seeded generator), ``degrees`` ``"random"`` (hidden degrees drawn uniformly, as
    :func:`arbook.masks.made_degrees`) or ``"sequential"``. Traits the page writes:
    ``order_values``, ``degree_values`` (per layer), ``masks`` (per layer, ``[out][in]`` of 0/1),
    ``connectivity`` (paths from input ``j`` to output ``i``), ``message`` and ``error``.
    """

    _entry = "masks_explorer.mjs"
    _esm = bundle(_entry)
    _settings = ("num_inputs", "hidden_sizes", "order", "degrees", "seed")

    num_inputs = traitlets.Int(6).tag(sync=True)
    hidden_sizes = traitlets.Unicode("10, 10").tag(sync=True)
    order = traitlets.Unicode("natural").tag(sync=True)
    degrees = traitlets.Unicode("random").tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)

    order_values = traitlets.List(traitlets.Int()).tag(sync=True)
    degree_values = traitlets.List().tag(sync=True)
    masks = traitlets.List().tag(sync=True)
    connectivity = traitlets.List().tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        num_inputs: int = 6,
        hidden_sizes: str = "10, 10",
        order: str = "natural",
        degrees: str = "random",
        seed: int = 0,
    ) -> None:
        super().__init__(
            num_inputs=num_inputs,
            hidden_sizes=hidden_sizes,
            order=order,
            degrees=degrees,
            seed=seed,
        )

    @traitlets.validate("num_inputs")
    def _valid_inputs(self, proposal):
        return _check_range("num_inputs", proposal["value"], 2, 16)

    @traitlets.validate("hidden_sizes")
    def _valid_sizes(self, proposal):
        try:
            parse_sizes(proposal["value"])
        except ValueError as exc:
            raise traitlets.TraitError(str(exc)) from None
        return proposal["value"]

    @traitlets.validate("order", "degrees")
    def _valid_choice(self, proposal):
        name, value = proposal["trait"].name, proposal["value"]
        choices = {"order": ORDERS, "degrees": DEGREES}[name]
        if value not in choices:
            raise traitlets.TraitError(f"{name} must be one of {choices}, got {value!r}")
        return value

    @traitlets.validate("seed")
    def _valid_seed(self, proposal):
        return _check_range("seed", proposal["value"], 0, 50)


# -- Completion explorer (chapter "PixelCNN"): Python, drawn with matplotlib -------------------


class _Explorer:
    """What every explorer shares: :meth:`compute` works out the state from the controls,
    :meth:`figure` draws it, and :meth:`update` runs both, showing a bad setting's error in the
    status line (the last good figure stays) instead of raising it out of a callback."""

    #: the errors a bad setting raises, shown in the status line
    errors: tuple[type[Exception], ...] = (ValueError, TypeError)

    def compute(self) -> None:
        raise NotImplementedError

    def figure(self):
        raise NotImplementedError

    def computed(self) -> None:
        """Called after a successful :meth:`compute`, before drawing."""

    def update(self) -> None:
        """Recompute and redraw; invalid input shows an error and keeps the last figure."""
        try:
            self.compute()
        except self.errors as exc:
            self.message = f"error: {exc}"
            self.status.value = f"<b style='color:#b00'>{html.escape(self.message)}</b>"
            return
        self.status.value = html.escape(self.message)
        self.computed()
        self.draw()

    def draw(self) -> None:
        """Show :meth:`figure` in the output area."""
        from IPython.display import display

        with self.output:
            self.output.clear_output(wait=True)
            fig = self.figure()
            display(fig)
            plt.close(fig)


class CompletionExplorer(_Explorer):
    """Pick a held-out image, how many of its rows to keep, a temperature and a seed; see
    several completions of the rest sampled by an image model (chapter "PixelCNN").

    ``model`` is an image model with ``complete`` (:class:`~arbook.models.pixelcnn.PixelCNN`,
    :class:`~arbook.models.pixelcnn.GatedPixelCNN`); ``images [N, H, W]`` are the images to pick
    from.
    Attributes after each :meth:`update`: ``original`` (the picked image ``[H, W]``),
    ``completions`` (``LongTensor [num_completions, H, W]``; their first ``rows_kept`` rows
    are the original's) and ``message`` (a one-line summary with the NLL of the original and of
    the completions, or the error for bad input). The same settings always give the same
    completions: each update draws from a generator seeded with the seed control.
    """

    def __init__(
        self,
        model,
        images: torch.Tensor,
        num_classes: int,
        rows_kept: int = 4,
        temperature: float = 1.0,
        seed: int = 0,
        num_completions: int = 4,
    ) -> None:
        import ipywidgets as w

        images = torch.as_tensor(images)
        model.check_data(images)
        if len(images) == 0:
            raise ValueError("CompletionExplorer needs at least one image")
        if num_classes != model.num_classes:
            raise ValueError(
                f"num_classes={num_classes} does not match the model's {model.num_classes}"
            )
        if isinstance(num_completions, bool) or not isinstance(num_completions, int):
            raise ValueError(f"num_completions must be an integer, got {num_completions!r}")
        if not 1 <= num_completions <= 16:
            raise ValueError(f"num_completions must be between 1 and 16, got {num_completions}")
        height = images.shape[1]
        if isinstance(rows_kept, bool) or not isinstance(rows_kept, int):
            raise ValueError(f"rows_kept must be an integer, got {rows_kept!r}")
        if not 0 <= rows_kept <= height:
            raise ValueError(f"rows_kept must be in [0, {height}], got {rows_kept}")
        if not 0.05 <= temperature <= 2.0:
            raise ValueError(f"temperature must be in [0.05, 2.0], got {temperature}")
        self.model = model
        self.images = images.cpu()
        self.num_classes = num_classes
        self.num_completions = num_completions
        opts = dict(continuous_update=False)
        self.index = w.IntSlider(
            value=0, min=0, max=len(images) - 1, description="test image", **opts
        )
        self.rows = w.IntSlider(value=rows_kept, min=0, max=height, description="rows kept", **opts)
        self.temperature = w.FloatSlider(
            value=temperature, min=0.05, max=2.0, step=0.05, description="temperature", **opts
        )
        self.seed = w.IntSlider(value=seed, min=0, max=100, description="seed", **opts)
        self.status = w.HTML()
        self.output = w.Output()
        for control in (self.index, self.rows, self.temperature, self.seed):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.index, self.rows]),
                w.HBox([self.temperature, self.seed]),
                self.status,
                self.output,
            ]
        )
        self.original = self.images[0]
        self.completions = torch.zeros(0, *images.shape[1:], dtype=torch.long)
        self.message = ""
        self.update()

    def compute(self) -> None:
        """Sample the completions for the current settings (no drawing)."""
        from arbook.models.base import evaluating

        index, rows = self.index.value, self.rows.value
        if not 0 <= index < len(self.images):
            raise ValueError(f"image index must be in [0, {len(self.images) - 1}], got {index}")
        original = self.images[index]
        device = self.model.device
        batch = original.expand(self.num_completions, *original.shape).to(device)
        generator = torch.Generator().manual_seed(int(self.seed.value))
        completions = self.model.complete(
            batch, rows, temperature=float(self.temperature.value), generator=generator
        ).cpu()
        with torch.no_grad(), evaluating(self.model):
            nll = -self.model.log_prob(
                torch.cat([original[None].to(device), completions.to(device)])
            )
        self.original = original
        self.completions = completions
        height = original.shape[0]
        self.message = (
            f"image {index}: kept {rows} of {height} rows, sampled {self.num_completions} "
            f"completions at temperature {self.temperature.value:.2f} (seed {self.seed.value}); "
            f"NLL of the original {nll[0]:.1f} nats, of the completions "
            + ", ".join(f"{v:.1f}" for v in nll[1:].tolist())
        )

    def figure(self):
        """The original, the kept rows and the completions, as a matplotlib figure."""
        return plots.completions_figure(
            self.original,
            self.completions,
            self.rows.value,
            num_classes=self.num_classes,
            title=(
                f"Image {self.index.value}: {self.rows.value} rows kept, "
                f"temperature {self.temperature.value:.2f}, seed {self.seed.value}"
            ),
        )
