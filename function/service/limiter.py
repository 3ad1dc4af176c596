"""Concurrency limiter: at most N syntheses run, a short queue waits, the rest get 429 + Retry-After."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

MAX_RETRY_AFTER_S = 60


@dataclass(frozen=True)
class Busy:
    """A refused admission: why, and in how many seconds a slot is likely free."""

    queue_full: bool  # else: it waited its queue_timeout_s in the queue without a slot freeing
    retry_after: int


class ConcurrencyLimiter:
    def __init__(self, max_running: int, queue_size: int, queue_timeout_s: float) -> None:
        self.max_running = max_running
        self.queue_size = queue_size
        self.queue_timeout_s = queue_timeout_s
        self._cond = threading.Condition()
        self._started: list[float] = []  # when each running slot was taken (monotonic)
        self._waiting = 0
        self._avg_hold_s = 2.0  # a prior until real durations are seen

    @property
    def running(self) -> int:
        return len(self._started)

    @property
    def waiting(self) -> int:
        return self._waiting

    def acquire(self) -> Busy | None:
        """Take a slot, waiting in the queue if there is room: None once the slot is taken."""
        with self._cond:
            if len(self._started) < self.max_running and self._waiting == 0:
                self._started.append(time.monotonic())
                return None
            if self._waiting >= self.queue_size:
                return Busy(queue_full=True, retry_after=self._expected_wait_s(self._waiting + 1))
            self._waiting += 1
            deadline = time.monotonic() + self.queue_timeout_s
            try:
                while len(self._started) >= self.max_running:
                    left = deadline - time.monotonic()
                    timed_out = left <= 0 or not self._cond.wait(left)
                    if timed_out and len(self._started) >= self.max_running:
                        return Busy(queue_full=False, retry_after=self._expected_wait_s(self._waiting))
                self._started.append(time.monotonic())
                return None
            finally:
                self._waiting -= 1

    def release(self, held_s: float) -> None:
        with self._cond:
            taken = time.monotonic() - held_s
            self._started.remove(min(self._started, key=lambda t: abs(t - taken)))
            self._avg_hold_s = 0.8 * self._avg_hold_s + 0.2 * held_s
            self._cond.notify()

    def _expected_wait_s(self, place: int) -> int:
        """Seconds until the `place`-th slot to free is likely free. A running slot younger than the
        average hold frees when it reaches it; one already older (a long text, a client reading
        slowly) is expected to run about as long again, not to free at once. Later places wait
        whole average holds."""
        now = time.monotonic()
        ages = (now - t for t in self._started)
        left = sorted(self._avg_hold_s - age if age < self._avg_hold_s else age for age in ages)
        if not left:
            return 1
        rounds, index = divmod(place - 1, len(left))
        wait = left[index] + rounds * self._avg_hold_s
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(wait)))
