"""Decode a reference clip (WAV, FLAC, OGG Vorbis/Opus, MP3) with libsndfile, from memory."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

# A hard ceiling before decoding: the engine takes at most 30 s of speech, and leading or
# trailing silence is allowed, but an hour of low-bitrate MP3 must not be inflated in memory.
MAX_REFERENCE_SECONDS = 60.0


class AudioDecodeError(ValueError):
    """The bytes are not a decodable audio file, or the file is far too long; message is user-facing."""


def decode_reference(data: bytes) -> tuple[np.ndarray, int]:
    """Return (float32 samples of shape (n,) or (n, channels), sample rate)."""
    if not data:
        raise AudioDecodeError("the reference audio is empty")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = int(f.samplerate)
            frames = int(f.frames)
            if rate <= 0:
                raise AudioDecodeError("the reference audio has no sample rate")
            # MP3 and some OGG files report no frame count up front; bound the read instead.
            limit = int(MAX_REFERENCE_SECONDS * rate) + 1
            if frames > 0 and frames > limit:
                raise AudioDecodeError(_too_long(frames / rate))
            audio = f.read(frames=limit, dtype="float32", always_2d=False)
    except AudioDecodeError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = getattr(exc, "error_string", None) or "not a supported audio file"
        raise AudioDecodeError(
            f"the reference audio could not be decoded ({reason}); send WAV, FLAC, OGG (Vorbis/Opus) or MP3"
        ) from None
    if audio.shape[0] >= limit:
        raise AudioDecodeError(_too_long(audio.shape[0] / rate))
    if audio.size == 0:
        raise AudioDecodeError("the reference audio holds no samples")
    if not np.isfinite(audio).all():
        raise AudioDecodeError("the reference audio holds NaN or infinite samples")
    return np.ascontiguousarray(audio, dtype=np.float32), rate


def _too_long(seconds: float) -> str:
    return (
        f"the reference audio is too long ({seconds:.0f} s, at least): send 2 to 30 s of clean speech "
        f"(files over {MAX_REFERENCE_SECONDS:.0f} s are refused before decoding)"
    )
