"""Encode float32 mono audio for responses, and frame PCM16 for a streamed WAV."""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf
import soxr

# response_format -> (libsndfile format, subtype); "pcm" is raw little-endian int16 without a header.
_SF = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "opus": ("OGG", "OPUS"),
}
FORMATS = ("wav", "pcm", "flac", "mp3", "opus", "aac")
CONTENT_TYPES = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
    "aac": "audio/aac",
}
# Opus only runs at these rates; anything else is resampled to 48 kHz first.
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


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


def encode_audio(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """Encode float32 mono samples as one of FORMATS."""
    if fmt == "pcm":
        return pcm16_bytes(audio)
    if fmt == "aac":  # libsndfile has no AAC: FFmpeg's encoder, in an ADTS stream
        from function.audio.stream_encode import encode_whole

        return encode_whole(audio, sample_rate, fmt)
    if fmt not in _SF:
        raise ValueError(f"unsupported audio format {fmt!r}; use one of {', '.join(FORMATS)}")
    container, subtype = _SF[fmt]
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if fmt == "opus" and sample_rate not in _OPUS_RATES:
        data = soxr.resample(data, sample_rate, 48000).astype(np.float32)
        sample_rate = 48000
    buf = io.BytesIO()
    sf.write(buf, data, sample_rate, format=container, subtype=subtype)
    return buf.getvalue()
