"""SSML's <say-as interpret-as=…> in Bangla: the span read as the kind it names, by the front-end's
own rules for that kind (numbers, dates, clock times, phone numbers, money), whatever the same
characters would be read as in running text."""

from __future__ import annotations

import re
from collections.abc import Callable

from function.text.graphemes import letters
from function.text.lexicon import LETTER_NAMES
from function.text.numbers import DIGIT_WORDS, day_of_month, digits, ordinal, year
from function.text.numeric.common import read_number
from function.text.numeric.dates import HOUR_AMPM, MONTHS, TIME, date_words, say_hour_ampm, say_time
from function.text.numeric.money import CUR_AFTER, CUR_BEFORE, say_money
from function.text.numeric.phones import PHONE_BD, PHONE_LOCAL, say_phone_bd, say_phone_other

SPELLED = ("characters", "spell-out", "verbatim")
KINDS = (*SPELLED, "cardinal", "number", "ordinal", "digits", "telephone", "date", "time", "currency")
DATE_FORMATS = ("dmy", "mdy", "ymd", "ydm", "dm", "md", "my", "ym", "d", "m", "y")
DEFAULT_DATE_FORMAT = "dmy"  # how Bangladeshis write dates (২১/০২/২০২৪)

_BN_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
_NUMBER = re.compile(r"(?P<sign>[-+−]?)(?P<num>\d[\d,]*(?:\.\d+)?)")
_ORDINAL = re.compile(r"(?P<n>\d+)(?:st|nd|rd|th|ST|ND|RD|TH|তম|র্থ|ষ্ঠ|য়|য়|ম)?")
_PHONE = re.compile(r"\+?\d[\d\s-]*\d")


class SayAsError(ValueError):
    """The span cannot be read as the kind it names; the message says what was expected."""


def say_as(kind: str, text: str, date_format: str | None = None) -> str:
    """`text` read as `kind` (one of KINDS), in Bangla words."""
    raw = " ".join(text.split())
    if kind == "date":
        return _date(raw, date_format or DEFAULT_DATE_FORMAT)
    if date_format:
        raise SayAsError(f'format="{date_format}" applies to interpret-as="date" only')
    reader = _READERS.get(kind)
    if reader is None:
        raise SayAsError(f'interpret-as="{kind}" is not supported: use one of {", ".join(KINDS)}')
    return reader(raw, raw.translate(_BN_DIGITS))


def _number(raw: str, text: str) -> str:
    m = _NUMBER.fullmatch(text.replace(" ", ""))
    if m is None:
        raise SayAsError(f"{raw!r} is not a number: write digits, maybe with a sign and a decimal point")
    return ("মাইনাস " if m["sign"] and m["sign"] in "-−" else "") + read_number(m["num"])


def _ordinal(raw: str, text: str) -> str:
    m = _ORDINAL.fullmatch(text.replace(" ", ""))
    if m is None or int(m["n"]) == 0:
        raise SayAsError(
            f"{raw!r} is not an ordinal: write a whole number from 1 (১ম, 2nd and 3 are all read)"
        )
    return ordinal(int(m["n"]))


def _digits(raw: str, text: str) -> str:
    run = text.replace(" ", "")
    if not run.isdigit():
        raise SayAsError(f"{raw!r} is not digits: write only 0-9 or ০-৯")
    return digits(run)


def _telephone(raw: str, text: str) -> str:
    whole = _PHONE.fullmatch(text)
    if whole is None:
        raise SayAsError(f"{raw!r} is not a phone number: write digits, spaces or hyphens, maybe a leading +")
    bd = PHONE_BD.fullmatch(text) or PHONE_LOCAL.fullmatch(text)
    return say_phone_bd(bd) if bd else say_phone_other(whole)


def _time(raw: str, text: str) -> str:
    clock = TIME.fullmatch(text)
    spoken = say_time(clock) if clock else None
    if clock is None and (hour := HOUR_AMPM.fullmatch(text)):
        clock, spoken = hour, say_hour_ampm(hour)
    if clock is None or spoken is None or spoken == clock.group():
        raise SayAsError(f"{raw!r} is not a clock time: write HH:MM or HH:MM:SS, maybe with am or pm")
    return spoken


def _currency(raw: str, text: str) -> str:
    money = CUR_BEFORE.fullmatch(text) or CUR_AFTER.fullmatch(text)
    if money is None:
        raise SayAsError(
            f"{raw!r} is not an amount of money: write a currency and a number (৳500, $12.50, 500 টাকা, 20 USD)"
        )
    return say_money(money)


def _spelled(raw: str, text: str) -> str:
    """Each letter by its name (Latin letters as Bangladeshis name them), each digit by itself."""
    names: list[str] = []
    for word in text.split():
        for letter in letters(word):
            if letter.isascii() and letter.isalpha():
                names.append(LETTER_NAMES[letter.upper()])
            elif letter.isdigit():
                names.append(DIGIT_WORDS[int(letter)])
            elif any("\u0980" <= c <= "\u09ff" for c in letter):
                names.append(letter)
    if not names:
        raise SayAsError(f"{text!r} has no letters or digits to spell")
    return " ".join(names)


def _date(raw: str, fmt: str) -> str:
    text = raw.translate(_BN_DIGITS)
    if fmt not in DATE_FORMATS:
        raise SayAsError(f'date format="{fmt}" is not supported: use one of {", ".join(DATE_FORMATS)}')
    numbers = re.findall(r"\d+", text)
    if len(numbers) != len(fmt) or re.sub(r"[\d\s/.,-]", "", text):
        raise SayAsError(
            f"{text!r} does not match the date format {fmt!r}: write {len(fmt)} numbers, e.g. 21/02/2024"
        )
    parts = dict(zip(fmt, numbers, strict=True))
    day, month = int(parts.get("d", "1")), int(parts.get("m", "1"))
    if not 1 <= day <= 31 or not 1 <= month <= 12:
        raise SayAsError(f"{text!r} is not a date in the format {fmt!r}: the day is 1-31, the month 1-12")
    if "d" in parts:
        return date_words(day, MONTHS[month - 1], parts.get("y")) if "m" in parts else day_of_month(day)
    said = [MONTHS[month - 1]] if "m" in parts else []
    if "y" in parts:
        said.append(year(int(parts["y"])))
    return " ".join(said)


_READERS: dict[str, Callable[[str, str], str]] = {
    **dict.fromkeys(SPELLED, _spelled),
    "cardinal": _number,
    "number": _number,
    "ordinal": _ordinal,
    "digits": _digits,
    "telephone": _telephone,
    "time": _time,
    "currency": _currency,
}
