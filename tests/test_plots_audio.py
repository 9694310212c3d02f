"""Audio figures (chapter "WaveNet"): labelled, one panel per clip, honest spectra, clear errors."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from arbook import plots
from arbook.audio import mu_law_encode, tones

RATE = 8000


def sine(frequency: float, amplitude: float = 0.5, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(round(seconds * RATE)) / RATE
    return amplitude * torch.sin(2 * math.pi * frequency * t)


def test_spectrogram_data_finds_the_pitch_and_the_level():
    level, frequencies, times = plots.spectrogram_data(sine(440.0, 0.5), RATE, window=256, hop=64)
    assert level.shape == (129, len(times)) and frequencies[-1] == RATE / 2
    peak = frequencies[level[:, len(times) // 2].argmax()]
    assert abs(peak - 440.0) <= RATE / 256  # within one frequency bin
    # A sine of amplitude a peaks near 20 log10(a) dB (a little lower between two bins).
    assert 20 * math.log10(0.5) - 2.0 < level[:, len(times) // 2].max() <= 20 * math.log10(0.5)
    assert times[1] - times[0] == pytest.approx(64 / RATE)


def test_waveform_and_spectrogram_are_labelled():
    clip = tones("test", 1)[0]
    ax = plots.waveform(clip, RATE, title="a test clip")
    assert ax.get_title() == "a test clip"
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "amplitude"
    assert ax.get_xlim()[1] == pytest.approx((len(clip) - 1) / RATE)
    ax, image = plots.spectrogram(clip.numpy(), RATE, max_frequency=2000, dynamic_range=60)
    assert "Hz" in ax.get_ylabel() and "s" in ax.get_xlabel()
    assert ax.get_ylim() == (0, 2000)
    low, high = image.get_clim()
    assert high - low == pytest.approx(60)
    plt.close("all")


def test_audio_figure_has_a_column_per_clip():
    clips = tones("test", 3, seconds=0.25)
    fig = plots.audio_figure(clips, RATE, ["real 1", "real 2", "sample"], title="Clips")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 6 and len(fig.axes) == 7  # waveform + spectrogram each, one colour bar
    assert [ax.get_title() for ax in panels if ax.get_title()] == [
        "real 1",
        "real 2",
        "sample",
    ]
    assert fig.get_suptitle() == "Clips"
    # One colour scale and one amplitude scale for all clips.
    images = [ax.images[0] for ax in panels if ax.images]
    assert len(images) == 3 and len({im.get_clim() for im in images}) == 1
    assert len({ax.get_ylim() for ax in panels if not ax.images}) == 1
    # Clips of different lengths in a list; default titles.
    fig = plots.audio_figure([clips[0], clips[1, :1000]], RATE)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["clip 1", "clip 2"]
    plt.close("all")


def test_dilated_stack_figure_highlights_the_receptive_field():
    ax = plots.dilated_stack_figure([1, 2, 4, 8])
    assert "receptive field 16" in ax.get_title()
    highlighted_inputs = [
        coll
        for coll in ax.collections
        if len(coll.get_offsets()) and np.all(np.asarray(coll.get_offsets())[:, 1] == 0)
    ]
    counts = sorted(len(coll.get_offsets()) for coll in highlighted_inputs)
    assert counts == [4, 16]  # 20 steps: 16 inputs reach the last output, 4 do not
    ax = plots.dilated_stack_figure([1, 1, 1], kernel_size=3, num_steps=9, title="plain")
    assert ax.get_title() == "plain"
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "output (dilation 1)"
    plt.close("all")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: plots.waveform(mu_law_encode(sine(440.0))), TypeError, "mu_law_decode"),
        (lambda: plots.waveform(torch.zeros(2, 100)), ValueError, "shape"),
        (lambda: plots.waveform(torch.tensor([0.0, float("nan")])), ValueError, "NaN"),
        (lambda: plots.spectrogram(sine(440.0), 0), ValueError, "sample_rate"),
        (lambda: plots.spectrogram(sine(440.0), window=0), ValueError, "window"),
        (lambda: plots.spectrogram(sine(440.0), dynamic_range=0), ValueError, "dynamic_range"),
        (lambda: plots.audio_figure([]), ValueError, "at least one clip"),
        (lambda: plots.audio_figure(torch.zeros(2, 3, 4)), ValueError, "clips"),
        (lambda: plots.audio_figure(torch.zeros(2, 100), titles=["one"]), ValueError, "titles"),
        (lambda: plots.dilated_stack_figure([]), ValueError, "dilations"),
        (lambda: plots.dilated_stack_figure([1, 0]), ValueError, "dilations"),
        (lambda: plots.dilated_stack_figure([1, 2], kernel_size=0), ValueError, "kernel_size"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
    plt.close("all")
