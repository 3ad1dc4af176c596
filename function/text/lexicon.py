"""Reading rules for words and symbols: web addresses, abbreviations, Latin acronyms, symbols."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

Match = re.Match[str]

BN = "\u0980-\u09ff"


def _nfc_map(d: dict[str, str]) -> dict[str, str]:
    return {unicodedata.normalize("NFC", k): unicodedata.normalize("NFC", v) for k, v in d.items()}


def _alternation(keys: Iterable[str]) -> str:
    """Longest first, so that মোসা wins over মো."""
    return "|".join(sorted(map(re.escape, keys), key=len, reverse=True))


# --- Latin letters, acronyms --------------------------------------------------------------------

# How Bangladeshis name the Latin letters (বিটিআরসি, ডব্লিউএইচও, এইচএসসি).
LETTER_NAMES = dict(
    zip(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        [
            "এ",
            "বি",
            "সি",
            "ডি",
            "ই",
            "এফ",
            "জি",
            "এইচ",
            "আই",
            "জে",
            "কে",
            "এল",
            "এম",
            "এন",
            "ও",
            "পি",
            "কিউ",
            "আর",
            "এস",
            "টি",
            "ইউ",
            "ভি",
            "ডব্লিউ",
            "এক্স",
            "ওয়াই",
            "জেড",
        ],
        strict=True,
    )
)
LETTER_NAMES = _nfc_map(LETTER_NAMES)
# Acronyms said as words, spelled as Bangladeshi newspapers spell them.
_WORD_ACRONYMS = _nfc_map(
    {
        "NASA": "নাসা",
        "UNESCO": "ইউনেস্কো",
        "UNICEF": "ইউনিসেফ",
        "NATO": "ন্যাটো",
        "ASEAN": "আসিয়ান",
        "SAARC": "সার্ক",
        "OPEC": "ওপেক",
        "FIFA": "ফিফা",
        "COVID": "কোভিড",
        "AIDS": "এইডস",
        "RAB": "র\u200d্যাব",
        "BUET": "বুয়েট",
        "WASA": "ওয়াসা",
        "DESCO": "ডেসকো",
        "BASIS": "বেসিস",
        "BRICS": "ব্রিকস",
        "SIM": "সিম",
        "PIN": "পিন",
        "LASER": "লেজার",
        "RADAR": "রাডার",
    }
)
# Capitalised English words that are shouted, not acronyms: left to the model as the word.
_SHOUTED = frozenset(
    [
        "THE",
        "AND",
        "FOR",
        "NEWS",
        "LIVE",
        "NEW",
        "FREE",
        "SALE",
        "HOT",
        "VIDEO",
        "UPDATE",
        "BREAKING",
        "EXCLUSIVE",
        "NOTICE",
        "OFFER",
    ]
)
_MAX_SPELLED = 6  # longer all-caps words are shouted words, not acronyms
# Each pattern starts with a character class and checks what precedes after it: the regex engine
# then skips ahead in C instead of trying the pattern at every position.
_ACRONYM = re.compile(r"[A-Z](?<![A-Za-z][A-Z])(?:\.(?:[A-Z]\.)++|[A-Z]++)(?![a-z])")
_GRADE = re.compile(r"(?P<l>[A-Z])(?<![A-Za-z][A-Z])\+(?![+\w])")


def spell_letters(word: str) -> str:
    return "".join(LETTER_NAMES[c] for c in word)


def _acronym(m: re.Match[str]) -> str:
    dotted = "." in m.group()
    word = m.group().replace(".", "")
    if word in _WORD_ACRONYMS:
        return _WORD_ACRONYMS[word]
    if not dotted and (word in _SHOUTED or len(word) > _MAX_SPELLED):
        return word.lower()
    return spell_letters(word)


# --- web addresses ------------------------------------------------------------------------------

_TLDS = _nfc_map(
    {
        "com": "কম",
        "org": "অর্গ",
        "net": "নেট",
        "gov": "গভ",
        "edu": "এডু",
        "bd": "বিডি",
        "info": "ইনফো",
        "io": "আইও",
        "co": "কো",
        "uk": "ইউকে",
        "in": "ইন",
        "us": "ইউএস",
        "ac": "এসি",
        "biz": "বিজ",
        "me": "মি",
        "tv": "টিভি",
        "news": "নিউজ",
        "xyz": "এক্সওয়াইজেড",
        "ai": "এআই",
        "app": "অ্যাপ",
        "dev": "ডেভ",
    }
)
_URL = re.compile(r"(?<![\w@./-])(?:(?:https?|ftp)://|www\.)\S++", re.IGNORECASE)
_DOMAIN = re.compile(r"[A-Za-z0-9-](?<![\w@./-][A-Za-z0-9-])[A-Za-z0-9-]*+(?:\.[A-Za-z0-9-]++)++(?:/\S*+)?")
_DOT_LETTER = re.compile(r"\.[A-Za-z]")
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-](?<![\w.+-][A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*+@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++"
)
_TRAILING = re.compile(r"[.,;:!?)\]'\"]+$")
_SCHEME = re.compile(r"^(?:https?|ftp)://", re.IGNORECASE)
_PATH_SEP = re.compile(r"[-_.=&+]+")
_LOCAL_SIGNS = {".": " ডট ", "_": " আন্ডারস্কোর ", "-": " হাইফেন ", "+": " প্লাস ", "%": " ", "@": " "}
_LOCAL_RE = re.compile(r"[._+%-]")


def _host(host: str) -> str:
    words = []
    for label in host.split("."):
        low = label.lower()
        if low == "www":
            words.append("ডব্লিউ ডব্লিউ ডব্লিউ")
        elif low in _TLDS:
            words.append(_TLDS[low])
        else:
            words.append(label.replace("-", " হাইফেন "))
    return " ডট ".join(w for w in words if w)


def _speak_address(address: str) -> str:
    """prothomalo.com/bangladesh -> prothomalo ডট কম স্ল্যাশ bangladesh; query and fragment dropped."""
    address = _SCHEME.sub("", address).split("?", 1)[0].split("#", 1)[0]
    host, _, path = address.partition("/")
    spoken = _host(host)
    for segment in path.split("/"):
        words = _PATH_SEP.sub(" ", segment).strip()
        if words:
            spoken += " স্ল্যাশ " + words
    return spoken


def _url(m: re.Match[str]) -> str:
    text = m.group()
    tail = _TRAILING.search(text)
    end = tail.start() if tail else len(text)
    return _speak_address(text[:end]) + text[end:]


def _domain(m: re.Match[str]) -> str:
    text = m.group()
    host = text.split("/", 1)[0]
    tld = host.rsplit(".", 1)[-1].lower()
    if tld not in _TLDS:
        return text
    return _speak_address(text)


def _email(m: re.Match[str]) -> str:
    local, _, host = m.group().partition("@")
    local = _LOCAL_RE.sub(lambda s: _LOCAL_SIGNS[s.group()], local)
    return f"{local} অ্যাট {_host(host)}"


# --- abbreviations ------------------------------------------------------------------------------

# Written with a full stop, a visarga or a colon (ডা. / ডাঃ / ডা:); the expansion is what a
# newsreader says.
_BN_ABBREVIATIONS = _nfc_map(
    {
        "ডা": "ডাক্তার",
        "ড": "ডক্টর",
        "মো": "মোহাম্মদ",
        "মোহা": "মোহাম্মদ",
        "মোসা": "মোসাম্মত",
        "মোছা": "মোসাম্মত",
        "মি": "মিস্টার",
        "লি": "লিমিটেড",
        "খ্রি.পূ": "খ্রিস্টপূর্ব",
        "খ্রি": "খ্রিস্টাব্দ",
        "বি.দ্র": "বিশেষ দ্রষ্টব্য",
        "বিঃদ্র": "বিশেষ দ্রষ্টব্য",
        "দ্র": "দ্রষ্টব্য",
        "পৃ": "পৃষ্ঠা",
        "অ্যাড": "অ্যাডভোকেট",
        "এড": "অ্যাডভোকেট",
        "অধ্যা": "অধ্যাপক",
        "প্রফে": "প্রফেসর",
        "প্রকৌ": "প্রকৌশলী",
        "ইঞ্জি": "ইঞ্জিনিয়ার",
        "লে": "লেফটেন্যান্ট",
        "ক্যা": "ক্যাপ্টেন",
        "মে.জে": "মেজর জেনারেল",
        "ব্রি.জে": "ব্রিগেডিয়ার জেনারেল",
        "ইং": "ইংরেজি",
        "রেজি": "রেজিস্টার্ড",
        "কি.মি": "কিলোমিটার",
        "সে.মি": "সেন্টিমিটার",
        "মি.মি": "মিলিমিটার",
        "কি.গ্রা": "কিলোগ্রাম",
    }
)
_BN_ABBREV_RE = re.compile(rf"(?P<a>{_alternation(_BN_ABBREVIATIONS)})[.ঃ:]")
_BN_ABBREV_COLON = re.compile(rf"(?P<a>{_alternation(_BN_ABBREVIATIONS)}):")
# Units written without a full stop are whole words: "৫ কিমি" is handled with the number; alone
# these only occur as the unit.
_BN_WORDS = _nfc_map({"নং": "নম্বর", "কিমি": "কিলোমিটার", "সেমি": "সেন্টিমিটার", "মিমি": "মিলিমিটার"})
_BN_WORD_RE = re.compile(rf"(?P<w>{_alternation(_BN_WORDS)})(?![{BN}])")
# Honorifics after the names of the Prophet and his companions, written in parentheses.
_HONORIFICS = _nfc_map(
    {
        "সা": "সাল্লাল্লাহু আলাইহি ওয়াসাল্লাম",
        "স": "সাল্লাল্লাহু আলাইহি ওয়াসাল্লাম",
        "দ": "সাল্লাল্লাহু আলাইহি ওয়াসাল্লাম",
        "রা": "রাদিয়াল্লাহু আনহু",
        "রহ": "রহমাতুল্লাহি আলাইহি",
        "আ": "আলাইহিস সালাম",
    }
)
_HONORIFIC_RE = re.compile(rf"\(\s?(?P<h>{_alternation(_HONORIFICS)})\s?[.ঃ]?\s?\)")
# Initials with full stops: বি.এ. -> বিএ, এ.কে.এম. -> একেএম, ঢা.বি. -> ঢাবি.
_BN_INITIALS = re.compile(rf"[{BN}](?<![{BN}.][{BN}])[{BN}]{{0,3}}+(?:\.[{BN}]{{1,4}}+(?![{BN}]))++\.?")
_EN_ABBREVIATIONS = _nfc_map(
    {
        "Mr": "মিস্টার",
        "Md": "মোহাম্মদ",
        "Mrs": "মিসেস",
        "Ms": "মিস",
        "Dr": "ডক্টর",
        "Prof": "প্রফেসর",
        "Ltd": "লিমিটেড",
        "Inc": "ইনকর্পোরেটেড",
        "Jr": "জুনিয়র",
        "Sr": "সিনিয়র",
        "etc": "ইত্যাদি",
        "vs": "বনাম",
        "Govt": "সরকার",
        "e.g": "যেমন",
        "i.e": "অর্থাৎ",
    }
)
_EN_ABBREV_RE = re.compile(rf"(?P<a>{_alternation(_EN_ABBREVIATIONS)})\.")
_VERSUS = re.compile(r"vs(?<![A-Za-z]vs)(?![A-Za-z])")
_NUMBER_SIGN = re.compile(r"(?<![A-Za-z])(?:No|no|NO)\.\s?(?=\d)")

# --- symbols ------------------------------------------------------------------------------------

_SYMBOLS = _nfc_map(
    {
        "&": "এবং",
        "@": "অ্যাট",
        "#": "হ্যাশট্যাগ",
        "+": "প্লাস",
        "=": "সমান",
        "×": "গুণ",
        "÷": "ভাগ",
        "±": "প্লাস মাইনাস",
        "°": "ডিগ্রি",
        "©": "কপিরাইট",
        "№": "নম্বর",
        "§": "ধারা",
        "∞": "অসীম",
        "√": "বর্গমূল",
        "~": "প্রায়",
        "%": "শতাংশ",
        "‰": "প্রতি হাজারে",
        "৳": "টাকা",
        "$": "ডলার",
        "£": "পাউন্ড",
        "€": "ইউরো",
        "₹": "রুপি",
        "¥": "ইয়েন",
    }
)
_SYMBOL_RE = re.compile(f"[{re.escape(''.join(_SYMBOLS))}]")


_BN_LETTERS = frozenset(map(chr, range(0x0980, 0x0A00)))
_LATIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _expand_from(
    table: dict[str, str], not_after: frozenset[str], suffix: str = ""
) -> Callable[[Match], str]:
    """Replace the whole-token match from `table`, unless it continues a word (the ড. of বোর্ড.)."""

    def repl(m: Match) -> str:
        start = m.start()
        if start and m.string[start - 1] in not_after:
            return m.group()
        return table[m[1]] + suffix

    return repl


def expand_addresses(text: str) -> str:
    """E-mail addresses and URLs, before their digits and dots are read as numbers."""
    if "@" in text:
        text = _EMAIL.sub(_email, text)
    if "://" in text or "www." in text or "WWW." in text:
        text = _URL.sub(_url, text)
    if _DOT_LETTER.search(text):
        text = _DOMAIN.sub(_domain, text)
    if "o." in text or "O." in text:
        text = _NUMBER_SIGN.sub("নম্বর ", text)
    return text


def expand_words(text: str) -> str:
    """Abbreviations, acronyms and symbols, after the numbers (so ৫ মি. was already মিটার)."""
    text = _HONORIFIC_RE.sub(lambda m: _HONORIFICS[m["h"]], text)
    text = _BN_ABBREV_RE.sub(_expand_from(_BN_ABBREVIATIONS, _BN_LETTERS, " "), text)
    text = _BN_INITIALS.sub(lambda m: m.group().replace(".", ""), text)
    text = _BN_WORD_RE.sub(_expand_from(_BN_WORDS, _BN_LETTERS), text)
    text = _EN_ABBREV_RE.sub(_expand_from(_EN_ABBREVIATIONS, _LATIN, " "), text)
    text = _VERSUS.sub("বনাম", text)
    text = _GRADE.sub(lambda m: LETTER_NAMES[m["l"]] + " প্লাস", text)
    text = _ACRONYM.sub(_acronym, text)
    return _SYMBOL_RE.sub(lambda m: f" {_SYMBOLS[m.group()]} ", text)


def expand_colon_abbreviations(text: str) -> str:
    """ডা: written with a colon, for text where tidying brought the two together (ড😀: -> ড:)."""
    return _BN_ABBREV_COLON.sub(_expand_from(_BN_ABBREVIATIONS, _BN_LETTERS, " "), text)


# Words that end in a full stop without ending the sentence (for split_sentences on raw text).
ABBREVIATIONS = frozenset(_BN_ABBREVIATIONS) | frozenset(_EN_ABBREVIATIONS) | {"No", "no", "NO", "St"}
