"""ElevenLabs' WebSocket routes for voice agents: text streams in, audio streams out.

GET /v1/text-to-speech/{voice_id}/stream-input and /multi-stream-input, upgraded to a WebSocket
(function.http.elevenlabs_ws has the protocol). Everything that can be checked before the upgrade
is, with an ordinary JSON error: the query string, the voice (when the key came in a header), the
model being loaded. The worker runs each socket in a thread of its own, outside the request pool
(function.server_worker), up to TTS_WS_MAX_SOCKETS per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, request

from function.http import access
from function.http.auth import authorized, caller
from function.http.context import SHUTTING_DOWN, request_owner, service, serving
from function.http.elevenlabs import any_elevenlabs_model
from function.http.elevenlabs_ws import (
    AgentSocket,
    ClientMessage,
    ErrorMessage,
    ProtocolError,
    SocketLimits,
    SocketOptions,
    socket_options,
)
from function.http.errors import ApiError
from function.http.models import OPENAI_MODELS
from function.http.websocket import (
    GOING_AWAY,
    INTERNAL_ERROR,
    NORMAL,
    POLICY_VIOLATION,
    ServerWebSocket,
    WebSocketClosed,
    handshake_problem,
    is_upgrade,
)
from function.service.errors import ServiceError
from function.service.live import LiveEvent, LiveSpeech
from function.service.pronunciation import Locator
from function.service.speech import SpeechRequest
from function.voices import Owner

bp = Blueprint("elevenlabs_ws", __name__)
log = logging.getLogger("function.live")

# The key may come in the first message (xi_api_key, authorization) instead of a header: the app's
# key check lets an upgrade to these endpoints through when it carries no key at all.
FIRST_MESSAGE_AUTH = frozenset({"elevenlabs_ws.stream_input", "elevenlabs_ws.multi_stream_input"})
_FIRST_MESSAGE_S = 10.0  # an unauthenticated socket must say who it is this soon
_POLL_S = 0.25


class LiveCounts:
    """Open sockets and contexts in this process, for /health."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: set[AgentSocket] = set()

    def add(self, sock: AgentSocket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def remove(self, sock: AgentSocket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            sockets = list(self._sockets)
        return {"sockets": len(sockets), "contexts": sum(s.live_contexts for s in sockets)}


LIVE = LiveCounts()


# werkzeug routes a WebSocket handshake only to a rule marked websocket=True; the plain rule
# answers anything else with 426.
@bp.get("/v1/text-to-speech/<voice>/stream-input", websocket=True)
@bp.get("/v1/text-to-speech/<voice>/stream-input")
def stream_input(voice: str) -> Response:
    return _serve(voice, multi=False)


@bp.get("/v1/text-to-speech/<voice>/multi-stream-input", websocket=True)
@bp.get("/v1/text-to-speech/<voice>/multi-stream-input")
def multi_stream_input(voice: str) -> Response:
    return _serve(voice, multi=True)


def _serve(voice: str, *, multi: bool) -> Response:
    environ = request.environ
    if not is_upgrade(environ):
        raise ApiError(
            426,
            "upgrade_required",
            "this endpoint is a WebSocket: connect with a WebSocket client (ws:// or wss://)",
            {"Upgrade": "websocket", "Connection": "Upgrade"},
        )
    problem = handshake_problem(environ)
    if problem is not None:
        raise ApiError(400, "bad_handshake", problem)
    if SHUTTING_DOWN.is_set():
        raise ApiError(
            503,
            "shutting_down",
            "this instance is shutting down; reconnect",
            {"Retry-After": "1"},
        )
    settings = serving().settings
    loaded = service().loaded()
    try:
        options = socket_options(request.args.to_dict(), tuple(loaded.languages))
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None
    model = request.args.get("model_id")
    offered = [loaded.model_name, *OPENAI_MODELS]  # as on ElevenLabs' REST routes
    if not any_elevenlabs_model(model) and model not in offered:
        raise ApiError(
            400,
            "invalid_parameter",
            f"model_id {model!r} is not offered; use one of: {', '.join(offered)} (or an eleven_… id)",
        )
    owner: Owner | None = None
    voice_id: str | None = None
    if not settings.api_keys or _presents_key():
        owner = request_owner()  # a key in a header was checked with every request's
        voice_id = service().resolve_voice(voice, settings.voice_aliases, owner)
    snap = access.snapshot()
    g.deferred_access_log = True
    session = _Session(voice, voice_id, owner, options, multi)
    session.run(environ)
    access.write(snap, 101, None, **session.metrics())
    return _Detached()


def _presents_key() -> bool:
    return bool(request.headers.get("Authorization") or request.headers.get("xi-api-key"))


def defers_auth() -> bool:
    """An upgrade to a stream-input endpoint without a key in its headers: the key may come in the
    first message (ElevenLabs' xi_api_key), so the app's key check leaves it to the socket."""
    return request.endpoint in FIRST_MESSAGE_AUTH and is_upgrade(request.environ) and not _presents_key()


class _Session:
    """One socket from the upgrade to its close."""

    def __init__(
        self, voice: str, voice_id: str | None, owner: Owner | None, options: SocketOptions, multi: bool
    ) -> None:
        self.voice = voice
        self.voice_id = voice_id
        self.owner = owner
        self.options = options
        self.multi = multi
        self.settings = serving().settings
        self.service = service()
        self.outcome = "completed"
        self.agent: AgentSocket | None = None
        self.started = time.monotonic()

    def run(self, environ: dict[str, Any]) -> None:
        ws_settings = self.settings.ws
        ws = ServerWebSocket(
            environ,
            max_message_bytes=ws_settings.max_message_bytes,
            send_timeout_s=self.settings.response_write_timeout_s,
        )
        agent = AgentSocket(
            multi=self.multi,
            options=self.options,
            limits=SocketLimits(ws_settings.max_contexts, self.settings.max_text_chars),
            send=ws.send_text,
            start=self._start,
            authenticate=None if self.owner is not None else self._authenticate,
        )
        self.agent = agent
        LIVE.add(agent)
        try:
            self._loop(ws, agent)
        except WebSocketClosed as exc:
            self.outcome = "client_closed" if exc.code != 1006 else "client_gone"
        except ProtocolError as exc:
            self.outcome = f"refused:{exc.error}"
            self._refuse(ws, exc)
        except Exception:
            log.exception("a live socket failed")
            self.outcome = "internal_error"
            self._refuse(ws, ProtocolError(INTERNAL_ERROR, "internal_error", "the server failed; reconnect"))
        finally:
            agent.close_all()
            LIVE.remove(agent)
            ws.close(NORMAL if self.outcome == "completed" else GOING_AWAY)

    def _loop(self, ws: ServerWebSocket, agent: AgentSocket) -> None:
        rate = self.settings.ws.max_messages_per_s
        allowance, last = rate, time.monotonic()
        end_of_life = self.started + self.settings.ws.max_seconds
        while not agent.done:
            message = ws.receive(_POLL_S)
            now = time.monotonic()
            if message is None:
                self._check_time(agent, now, end_of_life)
                continue
            allowance = min(rate, allowance + (now - last) * rate)
            last = now
            if allowance < 1:
                raise ProtocolError(
                    POLICY_VIOLATION,
                    "rate_limited",
                    f"more than {rate:g} messages a second (TTS_WS_MAX_MESSAGES_PER_SECOND): "
                    "send larger pieces",
                )
            allowance -= 1
            agent.handle(message)
        if agent.broken:
            self.outcome = "client_stalled"

    def _check_time(self, agent: AgentSocket, now: float, end_of_life: float) -> None:
        if SHUTTING_DOWN.is_set():
            raise ProtocolError(GOING_AWAY, "shutting_down", "this instance is shutting down; reconnect")
        if now >= end_of_life:
            raise ProtocolError(
                GOING_AWAY,
                "max_duration",
                f"a socket lives at most {self.settings.ws.max_seconds:g} s (TTS_WS_MAX_SECONDS); reconnect",
            )
        if self.owner is None and now - self.started > _FIRST_MESSAGE_S:
            raise ProtocolError(POLICY_VIOLATION, "unauthorized", "no API key arrived: send xi_api_key first")
        if agent.expire(now, self.options.inactivity_timeout_s):
            raise ProtocolError(
                POLICY_VIOLATION,
                "input_timeout_exceeded",
                f"no text arrived for {self.options.inactivity_timeout_s:g} s (inactivity_timeout)",
            )

    def _authenticate(self, msg: ClientMessage) -> Owner:
        keys = self.settings.api_keys
        if not authorized(msg.authorization, keys, msg.xi_api_key):
            raise ProtocolError(
                POLICY_VIOLATION,
                "unauthorized",
                "missing or invalid API key: send xi_api_key in the first message",
            )
        owner = caller(msg.authorization, self.settings, msg.xi_api_key)
        try:
            self.voice_id = self.service.resolve_voice(self.voice, self.settings.voice_aliases, owner)
        except ServiceError as exc:
            raise ProtocolError(POLICY_VIOLATION, exc.code, exc.message) from None
        self.owner = owner
        return owner

    def _start(
        self,
        params: dict[str, Any],
        cid: str,
        emit: Callable[[LiveEvent], None],
        dictionaries: tuple[Locator, ...],
    ) -> LiveSpeech:
        assert self.owner is not None and self.voice_id is not None
        if self.options.first_chunk is not None:
            params = {**params, "stream_chunk_tokens": self.options.first_chunk}
        template = SpeechRequest(
            "",
            self.options.language,
            voice_id=self.voice_id,
            params=params,
            owner=self.owner,
            ssml=True if self.options.ssml else None,  # None: a <break/> in plain text is a pause
            dictionaries=dictionaries,
            timestamps=True,  # each segment's alignment (forced with TTS_ALIGNER_MODEL)
        )
        return LiveSpeech(self.service, template, emit, name=f"live-{cid[:16]}")

    def _refuse(self, ws: ServerWebSocket, exc: ProtocolError) -> None:
        if ws.open:
            try:
                error = ErrorMessage(message=exc.message, error=exc.error, code=exc.close_code)
                ws.send_text(error.model_dump_json(exclude_unset=True))
            except (OSError, WebSocketClosed):
                return
            ws.close(exc.close_code, exc.message)

    def metrics(self) -> dict[str, Any]:
        agent = self.agent
        stats = agent.stats if agent else None
        return {
            "outcome": self.outcome,
            "socket_seconds": round(time.monotonic() - self.started, 3),
            "contexts": stats.contexts if stats else 0,
            "segments": stats.segments if stats else 0,
            "audio_seconds": round(stats.audio_seconds, 3) if stats else 0.0,
            **({"barge_in_ms": stats.barge_in_ms} if stats and stats.barge_in_ms else {}),
        }


class _Detached(Response):
    """The socket is over and closed: gunicorn must write nothing more. Raising StopIteration from
    the WSGI call is how a gunicorn worker is told (the worker then just closes the connection)."""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        raise StopIteration
