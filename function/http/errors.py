"""One error shape for every failure: {"error": {"code", "message"}}, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from function.http.responses import Error, ErrorDetail
from function.jsonlog import utf8_safe
from function.service.errors import (
    DictionaryNotFound,
    InvalidInput,
    ModelLoading,
    Overloaded,
    ServiceError,
    StoreUnavailable,
    Unavailable,
    VoiceNameTaken,
    VoiceNotFound,
    VoiceUnusable,
)

log = logging.getLogger(__name__)

# werkzeug's own HTTP errors, rewritten into our codes and messages that say how to fix them.
_HTTP_CODES = {
    400: ("bad_request", "the request could not be read"),
    404: ("not_found", "no such endpoint; see GET /openapi.json for the API"),
    405: ("method_not_allowed", "this endpoint does not accept {method}; allowed: {allow}"),
    413: ("payload_too_large", "the request body is larger than {limit} bytes (TTS_MAX_REQUEST_BYTES)"),
    415: ("unsupported_media_type", "unsupported Content-Type"),
}


# The service's domain errors and their HTTP status: the one place the two meet.
STATUS: dict[type[ServiceError], int] = {
    InvalidInput: 400,
    VoiceNotFound: 404,
    DictionaryNotFound: 404,
    VoiceUnusable: 409,
    VoiceNameTaken: 409,
    Overloaded: 429,
    ModelLoading: 503,
    StoreUnavailable: 503,
    Unavailable: 503,
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    # Messages may quote what the client sent; that must never stop the error itself from being sent.
    body = Error(error=ErrorDetail(code=code, message=utf8_safe(message)))
    response = jsonify(body.model_dump(mode="json"))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register_error_handlers(app: Flask, max_request_bytes: int) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(ServiceError)
    def _service(exc: ServiceError) -> Response:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return error_response(status, exc.code, exc.message, headers)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        code, template = _HTTP_CODES.get(status, ("http_error", exc.description or "request failed"))
        headers = {}
        allow = ""
        for key, value in exc.get_headers():
            if key.lower() == "allow":
                headers["Allow"] = allow = value
        if status == 413:
            # The body was not read: close the connection instead of draining it.
            headers["Connection"] = "close"
        message = template.format(method=request.method, allow=allow, limit=max_request_bytes)
        if status == 413 and (request.content_length or 0) <= max_request_bytes:
            # The body is within the limit (it was read whole): werkzeug's multipart limits spoke.
            config = current_app.config
            code = "form_too_large"
            message = (
                f"the multipart form may have at most {config['MAX_FORM_PARTS']} parts, and each field "
                f"but the clip at most {config['MAX_FORM_MEMORY_SIZE']} bytes"
            )
        return error_response(status, code, message, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
        return error_response(500, "internal_error", "the server failed on this request; retry, or report it")
