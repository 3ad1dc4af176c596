"""Counting what is spoken."""

from __future__ import annotations

import unicodedata


def spoken_chars(text: str) -> int:
    """Characters that are spoken: letters, vowel signs and viramas (marks), digits; not spaces or
    punctuation. A Bangla syllable is 1-4 of them."""
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LMN")
