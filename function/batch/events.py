"""A scheduled batch run from one Lambda event: the event's fields checked, the run's settings, the
batch job's own runner over the model this process serves, stopped before the invocation's deadline.

The HTTP side (who may post it, the Lambda context headers, status codes) is
function.http.routes_events; this module knows nothing of HTTP.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from function.batch.results import RetryableError
from function.batch.task import build_runner, log_done
from function.config import EVENT_BATCH_FIELDS, BatchSettings, ConfigError, load_event_batch_settings
from function.service.model import Loaded

log = logging.getLogger("function.batch")
_NUMBERS = ("task_index", "task_count", "attempt")


class EventError(ValueError):
    """The event is not a scheduled batch event this service can run."""


def batch_fields(event: dict[str, Any]) -> dict[str, str]:
    """The event's `batch` object as the variables' string values (config.EVENT_BATCH_FIELDS)."""
    batch = event.get("batch")
    known = ", ".join(EVENT_BATCH_FIELDS)
    if not isinstance(batch, dict) or set(event) - {"batch"}:
        raise EventError(f'expected a scheduled event {{"batch": {{...}}}} with any of: {known}')
    fields: dict[str, str] = {}
    for name, value in batch.items():
        if name not in EVENT_BATCH_FIELDS:
            raise EventError(f"batch.{name} is not a batch field; known: {known}")
        if name in _NUMBERS:
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and value.isdigit()
            )
        else:
            ok = isinstance(value, str) and bool(value.strip())
        if not ok:
            kind = "a non-negative integer" if name in _NUMBERS else "a non-empty string"
            raise EventError(f"batch.{name} must be {kind}")
        fields[name] = str(value)
    return fields


def event_settings(fields: dict[str, str], request_id: str) -> BatchSettings:
    """The run's settings: the process's batch variables with the event's fields (`batch_fields`) in
    their place; the Lambda request id names the run unless the event does. Raises EventError."""
    fields = dict(fields)
    if request_id:
        fields.setdefault("run_id", f"lambda-{request_id}")
    try:
        return load_event_batch_settings(fields)
    except ConfigError as exc:
        raise EventError(str(exc)) from None


def run_until_deadline(
    batch: BatchSettings, loaded: Loaded, *, seconds_left: float, margin_s: float
) -> dict[str, Any]:
    """Run the task; no new item starts `margin_s` before the deadline (items running then finish,
    the rest wait for the next scheduled run). Raises batch.runner.RetryableError when a store
    stayed unreachable (the next run resumes)."""
    stop_at = time.monotonic() + seconds_left - margin_s
    log.info(
        "scheduled batch run %s: task %d/%d, %.0f s until the deadline, no new item after %.0f s",
        batch.run_id,
        batch.task_index,
        batch.task_count,
        seconds_left,
        max(0.0, seconds_left - margin_s),
        extra={"event": "batch_event", "run": batch.run_id, "input": batch.input, "output": batch.output},
    )
    try:
        report = build_runner(batch, loaded, stop_at=stop_at).run()
    except RetryableError as exc:
        log.error(
            "task %d stopped, the next run resumes it: %s",
            batch.task_index,
            exc,
            extra={"event": "batch_failed", "run": batch.run_id},
        )
        raise
    log_done(batch, report)
    return {
        "run": batch.run_id,
        "task": batch.task_index,
        "task_count": batch.task_count,
        "input": batch.input,
        "output": batch.output,
        "complete": report.deferred == 0,
        "report": dataclasses.asdict(report),
    }
