"""Audio for the WaveNet chapter: synthetic tones, μ-law companding and WAV files.

* :func:`tones` -- short melodies synthesised from a seed, reproducible bit for bit: notes of a
  scale with a few harmonics and an attack/decay envelope, at varying tempo and loudness, over a
  faint noise floor. Training and test clips come from disjoint seeds.
* :func:`mu_law_encode` / :func:`mu_law_decode` -- the companding of ITU-T G.711 that WaveNet
  uses to turn a waveform in ``[-1, 1]`` into 256 classes: fine steps near silence, coarse
  steps where the signal is loud, so 8 bits sound like about 13 bits of linear quantisation.
* :func:`write_wav` / :func:`read_wav` -- 16-bit PCM mono WAV files (Python's ``wave`` module).

Chapter "WaveNet".
"""

from __future__ import annotations

import math
import os
import wave
from pathlib import Path

import numpy as np
import torch

from arbook.files import atomic_write

#: Sample rate of :func:`tones` unless told otherwise (telephone quality, as in the WaveNet paper's
#: speech experiments at 16 kHz, halved to keep CPU training short).
SAMPLE_RATE = 8000

#: Number of μ-law levels (8 bits).
MU_LAW_LEVELS = 256

#: The major pentatonic scale, in semitones above its root; no two of its notes are a semitone
#: apart, so every melody is consonant.
PENTATONIC = (0, 2, 4, 7, 9)

_SPLIT_STREAMS = {"train": 0, "test": 1}


def _levels(levels: int) -> int:
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ValueError(f"levels must be an integer >= 2, got {levels!r}")
    return levels


def mu_law_encode(audio: torch.Tensor | np.ndarray, levels: int = MU_LAW_LEVELS) -> torch.Tensor:
    """Quantise a waveform in ``[-1, 1]`` to ``levels`` μ-law classes, a ``LongTensor``.

    With ``mu = levels - 1``: ``F(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu)`` maps ``[-1, 1]``
    onto itself, stretching small amplitudes, and ``F`` is quantised uniformly to
    ``round((F + 1) / 2 * mu)``. Values outside ``[-1, 1]`` are an error (scale the audio first).
    """
    levels = _levels(levels)
    x = torch.as_tensor(audio, dtype=torch.float64)
    if x.numel():
        if not torch.isfinite(x).all():
            raise ValueError("audio contains NaN or infinite values")
        peak = float(x.abs().max())
        if peak > 1.0:
            raise ValueError(
                f"audio must lie in [-1, 1] for mu-law encoding, found a peak of {peak:.4g}; "
                "divide by the peak (or clip) first"
            )
    mu = levels - 1
    companded = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.round((companded + 1) / 2 * mu).long()


def mu_law_decode(codes: torch.Tensor | np.ndarray, levels: int = MU_LAW_LEVELS) -> torch.Tensor:
    """The waveform value (float32, in ``[-1, 1]``) at the centre of each μ-law class: the exact
    inverse of the companding, so ``mu_law_encode(mu_law_decode(c)) == c`` for every class."""
    levels = _levels(levels)
    c = torch.as_tensor(codes)
    if c.dtype.is_floating_point or c.dtype == torch.bool:
        raise TypeError(f"expected integer mu-law codes, got dtype {c.dtype}")
    if c.numel() and (int(c.min()) < 0 or int(c.max()) >= levels):
        raise ValueError(
            f"mu-law codes must be in [0, {levels}), found {int(c.min())}..{int(c.max())}"
        )
    mu = levels - 1
    companded = 2 * c.double() / mu - 1
    return (torch.sign(companded) * torch.expm1(companded.abs() * math.log1p(mu)) / mu).float()


def _note(
    rng: np.random.Generator, frequency: float, num_samples: int, sample_rate: int
) -> np.ndarray:
    """One note: 1-4 harmonics with decaying amplitudes and random phases, shaped by a linear
    attack and an exponential decay."""
    t = np.arange(num_samples) / sample_rate
    harmonics = int(rng.integers(1, 5))
    brightness = rng.uniform(1.0, 2.5)  # higher: the upper harmonics fade faster
    wave_ = np.zeros(num_samples)
    total = 0.0
    for h in range(1, harmonics + 1):
        if h * frequency >= 0.45 * sample_rate:  # keep every partial below Nyquist
            break
        amplitude = h**-brightness
        wave_ += amplitude * np.sin(2 * np.pi * h * frequency * t + rng.uniform(0, 2 * np.pi))
        total += amplitude
    attack = rng.uniform(0.005, 0.03)
    decay = rng.uniform(0.08, 0.5)  # seconds for the amplitude to fall by e
    envelope = np.minimum(t / attack, 1.0) * np.exp(-np.maximum(t - attack, 0.0) / decay)
    return wave_ / total * envelope


def tone_clip(
    seed: int | tuple[int, ...],
    seconds: float = 1.0,
    sample_rate: int = SAMPLE_RATE,
    noise: float = 1e-3,
) -> np.ndarray:
    """One clip ``[round(seconds * sample_rate)]`` (float64 in ``[-1, 1]``) from ``seed``.

    A root note between A3 and A4, a pentatonic scale over two octaves, a tempo of 90-200 beats
    per minute with notes of one or two half-beats, a loudness per clip and per note, and white
    noise of standard deviation ``noise`` (a recording's noise floor; 0 for none).
    """
    rng = np.random.default_rng(seed)
    num_samples = round(seconds * sample_rate)
    root = int(rng.integers(57, 70))  # MIDI note number: A3 .. A4
    pitches = [root + 12 * octave + step for octave in (0, 1) for step in PENTATONIC]
    half_beat = 30.0 / rng.uniform(90, 200)  # seconds
    loudness = rng.uniform(0.2, 0.5)
    clip = np.zeros(num_samples)
    start = 0
    while start < num_samples:
        length = round(half_beat * int(rng.integers(1, 3)) * sample_rate)
        pitch = pitches[int(rng.integers(len(pitches)))]
        frequency = 440.0 * 2 ** ((pitch - 69) / 12)
        # A note rings on past the next onset (release), overlapping it as a real instrument would.
        ring = min(num_samples - start, 2 * length)
        clip[start : start + ring] += (
            loudness * rng.uniform(0.6, 1.0) * _note(rng, frequency, ring, sample_rate)
        )
        start += length
    if noise:
        clip += noise * rng.standard_normal(num_samples)
    return np.clip(clip, -1.0, 1.0)


def tones(
    split: str = "train",
    num_clips: int | None = None,
    *,
    seconds: float = 1.0,
    sample_rate: int = SAMPLE_RATE,
    noise: float = 1e-3,
    seed: int = 0,
) -> torch.Tensor:
    """Synthetic melodies ``[num_clips, round(seconds * sample_rate)]``, float32 in ``[-1, 1]``.

    Clip ``i`` of a split is :func:`tone_clip` seeded by ``(seed, split, i)``, so the training
    and test clips never share a seed, any clip can be regenerated on its own, and the same
    arguments give the same samples bit for bit on every machine. Defaults: 256 training and
    64 test clips of one second at 8 kHz.
    """
    if split not in _SPLIT_STREAMS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(_SPLIT_STREAMS)}")
    if num_clips is None:
        num_clips = 256 if split == "train" else 64
    if isinstance(num_clips, bool) or not isinstance(num_clips, int) or num_clips < 1:
        raise ValueError(f"num_clips must be a positive integer, got {num_clips!r}")
    if not seconds > 0 or round(seconds * sample_rate) < 1:
        raise ValueError(f"seconds must give at least one sample, got {seconds!r}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 4000:
        # the highest note (F#6, 1.5 kHz) must stay below the Nyquist frequency
        raise ValueError(f"sample_rate must be an integer of at least 4000 Hz, got {sample_rate!r}")
    if not 0.0 <= noise < 0.5:
        raise ValueError(f"noise must be in [0, 0.5), got {noise!r}")
    stream = _SPLIT_STREAMS[split]
    clips = [tone_clip((seed, stream, i), seconds, sample_rate, noise) for i in range(num_clips)]
    return torch.from_numpy(np.stack(clips)).float()


def tones_data(split: str = "train", num_clips: int | None = None, **kwargs) -> torch.Tensor:
    """:func:`tones` μ-law encoded to 256 classes: ``[num_clips, samples]`` integers, the form
    :class:`~arbook.models.wavenet.WaveNet` reads (keyword arguments as for :func:`tones`)."""
    return mu_law_encode(tones(split, num_clips, **kwargs))


def write_wav(
    path: str | os.PathLike, audio: torch.Tensor | np.ndarray, sample_rate: int = SAMPLE_RATE
) -> Path:
    """Write a mono waveform in ``[-1, 1]`` as a 16-bit PCM WAV file; returns the path.

    The file is written next to its destination and renamed into place, so a failed write
    never leaves a truncated file behind.
    """
    x = np.asarray(torch.as_tensor(audio, dtype=torch.float64).cpu())
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected one mono waveform of shape [T], got shape {list(x.shape)}")
    if not np.isfinite(x).all() or np.abs(x).max() > 1.0:
        raise ValueError("the waveform must be finite and lie in [-1, 1]")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    pcm = np.round(x * 32767).astype("<i2")

    def write(fh) -> None:
        with wave.open(fh, "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(sample_rate)
            f.writeframes(pcm.tobytes())

    return atomic_write(path, write)


def read_wav(path: str | os.PathLike) -> tuple[torch.Tensor, int]:
    """``(waveform float32 [T] in [-1, 1], sample_rate)`` of a 16-bit PCM mono WAV file."""
    with wave.open(str(path), "rb") as f:
        if f.getnchannels() != 1 or f.getsampwidth() != 2:
            raise ValueError(
                f"{path}: expected 16-bit mono PCM, got {f.getnchannels()} channel(s) of "
                f"{8 * f.getsampwidth()} bits"
            )
        rate = f.getframerate()
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    return torch.from_numpy(pcm.astype(np.float32) / 32767), rate


__all__ = [
    "MU_LAW_LEVELS",
    "SAMPLE_RATE",
    "mu_law_decode",
    "mu_law_encode",
    "read_wav",
    "tone_clip",
    "tones",
    "tones_data",
    "write_wav",
]
