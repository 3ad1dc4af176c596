"""ElevenLabs' REST text-to-speech routes (function.http.elevenlabs has the protocol):
POST /v1/text-to-speech/{voice_id} (whole audio, sent as it is made), /stream (the same),
/with-timestamps (JSON: base64 audio and character alignment), /stream/with-timestamps (one JSON
object a line, each with its audio; the alignment on the last, once the audio's length is known),
and GET /v1/voices. `{voice_id}` is a voice id, name or TTS_VOICE_ALIASES alias, of the caller's.
"""

from __future__ import annotations

import base64
import time

from flask import Blueprint, Response, request

from function.align.timing import CharacterTimes, characters_of, characters_over
from function.audio.stream_encode import ResampledEncoder
from function.http import access
from function.http.context import json_body, reply, request_owner, service, serving
from function.http.elevenlabs import (
    OUTPUT_FORMATS,
    ElevenLabsSpeechRequest,
    OutputFormat,
    estimated_alignment,
    first_chunk,
    output_format,
    ssml_parsing,
)
from function.http.errors import ApiError
from function.http.models import OPENAI_MODELS
from function.http.responses import (
    AudioWithTimestamps,
    CharacterAlignment,
    ElevenLabsVoice,
    ElevenLabsVoiceList,
)
from function.http.streaming import AudioRender, Render, stream_response
from function.service import AudioChunk
from function.service.speech import SpeechStream
from function.service.timestamps import joined, with_input_words

bp = Blueprint("elevenlabs", __name__)
# The text's alignment (as sent) and the normalized text's.
Alignments = tuple[CharacterAlignment, CharacterAlignment]


def _query() -> tuple[OutputFormat, int | None, bool]:
    fmt = output_format(request.args.get("output_format"))
    if fmt is None:
        raise ApiError(
            400,
            "invalid_output_format",
            f"output_format {request.args.get('output_format')!r} is not offered; use one of: "
            + ", ".join(OUTPUT_FORMATS),
        )
    try:
        return (
            fmt,
            first_chunk(request.args.get("optimize_streaming_latency")),
            ssml_parsing(request.args.get("enable_ssml_parsing")),
        )
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None


def _start(
    voice: str, *, timestamps: bool = False
) -> tuple[ElevenLabsSpeechRequest, SpeechStream, OutputFormat, float]:
    fmt, first_chunk, ssml = _query()
    loaded = service().loaded()
    req = json_body(
        ElevenLabsSpeechRequest,
        models=[loaded.model_name, *OPENAI_MODELS],
        languages=loaded.languages,
        max_text_chars=serving().settings.max_text_chars,
    )
    access.metric(text_chars=len(req.text), language=req.language_code or "bn", voice_source="id")
    owner = request_owner()
    voice_id = service().resolve_voice(voice, serving().settings.voice_aliases, owner)
    t_first = time.perf_counter()
    return req, service().stream(req.job(voice_id, owner, first_chunk, ssml, timestamps)), fmt, t_first


def _encoder(fmt: OutputFormat, source_rate: int) -> ResampledEncoder:
    return ResampledEncoder(fmt.codec, source_rate, fmt.sample_rate, fmt.bit_rate)


@bp.post("/v1/text-to-speech/<voice>")
@bp.post("/v1/text-to-speech/<voice>/stream")
def text_to_speech(voice: str) -> Response:
    """The audio in `output_format`, sent chunk by chunk as it is made (both paths stream)."""
    _, stream, fmt, t_first = _start(voice)
    return stream_response(
        stream, t_first, lambda first: (AudioRender(_encoder(fmt, first.sample_rate)), fmt.content_type)
    )


class TimestampLines:
    """/stream/with-timestamps: a JSON object a line, {audio_base64, alignment, normalized_alignment};
    the alignments come on the last line, once every piece's words are placed."""

    def __init__(self, encoder: ResampledEncoder, text: str, stream: SpeechStream) -> None:
        self.encoder = encoder
        self.text = text
        self.stream = stream
        self.samples = 0

    def chunk(self, chunk: AudioChunk) -> bytes:
        self.samples += int(chunk.samples.shape[0])
        data = self.encoder.encode(chunk.samples)
        return (_timestamped(data).model_dump_json() + "\n").encode() if data else b""

    def end(self) -> bytes:
        seconds = self.samples / self.encoder.sample_rate
        line = _timestamped(self.encoder.finish(), _alignments(self.text, self.stream, seconds))
        return (line.model_dump_json() + "\n").encode()

    def abort(self) -> None:
        self.encoder.close()


@bp.post("/v1/text-to-speech/<voice>/stream/with-timestamps")
def stream_with_timestamps(voice: str) -> Response:
    req, stream, fmt, t_first = _start(voice, timestamps=True)

    def render(first: AudioChunk) -> tuple[Render, str]:
        lines = TimestampLines(_encoder(fmt, first.sample_rate), req.text, stream)
        return lines, "application/x-ndjson"

    return stream_response(stream, t_first, render)


@bp.post("/v1/text-to-speech/<voice>/with-timestamps")
def with_timestamps(voice: str) -> Response:
    req, stream, fmt, _ = _start(voice, timestamps=True)
    encoder: ResampledEncoder | None = None
    parts: list[bytes] = []
    samples = 0
    try:
        for chunk in stream:
            encoder = encoder or _encoder(fmt, chunk.sample_rate)
            samples += int(chunk.samples.shape[0])
            parts.append(encoder.encode(chunk.samples))
    finally:
        stream.close()
    seconds = 0.0
    if encoder is not None:
        parts.append(encoder.finish())
        seconds = samples / encoder.sample_rate
    return reply(_timestamped(b"".join(parts), _alignments(req.text, stream, seconds)))


def _alignments(text: str, stream: SpeechStream, seconds: float) -> Alignments:
    """`text`'s alignment (as sent) and the normalized text's, from the stream's word times."""
    timing = joined(stream.timer.take(wait=True)) if stream.timer is not None else None
    if timing is None or not timing.words:
        return estimated_alignment(text, 0.0, seconds), estimated_alignment(
            stream.prepared.text, 0.0, seconds
        )
    normalized = _character_alignment(characters_of(timing.words))
    read_word = stream.prepared.read_word
    if read_word is None:  # SSML: the text as sent is markup, spread over the speech
        return estimated_alignment(text, timing.words[0].start, timing.words[-1].end), normalized
    sent = with_input_words(timing, text, read_word).input_words or []
    return _character_alignment(characters_over(text, sent)), normalized


def _character_alignment(times: CharacterTimes) -> CharacterAlignment:
    return CharacterAlignment(
        characters=times.characters,
        character_start_times_seconds=times.starts,
        character_end_times_seconds=times.ends,
    )


def _timestamped(audio: bytes, alignments: Alignments | None = None) -> AudioWithTimestamps:
    """Audio with (the last line of a stream: with) the text's and the normalized text's alignments."""
    return AudioWithTimestamps(
        audio_base64=base64.b64encode(audio).decode("ascii"),
        alignment=None if alignments is None else alignments[0],
        normalized_alignment=None if alignments is None else alignments[1],
    )


@bp.get("/v1/voices")
def voices() -> Response:
    """The caller's voices in ElevenLabs' shape (GET /voices has this service's own)."""
    found = service().list_voices(request_owner())
    return reply(
        ElevenLabsVoiceList(
            voices=[
                ElevenLabsVoice(voice_id=v.voice_id, name=v.name or v.voice_id, category="cloned")
                for v in found
            ]
        )
    )
