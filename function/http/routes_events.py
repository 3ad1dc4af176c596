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
batch/out beside the model's bucket), run_id to the Lambda request id. The run
(function.batch.events) is the batch job's own runner over the model this process already serves,
stopped TTS_BATCH_DEADLINE_MARGIN_SECONDS before the invocation's deadline: items running then
finish, the rest are left for the next scheduled run, which resumes them (results are per item, and
a manifest is summarized only when every line has one). The answer is 200 with the run's report, or
503 when a store stayed unreachable (logged at ERROR; the next run resumes).

Who may call it: the adapter sends every request with `x-amzn-request-context`, the event's request
context as JSON, set by the adapter over anything the client sent. A pass-through event has no
request context (`null`); a request that came through the Function URL (or API Gateway, or an ALB)
has one, so it is refused here with 403 whatever its API key. Off Lambda the route does not exist.
"""

from __future__ import annotations

import json
import time

from flask import Blueprint, Flask, Response, jsonify, request

from function.batch.events import EventError, batch_fields, event_settings, run_until_deadline
from function.batch.results import RetryableError
from function.config import Settings
from function.http.context import serving
from function.http.errors import ApiError
from function.http.requests import bad, parse_json_object


def event_paths(settings: Settings) -> set[str]:
    """The paths that answer without an API key (the route checks its own caller)."""
    return {settings.events_path} if settings.lambda_function else set()


def register(app: Flask, settings: Settings) -> None:
    if settings.lambda_function is None:
        return
    bp = Blueprint("events", __name__)
    bp.add_url_rule(settings.events_path, "event", _event, methods=["POST"])
    app.register_blueprint(bp)


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
    if request.headers.get("x-amzn-request-context", "").strip() != "null":
        raise ApiError(
            403,
            "forbidden",
            "scheduled events arrive only through the Lambda Web Adapter's pass-through, not over HTTP",
        )
    event = parse_json_object(request.get_data())
    try:
        fields = batch_fields(event)
        request_id, left_s = _invocation()
        batch = event_settings(fields, request_id)
    except EventError as exc:
        raise bad("invalid_event", str(exc)) from None
    loaded = srv.model.loaded
    if loaded is None:
        raise ApiError(503, "model_loading", "the model is still loading", {"Retry-After": "5"})
    margin_s = srv.settings.batch_deadline_margin_s
    try:
        return jsonify(run_until_deadline(batch, loaded, seconds_left=left_s, margin_s=margin_s))
    except RetryableError as exc:
        raise ApiError(503, "batch_failed", f"the run stopped, the next one resumes it: {exc}") from None
