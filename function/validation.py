"""Checks shared by every way in (HTTP bodies, batch manifest lines): sampling values, quoting input.

Each raises ParamError with the API's error code and a message that says how to fix the value, so
the HTTP layer and the batch job report the same mistake the same way.
"""

from __future__ import annotations

import math
from typing import Any

from function.synthesis_params import SAMPLING_RANGES


class ParamError(ValueError):
    """A value a client sent is not usable; `code` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def shown(value: Any, limit: int = 40) -> str:
    """A client's value quoted in an error message: ASCII-safe and short, whatever was sent."""
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "an array"
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_sampling(name: str, value: Any) -> float | int:
    """One sampling parameter (a SAMPLING_RANGES name), type- and range-checked."""
    kind, lo, hi = SAMPLING_RANGES[name]
    ok_type = (
        isinstance(value, int) and not isinstance(value, bool)
        if kind is int
        else isinstance(value, (int, float)) and not isinstance(value, bool)
    )
    if not ok_type or (isinstance(value, float) and not math.isfinite(value)):
        what = "an integer" if kind is int else "a number"
        raise ParamError("invalid_parameter", f"'{name}' must be {what} in [{lo:g}, {hi:g}]")
    if not lo <= value <= hi:
        raise ParamError("out_of_range", f"'{name}'={shown(value)} is out of range: use {lo:g} to {hi:g}")
    return int(value) if kind is int else float(value)
