"""Progress of one batch task: a JSON progress line every few seconds, and a bar on a terminal."""

from __future__ import annotations

import logging
import threading
import time
from typing import TextIO

log = logging.getLogger("function.batch")


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """Items done out of the task's total, with an ETA from the pace so far."""

    def __init__(self, interval_s: float = 10.0, *, bar: TextIO | None = None, width: int = 30) -> None:
        self.interval_s = interval_s
        self.bar = bar
        self.width = width
        self.total = 0
        self.done = 0
        self.counts: dict[str, int] = {}
        self.audio_s = 0.0
        self._t0 = time.monotonic()
        self._last_log = 0.0
        self._lock = threading.Lock()

    def start(self, total: int) -> None:
        with self._lock:
            self.total = total
            self._t0 = self._last_log = time.monotonic()
        self._draw()

    def extend(self, items: int) -> None:
        """More items to do: a task learns its total one manifest at a time."""
        with self._lock:
            self.total += items
        self._draw()

    def eta_s(self) -> float | None:
        """Seconds left at the pace so far; None before anything is done."""
        if not self.done:
            return None
        return (time.monotonic() - self._t0) / self.done * (self.total - self.done)

    def advance(self, status: str, audio_s: float) -> None:
        with self._lock:
            self.done += 1
            self.counts[status] = self.counts.get(status, 0) + 1
            self.audio_s += audio_s
            now = time.monotonic()
            due = now - self._last_log >= self.interval_s or self.done == self.total
            if due:
                self._last_log = now
        if due:
            self._log()
        self._draw()

    def clear(self, record: object = None) -> bool:
        """Wipe the bar's line so a log line written to the same terminal starts clean (a logging
        filter: it lets every record through)."""
        if self.bar is not None and self.total:
            self.bar.write("\r\x1b[K")
        return True

    def finish(self) -> None:
        if self.bar is not None and self.total:
            self.bar.write("\n")
            self.bar.flush()

    def _log(self) -> None:
        eta = self.eta_s()
        log.info(
            "progress %d/%d items%s",
            self.done,
            self.total,
            f", about {_duration(eta)} left" if eta is not None else "",
            extra={
                "event": "progress",
                "done": self.done,
                "total": self.total,
                "eta_s": round(eta, 1) if eta is not None else None,
                "audio_seconds": round(self.audio_s, 3),
                **self.counts,
            },
        )

    def _draw(self) -> None:
        if self.bar is None or not self.total:
            return
        filled = self.width * self.done // self.total
        eta = self.eta_s()
        counts = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        line = (
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {counts}"
            f"{'  ETA ' + _duration(eta) if eta is not None and self.done < self.total else ''}"
        )
        self.bar.write(line + "\x1b[K")
        self.bar.flush()
