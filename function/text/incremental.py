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

Never inside a tag (`<break time="1s"/>` has a space in it); with `markup` (SSML), never inside an
element either, so that each segment is SSML of its own; only `max_chars` and `flush()` cut there.

Every character pushed comes out in exactly one segment, in order: "".join(segments) is the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from function.text.sentences import ends_clause, ends_sentence

_DANDA = ("।", "॥")
_TOKEN = re.compile(r"\S+\s+")
_LAST_SPACE = re.compile(r"(?s:.*)\S\s+")
_TRAILING_TAGS = re.compile(r"(?:<[^<>]*>)+$")  # "কথা।</s>" ends a sentence as "কথা।" does


class _Markup:
    """Where a scan of the text stands: inside a tag, and how many elements are open."""

    def __init__(self) -> None:
        self.tag: str | None = None  # the tag read so far, from its "<"
        self.depth = 0

    def read(self, token: str) -> None:
        for char in token:
            if self.tag is not None:
                self.tag += char
                if char == ">":
                    self._close(self.tag)
                    self.tag = None
            elif char == "<":
                self.tag = "<"
        if self.tag is not None:
            self.tag += " "  # the whitespace after the token, still inside the tag

    def _close(self, tag: str) -> None:
        if tag.startswith("</"):
            self.depth = max(0, self.depth - 1)
        elif not tag.endswith("/>") and not tag.startswith(("<?", "<!")):
            self.depth += 1


class IncrementalSegmenter:
    def __init__(self, schedule: Sequence[int] = (), max_chars: int = 400, *, markup: bool = False) -> None:
        if any(n < 1 for n in schedule) or max_chars < 1:
            raise ValueError("chunk lengths must be positive")
        self.schedule = tuple(schedule)
        self.max_chars = max_chars
        self.markup = markup
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
        scan = _Markup() if "<" in buf else None
        for m in _TOKEN.finditer(buf):
            token = m.group().rstrip()
            if scan is not None:
                scan.read(token)
                if scan.tag is not None or (self.markup and scan.depth):
                    continue  # inside a tag, or an element: no cut here
                token = _TRAILING_TAGS.sub("", token)
            if ends_sentence(token, first) or token.endswith(_DANDA):
                return m.end()
            first = False
            if ends_clause(token) and m.end() < len(buf) and not buf[m.end()].isdigit():
                clause_end = m.end()
            if last_space is None or m.end() <= self.max_chars:
                last_space = m.end()  # the last cut within max_chars (or one long token alone)
        open_markup = scan is not None and (scan.tag is not None or (self.markup and scan.depth > 0))
        if buf.endswith(_DANDA) and buf[:-1].strip() and not open_markup:
            return len(buf)  # a দাঁড়ি ends only sentences: no need to wait for the space after it
        threshold = self._threshold()
        if threshold is not None and clause_end is not None and len(buf) >= threshold:
            return clause_end
        if len(buf) >= self.max_chars:
            if last_space is None:  # inside markup all along: cut at the last space all the same
                last_space = next((m.end() for m in _LAST_SPACE.finditer(buf, 0, self.max_chars)), None)
            return last_space
        return None

    def _threshold(self) -> int | None:
        if not self.schedule:
            return None
        return self.schedule[min(self._cuts, len(self.schedule) - 1)]
