"""Signals computed from a waveform alone: silence, clipping, loudness (ITU-R BS.1770-4)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyloudnorm

from function.quality.policy import MAX_EMBED_S, MIN_EMBED_S

Audio = npt.NDArray[np.float32]

FRAME_S = 0.02
# A frame is silent when its RMS is 40 dB below the loudest frame's (speech's dynamic range stays
# well inside that), or below -60 dBFS (the vocoder's noise floor) whatever the loudest frame is.
RELATIVE_SILENCE_DB = -40.0
ABSOLUTE_SILENCE_DBFS = -60.0
# A pause inside speech this long or longer counts as a long pause: sentence breaks in read
# speech run 0.3-0.7 s, so 0.75 s is already unusual and the multi-second gaps of a derailed
# generation stand out.
LONG_PAUSE_S = 0.75
# A sample at or above this magnitude is clipped (float output is clipped to +-1 when encoded).
CLIP_LEVEL = 0.999
# BS.1770's gating block is 400 ms: shorter audio has no integrated loudness.
MIN_LOUDNESS_S = 0.4


@dataclass(frozen=True)
class Silence:
    leading_s: float
    trailing_s: float
    long_pause_s: float  # internal pauses of LONG_PAUSE_S or more, summed
    longest_pause_s: float  # the longest internal pause (any length)
    share: float  # silent frames / all frames
    speech_s: float  # from the first to the last non-silent frame

    @property
    def seconds(self) -> float:
        return self.leading_s + self.speech_s + self.trailing_s


def _frame_rms_db(audio: Audio, sample_rate: int) -> npt.NDArray[np.float64]:
    frame = max(1, round(FRAME_S * sample_rate))
    n = audio.shape[0] // frame
    if n == 0:
        return np.zeros(0)
    frames = audio[: n * frame].astype(np.float64).reshape(n, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return np.asarray(20 * np.log10(np.maximum(rms, 1e-10)))


def silence(audio: Audio, sample_rate: int) -> Silence:
    """Where the audio is silent, in 20 ms frames (a partial last frame is ignored)."""
    db = _frame_rms_db(audio, sample_rate)
    if db.size == 0 or db.max() < ABSOLUTE_SILENCE_DBFS:
        total = audio.shape[0] / sample_rate
        return Silence(total, 0.0, 0.0, 0.0, 1.0, 0.0)
    silent = (db < db.max() + RELATIVE_SILENCE_DB) | (db < ABSOLUTE_SILENCE_DBFS)
    voiced = np.flatnonzero(~silent)
    first, last = int(voiced[0]), int(voiced[-1])
    inner = silent[first : last + 1]
    # Runs of silent frames between voiced ones: where the mask switches on and off.
    edges = np.diff(np.concatenate(([0], inner.astype(np.int8), [0])))
    runs = (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)) * FRAME_S
    long_runs = runs[runs >= LONG_PAUSE_S - 1e-9]
    return Silence(
        leading_s=first * FRAME_S,
        trailing_s=(len(db) - 1 - last) * FRAME_S,
        long_pause_s=float(long_runs.sum()),
        longest_pause_s=float(runs.max()) if runs.size else 0.0,
        share=float(silent.mean()),
        speech_s=(last - first + 1) * FRAME_S,
    )


def speech_span(audio: Audio, sample_rate: int, sil: Silence | None = None) -> Audio | None:
    """What a speaker embedding is measured on: the speech with leading and trailing silence cut, at
    most MAX_EMBED_S of it (the cost stays bounded); None under MIN_EMBED_S (too little to embed)."""
    sil = silence(audio, sample_rate) if sil is None else sil
    if sil.speech_s < MIN_EMBED_S:
        return None
    start = round(sil.leading_s * sample_rate)
    return audio[start : start + round(min(sil.speech_s, MAX_EMBED_S) * sample_rate)]


def clipping_share(audio: Audio) -> float:
    """The share of samples at full scale: clipped when encoded to integer PCM."""
    if audio.shape[0] == 0:
        return 0.0
    return float(np.count_nonzero(np.abs(audio) >= CLIP_LEVEL) / audio.shape[0])


def loudness_lufs(audio: Audio, sample_rate: int) -> float | None:
    """Integrated loudness (LUFS, BS.1770-4 with its gates); None for audio under 400 ms or silence."""
    if audio.shape[0] < MIN_LOUDNESS_S * sample_rate:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns about clipped input; clipping is its own signal
        value = pyloudnorm.Meter(sample_rate).integrated_loudness(audio.astype(np.float64))
    return float(value) if math.isfinite(value) else None


def normalize_loudness(
    audio: Audio,
    sample_rate: int,
    target_lufs: float,
    *,
    peak_dbfs: float = -1.0,
    measured: float | None = None,
) -> tuple[Audio, float]:
    """The audio at `target_lufs` (one gain for the whole clip), the gain lowered where needed so no
    sample peaks above `peak_dbfs`; returns (audio, gain in dB). Unmeasurable audio is left as is.
    `measured`: the audio's loudness when the caller already has it."""
    current = loudness_lufs(audio, sample_rate) if measured is None else measured
    if current is None:
        return audio, 0.0
    gain_db = target_lufs - current
    peak = float(np.abs(audio).max())
    if peak > 0:
        gain_db = min(gain_db, peak_dbfs - 20 * math.log10(peak))
    return (audio * np.float32(10 ** (gain_db / 20))).astype(np.float32), gain_db


def cosine_similarity(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> float:
    a64, b64 = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    norm = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return float(a64 @ b64 / norm) if norm > 0 else 0.0
