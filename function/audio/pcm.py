"""PCM16 framing shared by the whole-file and the streaming encoders."""

from __future__ import annotations

import struct

import numpy as np

# Opus only runs at these rates; anything else is resampled to 48 kHz first.
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def pcm16_bytes(audio: np.ndarray) -> bytes:
    """Clip to [-1, 1] and convert to little-endian signed 16-bit PCM."""
    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


def wav_stream_header(sample_rate: int, channels: int = 1) -> bytes:
    """A 44-byte PCM16 WAV header with the RIFF and data sizes left open (0xFFFFFFFF).

    Players that read progressively (browsers, ffplay, VLC) accept the open length and play the
    PCM as it arrives; the total length is unknown when the first chunk leaves.
    """
    block_align = channels * 2
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block_align, block_align, 16)
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
    )
