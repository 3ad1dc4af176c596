"""Text that arrives in pieces (an LLM's tokens) cut into segments to speak, as soon as each is final.

Tokens split words and even grapheme clusters (a vowel sign can come in the next piece), so a cut is
only ever made after whitespace: a word, a number ("১,০০০.৫০"), a date ("১২/০৫/২০২৪"), an amount
("৳৫০০"), an address or an abbreviation ("ডা.") is one whitespace-free token and is never divided.
A segment ends

- at a sentence end, decided by the same rule as the whole-text splitter (`ends_sentence`: ।?!. and
  ॥, never after an abbreviation, an initial or a list number) once the whitespace after it arrives;
  a দাঁড়ি (।, ॥) ends it at once, since it never ends anything but a sentence;
- earlier, when `schedule` is given (ElevenLabs' `chunk_length_schedule`: characters to buffer before
  the first, second... generation, the last value repeating), at the last clause mark (,;: or a
  dash) once that many characters are buffered, unless a digit follows (a date's "১২ মে, ২০২৪");
- at the last whitespace, when `max_chars` are buffered without any of these;
- on `flush()`, whatever is buffered.

Every character pushed comes out in exactly one segment, in order: "".join(segments) is the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from function.text.sentences import ends_clause, ends_sentence

_DANDA = ("।", "॥")
_TOKEN = re.compile(r"\S+\s+")


class IncrementalSegmenter:
    def __init__(self, schedule: Sequence[int] = (), max_chars: int = 400) -> None:
        if any(n < 1 for n in schedule) or max_chars < 1:
            raise ValueError("chunk lengths must be positive")
        self.schedule = tuple(schedule)
        self.max_chars = max_chars
        self._buf = ""
        self._cuts = 0  # segments cut so far: which schedule entry applies

    @property
    def buffered(self) -> str:
        """What was pushed and is not in a segment yet."""
        return self._buf

    def push(self, text: str) -> list[str]:
        """Add text; the segments that became final (maybe none)."""
        self._buf += text
        out: list[str] = []
        while (cut := self._next_cut()) is not None:
            out.append(self._take(cut))
        return out

    def flush(self) -> list[str]:
        """Everything buffered, as one segment (none when only whitespace is buffered: it is kept)."""
        if not self._buf.strip():
            return []
        return [self._take(len(self._buf))]

    def _take(self, end: int) -> str:
        segment, self._buf = self._buf[:end], self._buf[end:]
        self._cuts += 1
        return segment

    def _next_cut(self) -> int | None:
        """Where the first final segment of the buffer ends, or None."""
        buf = self._buf
        clause_end: int | None = None
        last_space: int | None = None
        first = True
        for m in _TOKEN.finditer(buf):
            token = m.group().rstrip()
            if ends_sentence(token, first) or token.endswith(_DANDA):
                return m.end()
            first = False
            if ends_clause(token) and m.end() < len(buf) and not buf[m.end()].isdigit():
                clause_end = m.end()
            if last_space is None or m.end() <= self.max_chars:
                last_space = m.end()  # the last cut within max_chars (or one long token alone)
        if buf.endswith(_DANDA) and buf[:-1].strip():
            return len(buf)  # a দাঁড়ি ends only sentences: no need to wait for the space after it
        threshold = self._threshold()
        if threshold is not None and clause_end is not None and len(buf) >= threshold:
            return clause_end
        if len(buf) >= self.max_chars and last_space is not None:
            return last_space
        return None

    def _threshold(self) -> int | None:
        if not self.schedule:
            return None
        return self.schedule[min(self._cuts, len(self.schedule) - 1)]
