"""Figures the chapters reuse. Every figure has a title, axis labels and units.

Each function draws on a given ``ax`` (or makes a new figure) and returns the ``Axes`` or
``Figure``, so a chapter can place figures side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _axes(ax, figsize=(5, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def image_grid(
    images: torch.Tensor,
    *,
    num_classes: int | None = None,
    nrow: int | None = None,
    title: str = "Samples",
    ax=None,
    cmap: str = "gray_r",
):
    """Show integer images ``[N, H, W]`` as one grid; values are scaled by ``num_classes - 1``.

    ``gray_r`` draws ink dark on white, like the digits were written.
    """
    images = torch.as_tensor(images).detach().cpu()
    if images.dim() != 3:
        raise ValueError(f"expected images of shape [N, H, W], got {list(images.shape)}")
    n, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    top = float(num_classes - 1) if num_classes else float(max(images.max().item(), 1))
    pad = 1
    canvas = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad), np.nan)
    for k in range(n):
        r, c = divmod(k, nrow)
        canvas[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = images[k].numpy() / top
    ax = _axes(ax, figsize=(0.6 * nrow + 1, 0.6 * ncol + 1))
    cm = plt.get_cmap(cmap).with_extremes(bad="#d0d7de")
    ax.imshow(canvas, cmap=cm, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def mask_heatmap(
    mask: torch.Tensor,
    *,
    title: str = "Mask",
    xlabel: str = "input unit",
    ylabel: str = "output unit",
    ax=None,
):
    """A 0/1 mask ``[n_out, n_in]`` (or a connectivity matrix) as a heatmap."""
    mask = torch.as_tensor(mask).detach().cpu().double()
    ax = _axes(ax)
    image = ax.imshow(mask.numpy(), cmap="Blues", interpolation="nearest", aspect="auto", vmin=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax, image


def made_masks_figure(
    masks: Sequence[torch.Tensor], order: torch.Tensor | None = None, *, title: str = "MADE masks"
):
    """Every layer's mask and the connectivity (their product) in one row of panels.

    Rows and columns of the connectivity are sorted by ``order``, so a causal model shows a
    strictly lower-triangular matrix whatever its order.
    """
    from arbook.masks import connectivity

    conn = connectivity(masks)
    n = len(masks) + 1
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), layout="constrained")
    names = [f"layer {i + 1}" for i in range(len(masks) - 1)] + ["output layer"]
    for i, (ax, mask, name) in enumerate(zip(axes, masks, names, strict=False)):
        mask_heatmap(
            mask,
            title=f"{name} mask {tuple(mask.shape)}",
            xlabel="input" if i == 0 else f"hidden unit (layer {i})",
            ylabel="output" if i == len(masks) - 1 else f"hidden unit (layer {i + 1})",
            ax=ax,
        )
    if order is not None:
        conn = conn[order][:, order]
        label = "position in the order"
    else:
        label = "variable"
    _, image = mask_heatmap(
        conn,
        title="connectivity (paths)",
        xlabel=f"input ({label})",
        ylabel=f"output ({label})",
        ax=axes[-1],
    )
    fig.colorbar(image, ax=axes[-1], shrink=0.8, label="number of paths")
    fig.suptitle(title)
    return fig


def loss_curves(history, *, title: str = "Training", per_dim: bool = False, ax=None):
    """Training loss and validation NLL against epochs, in nats per example, or in bits/dim
    (``per_dim``: each curve divided by its own examples' positions, which differ where the
    model trains on windows and validates on whole sequences)."""
    ax = _axes(ax, figsize=(6, 4))
    train_scale, val_scale = (
        (1.0 / (history.train_num_dims * math.log(2)), 1.0 / (history.num_dims * math.log(2)))
        if per_dim
        else (1.0, 1.0)
    )
    unit = "bits/dim" if per_dim else "nats per example"
    ax.plot(history.epoch, np.array(history.train_loss) * train_scale, label="training loss")
    ax.plot(history.epoch, np.array(history.val_nll) * val_scale, label="validation NLL")
    if history.best_step:
        best_epoch = history.epoch[history.step.index(history.best_step)]
        ax.axvline(best_epoch, color="gray", linestyle=":", label="best (kept)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"negative log-likelihood ({unit})")
    ax.set_title(title)
    ax.legend()
    return ax


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    ylabel: str,
    ax=None,
    fmt: str = "{:.2f}",
):
    """Labelled bars with their values written on top (for comparing test NLLs)."""
    ax = _axes(ax, figsize=(6, 4))
    bars = ax.bar(range(len(values)), values, color="#4c72b0")
    ax.set_xticks(range(len(values)), labels, rotation=20, ha="right")
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(
            fmt.format(value),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    return ax


def completions_figure(
    originals: torch.Tensor,
    completions: torch.Tensor,
    rows_kept: int,
    *,
    num_classes: int | None = None,
    title: str = "Completions",
    cmap: str = "gray_r",
):
    """Image completions as a figure: one row per image, with the original, the part the model
    was given (rows ``>= rows_kept`` hidden, in grey) and the completions beside it.

    ``originals [N, H, W]`` and ``completions [N, M, H, W]`` (``M`` completions of each image);
    a single image ``[H, W]`` with completions ``[M, H, W]`` draws one row. A red line marks
    where the given rows end and sampling began.
    """
    originals = torch.as_tensor(originals).detach().cpu()
    completions = torch.as_tensor(completions).detach().cpu()
    if originals.dim() == 2:
        originals, completions = originals[None], completions[None]
    if originals.dim() != 3 or completions.dim() != 4:
        raise ValueError(
            "expected originals [N, H, W] and completions [N, M, H, W], got "
            f"{list(originals.shape)} and {list(completions.shape)}"
        )
    n, h, w = originals.shape
    if completions.shape[0] != n or tuple(completions.shape[2:]) != (h, w):
        raise ValueError(
            f"completions {list(completions.shape)} do not match originals {list(originals.shape)}"
        )
    if not 0 <= rows_kept <= h:
        raise ValueError(f"rows_kept must be in [0, {h}], got {rows_kept}")
    m = completions.shape[1]
    top = float(num_classes - 1) if num_classes else float(max(originals.max().item(), 1))
    size = 1.1 if h <= 16 else 1.3
    fig, axes = plt.subplots(
        n,
        m + 2,
        figsize=(size * (m + 2) + 0.4, size * n + 0.7),
        squeeze=False,
        layout="constrained",
    )
    cm = plt.get_cmap(cmap).with_extremes(bad="#d0d7de")
    names = ["original", f"given ({rows_kept} rows)"] + [f"completion {k + 1}" for k in range(m)]
    for r in range(n):
        given = originals[r].double().numpy() / top
        given[rows_kept:] = np.nan
        panels = [originals[r], given] + [completions[r, k] for k in range(m)]
        for c, (ax, panel) in enumerate(zip(axes[r], panels, strict=True)):
            values = panel if isinstance(panel, np.ndarray) else panel.double().numpy() / top
            ax.imshow(values, cmap=cm, vmin=0, vmax=1, interpolation="nearest")
            if c >= 1 and 0 < rows_kept < h:
                ax.axhline(rows_kept - 0.5, color="#d62728", lw=1.2)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(names[c], fontsize=9)
    fig.suptitle(title)
    return fig


def conditional_bars(
    probs: torch.Tensor,
    labels: Sequence[str],
    *,
    chosen: int | None = None,
    filtered: torch.Tensor | None = None,
    ax=None,
    title: str = "Next-symbol distribution",
    ylabel: str = "probability",
    limit: int | None = None,
    sort: bool = False,
):
    """A next-symbol distribution ``probs [K]`` as bars over the vocabulary ``labels``.

    ``filtered`` (the distribution actually sampled after temperature, top-k and top-p; see
    :func:`arbook.sampling.filter_logits`) is drawn beside each bar, and the ``chosen`` symbol
    is outlined and its label marked. ``limit`` shows only the ``limit`` most probable symbols
    (under either distribution, always with the chosen one); ``sort`` orders the bars from most
    to least probable under ``probs`` instead of in vocabulary order. Chapter "Sampling".
    """
    probs = torch.as_tensor(probs).detach().cpu().double().flatten()
    if len(labels) != len(probs):
        raise ValueError(f"{len(probs)} probabilities but {len(labels)} labels")
    if filtered is not None:
        filtered = torch.as_tensor(filtered).detach().cpu().double().flatten()
        if filtered.shape != probs.shape:
            raise ValueError(f"filtered has {len(filtered)} values, but probs has {len(probs)}")
    if chosen is not None and not 0 <= int(chosen) < len(probs):
        raise ValueError(f"chosen must index one of the {len(probs)} symbols, got {chosen}")
    score = probs if filtered is None else torch.maximum(probs, filtered)
    index = torch.arange(len(probs))
    if sort:
        index = probs.argsort(descending=True, stable=True)
    if limit is not None and limit < len(probs):
        top = set(score.topk(limit).indices.tolist())
        if chosen is not None:
            top.add(int(chosen))
        index = torch.tensor([i for i in index.tolist() if i in top])
    x = np.arange(len(index))
    ax = _axes(ax, figsize=(max(5.0, 0.32 * len(index) + 1.5), 3.5))
    width = 0.8 if filtered is None else 0.42
    shift = 0.0 if filtered is None else -width / 2
    ax.bar(x + shift, probs[index].numpy(), width, color="#9fb7d9", label="model")
    if filtered is not None:
        ax.bar(
            x + width / 2,
            filtered[index].numpy(),
            width,
            color="#dd8452",
            label="after filters (sampled)",
        )
    ax.set_xticks(x, [labels[i] for i in index.tolist()])
    if chosen is not None and int(chosen) in index.tolist():
        k = index.tolist().index(int(chosen))
        top_value = float(score[int(chosen)])
        ax.bar(
            k,
            top_value,
            2 * width if filtered is not None else width,
            fill=False,
            edgecolor="#c44e52",
            linewidth=2,
            label=f"chosen: {labels[int(chosen)]!r}",
        )
        tick = ax.get_xticklabels()[k]
        tick.set_color("#c44e52")
        tick.set_fontweight("bold")
    ax.set_xlim(-0.7, len(index) - 0.3)
    ax.set_ylim(0, min(1.05, float(score.max()) * 1.12 + 0.02))
    ax.set_xlabel("next symbol")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return ax


def text_strip(
    symbols: Sequence[str],
    *,
    num_prompt: int = 0,
    selected: int | None = None,
    ax=None,
    title: str = "Generated text",
):
    """A generated text one symbol per cell: the first ``num_prompt`` symbols (the prompt) in
    grey, the generated ones in black with their step number below, and the symbol at index
    ``selected`` on a highlighted background. Chapter "Sampling"."""
    ax = _axes(ax, figsize=(max(4.0, 0.4 * len(symbols) + 1), 1.2))
    for i, symbol in enumerate(symbols):
        generated = i >= num_prompt
        box = None
        if i == selected:
            box = dict(boxstyle="round,pad=0.25", facecolor="#ffd966", edgecolor="#c44e52")
        ax.text(
            i,
            0.6,
            symbol,
            ha="center",
            va="center",
            family="monospace",
            fontsize=15,
            color="black" if generated else "0.55",
            fontweight="bold" if i == selected else "normal",
            bbox=box,
        )
        if generated:
            ax.text(i, 0.05, str(i - num_prompt), ha="center", va="center", fontsize=7, color="0.4")
    ax.set_xlim(-0.7, max(len(symbols), 12) - 0.3)
    ax.set_ylim(-0.2, 1.0)
    ax.set_title(title)
    ax.axis("off")
    return ax


# -- audio (chapter "WaveNet") -----------------------------------------------------------------


#: How a figure writes symbols that would be invisible.
VISIBLE = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}


def sampling_trace(trace, symbols: Sequence[str], step: int = 0):
    """A text of :func:`arbook.sampling.trace` and the conditional at generated ``step``: the
    model's distribution, the filtered one the symbol was drawn from, and the chosen symbol
    (the static counterpart of the sampling explorer). ``symbols``: the vocabulary's."""
    if not 0 <= step < len(trace.steps):
        raise ValueError(f"step must be in [0, {len(trace.steps)}), got {step}")
    labels = [VISIBLE.get(s, s) for s in symbols]
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(max(7.0, 0.3 * min(len(labels), 40) + 2), 5),
        height_ratios=[1, 3.2],
        layout="constrained",
    )
    record = trace.steps[step]
    text_strip(
        [VISIBLE.get(s, s) for s in trace.text],
        num_prompt=trace.num_prompt,
        selected=record.position,
        ax=top,
        title=f"prompt {trace.text[: trace.num_prompt]!r} + {len(trace.steps)} sampled symbols",
    )
    conditional_bars(
        record.probs,
        labels,
        chosen=record.chosen,
        filtered=record.filtered,
        ax=bottom,
        limit=30 if len(labels) > 40 else None,
        title=(
            f"step {step}: p(next | {record.prefix!r}); drew {record.symbol!r}, "
            f"p = {record.probs[record.chosen]:.3f}, {record.kept} of {len(labels)} symbols kept"
        ),
    )
    o = trace.options
    fig.suptitle(
        f"temperature {o.temperature:g}, top-k {o.top_k or 'off'}, top-p {o.top_p or 'off'}"
        + (", greedy" if o.greedy else "")
    )
    return fig


def _sample_rate(sample_rate: int) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    return sample_rate


def _waveform_array(wave, name: str = "wave") -> np.ndarray:
    """One mono waveform as a float64 array ``[T]``; μ-law codes are refused, not guessed at."""
    w = torch.as_tensor(wave).detach().cpu()
    if not w.dtype.is_floating_point:
        raise TypeError(
            f"{name} must be a float waveform in [-1, 1], got dtype {w.dtype} "
            "(decode mu-law codes with arbook.audio.mu_law_decode first)"
        )
    if w.dim() != 1 or w.numel() < 2:
        raise ValueError(f"expected one mono waveform of shape [T], T >= 2, got {list(w.shape)}")
    w = w.double().numpy()
    if not np.isfinite(w).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return w


def spectrogram_data(wave, sample_rate: int = 8000, *, window: int = 256, hop: int = 64):
    """The short-time spectrum of a waveform ``[T]``: ``(level [F, N], frequencies [F],
    times [N])``.

    Frames of ``window`` samples, ``hop`` apart, are multiplied by a Hann window and Fourier
    transformed (``F = window // 2 + 1`` frequencies from 0 Hz to ``sample_rate / 2``; ``times``
    are the frame centres in seconds). ``level`` is ``20 log10 |X| / (sum(window) / 2)`` in dB, so
    a sine of amplitude 1 peaks at 0 dB and a sine of amplitude ``a`` at ``20 log10 a``; white
    noise of standard deviation ``s`` lies near ``20 log10 s + 10 log10(6 / window)``.
    """
    sample_rate = _sample_rate(sample_rate)
    w = _waveform_array(wave)
    for name, value in (("window", window), ("hop", hop)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if window < 4:
        raise ValueError(f"window must be at least 4 samples, got {window}")
    taper = torch.hann_window(window, periodic=True, dtype=torch.float64)
    spectrum = torch.stft(
        torch.from_numpy(w),
        n_fft=window,
        hop_length=hop,
        window=taper,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )  # [F, N]
    magnitude = spectrum.abs() / (taper.sum() / 2)
    level = 20 * torch.log10(magnitude.clamp(min=1e-10))
    frequencies = np.arange(window // 2 + 1) * sample_rate / window
    times = np.arange(level.shape[1]) * hop / sample_rate
    return level.numpy(), frequencies, times


def waveform(
    wave,
    sample_rate: int = 8000,
    *,
    title: str = "Waveform",
    ax=None,
    color: str = "#4c72b0",
    ylim: float | None = None,
):
    """A waveform ``[T]`` (float, in ``[-1, 1]``) against time in seconds.

    ``ylim`` fixes the amplitude axis to ``[-ylim, ylim]`` (default: 1.1 times the peak), so
    several clips can share one scale.
    """
    sample_rate = _sample_rate(sample_rate)
    w = _waveform_array(wave)
    ax = _axes(ax, figsize=(6, 2.5))
    ax.plot(np.arange(len(w)) / sample_rate, w, color=color, lw=0.5)
    peak = ylim if ylim is not None else 1.1 * max(float(np.abs(w).max()), 1e-3)
    ax.set_ylim(-peak, peak)
    ax.set_xlim(0, (len(w) - 1) / sample_rate)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    ax.set_title(title)
    return ax


def spectrogram(
    wave,
    sample_rate: int = 8000,
    *,
    title: str = "Spectrogram",
    ax=None,
    window: int = 256,
    hop: int = 64,
    max_frequency: float | None = None,
    dynamic_range: float = 80.0,
    vmax: float | None = None,
    cmap: str = "magma",
):
    """The spectrogram of a waveform ``[T]``: time (s) across, frequency (Hz) up, level in dB
    (see :func:`spectrogram_data`) as colour. A steady note is a horizontal line at its
    pitch, with its harmonics at whole multiples above it.

    Colours span ``[vmax - dynamic_range, vmax]`` dB (``vmax``: the loudest bin unless given,
    so that several clips can share one scale). Returns ``(ax, image)`` for a colour bar.
    """
    level, frequencies, times = spectrogram_data(wave, sample_rate, window=window, hop=hop)
    if not dynamic_range > 0:
        raise ValueError(f"dynamic_range must be positive (dB), got {dynamic_range!r}")
    top = float(level.max()) if vmax is None else float(vmax)
    ax = _axes(ax, figsize=(6, 3))
    step = times[1] - times[0] if len(times) > 1 else hop / sample_rate
    image = ax.imshow(
        level,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        vmin=top - dynamic_range,
        vmax=top,
        interpolation="nearest",
        extent=(
            times[0] - step / 2,
            times[-1] + step / 2,
            frequencies[0],
            frequencies[-1],
        ),
    )
    ax.set_ylim(0, max_frequency if max_frequency is not None else frequencies[-1])
    ax.set_xlim(0, (len(torch.as_tensor(wave)) - 1) / sample_rate)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title)
    return ax, image


def audio_figure(
    clips,
    sample_rate: int = 8000,
    titles: Sequence[str] | None = None,
    *,
    title: str | None = None,
    max_frequency: float | None = None,
    dynamic_range: float = 80.0,
    window: int = 256,
    hop: int = 64,
):
    """Clips side by side: one column per clip, its waveform on top and its spectrogram below.

    ``clips`` is a float tensor ``[N, T]`` or a list of ``N`` waveforms (lengths may differ).
    All waveforms share one amplitude scale and all spectrograms one colour scale (the loudest
    bin of any clip at the top, ``dynamic_range`` dB below it at the bottom), so loudness and
    noise can be compared across clips; one colour bar on the right gives the level in dB.
    Returns the figure (``2 N`` panels and the colour bar).
    """
    sample_rate = _sample_rate(sample_rate)
    if isinstance(clips, (torch.Tensor, np.ndarray)):
        if clips.ndim == 1:
            clips = clips[None]
        if clips.ndim != 2:
            raise ValueError(f"expected clips [N, T] or a list of waveforms, got {clips.ndim} dims")
    waves = [_waveform_array(c, f"clip {i}") for i, c in enumerate(clips)]
    if not waves:
        raise ValueError("audio_figure needs at least one clip")
    if titles is None:
        titles = [f"clip {i + 1}" for i in range(len(waves))]
    if len(titles) != len(waves):
        raise ValueError(f"{len(waves)} clips but {len(titles)} titles")
    levels = [spectrogram_data(w, sample_rate, window=window, hop=hop)[0] for w in waves]
    top = max(float(level.max()) for level in levels)
    peak = 1.1 * max(float(np.abs(w).max()) for w in waves)
    n = len(waves)
    fig, axes = plt.subplots(
        2,
        n,
        figsize=(3.4 * n + 1.0, 5.2),
        squeeze=False,
        layout="constrained",
        gridspec_kw=dict(height_ratios=[1, 1.6]),
    )
    image = None
    for i, (w, name) in enumerate(zip(waves, titles, strict=True)):
        waveform(w, sample_rate, title=name, ax=axes[0, i], ylim=max(peak, 1e-3))
        _, image = spectrogram(
            w,
            sample_rate,
            title="",
            ax=axes[1, i],
            window=window,
            hop=hop,
            max_frequency=max_frequency,
            dynamic_range=dynamic_range,
            vmax=top,
        )
        if i:
            axes[0, i].set_ylabel("")
            axes[1, i].set_ylabel("")
    fig.colorbar(image, ax=axes[1, :].tolist(), shrink=0.9, label="level (dB re full scale)")
    if title:
        fig.suptitle(title)
    return fig


def dilated_stack_figure(
    dilations: Sequence[int],
    kernel_size: int = 2,
    *,
    num_steps: int | None = None,
    title: str | None = None,
    ax=None,
):
    """A stack of causal convolutions drawn as in the WaveNet paper's Figure 3.

    Rows are the input and one row per layer (layer ``l`` has dilation ``dilations[l]``);
    columns are time steps. Every unit is joined to the ``kernel_size`` units of the layer
    below that it reads (itself and ``dilation`` apart going back); the connections that reach
    the last output are highlighted, and the inputs they start from are its receptive field,
    ``1 + (kernel_size - 1) * sum(dilations)`` steps. ``num_steps`` defaults to that plus 4.
    """
    dilations = list(dilations)
    if not dilations or any(
        isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dilations
    ):
        raise ValueError(
            f"dilations must be a non-empty list of positive integers, got {dilations}"
        )
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive integer, got {kernel_size!r}")
    field = 1 + (kernel_size - 1) * sum(dilations)
    num_steps = field + 4 if num_steps is None else num_steps
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    depth = len(dilations)
    # active[l]: the units of row l (0 = input) that the last output reads, walking down.
    active = [set() for _ in range(depth + 1)]
    active[depth] = {num_steps - 1}
    for layer in range(depth, 0, -1):
        d = dilations[layer - 1]
        for t in active[layer]:
            active[layer - 1].update(t - i * d for i in range(kernel_size) if t - i * d >= 0)
    ax = _axes(ax, figsize=(max(6.0, 0.4 * num_steps + 2.0), 0.75 * depth + 1.6))
    for layer in range(1, depth + 1):
        d = dilations[layer - 1]
        for t in range(num_steps):
            for i in range(kernel_size):
                s = t - i * d
                if s < 0:
                    continue
                hot = t in active[layer] and s in active[layer - 1]
                ax.plot(
                    [s, t],
                    [layer - 1, layer],
                    color="#c44e52" if hot else "0.85",
                    lw=1.6 if hot else 0.6,
                    zorder=2 if hot else 1,
                )
    for layer in range(depth + 1):
        ts = np.arange(num_steps)
        hot = np.array([t in active[layer] for t in ts])
        ax.scatter(ts[~hot], np.full((~hot).sum(), layer), s=28, color="white", ec="0.6", zorder=3)
        ax.scatter(ts[hot], np.full(hot.sum(), layer), s=34, color="#c44e52", ec="k", zorder=4)
    names = ["input"] + [
        f"{'output' if layer == depth else 'hidden'} (dilation {d})"
        for layer, d in enumerate(dilations, start=1)
    ]
    ax.set_yticks(range(depth + 1), names)
    ax.set_xticks(range(0, num_steps, max(1, num_steps // 10)))
    ax.set_xlim(-0.7, num_steps - 0.3)
    ax.set_ylim(-0.5, depth + 0.5)
    ax.set_xlabel("time step")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if title is None:
        title = (
            f"Causal convolutions, kernel {kernel_size}, dilations "
            f"{', '.join(map(str, dilations))}: receptive field {field} steps"
        )
    ax.set_title(title)
    return ax


# -- attention (chapter "Transformers and GPT") ------------------------------------------------


def attention_maps(
    weights: torch.Tensor,
    labels: Sequence[str] | None = None,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    title: str = "Attention weights",
    cmap: str = "Blues",
):
    """Attention weights ``[H, T, T]`` as one heatmap per head, in a grid of ``ncols`` columns.

    Row ``t`` of a head is the weighted average that position ``t`` takes over the positions
    ``j`` (its entries are non-negative and sum to 1; a causal head is zero above the
    diagonal). ``labels`` (``T`` strings, e.g. the symbols read at each position) name the rows
    and columns; ``titles`` name the heads (default ``head 0``, ``head 1``, ...). Returns the
    Figure. Chapter "Transformers and GPT".
    """
    weights = torch.as_tensor(weights).detach().cpu().double()
    if weights.dim() == 2:
        weights = weights[None]
    if weights.dim() != 3 or weights.shape[1] != weights.shape[2]:
        raise ValueError(
            f"expected attention weights of shape [H, T, T], got {list(weights.shape)}"
        )
    heads, length, _ = weights.shape
    if labels is not None and len(labels) != length:
        raise ValueError(f"{length} positions but {len(labels)} labels")
    if titles is None:
        titles = [f"head {h}" for h in range(heads)]
    if len(titles) != heads:
        raise ValueError(f"{heads} heads but {len(titles)} titles")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    ncols = min(ncols, heads)
    nrows = math.ceil(heads / ncols)
    side = min(4.5, max(2.6, 0.09 * length + 1.0))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(side * ncols + 0.8, side * nrows + 0.5),
        layout="constrained",
        squeeze=False,
    )
    image = None
    for h, ax in enumerate(axes.flat):
        if h >= heads:
            ax.axis("off")
            continue
        image = ax.imshow(weights[h].numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(titles[h])
        if labels is not None:
            size = 7 if length <= 40 else 6 if length <= 56 else 4
            ax.set_xticks(range(length), labels, fontsize=size, family="monospace")
            ax.set_yticks(range(length), labels, fontsize=size, family="monospace")
        ax.set_xlabel("key position $j$ (attended to)")
        ax.set_ylabel("query position $t$")
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    fig.suptitle(title)
    return fig
