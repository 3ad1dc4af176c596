"""Decode a reference clip (WAV, FLAC, OGG Vorbis/Opus, MP3: `ACCEPTED`) with libsndfile, from memory.

A few kilobytes can declare 64 channels, an absurd rate or hours of silence, so the header is
checked before any sample is decoded and the read itself is bounded: whatever the file, decoding
holds at most MAX_DECODED_VALUES float32 samples (twice that while the blocks are joined).
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

# A hard ceiling before decoding: the engine takes at most 30 s of speech, and leading or
# trailing silence is allowed, but an hour of low-bitrate MP3 must not be inflated in memory.
MAX_REFERENCE_SECONDS = 60.0
# Telephone to studio rates; speech needs nothing outside them.
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
# A voice needs one channel; up to 7.1 surround is accepted and mixed down.
MAX_CHANNELS = 8
# Samples times channels decoded at most: a minute of mono at the top rate (44 MiB of float32).
MAX_DECODED_VALUES = int(MAX_REFERENCE_SECONDS * MAX_SAMPLE_RATE)

# What the API documents, and nothing else libsndfile happens to read (AIFF, CAF, W64, ADPCM or
# GSM inside a WAV...): container -> the codecs accepted in it.
_PCM_WAV = frozenset({"PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"})
ACCEPTED = {
    "WAV": _PCM_WAV,
    "WAVEX": _PCM_WAV,
    "FLAC": frozenset({"PCM_S8", "PCM_16", "PCM_24"}),
    "OGG": frozenset({"VORBIS", "OPUS"}),
    "MP3": frozenset({"MPEG_LAYER_III"}),
}

# libsndfile's frame count for a stream that does not state its length (FLAC total_samples = 0).
_UNKNOWN_FRAMES = 2**63 - 1
_BLOCK_FRAMES = 2**16
_WHAT_TO_SEND = "send 2 to 30 s of clean speech as WAV, FLAC, OGG (Vorbis/Opus) or MP3"


class AudioDecodeError(ValueError):
    """The bytes are not a decodable audio file, or one past the limits above; message is user-facing."""


class _ForwardReader(sf.SoundFile):  # type: ignore[misc]  # soundfile is untyped
    """Reads front to back only: soundfile seeks around every read when it can, and that seek fails
    at the end of a stream of unknown length (FLAC with total_samples = 0)."""

    def seekable(self) -> bool:
        return False


def decode_reference(data: bytes) -> tuple[np.ndarray, int]:
    """Return (float32 samples of shape (n,) or (n, channels), sample rate)."""
    if not data:
        raise AudioDecodeError(f"the reference audio is empty: {_WHAT_TO_SEND}")
    try:
        with _ForwardReader(io.BytesIO(data)) as f:
            rate, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
            _check_format(str(f.format), str(f.subtype), data)
            _check_header(rate, channels)
            limit = _frame_limit(rate, channels)
            if frames != _UNKNOWN_FRAMES and frames > limit:
                raise AudioDecodeError(_too_big(frames, rate, channels))
            audio = _read_blocks(f, channels, limit + 1)
    except AudioDecodeError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = getattr(exc, "error_string", None) or "not a supported audio file"
        raise AudioDecodeError(
            f"the reference audio could not be decoded ({reason}); send WAV, FLAC, OGG (Vorbis/Opus) or MP3"
        ) from None
    if audio.shape[0] > limit:
        raise AudioDecodeError(_too_big(audio.shape[0], rate, channels, at_least=True))
    if audio.size == 0:
        raise AudioDecodeError(f"the reference audio holds no samples: {_WHAT_TO_SEND}")
    if not np.isfinite(audio).all():
        raise AudioDecodeError(f"the reference audio holds NaN or infinite samples: {_WHAT_TO_SEND}")
    return (audio[:, 0] if channels == 1 else audio), rate


def _check_format(container: str, codec: str, data: bytes) -> None:
    if codec not in ACCEPTED.get(container, ()):
        raise AudioDecodeError(
            f"the reference audio is {container} with {codec} samples, which is not accepted: "
            "send WAV (PCM, float, mu-law or A-law), FLAC, OGG (Vorbis/Opus) or MP3"
        )
    if container == "OGG" and _ogg_streams(data) > 1:
        # libsndfile decodes the first logical stream only: the rest would be dropped unheard.
        raise AudioDecodeError(
            "the reference audio is an Ogg file of several chained streams: send one recording"
        )


def _ogg_streams(data: bytes) -> int:
    """Logical streams begun in an Ogg file: pages flagged "beginning of stream" (RFC 3533),
    found by walking the pages (27-byte header, segment table, then the segments)."""
    streams, pos = 0, 0
    while pos + 27 <= len(data) and data[pos : pos + 4] == b"OggS":
        segments = data[pos + 26]
        table = data[pos + 27 : pos + 27 + segments]
        streams += bool(data[pos + 5] & 0x02)
        pos += 27 + segments + sum(table)
    return streams


def _check_header(rate: int, channels: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(
            f"the reference audio's sample rate is {rate} Hz: send audio sampled at "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz (16000 to 48000 Hz is usual for speech)"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioDecodeError(
            f"the reference audio has {channels} channels: send mono or stereo "
            f"(at most {MAX_CHANNELS} channels are accepted)"
        )


def _frame_limit(rate: int, channels: int) -> int:
    return min(int(MAX_REFERENCE_SECONDS * rate), MAX_DECODED_VALUES // channels)


def _read_blocks(f: sf.SoundFile, channels: int, max_frames: int) -> np.ndarray:
    """Up to max_frames frames, shape (n, channels), read into blocks of our own size.

    soundfile's read(frames=N) allocates N x channels up front, N taken from the header when not
    given, and the header's count is absent or untrue in a stream of unknown length.
    """
    blocks = []
    total = 0
    while total < max_frames:
        block = f.read(out=np.empty((min(_BLOCK_FRAMES, max_frames - total), channels), np.float32))
        if block.shape[0] == 0:
            break
        blocks.append(block)
        total += block.shape[0]
    return np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)


def _too_big(frames: int, rate: int, channels: int, *, at_least: bool = False) -> str:
    seconds = frames / rate
    least = ", at least" if at_least else ""
    if seconds > MAX_REFERENCE_SECONDS:
        return (
            f"the reference audio is too long ({seconds:.0f} s{least}): send 2 to 30 s of clean speech "
            f"(files over {MAX_REFERENCE_SECONDS:.0f} s are refused before decoding)"
        )
    return (
        f"the reference audio is too large ({channels} channels x {seconds:.0f} s at {rate} Hz{least}): "
        f"send 2 to 30 s of mono or stereo speech (at most {MAX_DECODED_VALUES:,} samples over all "
        "channels are decoded)"
    )
