"""Character error rate, with both sides normalized the same way so that only what is spoken counts.

Normalization: Unicode NFC (so composed and decomposed nukta letters compare equal), case folded;
letters, marks (vowel signs, virama) and digits kept; punctuation, symbols and whitespace become one
space between words; format characters (ZWJ, ZWNJ) and controls dropped.
"""

from __future__ import annotations

import unicodedata


def normalize_for_cer(text: str) -> str:
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text).casefold():
        kind = unicodedata.category(ch)[0]
        if kind in "LMN":
            out.append(ch)
        elif kind in "PSZ":
            out.append(" ")
    return " ".join("".join(out).split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of one character each)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def character_error_rate(reference: str, hypothesis: str) -> float | None:
    """Edits from the normalized reference to the normalized hypothesis over the reference's length;
    None when the reference has nothing to compare."""
    ref, hyp = normalize_for_cer(reference), normalize_for_cer(hypothesis)
    if not ref:
        return None
    return edit_distance(ref, hyp) / len(ref)
