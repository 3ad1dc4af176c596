"""Encode float32 mono audio as a whole file for responses (streams: function.audio.stream_encode)."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
import soxr

from function.audio.pcm import OPUS_RATES, pcm16_bytes
from function.audio.stream_encode import encode_whole

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


def encode_audio(audio: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """Encode float32 mono samples as one of FORMATS."""
    if fmt == "pcm":
        return pcm16_bytes(audio)
    if fmt == "aac":  # libsndfile has no AAC: FFmpeg's encoder, in an ADTS stream
        return encode_whole(audio, sample_rate, fmt)
    if fmt not in _SF:
        raise ValueError(f"unsupported audio format {fmt!r}; use one of {', '.join(FORMATS)}")
    container, subtype = _SF[fmt]
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    if fmt == "opus" and sample_rate not in OPUS_RATES:
        data = soxr.resample(data, sample_rate, 48000).astype(np.float32)
        sample_rate = 48000
    buf = io.BytesIO()
    sf.write(buf, data, sample_rate, format=container, subtype=subtype)
    return buf.getvalue()
