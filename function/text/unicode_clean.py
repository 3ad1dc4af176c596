"""Unicode repairs: one canonical spelling of Bangla text before any reading rule runs."""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Literal

NuktaForm = Literal["composed", "decomposed"]

ZWJ = "\u200d"
_NUKTA_PAIRS = {"\u09af\u09bc": "\u09df", "\u09a1\u09bc": "\u09dc", "\u09a2\u09bc": "\u09dd"}


def _translation_table() -> dict[int, str | None]:
    """Digits of every script -> ASCII, odd spaces, dashes, quotes and full-width forms -> ASCII,
    format and control characters (ZWNJ, ZWSP, BOM, bidi marks, soft hyphen) -> removed.

    ZWJ survives this table: it is needed for র‍্য and dropped everywhere else by _repair."""
    table: dict[int, str | None] = {}
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat == "Nd" and not "0" <= ch <= "9":
            table[cp] = str(unicodedata.decimal(ch))
        elif cat == "Zs" and ch != " ":
            table[cp] = " "
        elif cat == "Cf" and ch != ZWJ:
            table[cp] = None
    for cp in range(0x20):
        table[cp] = None
    for cp in range(0x7F, 0xA0):
        table[cp] = None
    for ch in "\n\r\v\f\x85\u2028\u2029":
        table[ord(ch)] = "\n"
    table[ord("\t")] = " "
    # Full-width ASCII (U+FF01-FF5E) -> ASCII.
    for cp in range(0xFF01, 0xFF5F):
        table[cp] = chr(cp - 0xFEE0)
    table[0x3000] = " "
    pairs = {
        "\u09f7": "।",  # BENGALI CURRENCY NUMERATOR FOUR, typed for the দাঁড়ি by many keyboards
        "\u0965": "।",  # double danda
        "\u3002": "।",
        "\uff61": "।",
        "\u09f0": "র",  # Assamese ra/wa written into Bangla text
        "\u09f1": "ব",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2212": "-",
        "\ufe63": "-",
        "\u2014": ",",  # an em dash is a pause
        "\u2015": ",",
        "\u2e3a": ",",
        "\u2e3b": ",",
        "\u2026": "...",
        "\u2044": "/",
        "\u2215": "/",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2033": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "`": "'",
        "\u3001": ",",
        "\u00a1": None,
        "\u00bf": None,
    }
    for src, dst in pairs.items():
        table[ord(src)] = dst
    return table


_TABLE = _translation_table()


def _char_class(code_points: list[int]) -> str:
    """A regex character class for the given code points, as ranges."""
    parts = []
    run_start = prev = code_points[0]
    for cp in [*code_points[1:], -2]:
        if cp != prev + 1:
            parts.append(re.escape(chr(run_start)) + ("-" + re.escape(chr(prev)) if prev > run_start else ""))
            run_start = cp
        prev = cp
    return "[" + "".join(parts) + "]"


# Searching for the characters to change and translating only those runs is several times faster
# than str.translate over the whole text, which is mostly letters that stay.
_TO_TRANSLATE = re.compile(_char_class(sorted(_TABLE)) + "+")
# Lone surrogates and private-use characters carry nothing readable.
_UNREADABLE = re.compile("[\ud800-\udfff\ue000-\uf8ff\U000f0000-\U0010ffff]+")
_KHANDA_TA_ZWJ = re.compile("\u09a4\u09cd\u200d")
_RA_VIRAMA_ZWJ_YA = re.compile("\u09b0\u09cd\u200d\u09af")
STRAY_ZWJ = re.compile("(?<!\u09b0)\u200d|\u200d(?!\u09cd\u09af)")  # any ZWJ not forming র‍্য
# The Bangla letters and signs that may appear in the output (no digits, no ৳, no unassigned points).
BN_LETTERS = (
    "\u0981-\u0983\u0985-\u098c\u098f\u0990\u0993-\u09a8\u09aa-\u09b0\u09b2\u09b6-\u09b9"
    "\u09bc-\u09c4\u09c7\u09c8\u09cb-\u09ce\u09d7\u09dc\u09dd\u09df-\u09e3"
)
# A nukta belongs right after a consonant; anywhere else (doubled, after a digit) it is noise.
_STRAY_NUKTA = re.compile("\u09bc(?<![\u0995-\u09b9]\u09bc)")
_LETTER_FIXES = re.compile("\u09ac\u09bc|\u0985\u09be")  # ব + ় -> র, অ + া -> আ
_LETTER_FIXED = {"\u09ac\u09bc": "\u09b0", "\u0985\u09be": "\u0986"}
# ত্ not followed by a letter or sign that stays in the output is খণ্ড ত (a nukta there is stray
# and removed, so it does not count).
_FINAL_TA = re.compile(f"\u09a4\u09cd(?![{BN_LETTERS.replace(chr(0x09BC) + '-', chr(0x09BD) + '-')}\u200d])")
# Vowel signs, virama or nukta typed after a digit would cling to the number's last word.
_SIGNS_AFTER_DIGIT = re.compile("([0-9])[\u0981-\u0983\u09bc-\u09d7\u09e2\u09e3]+")
_COMPOSE = re.compile("[\u09af\u09a1\u09a2]\u09bc")


def repair_bangla(text: str) -> str:
    """Stray nukta, ব + ় -> র, অ + া -> আ, word-final ত্ -> ৎ (হঠাত্ -> হঠাৎ), in an order where no
    repair creates work for an earlier one. Run again at the end, where removing a character (a
    dot, a symbol) may have brought two such characters together."""
    text = _STRAY_NUKTA.sub("", text)
    text = _LETTER_FIXES.sub(lambda m: _LETTER_FIXED[m.group()], text)
    return _FINAL_TA.sub("\u09ce", text)


def clean_unicode(text: str) -> str:
    """Canonical form for the rules that follow: NFC (nukta letters as base + ়), ASCII digits,
    ASCII punctuation, no control or zero-width characters except the ZWJ of র‍্য."""
    text = _UNREADABLE.sub("", text)
    text = _TO_TRANSLATE.sub(lambda m: m.group().translate(_TABLE), text)
    if ZWJ in text:
        # The legacy ত + ্ + ZWJ spelling of খণ্ড ত, and র + ্ + ZWJ + য typed for র‍্য (র‍্যাব).
        text = _KHANDA_TA_ZWJ.sub("\u09ce", text)
        text = _RA_VIRAMA_ZWJ_YA.sub("\u09b0\u200d\u09cd\u09af", text)
        text = STRAY_ZWJ.sub("", text)
    # NFC also joins split vowel signs: ে + া -> ো, ে + ৗ -> ৌ.
    text = unicodedata.normalize("NFC", text)
    return repair_bangla(_SIGNS_AFTER_DIGIT.sub(r"\1", text))


def set_nukta_form(text: str, form: NuktaForm) -> str:
    """য় ড় ঢ় as one code point (U+09DF, U+09DC, U+09DD) or as base + ় (what NFC gives)."""
    if form == "composed":
        return _COMPOSE.sub(lambda m: _NUKTA_PAIRS[m.group()], text)
    return text
