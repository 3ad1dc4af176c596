"""What every JSON body goes through before and after its request model (function.http.models):
the JSON itself (syntax, nesting, digit limits, lone surrogates) and base64 audio, each refused with a
400 that says how to fix it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from function.http.errors import ApiError

_SURROGATE = re.compile("[\ud800-\udfff]")
# Whitespace anywhere (MIME line wrapping) is dropped; '-' and '_' are the URL-safe alphabet.
_BASE64_CLEAN = str.maketrans("", "", " \t\r\n\f\v")
_BASE64_STRAY = re.compile("[^A-Za-z0-9+/=_ \t\r\n\f\v-]")


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
