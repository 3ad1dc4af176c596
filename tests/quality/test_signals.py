"""Each quality signal on synthetic audio whose answer is known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from function.quality.signals import (
    clipping_share,
    cosine_similarity,
    loudness_lufs,
    normalize_loudness,
    silence,
)

SR = 24000


def tone(seconds: float, amplitude: float = 0.3, freq: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def gap(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SR), np.float32)


def test_a_sine_clipped_at_half_its_amplitude_is_clipped_two_thirds_of_the_time() -> None:
    # |2 sin x| >= 1 where |sin x| >= 1/2: a share of 1 - (2/pi) * asin(1/2) = 2/3 of each period.
    clipped = np.clip(tone(2.0, amplitude=2.0, freq=50.0), -1.0, 1.0)
    assert clipping_share(clipped) == pytest.approx(2 / 3, abs=0.005)
    assert clipping_share(tone(2.0, amplitude=0.99)) == 0.0
    assert clipping_share(np.zeros(0, np.float32)) == 0.0


def test_two_seconds_of_silence_inside_speech_is_one_long_pause() -> None:
    s = silence(np.concatenate([tone(1.0), gap(2.0), tone(1.0)]), SR)
    assert s.long_pause_s == pytest.approx(2.0, abs=0.02)
    assert s.longest_pause_s == pytest.approx(2.0, abs=0.02)
    assert s.share == pytest.approx(0.5, abs=0.01)
    assert s.leading_s == 0.0 and s.trailing_s == 0.0
    assert s.speech_s == pytest.approx(4.0, abs=0.02)


def test_leading_and_trailing_silence_and_short_pauses() -> None:
    # 0.3 s between words is a normal pause, not a long one.
    audio = np.concatenate([gap(0.5), tone(1.0), gap(0.3), tone(1.0), gap(1.5)])
    s = silence(audio, SR)
    assert s.leading_s == pytest.approx(0.5, abs=0.02)
    assert s.trailing_s == pytest.approx(1.5, abs=0.02)
    assert s.long_pause_s == 0.0 and s.longest_pause_s == pytest.approx(0.3, abs=0.02)
    assert s.speech_s == pytest.approx(2.3, abs=0.02)
    assert s.seconds == pytest.approx(4.3, abs=0.02)


def test_silence_is_relative_to_the_loudest_frame_and_absolute_below_the_noise_floor() -> None:
    quiet_speech = tone(1.0, amplitude=0.003)  # about -53 dBFS: quiet, but the only sound
    assert silence(quiet_speech, SR).speech_s == pytest.approx(1.0, abs=0.02)
    hum = tone(1.0, amplitude=0.003)  # 40 dB under the speech beside it: silence
    s = silence(np.concatenate([tone(1.0, amplitude=0.5), hum]), SR)
    assert s.trailing_s == pytest.approx(1.0, abs=0.02)
    nothing = silence(gap(1.0), SR)
    assert nothing.share == 1.0 and nothing.speech_s == 0.0 and nothing.leading_s == pytest.approx(1.0)


def test_loudness_of_a_full_scale_1khz_sine_is_minus_3_lufs() -> None:
    # ITU-R BS.1770-4: a 0 dBFS 1 kHz sine in one channel reads -3.01 LKFS; -20 dB of level, -20 LU.
    assert loudness_lufs(tone(3.0, amplitude=1.0, freq=1000.0), SR) == pytest.approx(-3.01, abs=0.05)
    assert loudness_lufs(tone(3.0, amplitude=0.1, freq=1000.0), SR) == pytest.approx(-23.01, abs=0.05)
    assert loudness_lufs(tone(0.3), SR) is None  # shorter than one 400 ms gating block
    assert loudness_lufs(gap(2.0), SR) is None


def test_normalization_reaches_the_target_unless_the_peak_would_pass_minus_1_dbfs() -> None:
    sine = tone(3.0, amplitude=0.1, freq=1000.0)
    out, gain = normalize_loudness(sine, SR, -16.0)
    assert gain == pytest.approx(7.01, abs=0.05)
    assert loudness_lufs(out, SR) == pytest.approx(-16.0, abs=0.05)
    loud, gain = normalize_loudness(sine, SR, -1.0)  # would need a peak of 1.26
    assert float(np.abs(loud).max()) == pytest.approx(10 ** (-1 / 20), abs=1e-4)
    assert gain == pytest.approx(20 * math.log10(10 ** (-1 / 20) / 0.1), abs=1e-3)
    same, gain = normalize_loudness(gap(1.0), SR, -16.0)
    assert gain == 0.0 and not same.any()


def test_cosine_similarity() -> None:
    a = np.array([1.0, 0.0, 1.0])
    assert cosine_similarity(a, a * 3) == pytest.approx(1.0)
    assert cosine_similarity(a, -a) == pytest.approx(-1.0)
    assert cosine_similarity(a, np.array([0.0, 1.0, 0.0])) == pytest.approx(0.0)
    assert cosine_similarity(a, np.zeros(3)) == 0.0
