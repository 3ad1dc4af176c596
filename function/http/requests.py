"""Request models: parse and validate JSON bodies into typed requests, with 400s that say how to fix.

PARAMS is the single table of sampling parameters; the OpenAPI document is built from it, so the
documented ranges and the enforced ranges cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

from function.audio import FORMATS
from function.config import SAMPLING_RANGES
from function.http.errors import ApiError


@dataclass(frozen=True)
class Param:
    kind: type
    minimum: float
    maximum: float
    description: str


_DESCRIPTIONS = {
    "temperature": "Sampling temperature: lower is steadier, higher more varied.",
    "top_k": "Sample only from the k most likely audio tokens.",
    "top_p": "Nucleus sampling: the smallest token set with this total probability.",
    "repetition_penalty": "Penalty on repeated audio tokens (XTTS default 10).",
    "length_penalty": "Length penalty (only affects beam search; kept for parity).",
    "speed": "Speaking rate: 1.0 is natural, 2.0 twice as fast.",
    "seed": "Random seed: the same seed, text and voice give the same audio.",
}
PARAMS: dict[str, Param] = {
    name: Param(kind, lo, hi, _DESCRIPTIONS[name]) for name, (kind, lo, hi) in SAMPLING_RANGES.items()
}
SYNTH_FORMATS = ("wav", "json")


@dataclass(frozen=True)
class SynthesisRequest:
    text: str
    language: str
    speaker_wav: bytes | None
    voice_id: str | None
    params: dict[str, Any]
    response_format: str


@dataclass(frozen=True)
class SpeechRequest:
    """The OpenAI /v1/audio/speech shape."""

    model: str
    text: str
    voice_id: str
    response_format: str
    speed: float | None
    language: str


def bad(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad("invalid_json", f"the body is not valid JSON ({exc}); send a JSON object") from None
    if not isinstance(body, dict):
        raise bad("invalid_json", 'the body must be a JSON object, e.g. {"text": "...", "voice_id": "..."}')
    return body


def decode_base64_audio(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise bad("invalid_base64", f"'{field}' must be a non-empty base64 string of a WAV/FLAC/OGG/MP3 file")
    text = value.strip()
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]  # a data: URL, as browsers produce
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise bad("invalid_base64", f"'{field}' is not valid base64; encode the audio file's bytes") from None


def _text(body: dict[str, Any], field: str, max_chars: int) -> str:
    value = body.get(field)
    if value is None:
        raise bad("missing_text", f"'{field}' is required: the Bangla (or other supported) text to speak")
    if not isinstance(value, str):
        raise bad("invalid_text", f"'{field}' must be a string")
    if not value.strip():
        raise bad("empty_text", f"'{field}' is empty: send the words to speak")
    if len(value) > max_chars:
        raise bad(
            "text_too_long",
            f"'{field}' has {len(value)} characters; the limit is {max_chars} (TTS_MAX_TEXT_CHARS): split it",
        )
    return value


def _language(body: dict[str, Any], languages: list[str]) -> str:
    value = body.get("language", "bn")
    if not isinstance(value, str) or value not in languages:
        raise bad(
            "unsupported_language",
            f"language {value!r} is not supported by this model; use one of: {', '.join(languages)}",
        )
    return value


def _number(name: str, value: Any) -> float | int:
    spec = PARAMS[name]
    ok_type = (
        isinstance(value, int) and not isinstance(value, bool)
        if spec.kind is int
        else isinstance(value, (int, float)) and not isinstance(value, bool)
    )
    if not ok_type or (isinstance(value, float) and not math.isfinite(value)):
        kind = "an integer" if spec.kind is int else "a number"
        raise bad("invalid_parameter", f"'{name}' must be {kind} in [{spec.minimum:g}, {spec.maximum:g}]")
    if not spec.minimum <= value <= spec.maximum:
        raise bad(
            "out_of_range", f"'{name}'={value} is out of range: use {spec.minimum:g} to {spec.maximum:g}"
        )
    return int(value) if spec.kind is int else float(value)


def _reject_unknown(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad(
            "unknown_field",
            f"unknown field(s) {', '.join(unknown)}; accepted fields: {', '.join(sorted(allowed))}",
        )


SYNTH_FIELDS = {"text", "language", "speaker_wav", "voice_id", "response_format", *PARAMS}


def parse_synthesis(
    body: dict[str, Any],
    *,
    languages: list[str],
    max_text_chars: int,
    formats: tuple[str, ...] = SYNTH_FORMATS,
) -> SynthesisRequest:
    _reject_unknown(body, SYNTH_FIELDS)
    text = _text(body, "text", max_text_chars)
    language = _language(body, languages)
    has_wav = body.get("speaker_wav") is not None
    has_voice = body.get("voice_id") is not None
    if has_wav == has_voice:
        raise bad(
            "invalid_speaker",
            "send exactly one of 'speaker_wav' (base64 reference clip, 2-30 s) "
            "or 'voice_id' (from POST /voices)",
        )
    voice_id = body.get("voice_id")
    if has_voice and not isinstance(voice_id, str):
        raise bad("invalid_speaker", "'voice_id' must be a string returned by POST /voices")
    speaker_wav = decode_base64_audio(body["speaker_wav"], "speaker_wav") if has_wav else None
    fmt = body.get("response_format", formats[0])
    if fmt not in formats:
        raise bad("invalid_response_format", f"'response_format' must be one of: {', '.join(formats)}")
    params = {name: _number(name, body[name]) for name in PARAMS if body.get(name) is not None}
    return SynthesisRequest(text, language, speaker_wav, voice_id if has_voice else None, params, fmt)


def parse_speech(
    body: dict[str, Any], *, models: list[str], languages: list[str], max_text_chars: int
) -> SpeechRequest:
    # Unknown fields are ignored here: OpenAI clients send extras (instructions, stream_format).
    model = body.get("model")
    if not isinstance(model, str) or model not in models:
        raise bad("invalid_model", f"'model' must be one of: {', '.join(models)} (see GET /v1/models)")
    text = _text(body, "input", max_text_chars)
    voice = body.get("voice")
    if not isinstance(voice, str) or not voice:
        raise bad("invalid_speaker", "'voice' must be a voice id from POST /voices")
    fmt = body.get("response_format", "mp3")
    if fmt not in FORMATS:
        raise bad("invalid_response_format", f"'response_format' must be one of: {', '.join(FORMATS)}")
    speed = _number("speed", body["speed"]) if body.get("speed") is not None else None
    return SpeechRequest(
        model, text, voice, fmt, float(speed) if speed is not None else None, _language(body, languages)
    )
