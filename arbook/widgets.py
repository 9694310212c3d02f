"""Live explorers for the chapters (ipywidgets).

Each explorer keeps its logic in plain methods and attributes, so it can be driven from code
(and tested) as well as by hand; ``.widget`` is the control panel to display. Every chapter
shows a static figure beside each explorer, so the HTML book shows what the widget shows.
"""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
import torch

from arbook import masks as M
from arbook import plots

ORDERS = ("natural", "reversed", "random")


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


class MaskExplorer(_Explorer):
    """Pick the number of inputs, the order, the hidden sizes and a seed; see MADE's masks.

    Attributes after each :meth:`update`: ``order`` (the permutation), ``degrees``, ``masks``,
    ``connectivity`` and ``message`` (a one-line verdict, or the error for bad input).
    """

    def __init__(
        self,
        num_inputs: int = 6,
        hidden_sizes: str = "10, 10",
        order: str = "natural",
        seed: int = 0,
    ) -> None:
        import ipywidgets as w

        self.inputs = w.IntSlider(value=num_inputs, min=2, max=16, description="inputs D")
        self.hidden = w.Text(
            value=hidden_sizes, description="hidden sizes", continuous_update=False
        )
        self.order_choice = w.Dropdown(options=ORDERS, value=order, description="order")
        self.seed = w.IntSlider(value=seed, min=0, max=50, description="seed")
        self.status = w.HTML()
        self.output = w.Output()
        for control in (self.inputs, self.hidden, self.order_choice, self.seed):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.inputs, self.order_choice]),
                w.HBox([self.hidden, self.seed]),
                self.status,
                self.output,
            ]
        )
        self.order = torch.arange(num_inputs)
        self.degrees: list[torch.Tensor] = []
        self.masks: list[torch.Tensor] = []
        self.connectivity = torch.zeros(0)
        self.message = ""
        self.update()

    def compute(self) -> None:
        """Recompute order, degrees, masks and connectivity from the controls (no drawing)."""
        d = self.inputs.value
        sizes = parse_sizes(self.hidden.value)
        g = torch.Generator().manual_seed(self.seed.value)
        if self.order_choice.value == "natural":
            order = torch.arange(d)
        elif self.order_choice.value == "reversed":
            order = torch.arange(d - 1, -1, -1)
        else:
            order = torch.randperm(d, generator=g)
        self.order = order
        self.degrees = M.made_degrees(d, sizes, order, generator=g)
        self.masks = M.made_masks(self.degrees)
        self.connectivity = M.connectivity(self.masks)
        causal = bool(((self.connectivity > 0) <= M.allowed(order)).all())
        reachable = int((self.connectivity > 0).sum())
        self.message = (
            f"order {order.tolist()}: {'causal' if causal else 'NOT causal'}; "
            f"{reachable} of {d * (d - 1) // 2} allowed input-output dependencies are connected"
        )

    def figure(self):
        """The masks and connectivity for the current settings, as a matplotlib figure."""
        return plots.made_masks_figure(
            self.masks, self.order, title=f"MADE masks, order {self.order.tolist()}"
        )


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


# -- Sampling explorer (chapter "Sampling") ----------------------------------------------------

#: How the explorer writes symbols that would be invisible in a figure.
_VISIBLE = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}


def _visible(symbol: str) -> str:
    return _VISIBLE.get(symbol, symbol)


class SampledStep:
    """One generated position of a :class:`SamplingExplorer`.

    ``step`` counts the generated symbols from 0; ``position`` is the index in the whole text,
    prompt included; ``prefix`` is the text before it, ``x_<t``. ``probs [K]`` is the model's
    own conditional ``p(x_t | x_<t)`` (temperature 1, no filter), ``filtered [K]`` the
    distribution the symbol was actually drawn from (``softmax`` of
    :func:`arbook.sampling.filter_logits`), ``chosen`` the symbol drawn (``symbol`` as text).
    """

    __slots__ = ("chosen", "filtered", "position", "prefix", "probs", "step", "symbol")

    def __init__(
        self,
        step: int,
        position: int,
        prefix: str,
        probs: torch.Tensor,
        filtered: torch.Tensor,
        chosen: int,
        symbol: str,
    ) -> None:
        self.step, self.position, self.prefix = step, position, prefix
        self.probs, self.filtered = probs, filtered
        self.chosen, self.symbol = chosen, symbol

    def __repr__(self) -> str:
        return (
            f"SampledStep(step={self.step}, prefix={self.prefix!r}, symbol={self.symbol!r}, "
            f"p={float(self.probs[self.chosen]):.3f}, kept={self.kept})"
        )

    @property
    def log_prob(self) -> float:
        """``log p(x_t | x_<t)`` of the chosen symbol under the model, in nats."""
        return float(self.probs[self.chosen].log())

    @property
    def kept(self) -> int:
        """How many symbols the filters left with a nonzero probability."""
        return int((self.filtered > 0).sum())


class SamplingExplorer(_Explorer):
    """Generate one text with a sequence model and step through its conditionals.

    Controls: ``temperature``, ``top_k`` (0 = off), ``top_p`` (1 = off), ``seed``, ``prompt``
    and ``step`` (which generated position to show). The text is ``model.sample(1, prompt=...,
    generator=torch.Generator().manual_seed(seed), ...)`` itself; its ``on_step`` hook records
    the model's conditional at every generated position. A stop marker (the ``"."`` that ends a
    name) ends the text.

    Attributes after each :meth:`update`: ``text`` (prompt and generated symbols, the stop
    marker included when drawn), ``generated`` (the generated part), ``codes`` (``LongTensor``
    of ``text``), ``steps`` (one :class:`SampledStep` per generated symbol), ``log_prob`` (of
    the generated part under the model, nats) and ``message`` (a summary, or the error for bad
    input, which keeps the last valid text).
    """

    def __init__(
        self,
        model,
        vocab,
        prompt: str = "",
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
        length: int | None = None,
    ) -> None:
        import ipywidgets as w

        from arbook.models.sequence import SequenceModel

        if not isinstance(model, SequenceModel):
            raise TypeError(
                f"the explorer needs a sequence model (CharRNN, ...), got {type(model).__name__}"
            )
        if len(vocab) != model.num_classes:
            raise ValueError(
                f"the vocabulary has {len(vocab)} symbols but the model {model.num_classes}"
            )
        length = model.event_shape[0] if length is None else length
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be a positive integer, got {length!r}")
        self.model = model
        self.vocab = vocab
        self.length = length
        self.labels = [_visible(s) for s in vocab.symbols]
        k = model.num_classes
        self.temperature = w.FloatSlider(
            value=temperature, min=0.1, max=2.0, step=0.05, description="temperature"
        )
        self.top_k = w.IntSlider(value=top_k, min=0, max=k, description="top-k (0 off)")
        self.top_p = w.FloatSlider(
            value=top_p, min=0.05, max=1.0, step=0.05, description="top-p (1 off)"
        )
        self.seed = w.IntSlider(value=seed, min=0, max=max(100, seed), description="seed")
        self.prompt = w.Text(value=prompt, description="prompt", continuous_update=False)
        self.step = w.IntSlider(value=0, min=0, max=max(length - 1, 1), description="step")
        for control in (self.temperature, self.top_k, self.top_p):
            control.continuous_update = False
        self.status = w.HTML()
        self.output = w.Output()
        for control in (self.temperature, self.top_k, self.top_p, self.seed, self.prompt):
            control.observe(lambda _change: self.update(), names="value")
        self.step.observe(lambda _change: self.draw(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.prompt, self.seed]),
                w.HBox([self.temperature, self.top_k, self.top_p]),
                self.step,
                self.status,
                self.output,
            ]
        )
        self.text = ""
        self.generated = ""
        self.codes = torch.zeros(0, dtype=torch.long)
        self.num_prompt = 0
        self.steps: list[SampledStep] = []
        self.log_prob = 0.0
        self.message = ""
        self.drawn_step: int | None = None
        self._quiet = False
        self.update()

    def options(self) -> dict:
        """The sampling options of the controls, as ``model.sample`` takes them."""
        k, p = int(self.top_k.value), float(self.top_p.value)
        return dict(
            temperature=float(self.temperature.value),
            top_k=k if k > 0 else None,
            top_p=p if p < 1.0 else None,
        )

    @torch.no_grad()
    def compute(self) -> None:
        """Generate the text for the current controls (no drawing); bad input raises."""
        from arbook.sampling import SamplingOptions

        model, stop = self.model, self.model.stop_index
        prompt = self.prompt.value
        codes = self.vocab.encode(prompt)  # names an unknown character
        if stop is not None and bool((codes == stop).any()):
            raise ValueError(
                f"the prompt contains the end marker {self.vocab.symbols[stop]!r}, "
                "so the text would already be finished"
            )
        opts = self.options()
        options = SamplingOptions(**opts)  # checked once, applied to every step below
        seen: list[tuple[int, torch.Tensor]] = []
        # The model's own sampler draws the text; on_step shows each conditional on the way.
        out = model.sample(
            1,
            prompt=codes,
            length=self.length,
            generator=torch.Generator().manual_seed(int(self.seed.value)),
            on_step=lambda position, logits, _token: seen.append((position, logits[0].cpu())),
            **opts,
        )[0].cpu()
        tokens = out[: len(codes) + len(seen)].tolist()
        steps = [
            SampledStep(
                step=t,
                position=position,
                prefix=self.vocab.decode(tokens[:position]),
                probs=logits.double().softmax(-1),
                filtered=options.filter(logits).double().softmax(-1),
                chosen=tokens[position],
                symbol=self.vocab.symbols[tokens[position]],
            )
            for t, (position, logits) in enumerate(seen)
        ]
        self.codes = torch.tensor(tokens, dtype=torch.long)
        self.num_prompt = len(prompt)
        self.text = self.vocab.decode(self.codes)
        self.generated = self.text[len(prompt) :]
        self.steps = steps
        self.log_prob = sum(s.log_prob for s in steps)
        ended = stop is not None and steps[-1].chosen == stop
        settings = ", ".join(
            [
                f"temperature {opts['temperature']:g}",
                f"top-k {opts['top_k'] or 'off'}",
                f"top-p {opts['top_p'] or 'off'}",
                f"seed {self.seed.value}",
            ]
        )
        tail = "" if ended or stop is None else f" (no end marker within {self.length})"
        self.message = (
            f"{self.text!r}: {len(steps)} symbol{'s' * (len(steps) != 1)} generated{tail}; "
            f"log p = {self.log_prob:.2f} nats under the model ({settings})"
        )

    @property
    def selected(self) -> int:
        """The generated position the step slider points at (clamped to the generated ones)."""
        return min(max(int(self.step.value), 0), max(len(self.steps) - 1, 0))

    def figure(self, step: int | None = None):
        """The text and the conditional at ``step`` (default: the slider's) as a figure: the
        model's distribution, the filtered one that was sampled, and the chosen symbol."""
        step = self.selected if step is None else step
        fig, (top, bottom) = plt.subplots(
            2,
            1,
            figsize=(max(7.0, 0.3 * min(len(self.labels), 40) + 2), 5),
            height_ratios=[1, 3.2],
            layout="constrained",
        )
        symbols = [_visible(s) for s in self.text]
        if not self.steps:
            plots.text_strip(symbols, num_prompt=self.num_prompt, ax=top, title=self.message)
            bottom.axis("off")
            return fig
        if not 0 <= step < len(self.steps):
            raise ValueError(f"step must be in [0, {len(self.steps)}), got {step}")
        record = self.steps[step]
        opts = self.options()
        plots.text_strip(
            symbols,
            num_prompt=self.num_prompt,
            selected=record.position,
            ax=top,
            title=f"prompt {self.text[: self.num_prompt]!r} + {len(self.steps)} sampled symbols",
        )
        plots.conditional_bars(
            record.probs,
            self.labels,
            chosen=record.chosen,
            filtered=record.filtered,
            ax=bottom,
            limit=30 if len(self.labels) > 40 else None,
            title=(
                f"step {step}: p(next | {record.prefix!r}); "
                f"drew {record.symbol!r}, p = {record.probs[record.chosen]:.3f}, "
                f"{record.kept} of {len(self.labels)} symbols kept"
            ),
        )
        top_k = opts["top_k"] or "off"
        top_p = opts["top_p"] or "off"
        fig.suptitle(
            f"temperature {opts['temperature']:g}, top-k {top_k}, top-p {top_p}, "
            f"seed {self.seed.value}"
        )
        return fig

    def computed(self) -> None:
        self._quiet = True  # moving the step slider here must not draw twice
        try:
            self.step.max = max(len(self.steps) - 1, 1)
            self.step.value = min(self.step.value, len(self.steps) - 1)
        finally:
            self._quiet = False

    def draw(self) -> None:
        """Show the figure of the selected step in the output area."""
        if self._quiet or not self.steps:
            return
        self.drawn_step = self.selected
        super().draw()
