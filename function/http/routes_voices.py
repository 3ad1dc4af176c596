"""Voices: POST /voices (JSON base64 or multipart upload), GET /voices, GET and DELETE /voices/<id>."""

from __future__ import annotations

import unicodedata

from flask import Blueprint, Response, request

from function.http import access
from function.http.context import json_body, reply, request_owner, service
from function.http.errors import ApiError
from function.http.models import VoiceCreateRequest
from function.http.requests import bad, decode_base64_audio, has_lone_surrogate
from function.http.responses import Voice, VoiceList
from function.service.errors import VoiceNotFound
from function.voices import VoiceInfo

bp = Blueprint("voices", __name__)
MAX_NAME = 100


def _clip_and_name() -> tuple[bytes, str | None]:
    """The reference clip is `speaker_wav`, as on /synthesize; `audio` (the first name) still works."""
    if request.mimetype == "application/json":
        body = json_body(VoiceCreateRequest)
        field = "speaker_wav" if body.speaker_wav is not None else "audio"
        value = body.speaker_wav if body.speaker_wav is not None else body.audio
        if value is None:
            raise bad(
                "missing_audio",
                "'speaker_wav' is required: the base64 bytes of a 2-30 s WAV/FLAC/OGG/MP3 clip",
            )
        clip, name = decode_base64_audio(value, field), body.name
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("speaker_wav") or request.files.get("audio")
        if upload is None:
            raise bad("missing_audio", "upload the reference clip in a multipart field named 'speaker_wav'")
        clip, name = upload.read(), request.form.get("name")
        if name is not None and "\ufffd" in name:
            # werkzeug decodes form fields with errors="replace": bytes that are not UTF-8 arrive
            # as U+FFFD, and a name silently changed is worse than a refused one.
            raise bad(
                "invalid_name", "'name' must be UTF-8 text (U+FFFD, the replacement character, is refused)"
            )
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {request.mimetype or 'none'!r} is not accepted; send application/json "
            "({\"speaker_wav\": base64}) or multipart/form-data (field 'speaker_wav')",
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


def _voice(info: VoiceInfo) -> Voice:
    return Voice.model_validate(info, from_attributes=True)


@bp.post("/voices")
def create_voice() -> Response:
    service().loaded()  # 503 while loading, before reading an upload
    clip, name = _clip_and_name()
    info = service().create_voice(clip, name, request_owner())
    access.metric(reference_seconds=info.reference_seconds)
    response = reply(_voice(info), 201)
    response.headers["Location"] = f"/voices/{info.voice_id}"
    return response


@bp.get("/voices")
def list_voices() -> Response:
    """Every voice, or with `?name=` the one so named (an empty list when none is)."""
    name = request.args.get("name")
    if name is not None:
        try:
            found = [service().find_voice(_checked_name(name) or "", request_owner())]
        except VoiceNotFound:
            found = []
    else:
        found = service().list_voices(request_owner())
    return reply(VoiceList(voices=[_voice(info) for info in found]))


@bp.get("/voices/<voice_id>")
def get_voice(voice_id: str) -> Response:
    return reply(_voice(service().voice_info(voice_id, request_owner())))


@bp.delete("/voices/<voice_id>")
def delete_voice(voice_id: str) -> tuple[str, int]:
    service().delete_voice(voice_id, request_owner())
    return "", 204
