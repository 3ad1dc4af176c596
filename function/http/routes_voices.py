"""Voices: POST /voices (JSON base64 or multipart upload), GET /voices, GET and DELETE /voices/<id>."""

from __future__ import annotations

import unicodedata
from dataclasses import asdict

from flask import Blueprint, Response, jsonify, request

from function.http import access
from function.http.context import service
from function.http.errors import ApiError
from function.http.requests import (
    bad,
    decode_base64_audio,
    has_lone_surrogate,
    parse_json_object,
    reject_unknown,
)

bp = Blueprint("voices", __name__)
MAX_NAME = 100


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
    service().loaded()  # 503 while loading, before reading an upload
    clip, name = _clip_and_name()
    info = service().create_voice(clip, name)
    access.metric(reference_seconds=info.reference_seconds)
    return jsonify(asdict(info)), 201, {"Location": f"/voices/{info.voice_id}"}


@bp.get("/voices")
def list_voices() -> Response:
    return jsonify({"voices": [asdict(i) for i in service().list_voices()]})


@bp.get("/voices/<voice_id>")
def get_voice(voice_id: str) -> Response:
    return jsonify(asdict(service().voice_info(voice_id)))


@bp.delete("/voices/<voice_id>")
def delete_voice(voice_id: str) -> tuple[str, int]:
    service().delete_voice(voice_id)
    return "", 204
