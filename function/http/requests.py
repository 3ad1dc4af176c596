"""Parse JSON bodies into typed requests, with 400s that say how to fix them.

Types, ranges and fields are checked by the pydantic models (function.http.models), from which the
OpenAPI document's request schemas are generated; this module adds what depends on the deployment
(text limit, languages), what spans fields, and the JSON/Unicode/base64 checks before and after.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from function.audio import FORMATS
from function.http.errors import ApiError
from function.http.models import SYNTH_FORMATS, SpeechBody, SynthesisBody, problem, validate
from function.synthesis_params import SAMPLING_RANGES

_SURROGATE = re.compile("[\ud800-\udfff]")
# Whitespace anywhere (MIME line wrapping) is dropped; '-' and '_' are the URL-safe alphabet.
_BASE64_CLEAN = str.maketrans("", "", " \t\r\n\f\v")
_BASE64_STRAY = re.compile("[^A-Za-z0-9+/=_ \t\r\n\f\v-]")


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
    stream_format: str = "audio"  # "sse": text/event-stream of base64 audio deltas
    seed: int | None = None  # an extension of ours: the same seed, text and voice give the same audio


def bad(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad("invalid_json", f"the body is not valid JSON ({exc}); send a JSON object") from None
    except RecursionError:
        raise bad("invalid_json", "the body is nested too deeply; send a flat JSON object") from None
    except ValueError:  # Python's int digit limit (CVE-2020-10735): an absurdly long integer
        raise bad(
            "invalid_json", "a number in the body has too many digits; send numbers in the documented ranges"
        ) from None
    if not isinstance(body, dict):
        raise bad("invalid_json", 'the body must be a JSON object, e.g. {"text": "...", "voice_id": "..."}')
    _reject_lone_surrogates(body)
    return body


def _reject_lone_surrogates(body: dict[str, Any]) -> None:
    """JSON may spell an unpaired surrogate ("\\ud800"); no Unicode text holds one, so no field may.

    Walked iteratively (the parser accepts nesting up to the recursion limit) and without building
    paths (a 16 MiB array has millions of items): the error names the top-level field.
    """
    for field, top in body.items():
        if has_lone_surrogate(field):
            raise _surrogate_error(f"the field name {field!a}")
        stack = [top]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                if any(has_lone_surrogate(key) for key in value):
                    raise _surrogate_error(f"a field name inside '{field}'")
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, str) and has_lone_surrogate(value):
                raise _surrogate_error(f"'{field}'")


def has_lone_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _surrogate_error(where: str) -> ApiError:
    return bad(
        "invalid_unicode",
        f"{where} holds an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is not a character: "
        "send valid Unicode (a character outside the BMP is one \\u escape pair or plain UTF-8)",
    )


def decode_base64_audio(value: Any, field: str) -> bytes:
    """Standard or URL-safe base64, line-wrapped or not (`base64 clip.wav` wraps at 76), padding optional."""
    if not isinstance(value, str) or not value.strip():
        raise bad("invalid_base64", f"'{field}' must be a non-empty base64 string of a WAV/FLAC/OGG/MP3 file")
    text = value.strip()
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]  # a data: URL, as browsers produce
    stray = _BASE64_STRAY.search(text)
    if stray is not None:
        raise bad(
            "invalid_base64",
            f"'{field}' is not base64: character {stray.group()!a} at position {stray.start()} "
            "is not in the base64 alphabet; encode the audio file's bytes (e.g. `base64 -w0 clip.wav`)",
        )
    body = text.translate(_BASE64_CLEAN).rstrip("=")
    if "=" in body or len(body) % 4 == 1:
        raise bad(
            "invalid_base64",
            f"'{field}' is not valid base64 (misplaced '=' padding, or a truncated string of "
            f"{len(body)} characters); send the whole file, encoded once",
        )
    altchars = b"-_" if "-" in body or "_" in body else None
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), altchars=altchars)
    except binascii.Error:
        raise bad("invalid_base64", f"'{field}' is not valid base64; encode the audio file's bytes") from None


def _language(value: str, languages: list[str]) -> str:
    if value not in languages:
        raise problem("language", "not_offered", value, languages=languages)
    return value


def _text_value(value: str, field: str, max_chars: int) -> str:
    if not value.strip():
        raise bad("empty_text", f"'{field}' is empty: send the words to speak")
    if len(value) > max_chars:
        raise bad(
            "text_too_long",
            f"'{field}' has {len(value)} characters; the limit is {max_chars} (TTS_MAX_TEXT_CHARS): split it",
        )
    return value


def parse_synthesis(
    body: dict[str, Any],
    *,
    languages: list[str],
    max_text_chars: int,
    formats: tuple[str, ...] = SYNTH_FORMATS,
) -> SynthesisRequest:
    m = validate(SynthesisBody, body, languages=languages, formats=formats)
    text = _text_value(m.text, "text", max_text_chars)
    language = _language(m.language, languages)
    if (m.speaker_wav is None) == (m.voice_id is None):
        raise bad(
            "invalid_speaker",
            "send exactly one of 'speaker_wav' (base64 reference clip, 2-30 s) "
            "or 'voice_id' (from POST /voices)",
        )
    speaker_wav = decode_base64_audio(m.speaker_wav, "speaker_wav") if m.speaker_wav is not None else None
    if m.response_format not in formats:
        raise problem("response_format", "not_offered", m.response_format, formats=formats)
    params = {name: getattr(m, name) for name in SAMPLING_RANGES if getattr(m, name) is not None}
    return SynthesisRequest(text, language, speaker_wav, m.voice_id, params, m.response_format)


def parse_speech(
    body: dict[str, Any], *, models: list[str], languages: list[str], max_text_chars: int
) -> SpeechRequest:
    # `instructions` (voice direction for OpenAI's own models) is accepted and has no effect: the
    # cloned voice sets the style.
    m = validate(SpeechBody, body, languages=languages, models=models, formats=FORMATS)
    if m.model not in models:
        raise problem("model", "not_offered", m.model, models=models)
    return SpeechRequest(
        m.model,
        _text_value(m.input, "input", max_text_chars),
        m.voice,
        m.response_format,
        m.speed,
        _language(m.language, languages),
        m.stream_format,
        m.seed,
    )
