"""Word and character times: the types every alignment gives, and the estimate used when no forced
aligner is configured (words spread over the piece's speech in proportion to their spoken characters)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Alignment = Literal["forced", "estimated", "partly_forced"]
# The speech inside a piece: 10 ms frames within this many dB of the loudest one.
_SPEECH_DB = 40.0
_FRAME_S = 0.01


@dataclass(frozen=True)
class WordTime:
    word: str  # as written in the text read (normalized)
    start: float  # seconds from the start of the audio
    end: float


@dataclass(frozen=True)
class CharacterTimes:
    characters: list[str]
    starts: list[float]
    ends: list[float]


def character_weight(ch: str) -> float:
    """How much of the audio a character takes: letters, marks and digits are spoken; a space is
    a short gap; punctuation takes none (its pause goes to the characters around it)."""
    if ch.isspace():
        return 0.5
    return 1.0 if unicodedata.category(ch)[0] in "LMN" else 0.0


def spread(text: str, start: float, end: float) -> CharacterTimes:
    """`text`'s characters over [start, end] by spoken weight."""
    chars = list(text)
    weights = [character_weight(c) for c in chars]
    total = sum(weights) or 1.0
    span = max(0.0, end - start)
    starts, ends, at = [], [], 0.0
    for w in weights:
        starts.append(round(start + span * at / total, 4))
        at += w
        ends.append(round(start + span * at / total, 4))
    return CharacterTimes(chars, starts, ends)


def speech_span(audio: npt.NDArray[np.float32], sample_rate: int) -> tuple[float, float]:
    """Where the speech in `audio` starts and ends (seconds): the first and last 10 ms frame within
    40 dB of the loudest; the whole audio when it is all quiet."""
    hop = max(1, round(sample_rate * _FRAME_S))
    n = audio.shape[0] // hop
    if n == 0:
        return 0.0, audio.shape[0] / sample_rate
    energy = np.square(audio[: n * hop].astype(np.float64)).reshape(n, hop).mean(axis=1)
    if energy.max() <= 0:
        return 0.0, audio.shape[0] / sample_rate
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-_SPEECH_DB / 10))
    return float(loud[0] * hop / sample_rate), float(min(audio.shape[0], (loud[-1] + 1) * hop) / sample_rate)


def estimate_words(text: str, audio: npt.NDArray[np.float32], sample_rate: int) -> list[WordTime]:
    """Each word of `text` over the speech of `audio`, in proportion to its spoken characters."""
    start, end = speech_span(audio, sample_rate)
    times = spread(" ".join(text.split()), start, end)
    return words_of(times)


def words_of(times: CharacterTimes) -> list[WordTime]:
    """The whitespace-separated words of character times, each from its first to its last character."""
    words: list[WordTime] = []
    current: list[int] = []
    for i, ch in enumerate([*times.characters, " "]):
        if not ch.isspace():
            current.append(i)
        elif current:
            first, last = current[0], current[-1]
            word = "".join(times.characters[first : last + 1])
            words.append(WordTime(word, times.starts[first], times.ends[last]))
            current = []
    return words


def characters_of(words: list[WordTime]) -> CharacterTimes:
    """Character times of the words joined by single spaces."""
    return characters_over(" ".join(w.word for w in words), words)


def characters_over(text: str, words: Sequence[WordTime]) -> CharacterTimes:
    """Character times of `text` exactly as written, its whitespace-separated words being `words` in
    order: each word's characters over its span, the whitespace between two words over the gap."""
    chars: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    k = 0  # the next word
    at = words[0].start if words else 0.0
    for piece in re.findall(r"\s+|\S+", text):
        if piece[0].isspace():
            gap_end = max(at, words[k].start) if k < len(words) else at
            times = spread(piece, at, gap_end)
        else:
            span = (words[k].start, words[k].end) if k < len(words) else (at, at)
            times = spread(piece, *span)
            at = span[1]
            k += 1
        chars += times.characters
        starts += times.starts
        ends += times.ends
    return CharacterTimes(chars, starts, ends)
