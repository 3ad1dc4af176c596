"""The OpenAI speech API shape, so the official `openai` client works with base_url pointed here."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from function.audio import CONTENT_TYPES, encode_audio
from function.http import access
from function.http.context import require_json, service, serving
from function.http.requests import parse_json_object, parse_speech
from function.service.speech import SpeechRequest

bp = Blueprint("openai", __name__)


@bp.post("/v1/audio/speech")
def speech() -> Response:
    require_json()
    loaded = service().loaded()
    req = parse_speech(
        parse_json_object(request.get_data()),
        models=[loaded.model_name],
        languages=loaded.languages,
        max_text_chars=serving().settings.max_text_chars,
    )
    access.metric(text_chars=len(req.text), language=req.language, voice_source="id")
    params = {} if req.speed is None else {"speed": req.speed}
    speech = service().synthesize(SpeechRequest(req.text, req.language, voice_id=req.voice_id, params=params))
    access.metric(audio_seconds=round(speech.seconds, 3), queue_ms=round(speech.prepared.queue_ms, 1))
    body = encode_audio(speech.audio, speech.sample_rate, req.response_format)
    return Response(body, content_type=CONTENT_TYPES[req.response_format])


@bp.get("/v1/models")
def models() -> Response:
    loaded = service().loaded()
    created = int(serving().model.ready_at or 0)
    return jsonify(
        {
            "object": "list",
            "data": [{"id": loaded.model_name, "object": "model", "created": created, "owned_by": "bn-xtts"}],
        }
    )
