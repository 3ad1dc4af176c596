"""Word timestamps of a whole synthesis: each piece's words placed in its audio, by the forced
aligner (TTS_ALIGNER_MODEL) when there is one, else estimated; the result says which."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from function.align.aligner import CtcAligner
from function.align.ctc import AlignmentError
from function.align.input_words import input_word_times
from function.align.timing import Alignment, WordTime, estimate_words
from function.engine import AudioChunk, PieceSpan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    alignment: Alignment  # "forced" (every piece), "partly_forced", or "estimated"
    words: list[WordTime]  # the words read (normalized)
    input_words: list[WordTime] | None = None  # the words as sent (plain text only)


def with_input_words(timing: Timing, text: str, read_word: Callable[[str], str]) -> Timing:
    """`timing` with the spans of `text`'s own words (function.align.input_words)."""
    return replace(timing, input_words=input_word_times(text, read_word, timing.words))


def place_piece(
    aligner: CtcAligner | None, text: str, audio: npt.NDArray[np.float32], sample_rate: int, start: int
) -> Timing:
    """One piece's words in its audio (which starts `start` samples into the whole), forced when
    there is an aligner and it can place them, else estimated."""
    placed: list[WordTime] | None = None
    if aligner is not None:
        try:
            placed = aligner.align(text, audio, sample_rate)
        except AlignmentError as exc:
            log.warning("forced alignment failed for a piece; its word times are estimated: %s", exc)
    alignment: Alignment = "forced" if placed is not None else "estimated"
    if placed is None:
        placed = estimate_words(text, audio, sample_rate)
    offset = start / sample_rate
    return Timing(
        alignment, [WordTime(w.word, round(w.start + offset, 4), round(w.end + offset, 4)) for w in placed]
    )


def joined(timings: list[Timing]) -> Timing:
    """Pieces' timings as one: `forced` when every piece was, `estimated` when none was."""
    forced = sum(t.alignment == "forced" for t in timings)
    alignment: Alignment = (
        "forced" if timings and forced == len(timings) else "estimated" if forced == 0 else "partly_forced"
    )
    return Timing(alignment, [w for t in timings for w in t.words])


def word_timing(
    aligner: CtcAligner | None, audio: npt.NDArray[np.float32], sample_rate: int, spans: list[PieceSpan]
) -> Timing:
    return joined([place_piece(aligner, s.text, audio[s.start : s.end], sample_rate, s.start) for s in spans])


class StreamTimer:
    """A stream's word times, piece by piece: each piece is placed once its audio is all out, on
    `executor` (never on the thread that sends the audio, so timestamps never delay it); `take()`
    returns the pieces placed so far, in order, each once."""

    def __init__(self, aligner: CtcAligner | None, executor: Executor) -> None:
        self._aligner = aligner
        self._executor = executor
        self._pending: list[Future[Timing]] = []
        self._lock = threading.Lock()
        self._piece = -1
        self._text = ""
        self._audio: list[npt.NDArray[np.float32]] = []
        self._rate = 0
        self._start = 0
        self._at = 0  # samples of the stream so far

    def add(self, chunk: AudioChunk) -> None:
        if chunk.piece != self._piece:
            self.finish()
            self._piece, self._text, self._start = chunk.piece, chunk.text, self._at
        self._rate = chunk.sample_rate
        self._audio.append(chunk.samples)
        self._at += int(chunk.samples.shape[0])

    def finish(self) -> None:
        """The current piece's audio is all out: place it."""
        if self._audio and self._text.strip():
            audio = np.concatenate(self._audio)
            job = self._executor.submit(
                place_piece, self._aligner, self._text, audio, self._rate, self._start
            )
            with self._lock:
                self._pending.append(job)
        self._audio = []

    def take(self, *, wait: bool = False) -> list[Timing]:
        """The pieces placed since the last call, in order (with `wait`, every piece submitted)."""
        out: list[Timing] = []
        with self._lock:
            while self._pending and (wait or self._pending[0].done()):
                out.append(self._pending.pop(0).result())
        return out
