"""Voices: POST /voices (JSON base64 or multipart upload), GET /voices, GET and DELETE /voices/<id>."""

from __future__ import annotations

import unicodedata
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify, request

from function.http import access, synthesis
from function.http.context import ready, slot
from function.http.errors import ApiError
from function.http.requests import (
    bad,
    decode_base64_audio,
    has_lone_surrogate,
    parse_json_object,
    reject_unknown,
)
from function.voices import VoiceInfo, VoiceNotFoundError

bp = Blueprint("voices", __name__)
MAX_NAME = 100


def _as_json(info: VoiceInfo) -> dict[str, Any]:
    return asdict(info)


def _clip_and_name() -> tuple[bytes, str | None]:
    if request.mimetype == "application/json":
        body = parse_json_object(request.get_data())
        reject_unknown(body, {"audio", "name"})
        if body.get("audio") is None:
            raise bad(
                "missing_audio", "'audio' is required: the base64 bytes of a 2-30 s WAV/FLAC/OGG/MP3 clip"
            )
        clip, name = decode_base64_audio(body["audio"], "audio"), body.get("name")
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("audio")
        if upload is None:
            raise bad("missing_audio", "upload the reference clip in a multipart field named 'audio'")
        clip, name = upload.read(), request.form.get("name")
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {request.mimetype or 'none'!r} is not accepted; send application/json "
            "({\"audio\": base64}) or multipart/form-data (field 'audio')",
        )
    return clip, _checked_name(name)


def _checked_name(name: object) -> str | None:
    """Checked before anything is stored: a name that cannot be listed must never be saved."""
    if name is None or name == "":
        return None
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME
        or has_lone_surrogate(name)
        or any(unicodedata.category(ch) == "Cc" for ch in name)
    ):
        raise bad(
            "invalid_name",
            f"'name' must be a string of at most {MAX_NAME} characters without control characters",
        )
    return name


@bp.post("/voices")
def create_voice() -> tuple[Response, int, dict[str, str]]:
    loaded = ready()
    clip, name = _clip_and_name()
    with slot():
        voice, seconds = synthesis.voice_from_clip(loaded, clip)
    info = loaded.voices.add(voice, name=name, reference_seconds=seconds)
    access.metric(reference_seconds=round(seconds, 3))
    return jsonify(_as_json(info)), 201, {"Location": f"/voices/{info.voice_id}"}


@bp.get("/voices")
def list_voices() -> Response:
    return jsonify({"voices": [_as_json(i) for i in ready().voices.list()]})


def _unknown(voice_id: str) -> ApiError:
    return ApiError(404, "voice_not_found", f"no voice {voice_id!r}; list the existing ones with GET /voices")


@bp.get("/voices/<voice_id>")
def get_voice(voice_id: str) -> Response:
    try:
        return jsonify(_as_json(ready().voices.info(voice_id)))
    except VoiceNotFoundError:
        raise _unknown(voice_id) from None


@bp.delete("/voices/<voice_id>")
def delete_voice(voice_id: str) -> tuple[str, int]:
    try:
        ready().voices.delete(voice_id)
    except VoiceNotFoundError:
        raise _unknown(voice_id) from None
    return "", 204
