"""From a validated request to audio: text front-end -> voice -> engine. No HTTP here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from function.audio import AudioDecodeError, decode_reference
from function.engine import (
    AudioChunk,
    ReferenceAudioError,
    SynthesisParams,
    TextError,
    UnsupportedLanguageError,
    Voice,
    VoiceFormatError,
)
from function.http.errors import ApiError
from function.http.model import Loaded
from function.text import normalize_bangla_text
from function.voices import VoiceNotFoundError


@dataclass
class Job:
    text: str  # normalized: what the engine speaks
    voice: Voice
    params: SynthesisParams
    normalize_ms: float
    voice_ms: float


def engine_error(exc: Exception) -> ApiError:
    """Engine input errors are user-readable; they become 400s with the engine's own words."""
    if isinstance(exc, UnsupportedLanguageError):
        return ApiError(400, "unsupported_language", str(exc))
    if isinstance(exc, ReferenceAudioError):
        return ApiError(400, "invalid_reference_audio", str(exc))
    if isinstance(exc, TextError):
        return ApiError(400, "invalid_text", str(exc))
    if isinstance(exc, VoiceFormatError):
        return ApiError(409, "voice_unusable", str(exc))
    return ApiError(400, "invalid_request", str(exc))


def voice_from_clip(loaded: Loaded, clip: bytes) -> tuple[Voice, float]:
    """Decode a reference clip and compute its conditioning; returns (voice, clip seconds)."""
    try:
        audio, rate = decode_reference(clip)
    except AudioDecodeError as exc:
        raise ApiError(400, "invalid_reference_audio", str(exc)) from None
    try:
        voice = loaded.engine.make_voice(audio, rate)
    except (ReferenceAudioError, ValueError) as exc:
        raise engine_error(exc) from None
    return voice, audio.shape[0] / rate


def voice_by_id(loaded: Loaded, voice_id: str) -> Voice:
    try:
        return loaded.voices.get(voice_id)
    except VoiceFormatError as exc:  # the stored payload is damaged, or from an older format
        raise engine_error(exc) from None
    except VoiceNotFoundError:
        raise ApiError(
            404,
            "voice_not_found",
            f"no voice {voice_id!r}: create one with POST /voices, list them with GET /voices",
        ) from None


def normalize(loaded: Loaded, text: str, language: str) -> str:
    # The Bangla front-end (numbers, dates, abbreviations, nukta form) applies to Bangla text only.
    nukta: Literal["composed", "decomposed"] = (
        "composed" if loaded.engine.nukta_form == "composed" else "decomposed"
    )
    out = normalize_bangla_text(text, nukta=nukta) if language == "bn" else text.strip()
    if not out.strip():
        raise ApiError(400, "empty_text", "the text has nothing to speak after normalization; send words")
    return out


def prepare(
    loaded: Loaded,
    *,
    text: str,
    language: str,
    voice_id: str | None,
    speaker_wav: bytes | None,
    params: dict[str, Any],
) -> Job:
    t0 = time.perf_counter()
    normalized = normalize(loaded, text, language)
    t1 = time.perf_counter()
    if voice_id is not None:
        voice = voice_by_id(loaded, voice_id)
    else:
        assert speaker_wav is not None
        voice, _ = voice_from_clip(loaded, speaker_wav)
    t2 = time.perf_counter()
    return Job(normalized, voice, loaded.params(language, params), (t1 - t0) * 1000, (t2 - t1) * 1000)


def synthesize(loaded: Loaded, job: Job) -> npt.NDArray[np.float32]:
    try:
        return loaded.engine.synthesize(job.text, job.voice, job.params)
    except (UnsupportedLanguageError, TextError, ReferenceAudioError, VoiceFormatError) as exc:
        raise engine_error(exc) from None


def stream(loaded: Loaded, job: Job) -> Iterator[AudioChunk]:
    return loaded.engine.stream(job.text, job.voice, job.params)
