"""A manifest's `_SUMMARY.json`, tallied one result at a time (in manifest order) so its size and
the memory it takes stay bounded however many lines the manifest has: counts are exact, lists keep
their first `MAX_LISTED` entries, and when failures are more, all of them are in `_FAILURES.jsonl`
beside it."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections import Counter
from typing import Any

SUMMARY = "_SUMMARY.json"
FAILURES = "_FAILURES.jsonl"
MAX_LISTED = 100


def _seconds(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class SummaryTally:
    def __init__(self, run: str) -> None:
        self.run = run
        self.items = self.ok = self.skipped = 0
        self.audio_seconds = 0.0
        # First start and last finish of this run's items (epoch seconds).
        self.first_start: float | None = None
        self.last_finish: float | None = None
        self.failure_codes: Counter[str] = Counter()
        self.failed = 0
        self.listed: list[dict[str, Any]] = []  # the first MAX_LISTED failures
        # Every failure as a JSON line, in memory while small, on disk beyond.
        self._all_failures = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115
        self.checked = self.warned = self.retried = 0
        self.warning_codes: Counter[str] = Counter()
        self.warned_ids: list[Any] = []
        self.warned_count = 0

    def add(self, record: dict[str, Any]) -> None:
        self.items += 1
        if record.get("run") == self.run and record.get("started_at") and record.get("finished_at"):
            start, finish = _seconds(record["started_at"]), _seconds(record["finished_at"])
            self.first_start = start if self.first_start is None else min(self.first_start, start)
            self.last_finish = finish if self.last_finish is None else max(self.last_finish, finish)
        if record.get("status") != "ok":
            error = record.get("error") or {}
            failure = {"id": record.get("id"), "line": record.get("line"), **error}
            self.failed += 1
            self.failure_codes[str(error.get("code"))] += 1
            if len(self.listed) < MAX_LISTED:
                self.listed.append(failure)
            self._all_failures.write(json.dumps(failure, ensure_ascii=False).encode() + b"\n")
            return
        self.ok += 1
        self.skipped += record.get("run") != self.run
        self.audio_seconds += float(record.get("audio_seconds") or 0.0)
        quality = record.get("quality")
        if not isinstance(quality, dict):
            return
        self.checked += 1
        self.retried += bool(quality.get("retried"))
        warnings = [w for w in quality.get("warnings") or [] if isinstance(w, dict)]
        self.warning_codes.update(str(w.get("code")) for w in warnings)
        if quality.get("warnings"):
            self.warned += 1
            if len(self.warned_ids) < MAX_LISTED:
                self.warned_ids.append(record.get("id"))

    def failures_jsonl(self) -> bytes:
        """Every failure, one JSON object a line in the order added (the manifest's), for the file
        written beside the summary when its list is cut."""
        self._all_failures.seek(0)
        return self._all_failures.read()

    def close(self) -> None:
        self._all_failures.close()

    def summary(self, head: dict[str, Any], completed_at: str) -> dict[str, Any]:
        failed = self.failed
        wall = (
            self.last_finish - self.first_start
            if self.first_start is not None and self.last_finish is not None
            else 0.0
        )
        return {
            **head,
            "run": self.run,
            "items": self.items,
            "ok": self.ok,
            "failed": failed,
            "skipped": self.skipped,
            "audio_seconds": round(self.audio_seconds, 3),
            "wall_seconds": round(wall, 3),
            "failure_codes": dict(sorted(self.failure_codes.items())),
            "failures": self.listed,
            "failures_file": FAILURES if failed > MAX_LISTED else None,
            "quality": {
                "checked": self.checked,
                "warned": self.warned,
                "retried": self.retried,
                "warnings": dict(sorted(self.warning_codes.items())),
                "warned_ids": self.warned_ids,
            },
            "completed_at": completed_at,
        }
