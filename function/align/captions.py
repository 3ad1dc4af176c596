"""Captions from word times: SubRip (.srt) and WebVTT (.vtt).

Cues of readable length, as broadcast subtitle guidelines ask (the BBC's and Netflix's: at most two
lines of 42 characters, a cue at most 7 s): a cue ends at a sentence end, at a clause end once it
holds a line's worth, or before the word that would make it too long; a cue over one line is broken
into two at the space nearest its middle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from function.align.timing import WordTime

LINE_CHARS = 42
MAX_CUE_S = 7.0
_SENTENCE_END = ("।", ".", "?", "!", "॥")
_CLAUSE_END = (",", ";", ":", "—")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def cues(words: Sequence[WordTime]) -> list[Cue]:
    out: list[Cue] = []
    current: list[WordTime] = []

    def close() -> None:
        if current:
            out.append(Cue(current[0].start, current[-1].end, _lines(" ".join(w.word for w in current))))
            current.clear()

    for word in words:
        if current:
            chars = len(" ".join(w.word for w in current)) + 1 + len(word.word)
            if chars > 2 * LINE_CHARS or word.end - current[0].start > MAX_CUE_S:
                close()
        current.append(word)
        text = word.word.rstrip("\"'”’)")
        held = len(" ".join(w.word for w in current))
        if text.endswith(_SENTENCE_END) or (text.endswith(_CLAUSE_END) and held >= LINE_CHARS):
            close()
    close()
    return out


def _lines(text: str) -> tuple[str, ...]:
    if len(text) <= LINE_CHARS:
        return (text,)
    middle = len(text) // 2
    spaces = [i for i, c in enumerate(text) if c == " "]
    if not spaces:
        return (text,)
    cut = min(spaces, key=lambda i: abs(i - middle))
    return (text[:cut], text[cut + 1 :])


def _clock(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def to_srt(words: Sequence[WordTime]) -> str:
    blocks = [
        f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n" + "\n".join(c.lines) + "\n"
        for n, c in enumerate(cues(words), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(words: Sequence[WordTime]) -> str:
    blocks = [
        f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n" + "\n".join(c.lines) + "\n" for c in cues(words)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
