"""POST /synthesize (whole file), POST /synthesize/stream (chunked WAV as it is generated, or SSE
events with word timestamps), and POST /normalize (what the model would read, without synthesis)."""

from __future__ import annotations

import base64
import time

from flask import Blueprint, Response

from function.align.timing import characters_of
from function.audio import encode_audio
from function.audio.stream_encode import AudioEncoder
from function.http import access
from function.http.context import json_body, reply, request_owner, service, serving
from function.http.errors import ApiError
from function.http.models import NormalizeRequest, SynthesisFields, SynthesisRequest
from function.http.responses import (
    CharacterAlignment,
    NormalizeResult,
    PronunciationMatch,
    QualityReport,
    ReadSegment,
    SynthesisResult,
    Timestamps,
    Timings,
    WordSpan,
)
from function.http.streaming import AudioRender, Render, SseRender, stream_response
from function.service import AudioChunk
from function.service.timestamps import Timing

bp = Blueprint("synthesis", __name__)


def _parse(formats: tuple[str, ...]) -> SynthesisFields:
    req = json_body(
        SynthesisRequest,
        languages=service().loaded().languages,
        max_text_chars=serving().settings.max_text_chars,
        formats=formats,
    )
    access.metric(
        text_chars=len(req.text), language=req.language, voice_source="id" if req.voice_id else "clip"
    )
    return req


@bp.post("/synthesize")
def synthesize() -> Response:
    t0 = time.perf_counter()
    req = _parse(("wav", "json"))
    if req.stream_format != "audio":
        raise ApiError(400, "invalid_stream_format", "'stream_format' is for POST /synthesize/stream")
    speech = service().synthesize(req.job(request_owner()))
    t2 = time.perf_counter()
    wav = encode_audio(speech.audio, speech.sample_rate, "wav")
    t3 = time.perf_counter()
    quality = speech.quality
    access.metric(
        audio_seconds=round(speech.seconds, 3),
        synthesis_ms=round(speech.synthesis_ms, 1),
        queue_ms=round(speech.prepared.queue_ms, 1),
        **(quality.log_fields() if quality else {}),
    )
    if req.response_format == "json":
        prepared = speech.prepared
        return reply(
            SynthesisResult(
                audio=base64.b64encode(wav).decode("ascii"),
                format="wav",
                sample_rate=speech.sample_rate,
                duration_s=round(speech.seconds, 3),
                normalized_text=prepared.text,
                timings=Timings(
                    normalize_ms=round(prepared.normalize_ms, 1),
                    voice_ms=round(prepared.voice_ms, 1),
                    synthesis_ms=round(speech.synthesis_ms, 1),
                    encode_ms=round((t3 - t2) * 1000, 1),
                    total_ms=round((t3 - t0) * 1000, 1),
                ),
                real_time_factor=round(speech.synthesis_ms / 1000 / speech.seconds, 4)
                if speech.seconds
                else None,
                quality=QualityReport.model_validate(quality.to_json()) if quality else None,
                pronunciation=[PronunciationMatch.model_validate(m) for m in prepared.pronunciation],
                timestamps=None if speech.timing is None else timestamps(speech.timing),
            )
        )
    response = Response(wav, mimetype="audio/wav")
    response.headers["X-Audio-Duration"] = f"{speech.seconds:.3f}"
    if quality is not None:
        # The verdict for clients that take the audio itself: warning codes (empty: none) and attempts.
        response.headers["X-Quality-Warnings"] = ",".join(quality.codes)
        response.headers["X-Quality-Attempts"] = str(quality.attempts)
    return response


def timestamps(timing: Timing) -> Timestamps:
    chars = characters_of(timing.words)
    return Timestamps(
        alignment=timing.alignment,
        words=[WordSpan(word=w.word, start=w.start, end=w.end) for w in timing.words],
        input_words=None
        if timing.input_words is None
        else [WordSpan(word=w.word, start=w.start, end=w.end) for w in timing.input_words],
        characters=CharacterAlignment(
            characters=chars.characters,
            character_start_times_seconds=chars.starts,
            character_end_times_seconds=chars.ends,
        ),
    )


@bp.post("/synthesize/stream")
def synthesize_stream() -> Response:
    req = _parse(("wav",))
    t_first = time.perf_counter()
    stream = service().stream(req.job(request_owner()))
    if req.stream_format == "audio":
        return stream_response(
            stream, t_first, lambda first: (AudioRender(AudioEncoder("wav", first.sample_rate)), "audio/wav")
        )
    loaded = service().loaded()

    def render(first: AudioChunk) -> tuple[Render, str]:
        # The same events as /v1/audio/speech's SSE, the audio as PCM16 (one event stream, any client).
        speed = stream.prepared.params.speed
        sse = SseRender(
            AudioEncoder("pcm", first.sample_rate),
            loaded.text_tokens(stream.prepared.text, req.language),
            lambda seconds: loaded.audio_codes(seconds, speed),
            lambda: stream.quality,
            stream.timer,
        )
        return sse, "text/event-stream"

    return stream_response(stream, t_first, render)


@bp.post("/normalize")
def normalize() -> Response:
    """The text as the model reads it: the front-end, SSML and the pronunciation dictionaries
    applied, no audio made (no synthesis slot is taken)."""
    req = json_body(
        NormalizeRequest,
        languages=service().loaded().languages,
        max_text_chars=serving().settings.max_text_chars,
    )
    reading = service().normalize(req.job(request_owner()))
    segments = [
        ReadSegment(text=s.text, speed=s.speed, language=s.language, pause_after_s=s.pause_after)
        for s in reading.script or ()
    ]
    return reply(
        NormalizeResult(
            normalized_text=reading.text,
            segments=segments
            or [ReadSegment(text=reading.text, speed=None, language=None, pause_after_s=0.0)],
            pronunciation=[PronunciationMatch.model_validate(m) for m in reading.pronunciation],
        )
    )
