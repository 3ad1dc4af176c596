"""Concurrency limiter: at most N syntheses run, a short queue waits, the rest get 429 + Retry-After."""

from __future__ import annotations

import math
import threading
import time


class ConcurrencyLimiter:
    def __init__(self, max_running: int, queue_size: int, queue_timeout_s: float) -> None:
        self.max_running = max_running
        self.queue_size = queue_size
        self.queue_timeout_s = queue_timeout_s
        self._cond = threading.Condition()
        self._running = 0
        self._waiting = 0
        self._avg_hold_s = 2.0  # a prior for Retry-After until real durations are seen

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    def acquire(self) -> bool:
        """Take a slot, waiting in the queue if there is room; False means answer 429."""
        with self._cond:
            if self._running < self.max_running and self._waiting == 0:
                self._running += 1
                return True
            if self._waiting >= self.queue_size:
                return False
            self._waiting += 1
            deadline = time.monotonic() + self.queue_timeout_s
            try:
                while self._running >= self.max_running:
                    left = deadline - time.monotonic()
                    timed_out = left <= 0 or not self._cond.wait(left)
                    if timed_out and self._running >= self.max_running:
                        return False
                self._running += 1
                return True
            finally:
                self._waiting -= 1

    def release(self, held_s: float) -> None:
        with self._cond:
            self._running -= 1
            self._avg_hold_s = 0.8 * self._avg_hold_s + 0.2 * held_s
            self._cond.notify()

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the queue ahead drained at the observed pace."""
        with self._cond:
            rounds = (self._waiting + 1) / self.max_running
            return max(1, min(60, math.ceil(self._avg_hold_s * rounds)))
