"""Money: a currency symbol or word before or after an amount (৳৫০০, ১০ লাখ টাকা, $1.5 billion),
with Bangla case endings.
"""

from __future__ import annotations

import re

from function.text.numbers import (
    cardinal,
    integer,
    with_case,
)
from function.text.numeric.common import BN, NUM, nfc, read_number, split_num

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
_CURRENCIES = {nfc(k): (nfc(a), nfc(b)) for k, (a, b) in _CURRENCIES.items()}
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
_LATIN_SCALES = {k: nfc(v) for k, v in _LATIN_SCALES.items()}
_SCALE = (
    rf"(?:\s?(?:(?P<scale>{nfc(_SCALES)})(?![{BN}])"
    rf"|(?P<lscale>{'|'.join(_LATIN_SCALES)})(?![A-Za-z])))?"
)
# A case ending after the amount: ৳১০০০-এর নোট -> এক হাজার টাকার নোট.
_MONEY_CASE = rf"(?:-?(?P<case>এর|র|এ|তে)(?![{BN}]))?"
# The currency's word after the amount, maybe with a case ending: ৫০০ টাকায়, ১০ ডলারের.
_CUR_WORD = nfc("টাকা|ডলার|পাউন্ড|ইউরো|রুপি")
_WORD_CASE = nfc("র|য়|তে|ের|ে")
_CASE_OF_WORD = {nfc(k): v for k, v in {"র": "এর", "ের": "এর", "য়": "এ", "ে": "এ", "তে": "তে"}.items()}
_CUR_WORD_AFTER = rf"(?P<word>{_CUR_WORD})(?P<wcase>{_WORD_CASE})?(?![{BN}])"
# ৳৫০০, ৳২০-২৫ (a range), and ৳১,২৫০ টাকা: a symbol and the word for the same currency are read once.
CUR_BEFORE = re.compile(
    rf"(?P<cur>৳|US\$|\$|£|€|₹|¥|(?:Tk|TK|tk|Rs)(?![A-Za-z])\.?|(?:BDT|USD|EUR|GBP|INR)(?![A-Za-z]))"
    rf"\s?(?P<num>{NUM})(?:\s?-\s?(?P<num2>{NUM}))?{_SCALE}{_MONEY_CASE}(?:\s?{_CUR_WORD_AFTER})?"
)
CUR_AFTER = re.compile(
    rf"(?P<num>{NUM}){_SCALE}\s?(?:(?P<cur>৳|টা\.|(?:Tk|BDT|USD|EUR|GBP|INR)(?![A-Za-z]))|{_CUR_WORD_AFTER})"
)
SYMBOL_BEFORE = re.compile(r"(?:৳|\$|£|€|₹|¥|Tk\.?|TK|tk|Rs\.?|BDT|USD|EUR|GBP|INR) ?$")


def _amount(num: str, scale: str | None, currency: tuple[str, str], case: str | None = None) -> str:
    """The amount in words; a case ending goes on the last word (দশ টাকা পঞ্চাশ পয়সার)."""
    name, cents_name = currency
    whole, frac = split_num(num)
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


def glued_to_letter(m: re.Match[str]) -> bool:
    """The match starts inside a word (xTk 5, এমার্চ ২০২৪): not the token the rule is about."""
    start = m.start()
    return start > 0 and (m.string[start - 1].isalpha() or "\u0980" <= m.string[start - 1] <= "\u09ff")


def say_money(m: re.Match[str]) -> str:
    g = m.groupdict()
    symbol = g.get("cur")
    if symbol and symbol[0].isascii() and symbol[0].isalpha() and glued_to_letter(m):
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
