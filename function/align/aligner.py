"""Forced alignment of a piece's text to its audio with a CTC acoustic model (function.align.ctc_model).

The text's words become the model's tokens (longest vocabulary match, the word delimiter between
words when the vocabulary has one; characters it does not know, such as punctuation, are skipped),
the Viterbi path places each token on the model's frames, and a word spans its first token's first
frame to its last token's last. A word with no token the model knows (a Latin word for a Bangla-only
vocabulary) takes the gap between its neighbours, in proportion to its spoken characters.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from function.align.ctc import force_align
from function.align.ctc_model import CtcModel
from function.align.timing import WordTime, spread, words_of


class CtcAligner:
    def __init__(self, model: CtcModel) -> None:
        self.model = model
        self._ids = {text: i for i, text in enumerate(model.texts) if text.strip() and i != model.blank}
        self._longest = max((len(t) for t in self._ids), default=1)
        self._delimiter = next((i for i, t in enumerate(model.texts) if t == " "), None)

    def tokens(self, word: str) -> list[int]:
        """`word` as the model's tokens: longest match first; characters it does not know are skipped."""
        out: list[int] = []
        i = 0
        while i < len(word):
            for size in range(min(self._longest, len(word) - i), 0, -1):
                token = self._ids.get(word[i : i + size])
                if token is not None:
                    out.append(token)
                    i += size
                    break
            else:
                i += 1
        return out

    def align(self, text: str, audio: npt.NDArray[np.float32], sample_rate: int) -> list[WordTime]:
        """Each whitespace-separated word of `text` in `audio` (seconds from its start). Raises
        AlignmentError when the audio is too short for the text's tokens."""
        words = text.split()
        tokens: list[int] = []
        owner: list[int] = []  # the word each token belongs to (-1: a delimiter)
        for i, word in enumerate(words):
            if i and self._delimiter is not None:
                tokens.append(self._delimiter)
                owner.append(-1)
            for token in self.tokens(word):
                tokens.append(token)
                owner.append(i)
        logits = self.model.logits(audio, sample_rate).astype(np.float64)
        log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        spans = force_align(log_probs, tokens, self.model.blank)
        frame_s = audio.shape[0] / sample_rate / max(1, logits.shape[0])
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for index, (f0, f1) in zip(owner, spans, strict=True):
            if index >= 0:
                first.setdefault(index, f0)
                last[index] = f1
        times: list[WordTime | None] = [
            WordTime(word, round(first[i] * frame_s, 4), round((last[i] + 1) * frame_s, 4))
            if i in first
            else None
            for i, word in enumerate(words)
        ]
        return _fill_gaps(words, times, audio.shape[0] / sample_rate)


def _fill_gaps(words: list[str], times: list[WordTime | None], seconds: float) -> list[WordTime]:
    """Words the model could not place take the gap between their placed neighbours."""
    out: list[WordTime] = []
    i = 0
    while i < len(times):
        placed = times[i]
        if placed is not None:
            out.append(placed)
            i += 1
            continue
        j = i
        while j < len(times) and times[j] is None:
            j += 1
        start = out[-1].end if out else 0.0
        following = times[j] if j < len(times) else None
        end = following.start if following is not None else seconds
        out += words_of(spread(" ".join(words[i:j]), start, end))
        i = j
    return out
