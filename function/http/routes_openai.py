"""The OpenAI speech API shape, so OpenAI's clients work with base_url pointed here.

`model` may be OpenAI's names (tts-1, tts-1-hd, gpt-4o-mini-tts) or the bundle's own: all select the
bundle. The body always streams: each chunk's audio leaves as it is generated, in every format
(incremental encoders), so `with_streaming_response` gets its first bytes while synthesis goes on
and `audio.speech.create` simply reads to the end. `stream_format: "sse"` answers
`text/event-stream` with `speech.audio.delta` events and a final `speech.audio.done` with usage;
with `timestamps: true` (not OpenAI's), a `speech.audio.timestamps` event follows each text piece's
audio as soon as its words are placed.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response

from function.audio import CONTENT_TYPES, FORMATS
from function.audio.stream_encode import AudioEncoder
from function.http import access
from function.http.context import json_body, reply, request_owner, service, serving
from function.http.models import OPENAI_MODELS, OpenAISpeechRequest
from function.http.responses import ModelCard, ModelList
from function.http.streaming import AudioRender, Render, SseRender, stream_response
from function.service import AudioChunk

bp = Blueprint("openai", __name__)


@bp.post("/v1/audio/speech")
def speech() -> Response:
    loaded = service().loaded()
    req = json_body(
        OpenAISpeechRequest,
        models=[loaded.model_name, *OPENAI_MODELS],
        languages=loaded.languages,
        formats=FORMATS,
        max_text_chars=serving().settings.max_text_chars,
    )
    access.metric(
        text_chars=len(req.input),
        language=req.language,
        voice_source="id",
        response_format=req.response_format,
    )
    owner = request_owner()
    voice_id = service().resolve_voice(req.voice, serving().settings.voice_aliases, owner)
    t_first = time.perf_counter()
    stream = service().stream(req.job(voice_id, owner))

    def render(first: AudioChunk) -> tuple[Render, str]:
        encoder = AudioEncoder(req.response_format, first.sample_rate)
        if req.stream_format != "sse":
            return AudioRender(encoder), CONTENT_TYPES[req.response_format]
        tokens = loaded.text_tokens(stream.prepared.text, req.language)
        speed = stream.prepared.params.speed
        render = SseRender(
            encoder,
            tokens,
            lambda seconds: loaded.audio_codes(seconds, speed),
            lambda: stream.quality,
            stream.timer,
        )
        return render, "text/event-stream"

    return stream_response(stream, t_first, render)


@bp.get("/v1/models")
def models() -> Response:
    loaded = service().loaded()
    created = int(serving().model.ready_at or 0)
    names = [loaded.model_name, *OPENAI_MODELS]
    return reply(
        ModelList(
            object="list",
            data=[ModelCard(id=name, object="model", created=created, owned_by="bn-xtts") for name in names],
        )
    )
