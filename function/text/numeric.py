"""Reading rules for everything written with digits: dates, times, money, phone numbers,
percentages, fractions, ranges, ordinals, units and plain numbers.

Each rule is one compiled regex over ASCII digits (clean_unicode has already mapped Bangla and
other digits) and a small function that returns the words. Every pattern is anchored so that the
regex engine never backtracks over a run more than once: the whole front-end stays linear.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from function.text.numbers import (
    cardinal,
    day_of_month,
    decimal,
    digits,
    fraction,
    integer,
    mixed_fraction,
    ordinal,
    with_case,
    year,
)


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


BN = "\u0980-\u09ff"  # the Bangla block: letters, vowel signs, virama, nukta
_BN_SIGN = "\u0981-\u0983\u09bc\u09be-\u09cd\u09d7\u09e2\u09e3"  # signs that continue a letter

# An integer as written: Indian (12,34,567) or Western (1,234,567) grouping, or plain digits.
# The grouped forms may not start right after "digit," so a long run of commas is scanned once.
# Every pattern starts with a character class (here the first digit, lookbehinds after it): the
# regex engine then skips ahead in C instead of trying the pattern at every position.
_INT_REST = r"(?:(?<!\d,\d)(?:\d?(?:,\d\d(?!\d))*+,\d{3}|\d{0,2}(?:,\d{3})++)(?!\d|,\d)|\d*+)"
_INT = rf"\d{_INT_REST}"
_NUM = rf"\d(?<!\d\d){_INT_REST}(?:\.\d++)?"


def _split_num(s: str) -> tuple[str, str]:
    whole, _, frac = s.replace(",", "").partition(".")
    return whole, frac


def read_number(s: str) -> str:
    """'1,00,000' -> এক লক্ষ, '2.05' -> দুই দশমিক শূন্য পাঁচ."""
    whole, frac = _split_num(s)
    return decimal(whole, frac) if frac else integer(whole)


# --- months -------------------------------------------------------------------------------------

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
MONTHS: tuple[str, ...] = tuple(_nfc(m) for m in _MONTHS_AS_TYPED)
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
    _MONTH_NAMES[_nfc(_m)] = _nfc(_m)
_MONTH_NAMES = {_nfc(k): v for k, v in _MONTH_NAMES.items()}
_MONTH_ALT = "|".join(sorted(map(re.escape, _MONTH_NAMES), key=len, reverse=True))
# A month may carry a case ending: মার্চের, মার্চে, বৈশাখের.
_MONTH = rf"(?P<month>{_MONTH_ALT})(?P<mcase>ের|এর|ে|র|তে)?(?![{BN}A-Za-z])"
_DAY_SUFFIX = "লা|রা|ঠা|ই|শে|এ"

# --- dates --------------------------------------------------------------------------------------

_DATE_DMY = re.compile(
    r"(?P<d>\d(?<![\d/.-]\d)\d?)(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})(?![\d/-]|\.\d)"
)
_DATE_ISO = re.compile(r"(?P<y>\d(?<![\d/.-]\d)\d{3})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\d/-]|\.\d)")
_DATE_WORDS = re.compile(
    rf"(?P<d>\d(?<![\d.,]\d)\d?)(?:\s?(?:{_DAY_SUFFIX})(?![{BN}]))?\s?-?\s?{_MONTH}(?:,?\s?(?P<y>\d{{4}})(?!\d))?"
)
_MONTH_YEAR = re.compile(rf"{_MONTH},?\s?(?P<y>\d{{4}})(?![\d.,]\d|\d)")


def _date_words(day: int, month: str, year_text: str | None) -> str:
    out = f"{day_of_month(day)} {month}"
    return f"{out} {year(int(year_text))}" if year_text else out


def _numeric_date(m: re.Match[str]) -> str:
    d, mo = int(m["d"]), int(m["m"])
    if not (1 <= d <= 31 and 1 <= mo <= 12):
        return m.group()
    return _date_words(d, MONTHS[mo - 1], m["y"])


def _worded_date(m: re.Match[str]) -> str:
    d = int(m["d"])
    if not 1 <= d <= 31:
        return m.group()
    month = _MONTH_NAMES[m["month"]] + (m["mcase"] or "")
    return _date_words(d, month, m["y"])


def _month_year(m: re.Match[str]) -> str:
    if _glued_to_letter(m):
        return m.group()
    return f"{_MONTH_NAMES[m['month']]}{m['mcase'] or ''} {year(int(m['y']))}"


_YEAR_WORDS = _nfc("সাল|সন|খ্রি|ঈসায়ী|ইংরেজি|ইং|বঙ্গাব্দ|হিজরি")
# A span named by its first year: ২০২৪-২৫ অর্থবছর, ২০২৩-২৪ শিক্ষাবর্ষ, ২০১৯-২০ মৌসুম.
_FISCAL_WORDS = _nfc("অর্থবছর|অর্থ-বছর|অর্থ বছর|শিক্ষাবর্ষ|সেশন|মৌসুম")
# Years before a year word, alone or in a list (১৯৫২, ১৯৬৯ ও ১৯৭১ সালে; ১৯৭১ থেকে ১৯৭৫ সাল), or
# with a case ending: ১৯৭১ সালে, ১৯৭১-এর, ১৪৩১ বঙ্গাব্দ, ১৯৯৯-২০০০ অর্থবছরে.
_YEAR_CONTEXT = re.compile(
    rf"(?P<y>1(?<![\d,.]1)[1-9]\d\d)(?:(?=(?:\s?(?:-|,|ও|এবং|বা|আর|থেকে)\s?\d{{2,4}}){{0,5}}\s?"
    rf"(?:{_YEAR_WORDS}|{_FISCAL_WORDS}))"
    rf"|-?(?P<case>এর|র|এ|তে)(?![{BN}])|(?=\s(?:এর|এ|তে)(?![{BN}])))"
)
# A range of years: ২০২৪-২৫ অর্থবছর and a bare ১৯৪৭-৭১ keep the hyphen (দুই হাজার চব্বিশ-পঁচিশ, as a
# fiscal year is said), and so does a pair of consecutive years before সাল (২০১৮-১৯ সালে: a season
# or a fiscal year); a longer span before সাল is read with থেকে (উনিশশো একাত্তর থেকে পঁচাত্তর সাল).
_YEAR_RANGE = re.compile(
    rf"(?P<a>[12](?<![\d,.][12])\d{{3}})\s?-\s?(?P<b>\d{{4}}|\d\d)(?![\d:/]|[.,]\d)"
    rf"(?:(?=\s?(?P<fiscal>{_FISCAL_WORDS}))|(?=\s?(?P<word>{_YEAR_WORDS})))?"
)


def _year_range(m: re.Match[str]) -> str:
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


# --- times --------------------------------------------------------------------------------------

_YA = _nfc("য়")
_PERIODS = "ভোর|সকাল|দুপুর|বিকাল|বিকেল|সন্ধ্যা|রাত"
_AMPM = r"(?P<ampm>[AaPp]\.?\s?[Mm]\.?(?![A-Za-z])|এএম|পিএম)"
# A case ending (৪:১৫-এ) or the unit already written (৮:৩০ মিনিটে): read into the last word.
_TIME_TAIL = (
    rf"(?:-?(?P<case>এ|{_YA})(?![{BN}])|\s?(?P<unit>মিনিট|সেকেন্ড)(?P<ucase>েই|ের|ে)?(?![{BN}])"
    rf"|(?P<ta>টা)(?:(?P<tcase>র)|(?P<tya>{_YA}))?(?![{BN}]))?"
)
_TIME = re.compile(
    rf"(?P<h>\d(?<![\d:.]\d)\d?):(?P<m>\d\d)(?::(?P<s>\d\d))?(?![\d:]|\.\d)"
    rf"(?:\s?{_AMPM})?{_TIME_TAIL}"
)
# Bangladeshi papers also write the time with a dot (বিকেল ৩.৩০ মিনিটে): a time only with a period
# word before it or a time word after it, otherwise it is a decimal.
_DOT_TIME = re.compile(rf"(?P<h>\d(?<![\d:.,]\d)\d?)\.(?P<m>\d\d)(?![\d.])(?:\s?{_AMPM})?{_TIME_TAIL}")
_HOUR_AMPM = re.compile(rf"(?P<h>\d(?<![\d:.,]\d)\d?)\s?{_AMPM}")
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
            words[-1] += {"ে": _YA, "ের": "র", "েই": _YA + "ই"}[ending]
        else:
            words[-1] += ending
    return " ".join(words)


def _time(m: re.Match[str]) -> str:
    minutes, seconds = int(m["m"]), int(m.groupdict().get("s") or 0)
    if minutes > 59 or seconds > 59:
        return m.group()
    return _clock(m, minutes, seconds) or m.group()


def _dot_time(m: re.Match[str]) -> str:
    groups = m.groupdict()
    said_as_time = groups["ampm"] or groups["unit"] or groups["ta"]
    if not said_as_time and _PERIOD_BEFORE.search(m.string, max(0, m.start() - 8), m.start()) is None:
        return m.group()
    return _time(m)


def _hour_ampm(m: re.Match[str]) -> str:
    return _clock(m, 0, 0) or m.group()


# --- phone numbers ------------------------------------------------------------------------------

# Bangladeshi mobiles: 01XXX then the six digits, however the writer grouped them (০১৭১২-৩৪৫৬৭৮,
# ০১৭ ১২৩৪ ৫৬৭৮); +880 then 1XXX and the six.
_PHONE_BD = re.compile(
    r"(?P<cc>\+880|00880|8(?<![\d+]8)80)[\s-]?(?P<a>1[3-9]\d\d)(?P<rest>(?:[\s-]?\d){6})(?!\d)"
)
_PHONE_LOCAL = re.compile(r"(?P<a>0(?<![\d+]0)1[3-9](?:[\s-]?\d){2})(?P<rest>(?:[\s-]?\d){6})(?!\d)")
# A Dhaka land line written without a break: 02 and 7 or 8 digits.
_PHONE_DHAKA = re.compile(r"(?P<a>0(?<![\d+]0)2)(?P<rest>\d{7,8})(?!\d)")
# Other numbers written with a + country code or a 0-prefixed area code: read in the written groups.
_PHONE_OTHER = re.compile(
    r"(?:\+(?<![\w+]\+)\d{1,3}(?:[\s-]\d{1,8}){1,4}|0(?<![\w+]0)\d{1,4}-\d{5,8})(?![\d-])"
)
_PHONE_GROUP = re.compile(r"[\s-]+")
_PHONE_SEPARATORS = re.compile(r"[\s-]")


def phone_groups(number: str) -> list[str]:
    """The digits after a prefix in the groups Bangladeshis say them in: threes, and a last four as
    two pairs (৩৪৫৬৭৮: 345 678; ৯৫৫৬৬৭৭: 955 66 77; ৫৫৬৬৭৭৮৮: 556 677 88), never a lone digit."""
    groups = []
    while len(number) > 4:
        groups.append(number[:3])
        number = number[3:]
    if len(number) == 4:
        groups += [number[:2], number[2:]]
    elif number:
        groups.append(number)
    return groups


def _say_phone(head: str, prefix: str, rest: str) -> str:
    return head + ", ".join(digits(g) for g in [prefix, *phone_groups(rest)])


def _phone_bd(m: re.Match[str]) -> str:
    head = ""
    cc = m.groupdict().get("cc")
    if cc:
        head = {"+": "প্লাস ", "0": "শূন্য শূন্য "}.get(cc[0], "") + digits("880") + ", "
    return _say_phone(head, _PHONE_SEPARATORS.sub("", m["a"]), _PHONE_SEPARATORS.sub("", m["rest"]))


def _phone_other(m: re.Match[str]) -> str:
    text = m.group()
    head = "প্লাস " if text.startswith("+") else ""
    groups = [g for g in _PHONE_GROUP.split(text.lstrip("+")) if g]
    spoken = [
        digits(g) for written in groups for g in (phone_groups(written) if len(written) > 4 else [written])
    ]
    return head + ", ".join(spoken)


# A service number said digit by digit: ৯৯৯ নম্বরে ফোন, হটলাইন ১৬২৬৩ (a count such as ৯৯৯ টাকা is not).
_HOTLINE_AFTER = re.compile(
    _nfc(
        rf"(?P<n>\d(?<![\d,.]\d)\d{{2,4}})(?: ?-?(?P<case>এ)(?![{BN}]))?"
        rf"(?=(?(case)| ?নম্বরে) ?(?:ফোন|কল)(?![{BN}]))"
    )
)
_HOTLINE_BEFORE = re.compile(_nfc(r"(?P<w>(?:হটলাইন|হেল্পলাইন)(?: নম্বর)?:? ?)(?P<n>\d{3,5})(?![\d,.])"))


def _hotline(m: re.Match[str]) -> str:
    return m.groupdict().get("w", "") + with_case(digits(m["n"]), m.groupdict().get("case"))


# --- money --------------------------------------------------------------------------------------

# symbol or code -> (currency, its hundredth)
_CURRENCIES: dict[str, tuple[str, str]] = {
    "৳": ("টাকা", "পয়সা"),
    "Tk": ("টাকা", "পয়সা"),
    "TK": ("টাকা", "পয়সা"),
    "tk": ("টাকা", "পয়সা"),
    "BDT": ("টাকা", "পয়সা"),
    "টাকা": ("টাকা", "পয়সা"),
    "টা.": ("টাকা", "পয়সা"),
    "$": ("ডলার", "সেন্ট"),
    "US$": ("মার্কিন ডলার", "সেন্ট"),
    "USD": ("মার্কিন ডলার", "সেন্ট"),
    "ডলার": ("ডলার", "সেন্ট"),
    "£": ("পাউন্ড", "পেন্স"),
    "GBP": ("পাউন্ড", "পেন্স"),
    "পাউন্ড": ("পাউন্ড", "পেন্স"),
    "€": ("ইউরো", "সেন্ট"),
    "EUR": ("ইউরো", "সেন্ট"),
    "ইউরো": ("ইউরো", "সেন্ট"),
    "₹": ("রুপি", "পয়সা"),
    "Rs": ("রুপি", "পয়সা"),
    "INR": ("রুপি", "পয়সা"),
    "রুপি": ("রুপি", "পয়সা"),
    "¥": ("ইয়েন", ""),
}
_CURRENCIES = {_nfc(k): (_nfc(a), _nfc(b)) for k, (a, b) in _CURRENCIES.items()}
_SCALES = "হাজার|লাখ|লক্ষ|কোটি|মিলিয়ন|বিলিয়ন|ট্রিলিয়ন"
# English scale words after an amount, as the Bangla press writes them.
_LATIN_SCALES = {
    "thousand": "হাজার",
    "lakh": "লাখ",
    "lac": "লাখ",
    "crore": "কোটি",
    "million": "মিলিয়ন",
    "mn": "মিলিয়ন",
    "billion": "বিলিয়ন",
    "bn": "বিলিয়ন",
    "trillion": "ট্রিলিয়ন",
}
_LATIN_SCALES = {k: _nfc(v) for k, v in _LATIN_SCALES.items()}
_SCALE = (
    rf"(?:\s?(?:(?P<scale>{_nfc(_SCALES)})(?![{BN}])"
    rf"|(?P<lscale>{'|'.join(_LATIN_SCALES)})(?![A-Za-z])))?"
)
# A case ending after the amount: ৳১০০০-এর নোট -> এক হাজার টাকার নোট.
_MONEY_CASE = rf"(?:-?(?P<case>এর|র|এ|তে)(?![{BN}]))?"
# The currency's word after the amount, maybe with a case ending: ৫০০ টাকায়, ১০ ডলারের.
_CUR_WORD = _nfc("টাকা|ডলার|পাউন্ড|ইউরো|রুপি")
_WORD_CASE = _nfc("র|য়|তে|ের|ে")
_CASE_OF_WORD = {_nfc(k): v for k, v in {"র": "এর", "ের": "এর", "য়": "এ", "ে": "এ", "তে": "তে"}.items()}
_CUR_WORD_AFTER = rf"(?P<word>{_CUR_WORD})(?P<wcase>{_WORD_CASE})?(?![{BN}])"
# ৳৫০০, ৳২০-২৫ (a range), and ৳১,২৫০ টাকা: a symbol and the word for the same currency are read once.
_CUR_BEFORE = re.compile(
    rf"(?P<cur>৳|US\$|\$|£|€|₹|¥|(?:Tk|TK|tk|Rs)(?![A-Za-z])\.?|(?:BDT|USD|EUR|GBP|INR)(?![A-Za-z]))"
    rf"\s?(?P<num>{_NUM})(?:\s?-\s?(?P<num2>{_NUM}))?{_SCALE}{_MONEY_CASE}(?:\s?{_CUR_WORD_AFTER})?"
)
_CUR_AFTER = re.compile(
    rf"(?P<num>{_NUM}){_SCALE}\s?(?:(?P<cur>৳|টা\.|(?:Tk|BDT|USD|EUR|GBP|INR)(?![A-Za-z]))|{_CUR_WORD_AFTER})"
)
_SYMBOL_BEFORE = re.compile(r"(?:৳|\$|£|€|₹|¥|Tk\.?|TK|tk|Rs\.?|BDT|USD|EUR|GBP|INR) ?$")


def _amount(num: str, scale: str | None, currency: tuple[str, str], case: str | None = None) -> str:
    """The amount in words; a case ending goes on the last word (দশ টাকা পঞ্চাশ পয়সার)."""
    name, cents_name = currency
    whole, frac = _split_num(num)
    if scale:
        out = f"{read_number(num)} {scale} {name}"
    elif frac and len(frac) <= 2 and cents_name:
        cents = int(frac.ljust(2, "0"))
        if int(whole or "0") == 0 and cents:
            out = f"{cardinal(cents)} {cents_name}"
        else:
            out = f"{integer(whole)} {name}" + (f" {cardinal(cents)} {cents_name}" if cents else "")
    else:
        out = f"{read_number(num)} {name}"
    return with_case(out, case)


def _glued_to_letter(m: re.Match[str]) -> bool:
    """The match starts inside a word (xTk 5, এমার্চ ২০২৪): not the token the rule is about."""
    start = m.start()
    return start > 0 and (m.string[start - 1].isalpha() or "\u0980" <= m.string[start - 1] <= "\u09ff")


def _money(m: re.Match[str]) -> str:
    g = m.groupdict()
    symbol = g.get("cur")
    if symbol and symbol[0].isascii() and symbol[0].isalpha() and _glued_to_letter(m):
        return m.group()
    currency = _CURRENCIES[symbol if symbol in _CURRENCIES else symbol.rstrip(".")] if symbol else None
    case, kept = g.get("case"), ""
    if g["word"]:
        named = _CURRENCIES[g["word"]]
        if currency is None or currency[0].endswith(named[0]):
            currency = currency or named
            case = _CASE_OF_WORD.get(g["wcase"] or "", case)
        else:  # ৳৫০ ডলার: two currencies; the word stays as written
            kept = " " + g["word"] + (g["wcase"] or "")
    assert currency is not None
    scale = g["scale"] or _LATIN_SCALES.get(g["lscale"] or "")
    amount = _amount(g.get("num2") or g["num"], scale, currency, case)
    if g.get("num2"):
        low, high = (float(x.replace(",", "")) for x in (g["num"], g["num2"]))
        amount = f"{read_number(g['num'])}{' থেকে ' if low < high else '-'}{amount}"
    return amount + kept


# --- ranges, percentages, fractions, ordinals, units ---------------------------------------------

# ১০-১৫ -> ১০ থেকে ১৫ when the second is larger; ২-১ (a score) and ২০২৩-২৪ (a fiscal year) keep
# the hyphen and are read "দুই-এক", "দুই হাজার তেইশ-চব্বিশ", as people say them.
_RANGE = re.compile(rf"(?P<a>{_NUM})(?P<dash>-| - )(?P<b>{_INT}(?:\.\d++)?)(?![\d:/]|[.,]\d)")


def _range(m: re.Match[str]) -> str:
    if _SYMBOL_BEFORE.search(m.string, max(0, m.start() - 5), m.start()):
        return m.group()  # ৳২০-২৫: the money rule reads it, the currency after the range
    a = float(m["a"].replace(",", ""))
    b = float(m["b"].replace(",", ""))
    # A score or a fiscal year keeps its hyphen, without the spaces: ৩ - ২ -> তিন-দুই.
    return f"{m['a']} থেকে {m['b']}" if a < b else f"{m['a']}-{m['b']}"


_PERCENT = re.compile(rf"(?P<num>{_NUM})\s?%")
_VULGAR_PARTS = {
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
_MIXED_RE = re.compile(rf"(?P<whole>\d(?<![\d.,]\d)\d{{0,5}})\s?(?P<frac>[{''.join(_VULGAR_PARTS)}])")
_VULGAR_RE = re.compile(f"[{''.join(_VULGAR_PARTS)}]")
_SLASH_FRACTION = re.compile(r"(?P<a>\d(?<![\d/.,]\d)\d{0,5})/(?P<b>\d{1,6})(?![\d/]|[.,]\d)")


# Dates said as names, in English, as Bangladeshis say them: নাইন ইলেভেন (the 2001 attacks), ওয়ান
# ইলেভেন (the 2007 takeover in Bangladesh), টোয়েন্টি ফোর সেভেন (round the clock). Not fractions.
_SLASH_NAMES = {
    k: _nfc(v) for k, v in {"9/11": "নাইন ইলেভেন", "1/11": "ওয়ান ইলেভেন", "24/7": "টোয়েন্টি ফোর সেভেন"}.items()
}
_SLASH_NAME = re.compile(
    rf"(?P<n>[129](?<![\d/.,][129])(?:(?<=[19])/11|(?<=2)4/7))(?![\d/]|[.,]\d)"
    rf"(?:-?(?P<case>এর|র|এ|তে)(?![{BN}]))?"
)


def _mixed(m: re.Match[str]) -> str:
    num, den = _VULGAR_PARTS[m["frac"]]
    return mixed_fraction(int(m["whole"]), num, den)


def _vulgar(m: re.Match[str]) -> str:
    num, den = _VULGAR_PARTS[m.group()]
    if (num, den) == (1, 2):
        return "অর্ধেক"
    return fraction(str(num), str(den))


def _slash_fraction(m: re.Match[str]) -> str:
    """a/b with a < b is a fraction; otherwise it is an address (বাড়ি ২৩/১), a size (১০/১২ ফুট), a
    blood pressure (১২০/৮০) or a score, all of which Bangladeshis read with বাই."""
    a, b = int(m["a"]), int(m["b"])
    if b == 0 or a >= b:
        return f"{integer(m['a'])} বাই {integer(m['b'])}"
    return fraction(m["a"], m["b"])


# ১ম ২য় ৩য় ৪র্থ ৬ষ্ঠ ১১তম, and ৫শ (পাঁচশো, the colloquial hundreds of Bangladeshi news).
_BN_ORDINAL = re.compile(_nfc(rf"(?P<n>\d(?<![\d.,]\d)\d{{0,8}})(?P<suf>তম|র্থ|ষ্ঠ|য়|ম|শ)(?![{_BN_SIGN}])"))
# Typed with or without a space (২১শে, ২১ শে); "ই" only attached, since a lone ই is a word.
_DAY_ORDINAL = re.compile(rf"(?P<n>\d(?<![\d.,]\d)\d?)(?P<suf>লা|রা|ঠা|ই|শে| শে| লা| ঠা)(?![{BN}])")
_EN_ORDINAL = re.compile(r"(?P<n>\d(?<![\d.,]\d)\d{0,8})(?:st|nd|rd|th|ST|ND|RD|TH)(?![A-Za-z])")


def _bn_ordinal(m: re.Match[str]) -> str:
    n = int(m["n"])
    if m["suf"] == "শ":
        return cardinal(n) + "শো" if n < 100 else m.group()
    if n == 0:
        return m.group()
    return ordinal(n)


def _day_ordinal(m: re.Match[str]) -> str:
    n = int(m["n"])
    return day_of_month(n) if 1 <= n <= 31 else m.group()


def _en_ordinal(m: re.Match[str]) -> str:
    n = int(m["n"])
    return ordinal(n) if n else m.group()


_UNITS: dict[str, str] = {
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
_UNITS = {_nfc(k): _nfc(v) for k, v in _UNITS.items()}
_UNIT_RE = re.compile(
    r"(?P<d>\d)\s?(?P<u>"
    + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
    + rf")(?![A-Za-z0-9{BN}])"
)

# --- the rest: versions, ratios, signs, plain numbers -------------------------------------------

_DOTTED = re.compile(r"\d(?<![\d.]\d)\d*+(?:\.\d++){2,}+")
_RATIO = re.compile(r"(?P<a>\d(?<![\d:]\d)\d*+):(?P<b>\d++)(?![\d:])")
# When the text names the relation itself (৩:২ অনুপাতে, ২:১ ব্যবধানে, ৩:১ গোলে) the pair is read as a
# pair, তিন-দুই, instead of adding another অনুপাত.
_RELATION_AFTER = re.compile(_nfc(r"\s?(?:অনুপাত|ব্যবধান|গোল)"))


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
_NUMBER = re.compile(rf"{_NUM}(?:-(?P<case>এর|র|এ|তে)(?![{BN}]))?")

# ৮ টায়, ৫ টি: the classifier typed apart is still one word with the number (আটটায়, পাঁচটি).
_SPACED_CLASSIFIER = re.compile(rf"([0-9]) (?=(?:টা|টি)(?:{_YA}|র|ই|তে|কে)?(?![{BN}]))")

# Words that stay glued to a number (১০টি দশটি, ৫জন পাঁচজন, ১৯৭১এর); any other Bangla word glued
# to it is a separate word (৫০০গ্রাম -> পাঁচশো গ্রাম, ১০টাকা -> দশ টাকা).
_GLUED_SUFFIXES = frozenset(
    _nfc(s)
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
    (_PHONE_BD, _phone_bd),
    (_PHONE_LOCAL, _phone_bd),
    (_PHONE_DHAKA, _phone_bd),
    (_PHONE_OTHER, _phone_other),
    (_HOTLINE_BEFORE, _hotline),
    (_HOTLINE_AFTER, _hotline),
    (_DATE_DMY, _numeric_date),
    (_DATE_ISO, _numeric_date),
    (_DATE_WORDS, _worded_date),
    (_MONTH_YEAR, _month_year),
    (_SLASH_NAME, lambda m: with_case(_SLASH_NAMES[m["n"]], m["case"])),
    (_TIME, _time),
    (_DOT_TIME, _dot_time),
    (_HOUR_AMPM, _hour_ampm),
    (_YEAR_RANGE, _year_range),
    (_YEAR_CONTEXT, lambda m: with_case(year(int(m["y"])), m["case"])),
    (_RANGE, _range),
    (_CUR_BEFORE, _money),
    (_CUR_AFTER, _money),
    (_PERCENT, lambda m: read_number(m["num"]) + " শতাংশ"),
    (_MIXED_RE, _mixed),
    (_VULGAR_RE, _vulgar),
    (_SLASH_FRACTION, _slash_fraction),
    (_BN_ORDINAL, _bn_ordinal),
    (_DAY_ORDINAL, _day_ordinal),
    (_EN_ORDINAL, _en_ordinal),
    (_UNIT_RE, lambda m: f"{m['d']} {_UNITS[m['u']]}"),
    (_DOTTED, lambda m: " ডট ".join(integer(p) for p in m.group().split("."))),
    (_RATIO, _ratio),
    (_SIGN, lambda m: "মাইনাস " if m["sign"] == "-" else "প্লাস "),
    (_BY, r"\1 বাই "),
    (_LATIN_BEFORE_DIGIT, r"\1 "),
    (_DIGIT_BEFORE_LATIN, r"\1 "),
    (_BN_BEFORE_DIGIT, r" \1"),
    (_NUMBER, _number),
)


_DIGIT_RUN = re.compile(f"[0-9{''.join(_VULGAR_PARTS)}]+")
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
