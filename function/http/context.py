"""Per-process serving state shared by the routes, and the small helpers every route uses."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app, g, request

from function.config import Settings
from function.http.errors import ApiError
from function.http.limiter import ConcurrencyLimiter
from function.http.model import Loaded, ModelState

# Set on SIGTERM (gunicorn.conf.py): open streams end cleanly at their next chunk.
SHUTTING_DOWN = threading.Event()


@dataclass
class Serving:
    settings: Settings
    model: ModelState
    limiter: ConcurrencyLimiter


def serving() -> Serving:
    ctx: Serving = current_app.extensions["tts"]
    return ctx


def ready() -> Loaded:
    """The loaded model, or 503 while it is loading."""
    loaded = serving().model.loaded
    if loaded is None:
        raise ApiError(
            503, "model_loading", "the model is still loading; retry in a few seconds", {"Retry-After": "5"}
        )
    return loaded


def require_json() -> None:
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {request.mimetype or 'none'!r} is not accepted; send application/json",
        )


@contextmanager
def slot() -> Iterator[None]:
    """Hold one of TTS_MAX_CONCURRENT_REQUESTS synthesis slots, or answer 429 with Retry-After."""
    limiter = serving().limiter
    acquire_slot(limiter)
    t0 = time.monotonic()
    try:
        yield
    finally:
        limiter.release(time.monotonic() - t0)


def acquire_slot(limiter: ConcurrencyLimiter) -> None:
    t0 = time.perf_counter()
    if not limiter.acquire():
        wait = limiter.retry_after()
        raise ApiError(
            429,
            "overloaded",
            f"all {limiter.max_running} synthesis slots are busy and the wait queue is full; "
            f"retry in {wait} s",
            {"Retry-After": str(wait)},
        )
    g.queue_ms = round((time.perf_counter() - t0) * 1000, 1)
