"""Audio front-ends in numpy that reproduce coqui-tts's torchaudio ones.

Resampling is torchaudio's windowed-sinc (`sinc_interp_hann`, width 6, rolloff 0.99), so voices
cloned here match coqui-tts's; the STFT follows torch.stft(center=True, reflect padding); the mel
filterbanks and windows come from the bundle (computed by torchaudio at export time).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


# torchaudio.functional.resample's defaults, which coqui-tts uses.
LOWPASS_WIDTH = 6
ROLLOFF = 0.99
# Work arrays of resample() hold at most this many float64 values (2 MiB) each, whatever the rates.
RESAMPLE_CHUNK_VALUES = 2**18


def _sinc_taps(
    phases: npt.NDArray[np.int64],
    positions: npt.NDArray[np.int64],
    orig: int,
    new: int,
    width: int,
    base: float,
) -> npt.NDArray[np.float64]:
    """torchaudio's `sinc_interp_hann` kernel at [phase, position], in float32 step by step as
    torchaudio computes it for float32 audio (float64 would differ from it by up to 1e-3 at odd rates)."""
    f32 = np.float32
    t = ((-phases).astype(f32) / f32(new))[:, None] + (positions - width).astype(f32) / f32(orig)
    t = np.clip(t * f32(base), f32(-LOWPASS_WIDTH), f32(LOWPASS_WIDTH))
    window: npt.NDArray[np.float32] = np.cos(t * f32(math.pi) / f32(LOWPASS_WIDTH) / f32(2)) ** 2
    t = t * f32(math.pi)
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel: npt.NDArray[np.float32] = np.where(t == 0, f32(1.0), np.sin(t) / t)
    return (kernel * (window * f32(base / orig))).astype(np.float64)


def resample(audio: FloatArray, orig_sr: int, new_sr: int) -> FloatArray:
    """Resample a mono signal like torchaudio.functional.resample's defaults, in bounded memory.

    torchaudio convolves blocks of `orig` inputs with a dense (new, orig + 2 * width) kernel, where
    orig/new is the reduced ratio: for 8002 -> 22050 Hz (4001/11025) that is 44 M values. The Hann
    window spans about 12 * orig / base consecutive taps of each row (torchaudio's taps beyond it are
    under 1e-11), so only those are computed and summed: the output equals torchaudio's to float32
    rounding at every ratio, and time and memory follow the output length times those taps, in
    chunks of RESAMPLE_CHUNK_VALUES.
    """
    if orig_sr == new_sr:
        return audio.astype(np.float32, copy=False)
    gcd = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // gcd, new_sr // gcd
    base = min(orig, new) * ROLLOFF
    width = math.ceil(LOWPASS_WIDTH * orig / base)
    size = 2 * width + orig  # torchaudio's kernel length
    taps = min(size, math.ceil(2 * LOWPASS_WIDTH * orig / base) + 3)  # a row's non-zero span, and a margin
    length = audio.shape[-1]
    padded = np.zeros(width + length + width + orig)  # np.pad of a float64 copy would hold two
    padded[width : width + length] = audio
    n_blocks = (padded.shape[0] - size) // orig + 1
    windows = np.lib.stride_tricks.sliding_window_view(padded, taps)
    out = np.empty((n_blocks, new))
    block_step = max(1, min(n_blocks, RESAMPLE_CHUNK_VALUES // taps))
    phase_step = max(1, RESAMPLE_CHUNK_VALUES // (taps * block_step))
    for p0 in range(0, new, phase_step):
        phases = np.arange(p0, min(new, p0 + phase_step))
        # Where each row's non-zero span starts (one tap early against rounding), kept inside the kernel.
        first = np.floor(width + orig * phases / new - LOWPASS_WIDTH * orig / base).astype(np.int64) - 1
        first = np.clip(first, 0, size - taps)
        rows = _sinc_taps(phases, first[:, None] + np.arange(taps), orig, new, width, base)
        for b0 in range(0, n_blocks, block_step):
            starts = np.arange(b0, min(n_blocks, b0 + block_step))[:, None] * orig + first
            out[b0 : b0 + starts.shape[0], p0 : p0 + phases.shape[0]] = np.einsum(
                "bpt,pt->bp", windows[starts], rows
            )
    target = math.ceil(new * length / orig)
    return out.reshape(-1)[:target].astype(np.float32)


def power_spectrogram(audio: FloatArray, window: FloatArray, hop: int) -> npt.NDArray[np.float64]:
    """|STFT|^2 as torch.stft(center=True, pad_mode='reflect', onesided=True): shape (freq, frames)."""
    n_fft = window.shape[0]
    pad = n_fft // 2
    x = np.pad(audio.astype(np.float64), (pad, pad), mode="reflect")
    n_frames = 1 + (x.shape[0] - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, n_fft), strides=(x.strides[0] * hop, x.strides[0])
    )
    spec = np.fft.rfft(frames * window.astype(np.float64), axis=1)
    return (spec.real**2 + spec.imag**2).T


def mel_spectrogram(audio: FloatArray, window: FloatArray, hop: int, fbank: FloatArray) -> FloatArray:
    """torchaudio MelSpectrogram(power=2) with the given (freq, mels) filterbank: (mels, frames)."""
    power = power_spectrogram(audio, window, hop)
    return (fbank.astype(np.float64).T @ power).astype(np.float32)


def pre_emphasis(audio: FloatArray, coefficient: float) -> FloatArray:
    """coqui's PreEmphasis: reflect-pad one sample on the left, then x[n] - c * x[n-1]."""
    x = audio.astype(np.float32)
    prev = np.concatenate([x[1:2], x[:-1]])
    return (x - np.float32(coefficient) * prev).astype(np.float32)
