"""Structured JSON logs, one object per line, in the shape Cloud Logging parses.

`severity` and `message` are recognised, `logging.googleapis.com/trace` links a line to its
request's trace, and `httpRequest` renders access lines. Request text and audio are never logged:
only their sizes.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
trace_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARN" else "WARNING",
            "message": record.getMessage(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "logger": record.name,
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        trace = getattr(record, "trace", None) or trace_var.get()
        if rid:
            doc["request_id"] = rid
        if trace:
            doc["logging.googleapis.com/trace"] = trace
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in ("request_id", "trace") and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            # Error Reporting picks up a stack trace that follows the message.
            doc["message"] += "\n" + self.formatException(record.exc_info)
        return utf8_safe(json.dumps(doc, ensure_ascii=False, default=str))


def utf8_safe(text: str) -> str:
    """`text` with any lone surrogate written as a \\uXXXX escape, so it encodes as UTF-8.

    Inside a JSON document the escape is valid JSON; without this, one client-sent surrogate that
    reached a message would make the log handler print a non-JSON traceback instead of the line.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def configure_logging(level: str) -> None:
    """Route the root logger (and gunicorn's error log, via gunicorn.conf.py) to JSON on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "google", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def cloud_trace(header: str | None, project: str | None) -> str | None:
    """`X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` -> `projects/P/traces/TRACE_ID` (bare id without P)."""
    if not header:
        return None
    trace_id = header.split("/", 1)[0].split(";", 1)[0].strip()
    if not trace_id or len(trace_id) > 64 or not all(c in "0123456789abcdefABCDEF" for c in trace_id):
        return None
    return f"projects/{project}/traces/{trace_id}" if project else trace_id
