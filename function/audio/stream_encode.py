"""Incremental encoders: float32 mono chunks in, container bytes out as soon as they exist.

A streamed response sends each chunk's bytes while synthesis goes on, in every format: WAV with an
open-length header and PCM16, raw PCM16, and mp3 / aac (ADTS) / opus (Ogg) / flac through FFmpeg's
encoders and muxers (PyAV). The muxer writes into a sink that cannot seek, so nothing waits for
the end of the stream (an Ogg page is closed every 100 ms; flac's header leaves the totals open).
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import soxr

from function.audio.pcm import OPUS_RATES, pcm16_bytes, wav_stream_header

# format -> (FFmpeg muxer, encoder, bit rate, muxer options). Bit rates for mono speech at 24 kHz.
_FFMPEG: dict[str, tuple[str, str, int, dict[str, str]]] = {
    "mp3": ("mp3", "libmp3lame", 64_000, {}),
    "aac": ("adts", "aac", 64_000, {}),
    "opus": ("ogg", "libopus", 32_000, {"page_duration": "100000"}),  # microseconds per Ogg page
    "flac": ("flac", "flac", 0, {}),
    # G.711 telephony (ElevenLabs' ulaw_8000 / alaw_8000): raw 8-bit samples, no container.
    "ulaw": ("mulaw", "pcm_mulaw", 0, {}),
    "alaw": ("alaw", "pcm_alaw", 0, {}),
}
STREAM_FORMATS = ("wav", "pcm", *_FFMPEG)


class _Sink(io.RawIOBase):
    """Collects what the muxer writes; `take()` hands it over. Not seekable, so the muxer never
    goes back to patch a header (it could not: those bytes are already sent)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class AudioEncoder:
    """`encode(samples)` returns the bytes ready so far (maybe none); `finish()` the rest."""

    def __init__(self, fmt: str, sample_rate: int, bit_rate: int | None = None) -> None:
        if fmt not in STREAM_FORMATS:
            raise ValueError(f"unsupported audio format {fmt!r}; use one of {', '.join(STREAM_FORMATS)}")
        self.format = fmt
        self.sample_rate = sample_rate
        self._header = wav_stream_header(sample_rate) if fmt == "wav" else b""
        self._pts = 0
        self._closed = False
        self._out: Any = None
        if fmt in _FFMPEG:
            muxer, codec, default_rate, options = _FFMPEG[fmt]
            if codec == "libopus" and sample_rate not in OPUS_RATES:
                raise ValueError(f"opus cannot run at {sample_rate} Hz")
            self._sink = _Sink()
            self._out = av.open(self._sink, mode="w", format=muxer, options=options)
            self._stream = self._out.add_stream(codec, rate=sample_rate, layout="mono")
            if bit_rate or default_rate:
                self._stream.bit_rate = bit_rate or default_rate

    def encode(self, samples: npt.NDArray[np.float32]) -> bytes:
        head, self._header = self._header, b""
        if self._out is None:
            return head + pcm16_bytes(samples)
        data = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0).reshape(1, -1)
        if data.shape[1] == 0:
            return head
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        frame.time_base = Fraction(1, self.sample_rate)
        self._pts += data.shape[1]
        for packet in self._stream.encode(frame):
            self._out.mux(packet)
        return head + self._sink.take()

    def finish(self) -> bytes:
        """Flush the encoder and close the container; the last bytes of the stream."""
        if self._closed:
            return b""
        self._closed = True
        head, self._header = self._header, b""
        if self._out is None:
            return head
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._out.close()
        return head + self._sink.take()

    def close(self) -> None:
        """Release the encoder without finishing (a client that went away)."""
        if not self._closed and self._out is not None:
            self._closed = True
            self._out.close()


class ResampledEncoder:
    """An AudioEncoder at `rate`, fed audio at `source_rate`: resampled as it streams (soxr keeps
    its filter state between chunks, so the joins are seamless)."""

    def __init__(self, fmt: str, source_rate: int, rate: int, bit_rate: int | None = None) -> None:
        self.inner = AudioEncoder(fmt, rate, bit_rate)
        self.sample_rate = source_rate  # what encode() takes
        self._resampler = (
            None if rate == source_rate else soxr.ResampleStream(source_rate, rate, 1, "float32")
        )

    def encode(self, samples: npt.NDArray[np.float32]) -> bytes:
        if self._resampler is None:
            return self.inner.encode(samples)
        return self.inner.encode(self._resampler.resample_chunk(np.asarray(samples, np.float32)))

    def finish(self) -> bytes:
        tail = b""
        if self._resampler is not None:
            tail = self.inner.encode(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        return tail + self.inner.finish()

    def close(self) -> None:
        self.inner.close()


def encode_whole(audio: npt.NDArray[np.float32], sample_rate: int, fmt: str) -> bytes:
    encoder = AudioEncoder(fmt, sample_rate)
    return encoder.encode(audio) + encoder.finish()
