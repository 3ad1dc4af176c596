"""Per-process serving state shared by the routes, and the small helpers every route uses."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import current_app, request

from function.config import Settings
from function.http.auth import caller
from function.http.errors import ApiError
from function.service.model import ModelState
from function.service.speech import SpeechService
from function.voices import Owner

# Set on SIGTERM (gunicorn.conf.py): open streams end cleanly at their next chunk.
SHUTTING_DOWN = threading.Event()


@dataclass
class Serving:
    settings: Settings
    model: ModelState
    service: SpeechService


def serving() -> Serving:
    ctx: Serving = current_app.extensions["tts"]
    return ctx


def service() -> SpeechService:
    return serving().service


def request_owner() -> Owner:
    """Whose voices this request may see and use (from its API key)."""
    return caller(request.headers.get("Authorization"), serving().settings)


def require_json() -> None:
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {request.mimetype or 'none'!r} is not accepted; send application/json",
        )
