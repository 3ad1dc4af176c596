"""Ranges, percentages, fractions (½, 3/4), ordinals (১ম, 21st) and units (১০ কেজি, 5km)."""

from __future__ import annotations

import re

from function.text.numbers import (
    cardinal,
    day_of_month,
    fraction,
    integer,
    mixed_fraction,
    ordinal,
)
from function.text.numeric.common import BN, BN_SIGN, INT, NUM, nfc
from function.text.numeric.money import SYMBOL_BEFORE

# ১০-১৫ -> ১০ থেকে ১৫ when the second is larger; ২-১ (a score) and ২০২৩-২৪ (a fiscal year) keep
# the hyphen and are read "দুই-এক", "দুই হাজার তেইশ-চব্বিশ", as people say them.
RANGE = re.compile(rf"(?P<a>{NUM})(?P<dash>-| - )(?P<b>{INT}(?:\.\d++)?)(?![\d:/]|[.,]\d)")


def say_range(m: re.Match[str]) -> str:
    if SYMBOL_BEFORE.search(m.string, max(0, m.start() - 5), m.start()):
        return m.group()  # ৳২০-২৫: the money rule reads it, the currency after the range
    a = float(m["a"].replace(",", ""))
    b = float(m["b"].replace(",", ""))
    # A score or a fiscal year keeps its hyphen, without the spaces: ৩ - ২ -> তিন-দুই.
    return f"{m['a']} থেকে {m['b']}" if a < b else f"{m['a']}-{m['b']}"


PERCENT = re.compile(rf"(?P<num>{NUM})\s?%")
VULGAR_PARTS = {
    "½": (1, 2),
    "⅓": (1, 3),
    "⅔": (2, 3),
    "¼": (1, 4),
    "¾": (3, 4),
    "⅕": (1, 5),
    "⅖": (2, 5),
    "⅗": (3, 5),
    "⅘": (4, 5),
    "⅙": (1, 6),
    "⅚": (5, 6),
    "⅐": (1, 7),
    "⅛": (1, 8),
    "⅜": (3, 8),
    "⅝": (5, 8),
    "⅞": (7, 8),
    "⅑": (1, 9),
    "⅒": (1, 10),
}
MIXED_RE = re.compile(rf"(?P<whole>\d(?<![\d.,]\d)\d{{0,5}})\s?(?P<frac>[{''.join(VULGAR_PARTS)}])")
VULGAR_RE = re.compile(f"[{''.join(VULGAR_PARTS)}]")
SLASH_FRACTION = re.compile(r"(?P<a>\d(?<![\d/.,]\d)\d{0,5})/(?P<b>\d{1,6})(?![\d/]|[.,]\d)")


# Dates said as names, in English, as Bangladeshis say them: নাইন ইলেভেন (the 2001 attacks), ওয়ান
# ইলেভেন (the 2007 takeover in Bangladesh), টোয়েন্টি ফোর সেভেন (round the clock). Not fractions.
SLASH_NAMES = {
    k: nfc(v) for k, v in {"9/11": "নাইন ইলেভেন", "1/11": "ওয়ান ইলেভেন", "24/7": "টোয়েন্টি ফোর সেভেন"}.items()
}
SLASH_NAME = re.compile(
    rf"(?P<n>[129](?<![\d/.,][129])(?:(?<=[19])/11|(?<=2)4/7))(?![\d/]|[.,]\d)"
    rf"(?:-?(?P<case>এর|র|এ|তে)(?![{BN}]))?"
)


def say_mixed(m: re.Match[str]) -> str:
    num, den = VULGAR_PARTS[m["frac"]]
    return mixed_fraction(int(m["whole"]), num, den)


def say_vulgar(m: re.Match[str]) -> str:
    num, den = VULGAR_PARTS[m.group()]
    if (num, den) == (1, 2):
        return "অর্ধেক"
    return fraction(str(num), str(den))


def say_slash_fraction(m: re.Match[str]) -> str:
    """a/b with a < b is a fraction; otherwise it is an address (বাড়ি ২৩/১), a size (১০/১২ ফুট), a
    blood pressure (১২০/৮০) or a score, all of which Bangladeshis read with বাই."""
    a, b = int(m["a"]), int(m["b"])
    if b == 0 or a >= b:
        return f"{integer(m['a'])} বাই {integer(m['b'])}"
    return fraction(m["a"], m["b"])


# ১ম ২য় ৩য় ৪র্থ ৬ষ্ঠ ১১তম, and ৫শ (পাঁচশো, the colloquial hundreds of Bangladeshi news).
BN_ORDINAL = re.compile(nfc(rf"(?P<n>\d(?<![\d.,]\d)\d{{0,8}})(?P<suf>তম|র্থ|ষ্ঠ|য়|ম|শ)(?![{BN_SIGN}])"))
# Typed with or without a space (২১শে, ২১ শে); "ই" only attached, since a lone ই is a word.
DAY_ORDINAL = re.compile(rf"(?P<n>\d(?<![\d.,]\d)\d?)(?P<suf>লা|রা|ঠা|ই|শে| শে| লা| ঠা)(?![{BN}])")
EN_ORDINAL = re.compile(r"(?P<n>\d(?<![\d.,]\d)\d{0,8})(?:st|nd|rd|th|ST|ND|RD|TH)(?![A-Za-z])")


def say_bn_ordinal(m: re.Match[str]) -> str:
    n = int(m["n"])
    if m["suf"] == "শ":
        return cardinal(n) + "শো" if n < 100 else m.group()
    if n == 0:
        return m.group()
    return ordinal(n)


def say_day_ordinal(m: re.Match[str]) -> str:
    n = int(m["n"])
    return day_of_month(n) if 1 <= n <= 31 else m.group()


def say_en_ordinal(m: re.Match[str]) -> str:
    n = int(m["n"])
    return ordinal(n) if n else m.group()


UNITS: dict[str, str] = {
    "km/h": "কিলোমিটার প্রতি ঘণ্টা",
    "kmph": "কিলোমিটার প্রতি ঘণ্টা",
    "km²": "বর্গকিলোমিটার",
    "m²": "বর্গমিটার",
    "sq ft": "বর্গফুট",
    "sqft": "বর্গফুট",
    "km": "কিলোমিটার",
    "cm": "সেন্টিমিটার",
    "mm": "মিলিমিটার",
    "m": "মিটার",
    "kg": "কেজি",
    "mg": "মিলিগ্রাম",
    "g": "গ্রাম",
    "ml": "মিলিলিটার",
    "mL": "মিলিলিটার",
    "l": "লিটার",
    "L": "লিটার",
    "ft": "ফুট",
    "°C": "ডিগ্রি সেলসিয়াস",
    "℃": "ডিগ্রি সেলসিয়াস",
    "°F": "ডিগ্রি ফারেনহাইট",
    "℉": "ডিগ্রি ফারেনহাইট",
    "° সে.": "ডিগ্রি সেলসিয়াস",
    "°সে.": "ডিগ্রি সেলসিয়াস",
    "°": "ডিগ্রি",
    "º": "ডিগ্রি",
    "TB": "টেরাবাইট",
    "GB": "গিগাবাইট",
    "MB": "মেগাবাইট",
    "KB": "কিলোবাইট",
    "Mbps": "মেগাবিট প্রতি সেকেন্ড",
    "kWh": "কিলোওয়াট আওয়ার",
    "kW": "কিলোওয়াট",
    "MW": "মেগাওয়াট",
    "GW": "গিগাওয়াট",
    "GHz": "গিগাহার্জ",
    "MHz": "মেগাহার্জ",
    "mAh": "মিলিঅ্যাম্পিয়ার আওয়ার",
    "hrs": "ঘণ্টা",
    "hr": "ঘণ্টা",
    "min": "মিনিট",
    "sec": "সেকেন্ড",
    # Bangla abbreviations that only mean a unit after a number (alone, মি. is মিস্টার, লি. লিমিটেড).
    "কি.মি.": "কিলোমিটার",
    "কি.মি": "কিলোমিটার",
    "কিমি": "কিলোমিটার",
    "সে.মি.": "সেন্টিমিটার",
    "সেমি.": "সেন্টিমিটার",
    "সেমি": "সেন্টিমিটার",
    "মি.মি.": "মিলিমিটার",
    "মিমি": "মিলিমিটার",
    "কি.গ্রা.": "কিলোগ্রাম",
    "কিগ্রা": "কিলোগ্রাম",
    "মি.লি.": "মিলিলিটার",
    "মিলি": "মিলিলিটার",
    "গ্রা.": "গ্রাম",
    "মি.": "মিটার",
    "লি.": "লিটার",
}
UNITS = {nfc(k): nfc(v) for k, v in UNITS.items()}
UNIT_RE = re.compile(
    r"(?P<d>\d)\s?(?P<u>"
    + "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True))
    + rf")(?![A-Za-z0-9{BN}])"
)
