"""The Flask app factory: hooks (request id, trace, auth, size limit, access log) and the routes."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from flask import Flask, Response, g, request

from function.config import Settings
from function.http import access, routes_meta, routes_openai, routes_synthesis, routes_voices
from function.http.auth import authorized
from function.http.context import Serving
from function.http.errors import ApiError, error_response, register_error_handlers
from function.http.jsonlog import cloud_trace, request_id_var, trace_var
from function.http.limiter import ConcurrencyLimiter
from function.http.model import ModelState
from function.storage import StorageError

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PUBLIC_PATHS = {"/health"}


def create_app(settings: Settings, *, on_fatal: Callable[[], None] | None = None, load: bool = True) -> Flask:
    """One app per process; `load` starts loading the model in the background right away."""
    app = Flask("function")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # normalized Bangla text stays readable
    model = ModelState(settings, on_fatal or (lambda: None))
    app.extensions["tts"] = Serving(
        settings=settings,
        model=model,
        limiter=ConcurrencyLimiter(
            settings.max_concurrent_requests, settings.queue_size, settings.queue_timeout_s
        ),
    )
    register_error_handlers(app, settings.max_request_bytes)

    @app.errorhandler(StorageError)
    def _storage(exc: StorageError) -> Response:
        return error_response(
            503,
            "storage_unavailable",
            f"the voice store is unavailable ({exc}); retry shortly",
            {"Retry-After": "5"},
        )

    @app.before_request
    def _before() -> None:
        g.start = time.perf_counter()
        given = request.headers.get("X-Request-Id", "")
        request_id_var.set(given if _REQUEST_ID.match(given) else uuid.uuid4().hex)
        trace_var.set(cloud_trace(request.headers.get("X-Cloud-Trace-Context"), settings.gcp_project))
        if request.path not in PUBLIC_PATHS and not authorized(
            request.headers.get("Authorization"), settings.api_keys
        ):
            raise ApiError(
                401,
                "unauthorized",
                "missing or invalid API key: send 'Authorization: Bearer <key>'",
                {"WWW-Authenticate": 'Bearer realm="tts"'},
            )
        if (request.content_length or 0) > settings.max_request_bytes:
            raise ApiError(
                413,
                "payload_too_large",
                f"the request body has {request.content_length} bytes; the limit is "
                f"{settings.max_request_bytes} (TTS_MAX_REQUEST_BYTES): send a shorter reference clip",
                {"Connection": "close"},
            )

    @app.after_request
    def _after(response: Response) -> Response:
        rid = request_id_var.get()
        if rid:
            response.headers["X-Request-Id"] = rid
        access.after(response)
        return response

    for bp in (routes_meta.bp, routes_synthesis.bp, routes_voices.bp, routes_openai.bp):
        app.register_blueprint(bp)
    if load:
        model.start()
    return app
