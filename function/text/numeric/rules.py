"""The rest (versions, ratios, signs, plain numbers) and the one ordered table of every rule, run
only on the stretches of text around digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from function.text.numbers import (
    integer,
    with_case,
    year,
)
from function.text.numeric.common import BN, NUM, nfc, read_number
from function.text.numeric.dates import (
    DATE_DMY,
    DATE_ISO,
    DATE_WORDS,
    DOT_TIME,
    HOUR_AMPM,
    MONTH_YEAR,
    TIME,
    YA,
    YEAR_CONTEXT,
    YEAR_RANGE,
    say_dot_time,
    say_hour_ampm,
    say_month_year,
    say_numeric_date,
    say_time,
    say_worded_date,
    say_year_range,
)
from function.text.numeric.money import CUR_AFTER, CUR_BEFORE, say_money
from function.text.numeric.phones import (
    HOTLINE_AFTER,
    HOTLINE_BEFORE,
    PHONE_BD,
    PHONE_DHAKA,
    PHONE_LOCAL,
    PHONE_OTHER,
    say_hotline,
    say_phone_bd,
    say_phone_other,
)
from function.text.numeric.quantities import (
    BN_ORDINAL,
    DAY_ORDINAL,
    EN_ORDINAL,
    MIXED_RE,
    PERCENT,
    RANGE,
    SLASH_FRACTION,
    SLASH_NAME,
    SLASH_NAMES,
    UNIT_RE,
    UNITS,
    VULGAR_PARTS,
    VULGAR_RE,
    say_bn_ordinal,
    say_day_ordinal,
    say_en_ordinal,
    say_mixed,
    say_range,
    say_slash_fraction,
    say_vulgar,
)

_DOTTED = re.compile(r"\d(?<![\d.]\d)\d*+(?:\.\d++){2,}+")
_RATIO = re.compile(r"(?P<a>\d(?<![\d:]\d)\d*+):(?P<b>\d++)(?![\d:])")
# When the text names the relation itself (৩:২ অনুপাতে, ২:১ ব্যবধানে, ৩:১ গোলে) the pair is read as a
# pair, তিন-দুই, instead of adding another অনুপাত.
_RELATION_AFTER = re.compile(nfc(r"\s?(?:অনুপাত|ব্যবধান|গোল)"))


def _ratio(m: re.Match[str]) -> str:
    a, b = integer(m["a"]), integer(m["b"])
    return f"{a}-{b}" if _RELATION_AFTER.match(m.string, m.end()) else f"{a} অনুপাত {b}"


_SIGN = re.compile(r"(?P<sign>[-+])(?<![^\s(\[{,;:=/][-+])(?=\d)")
# Digits glued to Latin letters (bdnews24, A4, G20) are read as a separate word.
# ১০x১২ ফুট, ১০ x ১২: a size, read দশ বাই বারো (× stays গুণ, the multiplication sign).
_BY = re.compile(r"([0-9]) ?[xX] ?(?=[0-9])")
_LATIN_BEFORE_DIGIT = re.compile(r"([A-Za-z])(?=\d)")
_DIGIT_BEFORE_LATIN = re.compile(r"(\d)(?=[A-Za-z])")
_BN_BEFORE_DIGIT = re.compile(rf"(\d)(?<=[{BN}]\d)")
# A case ending written after the number: ১০-এর -> দশের, ১৯৯০-এ -> উনিশশো নব্বইয়ে.
_NUMBER = re.compile(rf"{NUM}(?:-(?P<case>এর|র|এ|তে)(?![{BN}]))?")

# ৮ টায়, ৫ টি: the classifier typed apart is still one word with the number (আটটায়, পাঁচটি).
_SPACED_CLASSIFIER = re.compile(rf"([0-9]) (?=(?:টা|টি)(?:{YA}|র|ই|তে|কে)?(?![{BN}]))")

# Words that stay glued to a number (১০টি দশটি, ৫জন পাঁচজন, ১৯৭১এর); any other Bangla word glued
# to it is a separate word (৫০০গ্রাম -> পাঁচশো গ্রাম, ১০টাকা -> দশ টাকা).
_GLUED_SUFFIXES = frozenset(
    nfc(s)
    for s in (  # noqa: SIM905 (a word list reads better as words)
        "টি টা টো টে টির টার টিতে টায় টাই টিই টিকে টাকে জন জনের জনকে জনই খানা খানি খান গুলো গুলি "
        "গুলোর গুলির গুলোতে এর র ের এ য় ে তে ই ও শো শ শত তম"
    ).split()
)
_BANGLA_RUN = re.compile(f"[{BN}]+")


def _number(m: re.Match[str]) -> str:
    words = with_case(read_number(m.group().partition("-")[0]), m["case"])
    tail = _BANGLA_RUN.match(m.string, m.end())
    return words + " " if tail and tail.group() not in _GLUED_SUFFIXES else words


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str] | str]

# Order matters: the specific shapes first, so that a date is never read as a fraction, a phone
# number as a range, or a year as a plain number.
RULES: tuple[Rule, ...] = (
    (_SPACED_CLASSIFIER, r"\1"),
    (PHONE_BD, say_phone_bd),
    (PHONE_LOCAL, say_phone_bd),
    (PHONE_DHAKA, say_phone_bd),
    (PHONE_OTHER, say_phone_other),
    (HOTLINE_BEFORE, say_hotline),
    (HOTLINE_AFTER, say_hotline),
    (DATE_DMY, say_numeric_date),
    (DATE_ISO, say_numeric_date),
    (DATE_WORDS, say_worded_date),
    (MONTH_YEAR, say_month_year),
    (SLASH_NAME, lambda m: with_case(SLASH_NAMES[m["n"]], m["case"])),
    (TIME, say_time),
    (DOT_TIME, say_dot_time),
    (HOUR_AMPM, say_hour_ampm),
    (YEAR_RANGE, say_year_range),
    (YEAR_CONTEXT, lambda m: with_case(year(int(m["y"])), m["case"])),
    (RANGE, say_range),
    (CUR_BEFORE, say_money),
    (CUR_AFTER, say_money),
    (PERCENT, lambda m: read_number(m["num"]) + " শতাংশ"),
    (MIXED_RE, say_mixed),
    (VULGAR_RE, say_vulgar),
    (SLASH_FRACTION, say_slash_fraction),
    (BN_ORDINAL, say_bn_ordinal),
    (DAY_ORDINAL, say_day_ordinal),
    (EN_ORDINAL, say_en_ordinal),
    (UNIT_RE, lambda m: f"{m['d']} {UNITS[m['u']]}"),
    (_DOTTED, lambda m: " ডট ".join(integer(p) for p in m.group().split("."))),
    (_RATIO, _ratio),
    (_SIGN, lambda m: "মাইনাস " if m["sign"] == "-" else "প্লাস "),
    (_BY, r"\1 বাই "),
    (_LATIN_BEFORE_DIGIT, r"\1 "),
    (_DIGIT_BEFORE_LATIN, r"\1 "),
    (_BN_BEFORE_DIGIT, r" \1"),
    (_NUMBER, _number),
)


_DIGIT_RUN = re.compile(f"[0-9{''.join(VULGAR_PARTS)}]+")
# The rules look at most this many words around a number (সকাল ১০:৩০; ৫০০.৫০ টাকা; ১০ লাখ টাকা;
# ২৬ মার্চ, ১৯৭১ links two numbers) and never further than _REACH characters.
_WORDS_BEFORE = 2
_WORDS_AFTER = 3
_REACH = 48


def _island_start(text: str, pos: int) -> int:
    limit = max(0, pos - _REACH)
    for _ in range(_WORDS_BEFORE + 1):
        space = text.rfind(" ", limit, pos)
        if space < 0:
            return limit
        pos = space
    return pos


def _island_end(text: str, pos: int) -> int:
    limit = min(len(text), pos + _REACH)
    for _ in range(_WORDS_AFTER + 1):
        space = text.find(" ", pos + 1, limit)
        if space < 0:
            return limit
        pos = space
    return pos


def _apply_rules(text: str) -> str:
    for pattern, repl in RULES:
        text = pattern.sub(repl, text)
    return text


_SEPARATOR = "\x00"  # clean_unicode removed every control character; no rule matches this one


def expand_numbers(text: str) -> str:
    """Every digit in the text becomes words.

    The rules only run on the stretches around digits (with the words they look at), joined by a
    separator no rule matches, so each rule scans the numbers once and prose costs one search."""
    spans: list[tuple[int, int]] = []
    for m in _DIGIT_RUN.finditer(text):
        start = _island_start(text, m.start())
        end = _island_end(text, m.end())
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    if not spans:
        return text
    islands = _apply_rules(_SEPARATOR.join(text[a:b] for a, b in spans)).split(_SEPARATOR)
    out: list[str] = []
    done = 0
    for (a, b), island in zip(spans, islands, strict=True):
        out.append(text[done:a])
        out.append(island)
        done = b
    out.append(text[done:])
    return "".join(out)
