"""What every reading rule shares: the Bangla letter classes, the number shapes (Western and
South Asian digit grouping) and reading a number as written.
"""

from __future__ import annotations

import unicodedata

from function.text.numbers import (
    decimal,
    integer,
)


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


BN = "\u0980-\u09ff"  # the Bangla block: letters, vowel signs, virama, nukta
BN_SIGN = "\u0981-\u0983\u09bc\u09be-\u09cd\u09d7\u09e2\u09e3"  # signs that continue a letter

# An integer as written: Indian (12,34,567) or Western (1,234,567) grouping, or plain digits.
# The grouped forms may not start right after "digit," so a long run of commas is scanned once.
# Every pattern starts with a character class (here the first digit, lookbehinds after it): the
# regex engine then skips ahead in C instead of trying the pattern at every position.
_INT_REST = r"(?:(?<!\d,\d)(?:\d?(?:,\d\d(?!\d))*+,\d{3}|\d{0,2}(?:,\d{3})++)(?!\d|,\d)|\d*+)"
INT = rf"\d{_INT_REST}"
NUM = rf"\d(?<!\d\d){_INT_REST}(?:\.\d++)?"


def split_num(s: str) -> tuple[str, str]:
    whole, _, frac = s.replace(",", "").partition(".")
    return whole, frac


def read_number(s: str) -> str:
    """'1,00,000' -> এক লক্ষ, '2.05' -> দুই দশমিক শূন্য পাঁচ."""
    whole, frac = split_num(s)
    return decimal(whole, frac) if frac else integer(whole)
