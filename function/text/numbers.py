"""Spell numbers the way a Bangladeshi reader says them (South Asian grouping, Bangla Academy spelling)."""

from __future__ import annotations

import unicodedata

# 0-99 written by hand: CLDR's bn spell-out rules as the base, adjusted to Bangladeshi usage
# (20 বিশ not কুড়ি; the ঊন- forms of 29, 39 ... 89 as the Bangla Academy spells them).
_BELOW_100 = (  # noqa: SIM905 (ten a row reads like the table it is)
    "শূন্য এক দুই তিন চার পাঁচ ছয় সাত আট নয় "
    "দশ এগারো বারো তেরো চৌদ্দ পনেরো ষোলো সতেরো আঠারো উনিশ "
    "বিশ একুশ বাইশ তেইশ চব্বিশ পঁচিশ ছাব্বিশ সাতাশ আটাশ ঊনত্রিশ "
    "ত্রিশ একত্রিশ বত্রিশ তেত্রিশ চৌত্রিশ পঁয়ত্রিশ ছত্রিশ সাঁইত্রিশ আটত্রিশ ঊনচল্লিশ "
    "চল্লিশ একচল্লিশ বিয়াল্লিশ তেতাল্লিশ চুয়াল্লিশ পঁয়তাল্লিশ ছেচল্লিশ সাতচল্লিশ আটচল্লিশ ঊনপঞ্চাশ "
    "পঞ্চাশ একান্ন বাহান্ন তিপ্পান্ন চুয়ান্ন পঞ্চান্ন ছাপ্পান্ন সাতান্ন আটান্ন ঊনষাট "
    "ষাট একষট্টি বাষট্টি তেষট্টি চৌষট্টি পঁয়ষট্টি ছেষট্টি সাতষট্টি আটষট্টি ঊনসত্তর "
    "সত্তর একাত্তর বাহাত্তর তিয়াত্তর চুয়াত্তর পঁচাত্তর ছিয়াত্তর সাতাত্তর আটাত্তর ঊনআশি "
    "আশি একাশি বিরাশি তিরাশি চুরাশি পঁচাশি ছিয়াশি সাতাশি আটাশি ঊননব্বই "
    "নব্বই একানব্বই বিরানব্বই তিরানব্বই চুরানব্বই পঁচানব্বই ছিয়ানব্বই সাতানব্বই আটানব্বই নিরানব্বই"
).split()
assert len(_BELOW_100) == 100

DIGIT_WORDS = _BELOW_100[:10]

_CRORE = 10**7
_LAKH = 10**5
# Longer digit strings are identifiers (account, NID, serial numbers): read digit by digit.
MAX_CARDINAL_DIGITS = 15

# Sanskrit ordinals a Bangladeshi reader uses for 1-10 (১ম প্রথম ... ১০ম দশম).
_ORDINAL_1_10 = ("", "প্রথম", "দ্বিতীয়", "তৃতীয়", "চতুর্থ", "পঞ্চম", "ষষ্ঠ", "সপ্তম", "অষ্টম", "নবম", "দশম")
# Day of the month as said before a month name: পহেলা বৈশাখ, একুশে ফেব্রুয়ারি, ষোলোই ডিসেম্বর.
_DAY_SPECIAL = {1: "পহেলা", 2: "দোসরা", 3: "তেসরা", 4: "চৌঠা"}


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(_BELOW_100[hundreds] + "শো")
    if rest:
        parts.append(_BELOW_100[rest])
    return " ".join(parts)


def cardinal(n: int) -> str:
    """A non-negative integer in words: ১,২৩,৪৫,৬৭৮ -> এক কোটি তেইশ লক্ষ পঁয়তাল্লিশ হাজার ছয়শো আটাত্তর."""
    if n == 0:
        return _BELOW_100[0]
    parts = []
    crore, n = divmod(n, _CRORE)
    if crore:
        # Past কোটি Bangladeshis keep counting in কোটি: একশো কোটি, এক হাজার কোটি, এক লক্ষ কোটি.
        parts.append(cardinal(crore) + " কোটি")
    lakh, n = divmod(n, _LAKH)
    if lakh:
        parts.append(_BELOW_100[lakh] + " লক্ষ")
    thousand, n = divmod(n, 1000)
    if thousand:
        parts.append(_BELOW_100[thousand] + " হাজার")
    if n:
        parts.append(_below_thousand(n))
    return " ".join(parts)


def digits(s: str) -> str:
    """ASCII digits one by one: '০৫' -> শূন্য পাঁচ."""
    return " ".join(DIGIT_WORDS[ord(c) - 48] for c in s)


def integer(s: str) -> str:
    """An ASCII digit string as said aloud: leading zeros or very long strings digit by digit."""
    if len(s) > MAX_CARDINAL_DIGITS or (len(s) > 1 and s[0] == "0"):
        return digits(s)
    return cardinal(int(s))


def decimal(int_part: str, frac_part: str) -> str:
    """২.০৫ -> দুই দশমিক শূন্য পাঁচ: after দশমিক every digit is read, zeros kept."""
    whole = (
        cardinal(int(int_part)) if int_part and len(int_part) <= MAX_CARDINAL_DIGITS else integer(int_part)
    )
    return f"{whole} দশমিক {digits(frac_part)}" if frac_part else whole


def year(n: int) -> str:
    """Years as Bangladeshis read them: ১৯৭১ উনিশশো একাত্তর, ১৪৩১ চৌদ্দশো একত্রিশ, ২০২৪ দুই হাজার চব্বিশ."""
    if 1100 <= n <= 1999:
        hundreds, rest = divmod(n, 100)
        head = _BELOW_100[hundreds] + "শো"
        return f"{head} {_BELOW_100[rest]}" if rest else head
    return cardinal(n)


def ordinal(n: int) -> str:
    """১ম প্রথম ... ১০ম দশম, then the cardinal with -তম: ১১তম এগারোতম, ১০০তম একশোতম."""
    if 1 <= n <= 10:
        return _ORDINAL_1_10[n]
    return cardinal(n) + "তম"


def day_of_month(n: int) -> str:
    """1-31 as a date: পহেলা দোসরা তেসরা চৌঠা, পাঁচই ... আঠারোই, উনিশে ... একত্রিশে."""
    if n in _DAY_SPECIAL:
        return _DAY_SPECIAL[n]
    word = _BELOW_100[n]
    return word + ("ই" if n <= 18 else "ে")


# Sanskrit ordinal + অংশ for the denominators a reader says that way: এক তৃতীয়াংশ, তিন চতুর্থাংশ.
_FRACTION_PARTS = {
    2: "দ্বিতীয়াংশ",
    3: "তৃতীয়াংশ",
    4: "চতুর্থাংশ",
    5: "পঞ্চমাংশ",
    6: "ষষ্ঠাংশ",
    7: "সপ্তমাংশ",
    8: "অষ্টমাংশ",
    9: "নবমাংশ",
    10: "দশমাংশ",
}


def fraction(numerator: str, denominator: str) -> str:
    """১/২ অর্ধেক, ২/৩ দুই তৃতীয়াংশ, ৫/১২ বারো ভাগের পাঁচ."""
    num, den = int(numerator), int(denominator)
    if num == 1 and den == 2 and len(numerator) == 1 and len(denominator) == 1:
        return "অর্ধেক"
    if den in _FRACTION_PARTS and len(denominator) <= 2 and len(numerator) <= MAX_CARDINAL_DIGITS:
        return f"{integer(numerator)} {_FRACTION_PARTS[den]}"
    return f"{integer(denominator)} ভাগের {integer(numerator)}"


def mixed_fraction(whole: int, num: int, den: int) -> str:
    """১½ দেড়, ২½ আড়াই, ৩½ সাড়ে তিন, ৩¼ সোয়া তিন, ২¾ পৌনে তিন: the words people say for money and time."""
    if (num, den) == (1, 2):
        if whole == 1:
            return "দেড়"
        if whole == 2:
            return "আড়াই"
        return "সাড়ে " + cardinal(whole)
    if (num, den) == (1, 4):
        return "সোয়া " + cardinal(whole)
    if (num, den) == (3, 4):
        return "পৌনে " + cardinal(whole + 1)
    return f"{cardinal(whole)} এবং {fraction(str(num), str(den))}"


# After these a case ending is joined with য়: দুইয়ের, কিংয়ের, শপিংয়ে (ং ends a word like a vowel).
_JOINED_WITH_YA = frozenset("অআইঈউঊএঐওঔং")
_VOWEL_SIGNS = frozenset("\u09be\u09bf\u09c0\u09c1\u09c2\u09c7\u09c8\u09cb\u09cc")
_YA = unicodedata.normalize("NFC", "য়")


def with_case(word: str, case: str | None) -> str:
    """The case ending written after a number, joined the way it is said.

    Genitive (এর/র): টাকার, দশের, দুইয়ের. Locative (এ): তিনে, টাকায়, আশিতে, নব্বইয়ে; তে: আশিতে."""
    if not case:
        return word
    last = word[-1]
    if case in ("এর", "র"):
        if last in _JOINED_WITH_YA:
            return word + _YA + "ের"
        return word + ("র" if last in _VOWEL_SIGNS else "ের")
    if case == "তে":
        return word + "তে"
    if last in _JOINED_WITH_YA:
        return word + _YA + "ে"
    if last == "\u09be":
        return word + _YA
    return word + ("তে" if last in _VOWEL_SIGNS else "ে")
