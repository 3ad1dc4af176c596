"""One batch task over an already loaded model: the runner, and the line that says how it ended.

Shared by `python -m function.batch` (a Cloud Run Job task, or a local run) and the scheduled
event route on AWS Lambda (function.http.routes_events), so both run and report the same way.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from function.batch.progress import Progress
from function.batch.runner import BatchRunner, RunReport
from function.config import BatchSettings
from function.service.limiter import ConcurrencyLimiter
from function.service.model import Loaded
from function.service.speech import SpeechService
from function.storage import open_store

log = logging.getLogger("function.batch")


@dataclass(frozen=True)
class _Ready:
    loaded: Loaded


def build_runner(
    settings: BatchSettings,
    loaded: Loaded,
    progress: Progress | None = None,
    *,
    stop_at: float | None = None,
) -> BatchRunner:
    """The job's runner over a loaded model: each worker is one running synthesis, i.e. one row of
    the scheduler's decode batch. `stop_at`: see BatchRunner."""
    s = settings.serving
    service = SpeechService(_Ready(loaded), ConcurrencyLimiter(s.max_batch, s.max_batch, 3600.0), s.quality)
    return BatchRunner(
        settings,
        service,
        inputs=open_store(settings.input),
        outputs=open_store(settings.output),
        workers=s.max_batch,
        model={
            "name": loaded.model_name,
            "version": loaded.model_version,
            "variant": str(loaded.manifest.get("variant", s.model_variant)),
        },
        languages=loaded.languages,
        progress=progress,
        stop_at=stop_at,
    )


def log_done(settings: BatchSettings, report: RunReport) -> None:
    log.info(
        "task %d/%d done: %d synthesized, %d skipped, %d failed%s",
        settings.task_index,
        settings.task_count,
        report.synthesized,
        report.skipped,
        report.failed,
        f", {report.deferred} left for the next run" if report.deferred else "",
        extra={
            "event": "batch_done",
            "run": settings.run_id,
            "task": settings.task_index,
            **dataclasses.asdict(report),
        },
    )
