"""Live explorers for the chapters (ipywidgets).

Each explorer keeps its logic in plain methods and attributes, so it can be driven from code
(and tested) as well as by hand; ``.widget`` is the control panel to display. Every chapter
shows a static figure beside each explorer, so the HTML book shows what the widget shows.
"""

from __future__ import annotations

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


class MaskExplorer:
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

    def update(self) -> None:
        """Recompute and redraw; invalid input shows an error and keeps the last figure."""
        from IPython.display import display

        try:
            self.compute()
        except ValueError as exc:
            self.message = f"error: {exc}"
            self.status.value = f"<b style='color:#b00'>{self.message}</b>"
            return
        self.status.value = self.message
        with self.output:
            self.output.clear_output(wait=True)
            fig = self.figure()
            display(fig)
            plt.close(fig)
