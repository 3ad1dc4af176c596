"""The batch job's settings (`python -m function.batch`, and one scheduled Lambda event's)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from function.config.serving import Settings, load_settings
from function.config.values import ConfigError, _get, _int_in, _location, _parse


@dataclass(frozen=True)
class BatchSettings:
    """`python -m function.batch`: the serving settings it shares, plus where work comes and goes."""

    serving: Settings
    input: str  # manifests: every *.jsonl under this gs:// or s3:// prefix or directory
    output: str
    max_text_chars: int
    task_index: int
    task_count: int
    run_id: str  # one job execution: every task of it shares the id
    attempt: int


def _beside_model(env: Mapping[str, str], name: str, model_path: str, folder: str) -> str:
    raw = _get(env, name)
    if raw is not None:
        return _location(name, raw)
    scheme = model_path.partition("://")[0]
    if scheme in ("gs", "s3"):
        bucket = model_path[len(scheme) + 3 :].split("/", 1)[0]
        return f"{scheme}://{bucket}/batch/{folder}"
    raise ConfigError(
        f"{name} is required when TTS_MODEL_PATH is a local directory: set it to gs://BUCKET/PREFIX, "
        "s3://BUCKET/PREFIX or a local directory"
    )


def load_batch_settings(
    env: Mapping[str, str] | None = None, *, cpu_count: int | None = None, now: float | None = None
) -> BatchSettings:
    """The batch job's settings: TTS_BATCH_*, Cloud Run's CLOUD_RUN_* task variables, and the serving
    TTS_* set (one process per task: it takes every core unless TTS_WORKERS says otherwise)."""
    env = dict(os.environ if env is None else env)
    env.setdefault("TTS_WORKERS", "1")
    serving = load_settings(env, cpu_count=cpu_count)
    count = _parse(env, "CLOUD_RUN_TASK_COUNT", 1, _int_in(1, 100_000), "an integer in 1..100000")
    index = _parse(env, "CLOUD_RUN_TASK_INDEX", 0, _int_in(0, 99_999), "an integer in 0..99999")
    if index >= count:
        raise ConfigError(
            f"CLOUD_RUN_TASK_INDEX={index} is invalid: it must be below CLOUD_RUN_TASK_COUNT ({count})"
        )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return BatchSettings(
        serving=serving,
        input=_beside_model(env, "TTS_BATCH_INPUT", serving.model_path, "in"),
        output=_beside_model(env, "TTS_BATCH_OUTPUT", serving.model_path, "out"),
        # A whole chapter is ~50,000 characters; the engine splits long text into sentences.
        max_text_chars=_parse(
            env, "TTS_BATCH_MAX_TEXT_CHARS", 200_000, _int_in(1, 10_000_000), "an integer in 1..10000000"
        ),
        task_index=index,
        task_count=count,
        run_id=_get(env, "CLOUD_RUN_EXECUTION") or _get(env, "TTS_BATCH_RUN_ID") or f"local-{stamp}",
        attempt=_parse(env, "CLOUD_RUN_TASK_ATTEMPT", 0, _int_in(0, 1000), "an integer in 0..1000"),
    )


# A scheduled event's "batch" object (function.http.routes_events): each field stands for the
# variable `python -m function.batch` reads, so both are validated, and named, the same way.
EVENT_BATCH_FIELDS = {
    "input": "TTS_BATCH_INPUT",
    "output": "TTS_BATCH_OUTPUT",
    "task_index": "CLOUD_RUN_TASK_INDEX",
    "task_count": "CLOUD_RUN_TASK_COUNT",
    "run_id": "TTS_BATCH_RUN_ID",
    "attempt": "CLOUD_RUN_TASK_ATTEMPT",
}


def load_event_batch_settings(
    fields: Mapping[str, str], env: Mapping[str, str] | None = None, *, now: float | None = None
) -> BatchSettings:
    """The batch settings of one scheduled event: the process's own variables, with the event's
    fields (keys of EVENT_BATCH_FIELDS) in place of the variables they stand for."""
    merged = dict(os.environ if env is None else env)
    merged.update({EVENT_BATCH_FIELDS[k]: v for k, v in fields.items()})
    return load_batch_settings(merged, now=now)
