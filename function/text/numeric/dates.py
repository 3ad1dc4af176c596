"""Dates, years and times: 21/02/1952, 2024-03-26, ২৬ মার্চ ১৯৭১, the fiscal year 2023-24,
10:30 AM, রাত ৮টা.
"""

from __future__ import annotations

import re

from function.text.numbers import (
    cardinal,
    day_of_month,
    year,
)
from function.text.numeric.common import BN, nfc
from function.text.numeric.money import glued_to_letter

_MONTHS_AS_TYPED = (
    "জানুয়ারি",
    "ফেব্রুয়ারি",
    "মার্চ",
    "এপ্রিল",
    "মে",
    "জুন",
    "জুলাই",
    "আগস্ট",
    "সেপ্টেম্বর",
    "অক্টোবর",
    "নভেম্বর",
    "ডিসেম্বর",
)
MONTHS: tuple[str, ...] = tuple(nfc(m) for m in _MONTHS_AS_TYPED)
# Spellings found in Bangladeshi text -> the name said aloud.
_MONTH_NAMES: dict[str, str] = {m: m for m in MONTHS}
_MONTH_NAMES.update(
    {
        "জানুয়ারী": MONTHS[0],
        "ফেব্রুয়ারী": MONTHS[1],
        "ফেব্রুয়ারি": MONTHS[1],
        "আগষ্ট": MONTHS[7],
        "অগাস্ট": MONTHS[7],
        "সেপ্টেম্বর": MONTHS[8],
        "January": MONTHS[0],
        "February": MONTHS[1],
        "March": MONTHS[2],
        "April": MONTHS[3],
        "May": MONTHS[4],
        "June": MONTHS[5],
        "July": MONTHS[6],
        "August": MONTHS[7],
        "September": MONTHS[8],
        "October": MONTHS[9],
        "November": MONTHS[10],
        "December": MONTHS[11],
        "Jan": MONTHS[0],
        "Feb": MONTHS[1],
        "Mar": MONTHS[2],
        "Apr": MONTHS[3],
        "Jun": MONTHS[5],
        "Jul": MONTHS[6],
        "Aug": MONTHS[7],
        "Sep": MONTHS[8],
        "Sept": MONTHS[8],
        "Oct": MONTHS[9],
        "Nov": MONTHS[10],
        "Dec": MONTHS[11],
    }
)
# The Bangla calendar (বঙ্গাব্দ) months, as written in Bangladesh.
for _m in [
    "বৈশাখ",
    "জ্যৈষ্ঠ",
    "আষাঢ়",
    "শ্রাবণ",
    "ভাদ্র",
    "আশ্বিন",
    "কার্তিক",
    "অগ্রহায়ণ",
    "পৌষ",
    "মাঘ",
    "ফাল্গুন",
    "চৈত্র",
    "জৈষ্ঠ্য",
    "জ্যেষ্ঠ",
    "কার্ত্তিক",
    "অঘ্রান",
    "ফাল্গুণ",
]:
    _MONTH_NAMES[nfc(_m)] = nfc(_m)
_MONTH_NAMES = {nfc(k): v for k, v in _MONTH_NAMES.items()}
_MONTH_ALT = "|".join(sorted(map(re.escape, _MONTH_NAMES), key=len, reverse=True))
# A month may carry a case ending: মার্চের, মার্চে, বৈশাখের.
_MONTH = rf"(?P<month>{_MONTH_ALT})(?P<mcase>ের|এর|ে|র|তে)?(?![{BN}A-Za-z])"
_DAY_SUFFIX = "লা|রা|ঠা|ই|শে|এ"


DATE_DMY = re.compile(
    r"(?P<d>\d(?<![\d/.-]\d)\d?)(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})(?![\d/-]|\.\d)"
)
DATE_ISO = re.compile(r"(?P<y>\d(?<![\d/.-]\d)\d{3})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\d/-]|\.\d)")
DATE_WORDS = re.compile(
    rf"(?P<d>\d(?<![\d.,]\d)\d?)(?:\s?(?:{_DAY_SUFFIX})(?![{BN}]))?\s?-?\s?{_MONTH}(?:,?\s?(?P<y>\d{{4}})(?!\d))?"
)
MONTH_YEAR = re.compile(rf"{_MONTH},?\s?(?P<y>\d{{4}})(?![\d.,]\d|\d)")


def date_words(day: int, month: str, year_text: str | None) -> str:
    out = f"{day_of_month(day)} {month}"
    return f"{out} {year(int(year_text))}" if year_text else out


def say_numeric_date(m: re.Match[str]) -> str:
    d, mo = int(m["d"]), int(m["m"])
    if not (1 <= d <= 31 and 1 <= mo <= 12):
        return m.group()
    return date_words(d, MONTHS[mo - 1], m["y"])


def say_worded_date(m: re.Match[str]) -> str:
    d = int(m["d"])
    if not 1 <= d <= 31:
        return m.group()
    month = _MONTH_NAMES[m["month"]] + (m["mcase"] or "")
    return date_words(d, month, m["y"])


def say_month_year(m: re.Match[str]) -> str:
    if glued_to_letter(m):
        return m.group()
    return f"{_MONTH_NAMES[m['month']]}{m['mcase'] or ''} {year(int(m['y']))}"


_YEAR_WORDS = nfc("সাল|সন|খ্রি|ঈসায়ী|ইংরেজি|ইং|বঙ্গাব্দ|হিজরি")
# A span named by its first year: ২০২৪-২৫ অর্থবছর, ২০২৩-২৪ শিক্ষাবর্ষ, ২০১৯-২০ মৌসুম.
_FISCAL_WORDS = nfc("অর্থবছর|অর্থ-বছর|অর্থ বছর|শিক্ষাবর্ষ|সেশন|মৌসুম")
# Years before a year word, alone or in a list (১৯৫২, ১৯৬৯ ও ১৯৭১ সালে; ১৯৭১ থেকে ১৯৭৫ সাল), or
# with a case ending: ১৯৭১ সালে, ১৯৭১-এর, ১৪৩১ বঙ্গাব্দ, ১৯৯৯-২০০০ অর্থবছরে.
YEAR_CONTEXT = re.compile(
    rf"(?P<y>1(?<![\d,.]1)[1-9]\d\d)(?:(?=(?:\s?(?:-|,|ও|এবং|বা|আর|থেকে)\s?\d{{2,4}}){{0,5}}\s?"
    rf"(?:{_YEAR_WORDS}|{_FISCAL_WORDS}))"
    rf"|-?(?P<case>এর|র|এ|তে)(?![{BN}])|(?=\s(?:এর|এ|তে)(?![{BN}])))"
)
# A range of years: ২০২৪-২৫ অর্থবছর and a bare ১৯৪৭-৭১ keep the hyphen (দুই হাজার চব্বিশ-পঁচিশ, as a
# fiscal year is said), and so does a pair of consecutive years before সাল (২০১৮-১৯ সালে: a season
# or a fiscal year); a longer span before সাল is read with থেকে (উনিশশো একাত্তর থেকে পঁচাত্তর সাল).
YEAR_RANGE = re.compile(
    rf"(?P<a>[12](?<![\d,.][12])\d{{3}})\s?-\s?(?P<b>\d{{4}}|\d\d)(?![\d:/]|[.,]\d)"
    rf"(?:(?=\s?(?P<fiscal>{_FISCAL_WORDS}))|(?=\s?(?P<word>{_YEAR_WORDS})))?"
)


def say_year_range(m: re.Match[str]) -> str:
    a, b_text = int(m["a"]), m["b"]
    short = len(b_text) == 2
    if not short and not (m["fiscal"] or m["word"]):
        return m.group()  # ১৫০০-২০০০: a range of numbers, unless a year word says otherwise
    b = a // 100 * 100 + int(b_text) if short else int(b_text)
    if short and b <= a:
        b += 100  # ১৯৯৯-০০
    if not (1100 <= a <= 2099 and a < b <= a + 100):
        return m.group()
    tail = cardinal(int(b_text)) if short and int(b_text) else year(b)
    joiner = " থেকে " if m["word"] and b > a + 1 else "-"
    return f"{year(a)}{joiner}{tail}"


YA = nfc("য়")
_PERIODS = "ভোর|সকাল|দুপুর|বিকাল|বিকেল|সন্ধ্যা|রাত"
_AMPM = r"(?P<ampm>[AaPp]\.?\s?[Mm]\.?(?![A-Za-z])|এএম|পিএম)"
# A case ending (৪:১৫-এ) or the unit already written (৮:৩০ মিনিটে): read into the last word.
_TIME_TAIL = (
    rf"(?:-?(?P<case>এ|{YA})(?![{BN}])|\s?(?P<unit>মিনিট|সেকেন্ড)(?P<ucase>েই|ের|ে)?(?![{BN}])"
    rf"|(?P<ta>টা)(?:(?P<tcase>র)|(?P<tya>{YA}))?(?![{BN}]))?"
)
TIME = re.compile(
    rf"(?P<h>\d(?<![\d:.]\d)\d?):(?P<m>\d\d)(?::(?P<s>\d\d))?(?![\d:]|\.\d)"
    rf"(?:\s?{_AMPM})?{_TIME_TAIL}"
)
# Bangladeshi papers also write the time with a dot (বিকেল ৩.৩০ মিনিটে): a time only with a period
# word before it or a time word after it, otherwise it is a decimal.
DOT_TIME = re.compile(rf"(?P<h>\d(?<![\d:.,]\d)\d?)\.(?P<m>\d\d)(?![\d.])(?:\s?{_AMPM})?{_TIME_TAIL}")
HOUR_AMPM = re.compile(rf"(?P<h>\d(?<![\d:.,]\d)\d?)\s?{_AMPM}")
# A period word already written before the time: সকাল ১০:৩০.
_PERIOD_BEFORE = re.compile(rf"(?:{_PERIODS})\s$")


def _period_of(hour24: int) -> str:
    """The part of the day a Bangladeshi names before a clock time."""
    if hour24 < 4 or hour24 >= 20:
        return "রাত"
    if hour24 < 6:
        return "ভোর"
    if hour24 < 12:
        return "সকাল"
    if hour24 < 15:
        return "দুপুর"
    if hour24 < 18:
        return "বিকাল"
    return "সন্ধ্যা"


def _clock(m: re.Match[str], minutes: int, seconds: int) -> str | None:
    h = int(m["h"])
    ampm = (m["ampm"] or "").lower()
    # The word is already in the text (সকাল ১০:৩০): it is read from there, not added again.
    written = _PERIOD_BEFORE.search(m.string, max(0, m.start() - 8), m.start()) is not None
    period = None
    if ampm:
        if not 1 <= h <= 12:
            return None
        pm = ampm.startswith("p") or ampm == "পিএম"
        h24 = (h % 12) + (12 if pm else 0)
        period = _period_of(h24)
    elif h > 24:
        return None
    elif h > 12 or h in (0, 24):
        period = _period_of(h % 24)
    h12 = h % 12 or 12
    words = [period] if period and not written else []
    words.append(cardinal(h12) + "টা")
    if minutes:
        words.append(cardinal(minutes) + " মিনিট")
    if seconds:
        words.append(cardinal(seconds) + " সেকেন্ড")
    groups = m.groupdict()
    if groups.get("case") or groups.get("tya"):
        ending: str | None = "ে"
    else:
        ending = groups.get("ucase") or ("ের" if groups.get("tcase") else None)
    if ending:  # ৪:১৫-এ -> চারটা পনেরো মিনিটে; ৫:০০ মিনিটে -> পাঁচটায়; ৫:০০ মিনিটের -> পাঁচটার
        if words[-1].endswith("টা"):  # টা + ে is টায়, টা + ের is টার
            words[-1] += {"ে": YA, "ের": "র", "েই": YA + "ই"}[ending]
        else:
            words[-1] += ending
    return " ".join(words)


def say_time(m: re.Match[str]) -> str:
    minutes, seconds = int(m["m"]), int(m.groupdict().get("s") or 0)
    if minutes > 59 or seconds > 59:
        return m.group()
    return _clock(m, minutes, seconds) or m.group()


def say_dot_time(m: re.Match[str]) -> str:
    groups = m.groupdict()
    said_as_time = groups["ampm"] or groups["unit"] or groups["ta"]
    if not said_as_time and _PERIOD_BEFORE.search(m.string, max(0, m.start() - 8), m.start()) is None:
        return m.group()
    return say_time(m)


def say_hour_ampm(m: re.Match[str]) -> str:
    return _clock(m, 0, 0) or m.group()
