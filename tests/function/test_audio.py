"""Reference decoding and response encoding with libsndfile, plus the streaming WAV framing."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from function.audio import (
    FORMATS,
    AudioDecodeError,
    decode_reference,
    encode_audio,
    pcm16_bytes,
    wav_stream_header,
)
from function.audio.stream_encode import STREAM_FORMATS, AudioEncoder


def tone(seconds: float = 1.0, rate: int = 24000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", None), ("OGG", "VORBIS"), ("OGG", "OPUS"), ("MP3", None)]
)
def test_reference_formats_decode(fmt: str, subtype: str | None) -> None:
    buf = io.BytesIO()
    sf.write(buf, np.stack([tone(3, 16000)] * 2, axis=1), 16000, format=fmt, subtype=subtype)
    audio, rate = decode_reference(buf.getvalue())
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
    assert rate in (16000, 48000)  # Opus decodes at 48 kHz
    assert abs(audio.shape[0] / rate - 3.0) < 0.1


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00", b"not audio at all" * 64])
def test_garbage_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(AudioDecodeError, match="reference audio"):
        decode_reference(data)


def test_overlong_file_is_refused_before_decoding() -> None:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(8000 * 61, dtype=np.float32), 8000, format="WAV")
    with pytest.raises(AudioDecodeError, match="too long"):
        decode_reference(buf.getvalue())


def decoded(data: bytes, fmt: str, *, ffmpeg: bool = False) -> tuple[np.ndarray, int]:
    """Samples and rate of an encoded body: libsndfile, or FFmpeg through PyAV (AAC, which libsndfile
    lacks, and streamed FLAC, whose header cannot carry the total a stream does not know yet)."""
    if fmt != "aac" and not ffmpeg:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32")
        return audio, int(rate)
    import av

    # G.711 is headerless: the demuxer is told the format and rate (24 kHz: what these tests encode).
    g711 = {"ulaw": "mulaw", "alaw": "alaw"}
    raw = {"format": g711[fmt], "options": {"sample_rate": "24000"}} if fmt in g711 else {}
    with av.open(io.BytesIO(data), **raw) as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
        rate = container.streams.audio[0].rate
    audio = np.concatenate(frames)
    if audio.dtype == np.int16:  # G.711 decodes to 16-bit integers
        audio = audio.astype(np.float32) / 32768
    return audio, int(rate)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "pcm"])
def test_encodings_round_trip(fmt: str) -> None:
    data = encode_audio(tone(2), 24000, fmt)
    audio, rate = decoded(data, fmt)
    assert abs(len(audio) / rate - 2.0) < 0.1
    assert float(np.abs(audio).max()) > 0.2


@pytest.mark.parametrize("fmt", STREAM_FORMATS)
def test_stream_encoders_send_bytes_as_audio_arrives(fmt: str) -> None:
    encoder = AudioEncoder(fmt, 24000)
    audio = tone(3)
    parts = [encoder.encode(audio[i : i + 4800]) for i in range(0, audio.size, 4800)]  # 0.2 s chunks
    body = b"".join(parts) + encoder.finish()
    # Every 0.2 s chunk after the encoder's first frame yields bytes: nothing waits for the end.
    assert all(len(p) > 0 for p in parts[1:]), [len(p) for p in parts]
    if fmt == "pcm":
        assert len(body) == audio.size * 2
        return
    samples, rate = decoded(body, fmt, ffmpeg=True)
    assert abs(len(samples) / rate - 3.0) < 0.1 and float(np.abs(samples).max()) > 0.2


def test_pcm_is_headerless_int16() -> None:
    data = encode_audio(np.array([0.0, 1.0, -1.0, 2.0], dtype=np.float32), 24000, "pcm")
    assert struct.unpack("<4h", data) == (0, 32767, -32767, 32767)
    assert pcm16_bytes(np.zeros(3, dtype=np.float32)) == b"\x00" * 6


def test_stream_header_is_an_open_length_wav() -> None:
    header = wav_stream_header(24000)
    assert len(header) == 44 and header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", header[40:44])[0] == 0xFFFFFFFF
    body = header + pcm16_bytes(tone(0.5))
    audio, rate = sf.read(io.BytesIO(body), dtype="float32")  # libsndfile accepts the open length
    assert rate == 24000 and len(audio) == 12000
