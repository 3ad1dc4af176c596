"""Voices: POST /voices (JSON base64 or multipart upload), GET /voices, GET and DELETE /voices/<id>."""

from __future__ import annotations

import json
import unicodedata

from flask import Blueprint, Response, request

from function.http import access
from function.http.context import json_body, reply, request_owner, service
from function.http.errors import ApiError
from function.http.models import VoiceCreateRequest, VoiceUpdateRequest, locators, validate
from function.http.requests import bad, decode_base64_audio, has_lone_surrogate
from function.http.responses import Voice, VoiceList
from function.service.errors import VoiceNotFound
from function.service.pronunciation import Locator
from function.voices import VoiceInfo

bp = Blueprint("voices", __name__)
MAX_NAME = 100


def _clip_and_name() -> tuple[bytes, str | None, tuple[Locator, ...]]:
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
        dictionaries = locators(body.pronunciation_dictionary_locators)
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("speaker_wav") or request.files.get("audio")
        if upload is None:
            raise bad("missing_audio", "upload the reference clip in a multipart field named 'speaker_wav'")
        clip, name = upload.read(), request.form.get("name")
        dictionaries = _form_locators(request.form.get("pronunciation_dictionary_locators"))
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
    return clip, _checked_name(name), dictionaries


def _form_locators(raw: str | None) -> tuple[Locator, ...]:
    """A multipart field holding the locators as JSON, as the JSON body's field holds them."""
    if raw is None:
        return ()
    try:
        return locators(
            validate(
                VoiceUpdateRequest, {"pronunciation_dictionary_locators": json.loads(raw)}
            ).pronunciation_dictionary_locators
        )
    except ValueError:
        raise bad(
            "invalid_dictionary",
            "'pronunciation_dictionary_locators' must be a JSON list of "
            '{"pronunciation_dictionary_id": …, "version_id": …} objects',
        ) from None


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
    return Voice(
        voice_id=info.voice_id,
        name=info.name,
        created_at=info.created_at,
        reference_seconds=info.reference_seconds,
        model=info.model,
        owner=info.owner,
        pronunciation_dictionary_locators=[
            {"pronunciation_dictionary_id": d, "version_id": v} for d, v in info.dictionaries
        ],
    )


@bp.post("/voices")
def create_voice() -> Response:
    service().loaded()  # 503 while loading, before reading an upload
    clip, name, dictionaries = _clip_and_name()
    info = service().create_voice(clip, name, request_owner(), dictionaries)
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


@bp.patch("/voices/<voice_id>")
def update_voice(voice_id: str) -> Response:
    """The voice's default pronunciation dictionaries."""
    body = json_body(VoiceUpdateRequest)
    dictionaries = locators(body.pronunciation_dictionary_locators)
    return reply(_voice(service().set_voice_dictionaries(voice_id, request_owner(), dictionaries)))


@bp.delete("/voices/<voice_id>")
def delete_voice(voice_id: str) -> tuple[str, int]:
    service().delete_voice(voice_id, request_owner())
    return "", 204
