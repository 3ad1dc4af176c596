"""One way for a test to wait for something another thread or process does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.02,
    alive: Callable[[], bool] | None = None,
) -> T:
    """Call `check` until it returns something truthy, and return that. Fails naming `what` when
    `timeout` seconds pass first, or at once when `alive` (a process or thread being waited on)
    says it is gone."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if alive is not None and not alive():
            raise AssertionError(f"{what}: what was being waited on ended first")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)
