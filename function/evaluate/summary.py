"""Statistics per target (bundle/variant) and per voice within it, and the threshold checks that
gate a bundle: each compares a target's mean (or share) with a bound given on the command line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from function.evaluate.results import SIGNALS, label
from function.quality.policy import WARNING_CODES

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Threshold:
    option: str  # the command-line option, for messages
    metric: str  # a signal (its mean is checked) or "warning_share" / "runaway_share"
    bound: Literal["min", "max"]
    value: float

    def check(self, group: Mapping[str, Any]) -> dict[str, Any]:
        measured = group[self.metric] if self.metric in group else group["signals"][self.metric]["mean"]
        # No measurable value (no speech long enough, say) fails: a gate must not pass on nothing.
        passed = measured is not None and (
            measured >= self.value if self.bound == "min" else measured <= self.value
        )
        return {
            "metric": self.metric,
            "option": self.option,
            "bound": self.bound,
            "threshold": self.value,
            "value": measured,
            "passed": passed,
        }


# option (argparse dest) -> (metric, bound); the threshold table of docs/evaluation.md.
THRESHOLDS: dict[str, tuple[str, Literal["min", "max"]]] = {
    "min_speaker_similarity": ("speaker_similarity", "min"),
    "max_accent_distance": ("accent_distance", "max"),
    "max_cer": ("cer", "max"),
    "max_warning_share": ("warning_share", "max"),
    "max_runaway_share": ("runaway_share", "max"),
}


def stats(values: Sequence[float | None]) -> dict[str, Any]:
    present = np.array([v for v in values if v is not None], np.float64)
    if present.size == 0:
        return {"count": 0, "mean": None, "median": None, "p10": None, "p90": None, "min": None, "max": None}
    p10, median, p90 = np.percentile(present, [10, 50, 90])
    return {
        "count": int(present.size),
        "mean": _r(present.mean()),
        "median": _r(median),
        "p10": _r(p10),
        "p90": _r(p90),
        "min": _r(present.min()),
        "max": _r(present.max()),
    }


def _r(value: Any) -> float:
    return round(float(value), 6)


def group_summary(rows: Sequence[Row]) -> dict[str, Any]:
    n = len(rows)
    return {
        "count": n,
        "signals": {name: stats([r.get(name) for r in rows]) for name in SIGNALS},
        "warning_share": _r(sum(1 for r in rows if r["warnings"]) / n),
        "runaway_share": _r(sum(1 for r in rows if r["runaway"]) / n),
        "warning_rates": {
            code: _r(sum(1 for r in rows if code in r["warnings"]) / n) for code in WARNING_CODES
        },
    }


def summarize(rows: Sequence[Row], thresholds: Sequence[Threshold]) -> dict[str, Any]:
    """Per target: its statistics, its voices', its checks and whether it passed; `failures` lists
    every failed check, naming the target."""
    targets: dict[str, dict[str, Any]] = {}
    failures: list[dict[str, Any]] = []
    for name in dict.fromkeys(label(r) for r in rows):
        mine = [r for r in rows if label(r) == name]
        group = group_summary(mine)
        voices = {
            v: group_summary([r for r in mine if r["voice"] == v])
            for v in dict.fromkeys(r["voice"] for r in mine)
        }
        checks = [t.check(group) for t in thresholds]
        failures += [{"target": name, **c} for c in checks if not c["passed"]]
        targets[name] = {
            "bundle": mine[0]["bundle"],
            "variant": mine[0]["variant"],
            **group,
            "voices": voices,
            "checks": checks,
            "passed": all(c["passed"] for c in checks),
        }
    return {"targets": targets, "failures": failures, "passed": not failures}
