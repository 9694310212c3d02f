"""Audio data: the synthetic tones, μ-law companding and WAV files."""

from __future__ import annotations

import wave

import numpy as np
import pytest
import torch

from arbook import audio, data


def test_mu_law_round_trip_of_every_code():
    codes = torch.arange(256)
    values = audio.mu_law_decode(codes)
    assert torch.equal(audio.mu_law_encode(values), codes)
    assert values.dtype == torch.float32


def test_mu_law_is_monotone_and_spans_the_range():
    values = audio.mu_law_decode(torch.arange(256))
    assert (values[1:] > values[:-1]).all()
    assert values[0] == -1.0 and values[-1] == 1.0
    x = torch.linspace(-1, 1, 10001)
    codes = audio.mu_law_encode(x)
    assert (codes[1:] >= codes[:-1]).all()
    assert codes.min() == 0 and codes.max() == 255


def test_mu_law_steps_are_fine_near_silence():
    values = audio.mu_law_decode(torch.arange(256))
    steps = values[1:] - values[:-1]
    # the step at silence is ~0.0002, the step at full scale ~0.04: a ratio of mu / ln(1 + mu)
    assert steps[127] < steps[0] / 100
    assert steps[127] == pytest.approx(steps.min())


def test_mu_law_with_other_levels():
    codes = torch.arange(16)
    assert torch.equal(audio.mu_law_encode(audio.mu_law_decode(codes, 16), 16), codes)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.tensor([0.5, 1.5]), "peak"),
        (torch.tensor([float("nan")]), "NaN"),
    ],
)
def test_mu_law_encode_rejects_bad_audio(bad, message):
    with pytest.raises(ValueError, match=message):
        audio.mu_law_encode(bad)


def test_mu_law_decode_rejects_bad_codes():
    with pytest.raises(ValueError, match=r"\[0, 256\)"):
        audio.mu_law_decode(torch.tensor([0, 256]))
    with pytest.raises(TypeError, match="integer"):
        audio.mu_law_decode(torch.tensor([0.5]))
    with pytest.raises(ValueError, match="levels"):
        audio.mu_law_encode(torch.zeros(3), levels=1)


def test_tones_are_reproducible_bit_for_bit():
    a = audio.tones("train", 4)
    b = audio.tones("train", 4)
    assert torch.equal(a, b)
    assert a.shape == (4, 8000) and a.dtype == torch.float32
    # any clip can be regenerated on its own from its seed
    assert np.array_equal(np.float32(audio.tone_clip((0, 0, 2))), a[2].numpy())
    assert not torch.equal(audio.tones("train", 4, seed=1), a)


def test_train_and_test_clips_differ():
    train, test = audio.tones("train", 8), audio.tones("test", 8)
    for clip in test:
        assert not any(torch.equal(clip, other) for other in train)


def test_tones_look_like_music():
    clips = audio.tones("train", 16)
    assert clips.abs().max() <= 1.0
    assert 0.02 < clips.std() < 0.5  # audible, never clipped
    # pitched: the spectrum of each clip has a clear peak between 200 Hz and 1.6 kHz
    spectrum = torch.fft.rfft(clips, dim=1).abs()
    freqs = torch.fft.rfftfreq(clips.shape[1], 1 / 8000)
    peaks = freqs[spectrum.argmax(dim=1)]
    assert ((peaks > 200) & (peaks < 1600)).all()
    assert (spectrum.amax(dim=1) > 20 * spectrum.median(dim=1).values).all()


def test_tones_options_and_errors():
    assert audio.tones("test", 2, seconds=0.5, sample_rate=16000).shape == (2, 8000)
    quiet = audio.tones("train", 2, noise=0.0)
    assert not torch.equal(quiet, audio.tones("train", 2))
    with pytest.raises(ValueError, match="split"):
        audio.tones("validation")
    with pytest.raises(ValueError, match="num_clips"):
        audio.tones("train", 0)
    with pytest.raises(ValueError, match="sample_rate"):
        audio.tones("train", 1, sample_rate=1000)
    with pytest.raises(ValueError, match="seconds"):
        audio.tones("train", 1, seconds=0)


def test_tones_data_are_mu_law_codes():
    codes = data.tones_data("test", num_clips=2)
    assert codes.dtype == torch.long and codes.shape == (2, 8000)
    assert torch.equal(codes, data.mu_law_encode(audio.tones("test", 2)))
    assert 0 <= codes.min() and codes.max() < 256


def test_wav_round_trip(tmp_path):
    x = audio.tones("test", 1, seconds=0.25)[0]
    path = audio.write_wav(tmp_path / "sub" / "clip.wav", x)
    with wave.open(str(path)) as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()) == (
            1,
            2,
            8000,
            2000,
        )
    y, rate = audio.read_wav(path)
    assert rate == 8000
    assert (y - x).abs().max() <= 1 / 32767
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left


def test_wav_rejects_bad_audio_and_leaves_nothing(tmp_path):
    target = tmp_path / "bad.wav"
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        audio.write_wav(target, torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="mono"):
        audio.write_wav(target, torch.zeros(2, 10))
    assert not target.exists()


def test_read_wav_rejects_stereo(tmp_path):
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(8000)
        f.writeframes(b"\0" * 40)
    with pytest.raises(ValueError, match="mono"):
        audio.read_wav(path)


def test_windows_over_clips():
    clips = torch.arange(30).view(3, 10)
    windows = data.Windows(clips, 4)
    batch = windows.sample(64, torch.Generator().manual_seed(0))
    assert batch.shape == (64, 4)
    # every window lies inside one clip: consecutive values
    assert (batch[:, 1:] - batch[:, :-1] == 1).all()
    assert set((batch[:, 0] // 10).tolist()) == {0, 1, 2}
    train, val = windows.split(0.3)
    assert torch.equal(val, clips[2:]) and torch.equal(train.codes, clips[:2])
    with pytest.raises(ValueError, match="two clips"):
        data.Windows(clips[:1], 4).split(0.5)
    with pytest.raises(ValueError, match="no windows"):
        data.Windows(clips, 10)
