"""POST <AWS_LWA_PASS_THROUGH_PATH> (default /events), on AWS Lambda only: a scheduled batch run.

The AWS Lambda Web Adapter turns every invocation that is not an HTTP event (here: an EventBridge
Scheduler schedule's) into a POST of the raw event to this path
(https://awslabs.github.io/aws-lambda-web-adapter/features/non-http-events.html). The event is the
schedule's input, a JSON object:

    {"batch": {"input": "s3://B/batch/in", "output": "s3://B/batch/out",
               "task_index": 0, "task_count": 1,
               "run_id": "<aws.scheduler.execution-id>", "attempt": <aws.scheduler.attempt-number>}}

Every field is optional and stands for the variable `python -m function.batch` reads
(config.EVENT_BATCH_FIELDS): input and output default to TTS_BATCH_INPUT/OUTPUT (or batch/in and
batch/out beside the model's bucket), run_id to the Lambda request id. The run is the batch job's
own runner over the model this process already serves, stopped TTS_BATCH_DEADLINE_MARGIN_SECONDS
before the invocation's deadline: items running then finish, the rest are left for the next
scheduled run, which resumes them (results are per item, and a manifest is summarized only when
every line has one). The answer is 200 with the run's report, or 503 when a store stayed
unreachable (logged at ERROR; the next run resumes).

Who may call it: the adapter sends every request with `x-amzn-request-context`, the event's request
context as JSON, set by the adapter over anything the client sent. A pass-through event has no
request context (`null`); a request that came through the Function URL (or API Gateway, or an ALB)
has one, so it is refused here with 403 whatever its API key. Off Lambda the route does not exist.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from function.batch.runner import RetryableError
from function.batch.task import build_runner, log_done
from function.config import EVENT_BATCH_FIELDS, ConfigError, Settings, load_event_batch_settings
from function.http.context import serving
from function.http.errors import ApiError
from function.http.requests import bad, parse_json_object

log = logging.getLogger("function.batch")
_NUMBERS = ("task_index", "task_count", "attempt")


def event_paths(settings: Settings) -> set[str]:
    """The paths that answer without an API key (the route checks its own caller)."""
    return {settings.events_path} if settings.lambda_function else set()


def register(app: Flask, settings: Settings) -> None:
    if settings.lambda_function is None:
        return
    bp = Blueprint("events", __name__)
    bp.add_url_rule(settings.events_path, "event", _event, methods=["POST"])
    app.register_blueprint(bp)


def _batch_fields(event: dict[str, Any]) -> dict[str, str]:
    batch = event.get("batch")
    known = ", ".join(EVENT_BATCH_FIELDS)
    if not isinstance(batch, dict) or set(event) - {"batch"}:
        raise bad("invalid_event", f'expected a scheduled event {{"batch": {{...}}}} with any of: {known}')
    fields: dict[str, str] = {}
    for name, value in batch.items():
        if name not in EVENT_BATCH_FIELDS:
            raise bad("invalid_event", f"batch.{name} is not a batch field; known: {known}")
        if name in _NUMBERS:
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and value.isdigit()
            )
        else:
            ok = isinstance(value, str) and bool(value.strip())
        if not ok:
            kind = "a non-negative integer" if name in _NUMBERS else "a non-empty string"
            raise bad("invalid_event", f"batch.{name} must be {kind}")
        fields[name] = str(value)
    return fields


def _invocation() -> tuple[str, float]:
    """The Lambda request id and the seconds left until the invocation's deadline, from the Lambda
    context the adapter forwards (`deadline`: milliseconds since the epoch)."""
    try:
        context = json.loads(request.headers.get("x-amzn-lambda-context", ""))
        deadline_ms = context["deadline"]
        request_id = str(context.get("request_id") or "")
        if not isinstance(deadline_ms, int) or isinstance(deadline_ms, bool):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise bad(
            "invalid_event",
            "no invocation deadline: the Lambda Web Adapter sends it in x-amzn-lambda-context",
        ) from None
    return request_id, deadline_ms / 1000 - time.time()


def _event() -> Response:
    srv = serving()
    settings = srv.settings
    if request.headers.get("x-amzn-request-context", "").strip() != "null":
        raise ApiError(
            403,
            "forbidden",
            "scheduled events arrive only through the Lambda Web Adapter's pass-through, not over HTTP",
        )
    event = parse_json_object(request.get_data())
    fields = _batch_fields(event)
    request_id, left_s = _invocation()
    if request_id:
        fields.setdefault("run_id", f"lambda-{request_id}")
    try:
        batch = load_event_batch_settings(fields)
    except ConfigError as exc:
        raise bad("invalid_event", str(exc)) from None
    loaded = srv.model.loaded
    if loaded is None:
        raise ApiError(503, "model_loading", "the model is still loading", {"Retry-After": "5"})
    stop_at = time.monotonic() + left_s - settings.batch_deadline_margin_s
    log.info(
        "scheduled batch run %s: task %d/%d, %.0f s until the deadline, no new item after %.0f s",
        batch.run_id,
        batch.task_index,
        batch.task_count,
        left_s,
        max(0.0, left_s - settings.batch_deadline_margin_s),
        extra={"event": "batch_event", "run": batch.run_id, "input": batch.input, "output": batch.output},
    )
    runner = build_runner(batch, loaded, stop_at=stop_at)
    try:
        report = runner.run()
    except RetryableError as exc:
        log.error(
            "task %d stopped, the next run resumes it: %s",
            batch.task_index,
            exc,
            extra={"event": "batch_failed", "run": batch.run_id},
        )
        raise ApiError(503, "batch_failed", f"the run stopped, the next one resumes it: {exc}") from None
    log_done(batch, report)
    return jsonify(
        {
            "run": batch.run_id,
            "task": batch.task_index,
            "task_count": batch.task_count,
            "input": batch.input,
            "output": batch.output,
            "complete": report.deferred == 0,
            "report": dataclasses.asdict(report),
        }
    )
