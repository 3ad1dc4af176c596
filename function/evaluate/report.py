"""report.html: one self-contained page (no script, no external file: the plots are PNG data URIs)
with the verdict, the summary tables and, for every signal, its distribution per target (bundle/
variant side by side) and per voice. The only module that needs matplotlib, imported when a report
is drawn, so the rest of the evaluator imports in the serving image."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from function.evaluate.results import SIGNALS, label
from function.quality.policy import WARNING_CODES

Row = Mapping[str, Any]
# The columns of the summary tables (every signal is plotted; these are the ones a reader compares).
TABLE_SIGNALS = (
    "speaker_similarity",
    "accent_distance",
    "cer",
    "speech_rate",
    "loudness_lufs",
    "silence_share",
    "rtf",
)
_DPI = 80
_BEYOND = {"min": "below", "max": "above"}
_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.pass { color: #176317; font-weight: bold; }
.fail { color: #a40000; font-weight: bold; }
img { max-width: 100%; display: block; margin-bottom: 1.5em; }
table.meta td { text-align: left; }
"""


class ReportError(RuntimeError):
    """The report cannot be drawn here (matplotlib is missing)."""


def require_matplotlib() -> None:
    """Fail before any synthesis, not after it, where matplotlib is missing (the serving image)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError(
            "the report's plots need matplotlib: install function/requirements-evaluate.txt"
        ) from None


def write_report(path: Path, rows: Sequence[Row], summary: Mapping[str, Any]) -> None:
    targets = list(summary["targets"])
    voices = list(dict.fromkeys(r["voice"] for r in rows))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Evaluation report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Evaluation report</h1>",
        _settings(summary),
        _verdict(summary),
        "<h2>Per bundle/variant</h2>",
        _table(
            ["bundle/variant", "items", "checks", "warned", "runaway", *TABLE_SIGNALS], _target_rows(summary)
        ),
        "<h2>Per voice</h2>",
        _table(["bundle/variant", "voice", "items", "warned", *TABLE_SIGNALS], _voice_rows(summary)),
        "<h2>Warnings</h2>",
        _img("warning rates", _warning_plot(summary, targets)),
        "<h2>Signals</h2>",
        "<p>Each signal: left, its distribution per bundle/variant; right, per voice, one box per "
        "bundle/variant. Boxes span the 25th to 75th percentile with the median; dots are items.</p>",
    ]
    for name, title in SIGNALS.items():
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if all(r.get(name) is None for r in rows):
            parts.append("<p>Not measured in this run.</p>")
            continue
        parts.append(_img(title, _signal_plot(rows, name, targets, voices)))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _settings(summary: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in summary.items() if k not in ("targets", "failures", "passed")}
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_text(v))}</td></tr>" for k, v in shown.items()
    )
    return f'<table class="meta">{cells}</table>'


def _verdict(summary: Mapping[str, Any]) -> str:
    if summary["passed"]:
        return '<p class="pass">PASS: every bundle/variant meets every threshold given.</p>'
    items = "".join(
        f"<li>{html.escape(f['target'])}: {html.escape(f['metric'])} "
        + ("not measurable" if f["value"] is None else f"{_text(f['value'])}, {_BEYOND[f['bound']]}")
        + f" {html.escape(f['option'])} {_text(f['threshold'])}</li>"
        for f in summary["failures"]
    )
    return f'<p class="fail">FAIL</p><ul>{items}</ul>'


def _target_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for name, t in summary["targets"].items():
        verdict = "" if not t["checks"] else "pass" if t["passed"] else "FAIL"
        rows.append(
            [name, str(t["count"]), verdict, _pct(t["warning_share"]), _pct(t["runaway_share"])]
            + [_text(t["signals"][s]["mean"]) for s in TABLE_SIGNALS]
        )
    return rows


def _voice_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    return [
        [name, voice, str(v["count"]), _pct(v["warning_share"])]
        + [_text(v["signals"][s]["mean"]) for s in TABLE_SIGNALS]
        for name, t in summary["targets"].items()
        for voice, v in t["voices"].items()
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "-"
    return str(value)


def _pct(share: float) -> str:
    return f"{share:.0%}"


def _img(alt: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return buf.getvalue()


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _boxes(
    ax: Any, groups: list[list[float]], positions: list[float], colors: list[Any], width: float
) -> None:
    """Box plots with each item as a dot over its box (evaluation sets are small)."""
    shown = [(g, p, c) for g, p, c in zip(groups, positions, colors, strict=True) if g]
    if not shown:
        return
    boxes = ax.boxplot(
        [g for g, _, _ in shown],
        positions=[p for _, p, _ in shown],
        widths=width,
        patch_artist=True,
        showfliers=False,
        manage_ticks=False,
    )
    for patch, (_, _, color) in zip(boxes["boxes"], shown, strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.35)
    for group, pos, color in shown:
        ax.scatter([pos] * len(group), group, s=12, color=color, zorder=3)


def _signal_plot(rows: Sequence[Row], name: str, targets: list[str], voices: list[str]) -> bytes:
    from matplotlib.figure import Figure

    colors = _colors(len(targets))
    # Wide enough for one box per target in each voice's group; tall enough to read a spread.
    fig = Figure(figsize=(min(18.0, 5 + 0.8 * len(targets) * (1 + len(voices))), 3.4))
    by_target, by_voice = fig.subplots(1, 2, width_ratios=[1, max(1.0, len(voices) * 0.8)])
    values = {
        (t, v): [
            float(r[name]) for r in rows if label(r) == t and r["voice"] == v and r.get(name) is not None
        ]
        for t in targets
        for v in voices
    }
    _boxes(
        by_target,
        [[x for v in voices for x in values[(t, v)]] for t in targets],
        list(range(len(targets))),
        colors,
        0.6,
    )
    by_target.set_xticks(range(len(targets)), targets, rotation=20, ha="right")
    by_target.set_title("per bundle/variant", fontsize=9)
    width = 0.8 / len(targets)
    for i, t in enumerate(targets):
        offsets = [j + (i - (len(targets) - 1) / 2) * width for j in range(len(voices))]
        _boxes(by_voice, [values[(t, v)] for v in voices], offsets, [colors[i]] * len(voices), width * 0.9)
        by_voice.plot([], [], color=colors[i], linewidth=6, alpha=0.5, label=t)  # the legend's swatch
    by_voice.set_xticks(range(len(voices)), [_short(v) for v in voices], rotation=20, ha="right")
    by_voice.set_xlim(-0.6, len(voices) - 0.4)
    by_voice.set_title("per voice", fontsize=9)
    by_voice.legend(fontsize=7, loc="best")
    for ax in (by_target, by_voice):
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(labelsize=7)
    return _png(fig)


def _warning_plot(summary: Mapping[str, Any], targets: list[str]) -> bytes:
    from matplotlib.figure import Figure

    codes = list(WARNING_CODES)
    colors = _colors(len(targets))
    fig = Figure(figsize=(9, 3.2))
    ax = fig.subplots()
    width = 0.8 / len(targets)
    for i, t in enumerate(targets):
        rates = [summary["targets"][t]["warning_rates"][c] for c in codes]
        offsets = [j + (i - (len(targets) - 1) / 2) * width for j in range(len(codes))]
        ax.bar(offsets, rates, width, color=colors[i], label=t)
    ax.set_xticks(range(len(codes)), codes, rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of items", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(labelsize=7)
    return _png(fig)


def _short(voice: str) -> str:
    """A clip path's file name; ids as they are."""
    return voice.rsplit("/", 1)[-1]
