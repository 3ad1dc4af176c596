"""The Flask app factory: hooks (request id, trace, auth, size limit, access log) and the routes."""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable

from flask import Flask, Response, g, request

from function.config import Settings
from function.http import (
    access,
    routes_dictionaries,
    routes_elevenlabs,
    routes_elevenlabs_ws,
    routes_events,
    routes_meta,
    routes_openai,
    routes_page,
    routes_synthesis,
    routes_voices,
)
from function.http.auth import authorized
from function.http.context import SHUTTING_DOWN, Serving
from function.http.errors import ApiError, register_error_handlers
from function.http.methods import BODYLESS_METHODS
from function.http.routes_page import PAGE_PATHS
from function.jsonlog import cloud_trace, request_id_var, trace_var
from function.service.limiter import ConcurrencyLimiter
from function.service.model import ModelState
from function.service.speech import SpeechService

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# The page itself is public (it asks for a key); every API call it makes needs one.
PUBLIC_PATHS = {"/health", *PAGE_PATHS}


def create_app(settings: Settings, *, on_fatal: Callable[[], None] | None = None, load: bool = True) -> Flask:
    """One app per process; `load` starts loading the model in the background right away."""
    app = Flask("function")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    # A voice upload's form is the clip (a file part, bounded by the body limit) and a name: any
    # other field over MAX_FORM_FIELD_BYTES, or more than MAX_FORM_PARTS parts, is refused (413
    # form_too_large, not the body-limit message: the body itself may be small).
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_FORM_FIELD_BYTES
    app.config["MAX_FORM_PARTS"] = MAX_FORM_PARTS
    app.config["FORWARDED_FOR_HOPS"] = settings.forwarded_for_hops
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # normalized Bangla text stays readable
    model = ModelState(settings, on_fatal or (lambda: None))
    limiter = ConcurrencyLimiter(
        settings.max_concurrent_requests, settings.queue_size, settings.queue_timeout_s
    )
    service = SpeechService(model, limiter, settings.quality)
    app.extensions["tts"] = Serving(settings=settings, model=model, service=service)
    register_error_handlers(app, settings.max_request_bytes)
    public = PUBLIC_PATHS | routes_events.event_paths(settings)

    @app.before_request
    def _before() -> None:
        g.start = time.perf_counter()
        given = request.headers.get("X-Request-Id", "")
        request_id_var.set(given if _REQUEST_ID.match(given) else uuid.uuid4().hex)
        trace_var.set(cloud_trace(request.headers.get("X-Cloud-Trace-Context"), settings.gcp_project))
        if (
            request.path not in public
            and not routes_elevenlabs_ws.defers_auth()
            and not authorized(
                request.headers.get("Authorization"), settings.api_keys, request.headers.get("xi-api-key")
            )
        ):
            raise ApiError(
                401,
                "unauthorized",
                "missing or invalid API key: send 'Authorization: Bearer <key>'",
                {"WWW-Authenticate": 'Bearer realm="tts"'},
            )
        if request.method in BODYLESS_METHODS:
            return  # a body sent anyway is not read (the worker closes the connection after)
        if SHUTTING_DOWN.is_set():
            # Draining after SIGTERM: what is running finishes, nothing new starts here.
            raise ApiError(
                503,
                "shutting_down",
                "this instance is shutting down; retry (another instance will answer)",
                {"Retry-After": "1", "Connection": "close"},
            )
        if (request.content_length or 0) > settings.max_request_bytes:
            raise _too_large(str(request.content_length), settings.max_request_bytes)
        _read_body(settings.max_request_bytes)

    @app.after_request
    def _after(response: Response) -> Response:
        rid = request_id_var.get()
        if rid:
            response.headers["X-Request-Id"] = rid
        access.after(response)
        return response

    blueprints = (
        routes_meta.bp,
        routes_synthesis.bp,
        routes_voices.bp,
        routes_dictionaries.bp,
        routes_openai.bp,
        routes_elevenlabs.bp,
        routes_elevenlabs_ws.bp,
        routes_page.bp,
    )
    for bp in blueprints:
        app.register_blueprint(bp)
    routes_events.register(app, settings)
    if load:
        model.start()
    return app


# werkzeug applies this to its parser's buffer too (file parts included), which reads 64 KiB at a
# time: it must stay well above that.
MAX_FORM_FIELD_BYTES = 512 * 1024
MAX_FORM_PARTS = 16


def _too_large(size: str, limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"the request body has {size} bytes; the limit is {limit} (TTS_MAX_REQUEST_BYTES): "
        "send a shorter reference clip",
        {"Connection": "close"},
    )


def _read_body(limit: int) -> None:
    """Read the body now, once, so that every endpoint gets a plain Content-Length body.

    werkzeug stops reading a chunked body at MAX_CONTENT_LENGTH without a word (the endpoint then
    parses a truncated body) and turns a failed read into a vague 400. Here a chunked body over the
    limit gets the same 413 as a declared one, and a client that stops sending gets 408 (the
    worker's read deadline raises TimeoutError).
    """
    environ = request.environ
    declared = request.content_length
    if declared is None and "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return
    try:
        body = environ["wsgi.input"].read(limit + 1)
    except TimeoutError:
        raise ApiError(
            408,
            "request_timeout",
            "the request body stopped arriving (TTS_REQUEST_BODY_TIMEOUT_SECONDS, "
            "TTS_REQUEST_BODY_MIN_BYTES_PER_SECOND); send the body without pausing",
            {"Connection": "close"},
        ) from None
    except Exception as exc:  # the server's own error for malformed chunked framing, or a reset
        raise ApiError(
            400, "bad_request", f"the request body could not be read: {exc}", {"Connection": "close"}
        ) from None
    if len(body) > limit:
        raise _too_large(f"more than {limit}", limit)
    if declared is not None and len(body) < declared:  # werkzeug's own check, which this read bypasses
        raise ApiError(
            400,
            "bad_request",
            f"the request body ended after {len(body)} of its {declared} bytes (Content-Length)",
            {"Connection": "close"},
        )
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
