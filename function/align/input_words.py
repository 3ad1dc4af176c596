"""Word times on the words of the text as sent, from the times of the words read.

The front-end rewrites text (১২৩ -> একশো তেইশ, ডা. -> ডাক্তার, a date into several words), so a word
as sent may become several read words, or none. Each word sent is read alone with the same reader
the request used; the concatenation of those readings is matched against the words actually read
(difflib: the readings agree word for word except where context changed them, a date or a number
range); a word sent spans the read words it became, and words whose readings changed together
share the span of what they became together.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Callable, Sequence

from function.align.timing import WordTime


def _key(word: str) -> str:
    """A word without its punctuation (the reader attaches marks differently alone and in context)."""
    return "".join(c for c in word if unicodedata.category(c)[0] in "LMN")


def input_word_times(text: str, read_word: Callable[[str], str], words: Sequence[WordTime]) -> list[WordTime]:
    """Each whitespace-separated word of `text` with the span of the read `words` it became; a word
    that became nothing gets an empty span where it would have been."""
    sent = text.split()
    if not sent or not words:
        return []
    readings: list[str] = []
    owner: list[int] = []  # the word sent each reading word comes from
    for i, word in enumerate(sent):
        for part in read_word(word).split():
            readings.append(_key(part))
            owner.append(i)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def claim(i: int, j: int) -> None:
        first[i] = min(first.get(i, j), j)
        last[i] = max(last.get(i, j), j)

    matcher = difflib.SequenceMatcher(None, readings, [_key(w.word) for w in words], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                claim(owner[i1 + k], j1 + k)
        elif tag == "replace":  # read differently in context: these words share what they became
            for i in set(owner[i1:i2]):
                claim(i, j1)
                claim(i, j2 - 1)
        elif tag == "insert":  # read words no word sent gave alone: the word before them has them
            i = owner[i1 - 1] if i1 > 0 else owner[0] if owner else 0
            claim(i, j1)
            claim(i, j2 - 1)
    out: list[WordTime] = []
    for i, word in enumerate(sent):
        if i in first:
            out.append(WordTime(word, words[first[i]].start, words[last[i]].end))
        else:  # nothing of it was read: an empty span after the word before
            at = out[-1].end if out else words[0].start
            out.append(WordTime(word, at, at))
    return out
