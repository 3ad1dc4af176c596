"""Word timestamps of a whole synthesis: each piece's words placed in its audio, by the forced
aligner (TTS_ALIGNER_MODEL) when there is one, else estimated; the result says which."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from function.align.aligner import CtcAligner
from function.align.ctc import AlignmentError
from function.align.timing import Alignment, WordTime, estimate_words
from function.engine import PieceSpan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    alignment: Alignment  # "forced" (every piece), "partly_forced", or "estimated"
    words: list[WordTime]


def word_timing(
    aligner: CtcAligner | None, audio: npt.NDArray[np.float32], sample_rate: int, spans: list[PieceSpan]
) -> Timing:
    words: list[WordTime] = []
    forced = 0
    for span in spans:
        piece = audio[span.start : span.end]
        placed: list[WordTime] | None = None
        if aligner is not None:
            try:
                placed = aligner.align(span.text, piece, sample_rate)
                forced += 1
            except AlignmentError as exc:
                log.warning("forced alignment failed for a piece; its word times are estimated: %s", exc)
        if placed is None:
            placed = estimate_words(span.text, piece, sample_rate)
        offset = span.start / sample_rate
        words += [WordTime(w.word, round(w.start + offset, 4), round(w.end + offset, 4)) for w in placed]
    alignment: Alignment = (
        "forced" if spans and forced == len(spans) else "estimated" if forced == 0 else "partly_forced"
    )
    return Timing(alignment, words)
