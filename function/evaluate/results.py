"""One result row per item and target, and items.csv."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Every numeric signal of an output, in report order, with its label: the summary's statistics and
# the report's plots cover each.
SIGNALS: dict[str, str] = {
    "speaker_similarity": "speaker similarity (cosine to the voice)",
    "accent_distance": "accent distance (1 - cosine to the accent centroid)",
    "cer": "character error rate",
    "speech_rate": "speech rate (spoken characters per second)",
    "seconds": "output length (s)",
    "tokens": "audio tokens generated",
    "leading_silence_s": "leading silence (s)",
    "trailing_silence_s": "trailing silence (s)",
    "long_pause_s": "long pauses inside speech (s)",
    "longest_pause_s": "longest pause inside speech (s)",
    "silence_share": "silent share of the output",
    "clipping_share": "clipped share of samples",
    "loudness_lufs": "loudness (LUFS)",
    "synthesis_s": "synthesis time (s)",
    "rtf": "real-time factor (synthesis time / output length)",
}
COLUMNS = (
    "id",
    "bundle",
    "variant",
    "voice",
    "language",
    *SIGNALS,
    "runaway",
    "warnings",  # warning codes, ';'-separated
    "text",  # as written in the evaluation set
    "reference",  # what CER compares against: the transcript, or the normalized input text
    "hypothesis",  # the recognizer's transcript
    "audio",  # the kept output, relative to the report directory (--keep-audio)
)


def label(row: Mapping[str, Any]) -> str:
    return f"{row['bundle']}/{row['variant']}"


def write_items_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: ";".join(v) if isinstance(v, list) else "" if v is None else v
                    for k, v in ((c, row.get(c)) for c in COLUMNS)
                }
            )
