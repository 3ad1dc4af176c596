"""Speech recognition for the CER: a CTC acoustic model (function.align.ctc_model) decoded
greedily, the most likely token per frame, repeats collapsed, blanks dropped."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from function.align.ctc_model import Audio, CtcModel, read_vocab
from function.align.ctc_model import CtcModelError as RecognizerError

__all__ = ["CtcRecognizer", "RecognizerError", "greedy_decode", "read_vocab"]


def greedy_decode(logits: npt.NDArray[np.floating], texts: list[str], blank: int) -> str:
    """CTC best path: argmax per frame, runs of one token collapsed, blanks dropped."""
    best = np.argmax(logits, axis=-1)
    out: list[str] = []
    previous = -1
    for index in best.tolist():
        if index not in (previous, blank):
            out.append(texts[index] if index < len(texts) else "")
        previous = index
    return " ".join("".join(out).split())


class CtcRecognizer(CtcModel):
    def transcribe(self, audio: Audio, sample_rate: int) -> str:
        logits = self.logits(audio, sample_rate)
        return greedy_decode(logits, self.texts, self.blank) if logits.shape[0] else ""
