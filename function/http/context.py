"""Per-process serving state shared by the routes, and the small helpers every route uses."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Response, current_app, jsonify, request
from pydantic import BaseModel

from function.config import Settings
from function.http.auth import caller
from function.http.errors import ApiError
from function.http.models import validate
from function.http.requests import parse_json_object
from function.service.model import ModelState
from function.service.speech import SpeechService
from function.voices import Owner

Request = TypeVar("Request", bound=BaseModel)

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
    return caller(request.headers.get("Authorization"), serving().settings, request.headers.get("xi-api-key"))


def require_json() -> None:
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {request.mimetype or 'none'!r} is not accepted; send application/json",
        )


def json_body(model: type[Request], **context: Any) -> Request:
    """The request's JSON body as `model` (the endpoint's one request type), or a 415/400 that says
    what was wrong. `context`: what the accepted values depend on (see function.http.models.validate)."""
    require_json()
    return validate(model, parse_json_object(request.get_data()), **context)


def reply(body: BaseModel, status: int = 200) -> Response:
    """A response model as JSON: the fields that were set (a field set to None is sent as null)."""
    response = jsonify(body.model_dump(mode="json", exclude_unset=True))
    response.status_code = status
    return response
