"""Phone numbers, read digit by digit in their groups: +880 1711-123456, 01711123456, 02-9123456,
hotlines (৯৯৯, হটলাইন ১৬২৬৩).
"""

from __future__ import annotations

import re

from function.text.numbers import (
    digits,
    with_case,
)
from function.text.numeric.common import BN, nfc

# Bangladeshi mobiles: 01XXX then the six digits, however the writer grouped them (০১৭১২-৩৪৫৬৭৮,
# ০১৭ ১২৩৪ ৫৬৭৮); +880 then 1XXX and the six.
PHONE_BD = re.compile(
    r"(?P<cc>\+880|00880|8(?<![\d+]8)80)[\s-]?(?P<a>1[3-9]\d\d)(?P<rest>(?:[\s-]?\d){6})(?!\d)"
)
PHONE_LOCAL = re.compile(r"(?P<a>0(?<![\d+]0)1[3-9](?:[\s-]?\d){2})(?P<rest>(?:[\s-]?\d){6})(?!\d)")
# A Dhaka land line written without a break: 02 and 7 or 8 digits.
PHONE_DHAKA = re.compile(r"(?P<a>0(?<![\d+]0)2)(?P<rest>\d{7,8})(?!\d)")
# Other numbers written with a + country code or a 0-prefixed area code: read in the written groups.
PHONE_OTHER = re.compile(
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


def say_phone_bd(m: re.Match[str]) -> str:
    head = ""
    cc = m.groupdict().get("cc")
    if cc:
        head = {"+": "প্লাস ", "0": "শূন্য শূন্য "}.get(cc[0], "") + digits("880") + ", "
    return _say_phone(head, _PHONE_SEPARATORS.sub("", m["a"]), _PHONE_SEPARATORS.sub("", m["rest"]))


def say_phone_other(m: re.Match[str]) -> str:
    text = m.group()
    head = "প্লাস " if text.startswith("+") else ""
    groups = [g for g in _PHONE_GROUP.split(text.lstrip("+")) if g]
    spoken = [
        digits(g) for written in groups for g in (phone_groups(written) if len(written) > 4 else [written])
    ]
    return head + ", ".join(spoken)


# A service number said digit by digit: ৯৯৯ নম্বরে ফোন, হটলাইন ১৬২৬৩ (a count such as ৯৯৯ টাকা is not).
HOTLINE_AFTER = re.compile(
    nfc(
        rf"(?P<n>\d(?<![\d,.]\d)\d{{2,4}})(?: ?-?(?P<case>এ)(?![{BN}]))?"
        rf"(?=(?(case)| ?নম্বরে) ?(?:ফোন|কল)(?![{BN}]))"
    )
)
HOTLINE_BEFORE = re.compile(nfc(r"(?P<w>(?:হটলাইন|হেল্পলাইন)(?: নম্বর)?:? ?)(?P<n>\d{3,5})(?![\d,.])"))


def say_hotline(m: re.Match[str]) -> str:
    return m.groupdict().get("w", "") + with_case(digits(m["n"]), m.groupdict().get("case"))
