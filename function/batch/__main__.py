"""`python -m function.batch`: one Cloud Run Job task (or a local run) of batch synthesis.

Exit status: 0 when this task's share of every pending manifest was processed (per-item failures
are reported in their result files, not here); 1 when a retry can fix what stopped it (a store
unreachable after retries, the model not loading), so Cloud Run's task retries do the right
thing; 2 for a configuration error (the message names the variable).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from function.batch.progress import Progress
from function.batch.results import RetryableError, pending_manifests
from function.batch.task import build_runner, log_done
from function.config import ConfigError, load_batch_settings
from function.engine import EngineError
from function.jsonlog import configure_logging
from function.service.model import load_model
from function.storage import BundleFetchError, StorageError, open_store

log = logging.getLogger("function.batch")

# Command-line options set the variables they stand for (so errors name one thing either way).
_OPTIONS = {
    "input": "TTS_BATCH_INPUT",
    "output": "TTS_BATCH_OUTPUT",
    "model": "TTS_MODEL_PATH",
    "task_index": "CLOUD_RUN_TASK_INDEX",
    "task_count": "CLOUD_RUN_TASK_COUNT",
}


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m function.batch",
        description="Synthesize every *.jsonl manifest under the input location (see docs/batch.md).",
    )
    parser.add_argument(
        "--input", help="gs:// or s3://BUCKET/PREFIX, or a directory of manifests (TTS_BATCH_INPUT)"
    )
    parser.add_argument(
        "--output", help="gs:// or s3://BUCKET/PREFIX, or a directory for results (TTS_BATCH_OUTPUT)"
    )
    parser.add_argument("--model", help="the model bundle (TTS_MODEL_PATH)")
    parser.add_argument("--task-index", help="this task's index (CLOUD_RUN_TASK_INDEX, default 0)")
    parser.add_argument(
        "--task-count", help="how many tasks share the work (CLOUD_RUN_TASK_COUNT, default 1)"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar on stderr (default: when stderr is a terminal)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    env = dict(os.environ)
    env.update(
        {var: str(getattr(args, opt)) for opt, var in _OPTIONS.items() if getattr(args, opt) is not None}
    )
    try:
        settings = load_batch_settings(env)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.serving.log_level)
    s = settings.serving
    try:
        found, pending = pending_manifests(open_store(settings.input), open_store(settings.output))
    except RetryableError as exc:
        log.error(
            "task %d cannot start, a retry can: %s", settings.task_index, exc, extra={"event": "batch_failed"}
        )
        return 1
    if not pending:
        # A scheduled run with nothing to do: no model load (minutes of GPU time on Cloud Run).
        log.info(
            "nothing to do: %d manifest(s) under %s, every one already summarized",
            found,
            settings.input,
            extra={"event": "batch_idle", "run": settings.run_id, "task": settings.task_index},
        )
        return 0
    try:
        loaded = load_model(s)
    except (BundleFetchError, StorageError, EngineError, ValueError, OSError) as exc:
        log.critical("model load failed: %s", exc, extra={"event": "batch_error", "model_path": s.model_path})
        return 1
    draw = sys.stderr.isatty() if args.progress is None else args.progress
    progress = Progress(bar=sys.stderr if draw else None)
    if draw and sys.stdout.isatty():
        # Log lines and the bar share one terminal: each line wipes the bar, the next item redraws it.
        logging.getLogger().handlers[0].addFilter(progress.clear)
    runner = build_runner(settings, loaded, progress)
    try:
        report = runner.run()
    except RetryableError as exc:
        log.error(
            "task %d stopped, a retry can finish it: %s",
            settings.task_index,
            exc,
            extra={"event": "batch_failed"},
        )
        return 1
    finally:
        loaded.scheduler.stop()
    log_done(settings, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
