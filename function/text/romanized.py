"""Latin words in no word list, read by sound the way Bangladeshis type Bangla in Latin letters.

In Bangladeshi text such a word is most often Bangla itself: a name or a place (Mirpur, Uttara,
Hasina, Uddin) or social-media Banglish (ami tomake bhalobashi). These rules follow the romanisation
Bangladeshis type with (the Avro phonetic keyboard's: kh খ, bh ভ, sh শ, t ত, d দ, ee ী, oi ৈ ...), so
such a word comes back as the Bangla it was; an English word missing from the dictionaries still
gets a readable approximation. Letter by letter (as an acronym) is kept for words that cannot be
said: no vowel letter (pls, brb, bd), or consonants no word starts with (bsmmu, nsu).
"""

from __future__ import annotations

import re
import unicodedata

# Consonants, longest spelling first.
_CONSONANTS = {
    "chh": "ছ",
    "ch": "চ",
    "kh": "খ",
    "gh": "ঘ",
    "jh": "ঝ",
    "th": "থ",
    "dh": "ধ",
    "ph": "ফ",
    "bh": "ভ",
    "sh": "শ",
    "ck": "ক",
    "k": "ক",
    "g": "গ",
    "c": "ক",
    "q": "ক",
    "j": "জ",
    "z": "জ",
    "t": "ত",
    "d": "দ",
    "n": "ন",
    "p": "প",
    "f": "ফ",
    "b": "ব",
    "v": "ভ",
    "m": "ম",
    "r": "র",
    "l": "ল",
    "s": "স",
    "h": "হ",
    "x": "ক্স",
}
# Vowels: (independent letter, sign after a consonant), longest spelling first.
_VOWELS = {
    "ee": ("ঈ", "ী"),
    "oo": ("উ", "ু"),
    "oi": ("ঐ", "ৈ"),
    "ou": ("ঔ", "ৌ"),
    "ai": ("আই", "াই"),
    "ei": ("এই", "েই"),
    "a": ("আ", "া"),
    "e": ("এ", "ে"),
    "i": ("ই", "ি"),
    "u": ("উ", "ু"),
    "o": ("ও", "ো"),
}
_TOKEN = re.compile("|".join(sorted([*_CONSONANTS, *_VOWELS, "ng", "y", "w"], key=len, reverse=True)) + "|.")
_VIRAMA = "\u09cd"
_YA = unicodedata.normalize("NFC", "য়")
# The consonants a word (English or romanised Bangla) can start with; bsmmu, nsu cannot be said.
_ONSETS = frozenset(
    "bh ch chh dh gh jh kh ph sh th wh rh bl br cl cr dr fl fr gl gr kl kr pl pr sc sk sl sm sn sp st sw "  # noqa: SIM905
    "tr tw qu kn wr ps ts gn sch scr shr spl spr str thr".split()
)
_LEADING_CONSONANTS = re.compile(r"[^aeiouy]*")


def needs_spelling(word: str) -> bool:
    """An abbreviation rather than a word, read letter by letter: one with no vowel letter (pls, bd,
    ctg), or one that starts with consonants no word starts with (bsmmu, nsu)."""
    low = word.lower()
    if not any(c in "aeiouy" for c in low):
        return True
    onset = _LEADING_CONSONANTS.match(low)
    assert onset is not None
    return len(onset.group()) > 1 and onset.group() not in _ONSETS


def _joins(prev: str, cur: str, vowel_next: bool) -> bool:
    """Conjuncts romanised Bangla spells as consonant pairs: a doubled letter (উত্তরা, উদ্দিন), a
    consonant with r before a vowel (নেত্রকোনা, ব্রাহ্মণ), n before d, t, j (বান্দরবান, গাইবান্ধা, গঞ্জ)."""
    if prev == cur:
        return cur != "স"
    if cur == "র":
        return vowel_next
    return prev == "ন" and cur in "দধতথজ"


def spell_romanized(word: str) -> str:
    """A word of ASCII letters read by sound: mirpur মিরপুর, uttara উত্তারা, bhalobashi ভালোবাশি."""
    tokens = _TOKEN.findall(word.lower())
    out: list[str] = []
    last = ""  # "C" after a consonant (a vowel is a sign), "V" after a vowel, "" at the start
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in _VOWELS:
            last = _vowel(tok, last, out)
        elif tok == "ng":
            out.append("ঙ্গ" if nxt in _VOWELS else "ং")
            last = "C" if nxt in _VOWELS else "V"
        elif tok in ("y", "w"):
            last = _glide(tok, nxt, last, out)
        elif tok in _CONSONANTS:
            last = _consonant(_CONSONANTS[tok], nxt, last, out)
    return unicodedata.normalize("NFC", "".join(out))


def _vowel(tok: str, last: str, out: list[str]) -> str:
    independent, sign = _VOWELS[tok]
    if tok == "o" and not out:
        independent = "অ"  # onek অনেক, ondho অন্ধ
    if last == "V" and tok not in ("o", "u"):
        out.append(_YA + sign)  # a second vowel: কুষ্টিয়া, নোয়াখালী
    else:
        out.append(sign if last == "C" else independent)
    return "V"


def _glide(tok: str, nxt: str, last: str, out: list[str]) -> str:
    """y and w: a consonant before a vowel, a vowel otherwise."""
    if nxt not in _VOWELS:
        out.append(("ি" if last == "C" else "ই") if tok == "y" else "উ")
        return "V"
    if tok == "w":
        out.append("ওয়")
    elif last == "C":
        out.append(_VIRAMA + "য")  # shyamoli শ্যামলী
    else:
        out.append(_YA if out else "ই" + _YA)
    return "C"


def _consonant(letter: str, nxt: str, last: str, out: list[str]) -> str:
    if last == "C" and _joins(out[-1], letter, nxt in _VOWELS):
        if out[-1] == letter == "স":
            return "C"  # ss is one স: hossain হোসাইন
        if letter == "জ" and out[-1] == "ন":
            out[-1] = "ঞ"
        out.append(_VIRAMA)
    out.append(letter)
    return "C"
