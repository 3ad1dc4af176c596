"""Audio front-ends in numpy that reproduce coqui-tts's torchaudio ones.

Resampling is torchaudio's windowed-sinc (`sinc_interp_hann`, width 6, rolloff 0.99), so voices
cloned here match coqui-tts's; the STFT follows torch.stft(center=True, reflect padding); the mel
filterbanks and windows come from the bundle (computed by torchaudio at export time).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@lru_cache(maxsize=16)
def _sinc_kernel(
    orig: int, new: int, width_zeros: int = 6, rolloff: float = 0.99
) -> tuple[npt.NDArray[np.float64], int]:
    base = min(orig, new) * rolloff
    width = math.ceil(width_zeros * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = (np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + idx) * base
    t = np.clip(t, -width_zeros, width_zeros)
    window = np.cos(t * math.pi / width_zeros / 2) ** 2
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, 1.0, np.sin(t) / t)
    kernel = kernel * window * (base / orig)
    # torchaudio rounds the kernel to float32 before convolving.
    return kernel.astype(np.float32).astype(np.float64), width


def resample(audio: FloatArray, orig_sr: int, new_sr: int) -> FloatArray:
    """Resample a mono signal exactly like torchaudio.functional.resample's defaults."""
    if orig_sr == new_sr:
        return audio.astype(np.float32, copy=False)
    gcd = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // gcd, new_sr // gcd
    kernel, width = _sinc_kernel(orig, new)
    length = audio.shape[-1]
    padded = np.pad(audio.astype(np.float64), (width, width + orig))
    n_frames = (padded.shape[0] - kernel.shape[1]) // orig + 1
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, kernel.shape[1]), strides=(padded.strides[0] * orig, padded.strides[0])
    )
    out = (frames @ kernel.T).reshape(-1)
    target = math.ceil(new * length / orig)
    return out[:target].astype(np.float32)


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
