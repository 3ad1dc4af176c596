"""Silence in test audio: where a requested pause must be digital zeros."""

from __future__ import annotations

import numpy as np


def longest_zero_run(samples: np.ndarray) -> int:
    """The longest run of exactly-zero samples."""
    step = np.diff(np.concatenate([[0], (samples == 0).astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(step == 1), np.flatnonzero(step == -1)
    return int((ends - starts).max()) if starts.size else 0
