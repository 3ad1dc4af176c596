"""A script: normalized text in stretches, each read at its own speed and language, each maybe
followed by silence. What SSML becomes once the front-end has read it; plain text is one stretch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    text: str  # normalized; empty: only the pause
    speed: float | None = None  # None: the request's
    language: str | None = None  # None: the request's
    pause_after: float = 0.0  # seconds of silence after the text
