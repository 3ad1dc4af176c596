"""ElevenLabs' WebSocket text-to-speech protocol (stream-input and multi-stream-input): the messages,
and one socket's state: its contexts, each a live utterance (function.service.live).

Client messages (JSON text): `{"text": " ", "voice_settings": ..., "generation_config":
{"chunk_length_schedule": [...]}, "xi_api_key": ...}` first; then text pieces, `flush`,
`try_trigger_generation`; on stream-input `{"text": ""}` ends the input (the rest is spoken, then
`isFinal`, then the socket closes). On multi-stream-input each message names a `context_id` (a new
one opens a context, with that message's voice_settings), `{"text": ""}` keeps it alive,
`close_context` ends its input (what was sent is spoken, then `isFinal`: Pipecat ends every turn so),
`close_context` with `immediate: true` stops it at once (barge-in: this service's extension),
`close_socket` stops everything (the client is leaving).

Server messages: `{"audio": base64, "isFinal": false, "alignment": null, "normalizedAlignment": null}`
as the audio is made (`contextId` added on multi-stream-input); after each segment, a message with
`"audio": null` and that segment's alignment (per character, in ms from the segment's first sample:
exact at segment boundaries, estimated inside: docs/serving-api.md); `{"isFinal": true}` when a
context is over; `{"message", "error", "code"}` before a close for a problem.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from function.align.timing import CharacterTimes, characters_of, characters_over, spread
from function.audio.stream_encode import ResampledEncoder
from function.http.elevenlabs import (
    OutputFormat,
    VoiceSettings,
    first_chunk,
    output_format,
    voice_params,
)
from function.http.models import LOCATORS_FIELD, DictionaryLocator, locators
from function.http.websocket import INVALID_PAYLOAD, POLICY_VIOLATION, TRY_AGAIN_LATER
from function.service.errors import Overloaded, ServiceError, Unavailable
from function.service.live import LiveEnd, LiveEvent, LiveSpeech, SegmentAudio, SegmentEnd
from function.service.pronunciation import Locator
from function.text.incremental import IncrementalSegmenter
from function.voices import Owner

log = logging.getLogger("function.live")

DEFAULT_SCHEDULE = (120, 160, 250, 290)  # ElevenLabs' default chunk_length_schedule
MAX_INACTIVITY_S = 180
DEFAULT_CONTEXT = "default"


class ProtocolError(Exception):
    """A message or a state the protocol refuses: sent as an error message, then the socket closes
    with `close_code` (1008 policy, 1007 invalid payload, 1013 try again later)."""

    def __init__(self, close_code: int, error: str, message: str) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.error = error
        self.message = message


# ---- messages ------------------------------------------------------------------------------------


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="ignore")
    chunk_length_schedule: list[int] | None = Field(default=None, min_length=1, max_length=8)


class ClientMessage(BaseModel):
    """One message from the client; fields this service has no use for are ignored."""

    model_config = ConfigDict(extra="ignore")
    text: str | None = None
    flush: bool = False
    try_trigger_generation: bool = False
    voice_settings: VoiceSettings | None = None
    generation_config: GenerationConfig | None = None
    xi_api_key: str | None = None
    authorization: str | None = None
    context_id: str | None = Field(default=None, min_length=1, max_length=128)
    close_context: bool = False
    immediate: bool = False  # with close_context: barge-in, stop now (not in ElevenLabs' protocol)
    close_socket: bool = False
    # On the message that opens a context: its dictionaries (as on REST).
    pronunciation_dictionary_locators: list[DictionaryLocator] | None = LOCATORS_FIELD


class WsAlignment(BaseModel):
    chars: list[str]
    charStartTimesMs: list[int]  # noqa: N815  (ElevenLabs' field names)
    charDurationsMs: list[int]  # noqa: N815


class ServerMessage(BaseModel):
    audio: str | None = None
    isFinal: bool | None = None  # noqa: N815
    alignment: WsAlignment | None = None
    normalizedAlignment: WsAlignment | None = None  # noqa: N815
    contextId: str | None = None  # noqa: N815


class ErrorMessage(BaseModel):
    message: str
    error: str
    code: int
    contextId: str | None = None  # noqa: N815


@dataclass(frozen=True)
class SocketOptions:
    """The query string of the socket's URL, checked before the upgrade (a bad one gets a 400)."""

    output: OutputFormat
    language: str
    inactivity_timeout_s: float
    auto_mode: bool
    first_chunk: int | None
    ssml: bool = False  # enable_ssml_parsing: the text is SSML elements (no <speak> needed)


def socket_options(args: dict[str, str], languages: tuple[str, ...] | None) -> SocketOptions:
    fmt = output_format(args.get("output_format"))
    if fmt is None:
        raise ValueError(f"output_format {args.get('output_format')!r} is not offered")
    language = args.get("language_code") or "bn"
    if languages is not None and language not in languages:
        raise ValueError(f"language_code {language!r} is not offered; use one of: {', '.join(languages)}")
    raw = args.get("inactivity_timeout", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_INACTIVITY_S:
        raise ValueError(f"inactivity_timeout must be a whole number of seconds in 1..{MAX_INACTIVITY_S}")
    flags = {}
    for name in ("auto_mode", "sync_alignment", "enable_logging", "enable_ssml_parsing"):
        value = args.get(name, "false").lower()
        if value not in ("true", "false"):
            raise ValueError(f"{name} must be true or false")
        flags[name] = value == "true"
    if args.get("apply_text_normalization", "auto") not in ("auto", "on", "off"):
        raise ValueError("apply_text_normalization must be auto, on or off")
    chunk = first_chunk(args.get("optimize_streaming_latency"))
    return SocketOptions(fmt, language, float(raw), flags["auto_mode"], chunk, flags["enable_ssml_parsing"])


def ms_alignment(times: CharacterTimes) -> WsAlignment:
    """Character times as ElevenLabs' WebSocket sends them (ms)."""
    starts = [round(s * 1000) for s in times.starts]
    ends = [round(e * 1000) for e in times.ends]
    return WsAlignment(
        chars=times.characters,
        charStartTimesMs=starts,
        charDurationsMs=[e - s for s, e in zip(starts, ends, strict=True)],
    )


def segment_alignments(end: SegmentEnd, seconds: float) -> tuple[WsAlignment, WsAlignment]:
    """A heard segment's alignment (its text as sent) and normalizedAlignment (as read), from its
    word times (forced with TTS_ALIGNER_MODEL); spread over its audio when it has none."""
    timing = end.timing
    if timing is None or not timing.words:
        return ms_alignment(spread(end.text, 0.0, seconds)), ms_alignment(spread(end.spoken, 0.0, seconds))
    read = _to_end(characters_of(timing.words), seconds)
    if timing.input_words is None:  # SSML: the text as sent is markup, spread over the speech
        sent = spread(end.text, timing.words[0].start, timing.words[-1].end)
    else:
        sent = characters_over(end.text, timing.input_words)
    return ms_alignment(_to_end(sent, seconds)), ms_alignment(read)


def _to_end(times: CharacterTimes, seconds: float) -> CharacterTimes:
    """The last character lasts to the segment's end (its trailing silence): a client that adds up
    each alignment's end, as Pipecat does, then gets times from the start of the audio."""
    if times.ends and times.ends[-1] < seconds:
        times.ends[-1] = round(seconds, 4)
    return times


# ---- one socket ----------------------------------------------------------------------------------


@dataclass
class _Context:
    id: str
    segmenter: IncrementalSegmenter
    live: LiveSpeech | None = None
    encoder: ResampledEncoder | None = None
    waiting_chars: int = 0  # sent and not yet heard
    speaking_chars: int = 0  # in segments being made, not yet heard
    last_activity: float = field(default_factory=time.monotonic)  # a message for it, or its audio
    input_ended: bool = False  # closed by the client (or the end of input): text for it is ignored


@dataclass
class SocketLimits:
    max_contexts: int
    max_waiting_chars: int


@dataclass
class SocketStats:
    contexts: int = 0
    segments: int = 0
    audio_seconds: float = 0.0
    barge_in_ms: list[float] = field(default_factory=list)


class AgentSocket:
    """One socket's protocol state. `handle()` runs in the socket's thread; audio is sent from each
    context's player thread through `send` (thread-safe). `start(params, context_id, emit)` makes a
    context's LiveSpeech (the route binds it to the service, voice and owner)."""

    def __init__(
        self,
        *,
        multi: bool,
        options: SocketOptions,
        limits: SocketLimits,
        send: Callable[[str], None],
        start: Callable[[dict[str, Any], str, Callable[[LiveEvent], None], tuple[Locator, ...]], LiveSpeech],
        authenticate: Callable[[ClientMessage], Owner] | None,
    ) -> None:
        self.multi = multi
        self.options = options
        self.limits = limits
        self._send = send
        self._start = start
        self._authenticate = authenticate  # None: the upgrade request carried a valid key
        self._contexts: dict[str, _Context] = {}
        self._lock = threading.Lock()
        self._finished = threading.Event()  # stream-input: the one context is over
        self._input_ended = False
        self.broken = False  # a send failed: the client is gone or stopped reading
        self.stats = SocketStats()
        self.last_activity = time.monotonic()

    # ---- state the socket loop reads ----------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.broken or self._finished.is_set()

    def expire(self, now: float, timeout: float) -> bool:
        """Inactivity (ElevenLabs' inactivity_timeout): on multi-stream-input a context with no message
        and no audio for `timeout` is closed; True when the socket itself has been idle that long
        (nothing being spoken, no message), so it should close."""
        with self._lock:
            contexts = list(self._contexts.values())
        speaking = False
        for ctx in contexts:
            if ctx.speaking_chars > 0:
                speaking = True
            elif self.multi and now - ctx.last_activity > timeout:
                self.close_context(ctx.id)
        return not speaking and now - self.last_activity > timeout and not (self.multi and self.live_contexts)

    @property
    def live_contexts(self) -> int:
        with self._lock:
            return len(self._contexts)

    # ---- client messages ------------------------------------------------------------------------
    def handle(self, raw: str) -> None:
        self.last_activity = time.monotonic()
        try:
            body = json.loads(raw)
        except ValueError:
            raise ProtocolError(
                INVALID_PAYLOAD, "invalid_message", "each message must be a JSON object"
            ) from None
        if not isinstance(body, dict):
            raise ProtocolError(INVALID_PAYLOAD, "invalid_message", "each message must be a JSON object")
        try:
            msg = ClientMessage.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ProtocolError(INVALID_PAYLOAD, "invalid_message", f"{where}: {first['msg']}") from None
        if self._authenticate is not None:
            self._authenticate(msg)  # raises ProtocolError(1008) for a missing or wrong key
            self._authenticate = None
        if msg.close_socket:
            self.close_all()
            self._finished.set()
            return
        if self.multi:
            self._handle_multi(msg)
        else:
            self._handle_single(msg)

    def _handle_single(self, msg: ClientMessage) -> None:
        if self._input_ended:
            return  # the input is over; what is left is being spoken
        ctx = self._context(DEFAULT_CONTEXT, msg)
        if msg.text == "":
            self._input_ended = True
            self._finish(ctx)
            return
        self._feed(ctx, msg)

    def _handle_multi(self, msg: ClientMessage) -> None:
        cid = msg.context_id
        if cid is None:
            if not msg.text and not msg.flush:
                return  # a keep-alive for the socket
            cid = DEFAULT_CONTEXT
        if msg.close_context:
            if msg.immediate:
                self.close_context(cid)
            else:
                self.end_context(cid)
            return
        if msg.text == "" and not msg.flush:
            with self._lock:
                known = self._contexts.get(cid)
            if known is not None:
                known.last_activity = time.monotonic()
                return  # keep-alive for the context
        ctx = self._context(cid, msg)
        self._feed(ctx, msg)

    def _context(self, cid: str, msg: ClientMessage) -> _Context:
        with self._lock:
            ctx = self._contexts.get(cid)
            if ctx is not None:
                return ctx
            if len(self._contexts) >= self.limits.max_contexts:
                raise ProtocolError(
                    POLICY_VIOLATION,
                    "too_many_contexts",
                    f"a socket may have at most {self.limits.max_contexts} open contexts "
                    "(TTS_WS_MAX_CONTEXTS): close one first",
                )
            schedule: tuple[int, ...] = ()
            if not self.options.auto_mode:
                given = msg.generation_config.chunk_length_schedule if msg.generation_config else None
                schedule = tuple(given) if given else DEFAULT_SCHEDULE
                if any(not 50 <= n <= 500 for n in schedule):
                    raise ProtocolError(
                        INVALID_PAYLOAD, "invalid_message", "chunk_length_schedule values must be in 50..500"
                    )
            ctx = _Context(cid, IncrementalSegmenter(schedule, markup=self.options.ssml))
            self._contexts[cid] = ctx
            self.stats.contexts += 1
        ctx.live = self._start(
            voice_params(msg.voice_settings),
            cid,
            lambda event: self._on_event(ctx, event),
            locators(msg.pronunciation_dictionary_locators),
        )
        return ctx

    def _feed(self, ctx: _Context, msg: ClientMessage) -> None:
        if ctx.input_ended:
            return  # its input is over; what was sent is being spoken
        text = msg.text or ""
        with self._lock:
            ctx.waiting_chars += len(text)
            if ctx.waiting_chars > self.limits.max_waiting_chars:
                raise ProtocolError(
                    POLICY_VIOLATION,
                    "buffer_full",
                    f"context {ctx.id!r} has {ctx.waiting_chars} characters waiting to be spoken; the limit "
                    f"is {self.limits.max_waiting_chars} (TTS_MAX_TEXT_CHARS): wait for its audio",
                )
        ctx.last_activity = time.monotonic()
        segments = ctx.segmenter.push(text)
        if msg.flush:
            segments += ctx.segmenter.flush()
        self._say(ctx, segments)

    def _say(self, ctx: _Context, segments: list[str]) -> None:
        assert ctx.live is not None
        for segment in segments:
            with self._lock:
                ctx.speaking_chars += len(segment)
            ctx.live.say(segment)

    def _finish(self, ctx: _Context) -> None:
        """The context's input is over: speak the rest, then isFinal."""
        assert ctx.live is not None
        ctx.input_ended = True
        self._say(ctx, ctx.segmenter.flush())
        ctx.live.end()

    def end_context(self, cid: str) -> None:
        """ElevenLabs' close_context: what was sent is spoken (the buffer flushed), then isFinal.
        Pipecat sends it at the end of every turn, after its flush, and waits for that audio."""
        with self._lock:
            ctx = self._contexts.get(cid)
        if ctx is not None and not ctx.input_ended:
            self._finish(ctx)

    def close_context(self, cid: str) -> None:
        """Barge-in: stop the context now (its isFinal follows)."""
        with self._lock:
            ctx = self._contexts.get(cid)
        if ctx is None or ctx.live is None:
            return
        ms = ctx.live.cancel() * 1000
        self.stats.barge_in_ms.append(round(ms, 1))
        log.info(
            "context closed by the client: generation stopped",
            extra={"context": cid, "stop_ms": round(ms, 1)},
        )

    def close_all(self) -> None:
        with self._lock:
            contexts = list(self._contexts.values())
        for ctx in contexts:
            if ctx.live is not None:
                ctx.live.cancel()

    # ---- audio out (each context's player thread) -----------------------------------------------
    def _on_event(self, ctx: _Context, event: LiveEvent) -> None:
        cid = ctx.id if self.multi else None
        if isinstance(event, SegmentAudio):
            chunk = event.chunk
            if ctx.encoder is None:
                out = self.options.output
                ctx.encoder = ResampledEncoder(out.codec, chunk.sample_rate, out.sample_rate, out.bit_rate)
            ctx.last_activity = time.monotonic()
            self._emit_audio(ctx.encoder.encode(chunk.samples), cid)
        elif isinstance(event, SegmentEnd):
            rate = ctx.encoder.sample_rate if ctx.encoder else 1
            seconds = event.samples / rate
            with self._lock:
                ctx.waiting_chars -= len(event.text)
                ctx.speaking_chars -= len(event.text)
            self.stats.segments += 1
            self.stats.audio_seconds += seconds
            if event.samples:
                alignment, normalized = segment_alignments(event, seconds)
                self._deliver(
                    _message(
                        cid,
                        audio=None,
                        isFinal=False,
                        alignment=alignment,
                        normalizedAlignment=normalized,
                    )
                )
        else:
            self._on_end(ctx, event, cid)

    def _on_end(self, ctx: _Context, event: LiveEnd, cid: str | None) -> None:
        with self._lock:
            self._contexts.pop(ctx.id, None)
        if ctx.encoder is not None:
            if event.outcome == "finished":
                self._emit_audio(ctx.encoder.finish(), cid)
            else:
                ctx.encoder.close()
        if event.error is not None:
            self._deliver(_error_message(event.error, cid))
        self._deliver(_message(cid, isFinal=True))
        if not self.multi:
            self._finished.set()

    def _emit_audio(self, data: bytes, cid: str | None) -> None:
        if data:
            audio = base64.b64encode(data).decode("ascii")
            self._deliver(_message(cid, audio=audio, isFinal=False, alignment=None, normalizedAlignment=None))

    def _deliver(self, message: BaseModel) -> None:
        if self.broken:
            raise ConnectionError("the client is gone")
        try:
            self._send(message.model_dump_json(exclude_unset=True))
        except Exception as exc:  # a closed socket, or a client that stopped reading
            self.broken = True
            raise ConnectionError(str(exc)) from None
        self.last_activity = time.monotonic()


def _message(cid: str | None, **fields: Any) -> ServerMessage:
    """A server message with the fields given (null ones included, as ElevenLabs sends them), and
    `contextId` on multi-stream-input only."""
    return ServerMessage(**fields) if cid is None else ServerMessage(contextId=cid, **fields)


def _error_message(error: ServiceError, cid: str | None) -> ErrorMessage:
    busy = isinstance(error, Overloaded | Unavailable)
    code = TRY_AGAIN_LATER if busy else POLICY_VIOLATION
    if cid is None:
        return ErrorMessage(message=error.message, error=error.code, code=code)
    return ErrorMessage(message=error.message, error=error.code, code=code, contextId=cid)
