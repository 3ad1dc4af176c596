"""Cutting a run of letters that is too long, between whole Bangla letters where possible."""

from __future__ import annotations

# Dependent signs: a piece must not start with one (it would float without its letter).
_MARKS = frozenset(
    "\u0981\u0982\u0983\u09bc\u09be\u09bf\u09c0\u09c1\u09c2\u09c3\u09c4\u09c7\u09c8\u09cb\u09cc\u09cd\u09d7\u09e2\u09e3\u200d"
)
_JOINERS = frozenset("\u09cd\u200d")  # virama and ZWJ bind to the next letter
# Marks that tidy-up attaches to the word before: a piece must not start with one.
_ATTACHING = frozenset("।?!.,;:")


def cut_word(word: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters that join back to `word`; cut between whole letters
    and not before a mark of _ATTACHING where possible."""
    pieces = []
    start = 0
    while len(word) - start > limit:
        cut = start + limit
        while cut > start + 1 and (
            word[cut] in _MARKS or word[cut - 1] in _JOINERS or word[cut] in _ATTACHING
        ):
            cut -= 1
        if cut == start + 1 and (word[cut] in _MARKS or word[cut - 1] in _JOINERS or word[cut] in _ATTACHING):
            # Only marks, joiners or punctuation in reach: cut at the limit (each such piece is full
            # length, so the backward scans stay linear in total).
            cut = start + limit
        pieces.append(word[start:cut])
        start = cut
    pieces.append(word[start:])
    return pieces


def letters(word: str) -> list[str]:
    """`word` as the letters a reader names one by one: each base letter with its signs, and a
    conjunct (joined by virama or ZWJ) as one letter."""
    out: list[str] = []
    for char in word:
        if out and (char in _MARKS or out[-1][-1] in _JOINERS):
            out[-1] += char
        else:
            out.append(char)
    return out
