"""Words in Latin script, read the way a Bangladeshi reader says them, in Bangla letters: a model
fine-tuned on Bangla speech reads Latin letters badly or not at all.

Each word is looked up, in order, in
1. the hand-checked list of loanwords and names with their conventional spellings (data/loanwords.tsv:
   ফেসবুক, ইউনিভার্সিটি, রহমান, প্রথম আলো);
2. the CMU Pronouncing Dictionary, its phonemes turned into Bangla letters once, offline
   (data/english_bn.tsv.gz, written by tools/build_english_readings.py);
then a word in neither is split where its parts are known (YouTube, iPhone, blockchain), and what is
left is read by sound as romanised Bangla, or letter by letter when it cannot be said (romanized.py).
Acronyms in capitals were already spelled by the rules before (বিবিসি).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

from function.text.lexicon import LETTER_NAMES
from function.text.numbers import with_case
from function.text.romanized import needs_spelling, spell_romanized
from function.text.sorted_table import SortedTable
from function.text.unicode_clean import BN_LETTERS
from function.text.word_list import WordList, parse_word_list

DATA = Path(__file__).with_name("data")
LOANWORDS_FILE = DATA / "loanwords.tsv"
CMU = SortedTable(DATA / "english_bn.tsv.gz")

_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


# Case endings and classifiers written onto an English word: Facebook-এ, Googleএর, iPhoneটি.
_GENITIVE = {_nfc(s) for s in ("এর", "ের", "র")}
_LOCATIVE = {_nfc(s) for s in ("এ", "ে", "য়")}
_ENDINGS = sorted(
    {
        *_GENITIVE,
        *_LOCATIVE,
        *(_nfc(s) for s in ("তে", "কে", "রা", "দের", "টি", "টা", "টির", "টার", "গুলো", "গুলি", "ও", "ই")),
    },
    key=len,
    reverse=True,
)
_WORD = re.compile(
    f"(?P<w>[{_LATIN}]++(?:'[{_LATIN}]++)*+)(?:[-']?(?P<end>{'|'.join(_ENDINGS)})(?![{BN_LETTERS}]))?"
)
_INITIAL = re.compile(r"([A-Z])(?<![A-Za-z][A-Z])\.(?= ?[A-Z])")  # A. K. Fazlul Huq: initials, not full stops
_DOTTED = re.compile(r"\.(?<=[A-Za-z]\.)(?=[a-z])")  # node.js, an address the rules did not know
_ANY_LATIN = re.compile(f"[{_LATIN}]")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_BN_SIGNS = frozenset(
    "\u0981\u0982\u0983\u09bc\u09be\u09bf\u09c0\u09c1\u09c2\u09c3\u09c4\u09c7\u09c8\u09cb\u09cc\u09cd\u09d7"
)
_BN_LETTER = re.compile(f"[{BN_LETTERS}]")
_SMALLEST_PART = 5  # a compound's parts (block+chain); shorter ones would split Bangla names (rang+amati)
_LONGEST_COMPOUND = 24  # and the work of trying every cut stays small
# Letters that Unicode does not decompose into an ASCII letter and a mark.
_FOLD = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "đ": "d", "Đ": "D"}
    | {"ł": "l", "Ł": "L", "ı": "i", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ħ": "h", "ŋ": "ng"}
)


@functools.cache
def loanwords() -> WordList:
    return parse_word_list(LOANWORDS_FILE.read_text(encoding="utf-8"), "function/text/data/loanwords.tsv")


def ascii_letters(word: str) -> str:
    """café -> cafe, Zürich -> Zurich, Øresund -> Oresund; anything else that is not ASCII dropped."""
    decomposed = unicodedata.normalize("NFKD", word.translate(_FOLD))
    return decomposed.encode("ascii", "ignore").decode()


def _known(word: str) -> str | None:
    known = loanwords().get(word)
    if known is None and word.lower().endswith("'s") and loanwords().get(word[:-2]):
        known = f"{loanwords().get(word[:-2])}স"  # Bangladesh's বাংলাদেশস, before CMU's own reading
    return known or CMU.get(word.lower())


def _compound(word: str) -> str | None:
    """blockchain -> ব্লক + চেইন: the longest known first part with a known rest."""
    low = word.lower()
    for cut in range(len(low) - _SMALLEST_PART, _SMALLEST_PART - 1, -1):
        head, tail = _known(low[:cut]), _known(low[cut:])
        if head and tail:
            return head + tail
    return None


def spell_english(word: str) -> str:
    """A word of ASCII letters (maybe with apostrophes) in Bangla letters."""
    # Words repeat (brands, names); a very long one is rare and not worth the cache's memory.
    return _spell_cached(word) if len(word) <= _LONGEST_CACHED else _spell(word)


_LONGEST_CACHED = 32


def _spell(word: str) -> str:
    if len(word) == 1:
        return LETTER_NAMES[word.upper()]
    known = _known(word)
    if known:
        return known
    if "'" in word:
        return "".join(spell_english(part) for part in word.split("'") if part)
    parts = _CAMEL.findall(word)
    if len(parts) > 1:  # YouTube, iPhone, PhD: each part on its own; short or capital parts by letter
        return "".join(
            _letters(p) if len(p) > 1 and (p.isupper() or needs_spelling(p)) else spell_english(p)
            for p in parts
        )
    if 2 * _SMALLEST_PART <= len(word) <= _LONGEST_COMPOUND:
        compound = _compound(word)
        if compound:
            return compound
    return _letters(word) if needs_spelling(word) else spell_romanized(word)


_spell_cached = functools.lru_cache(maxsize=16384)(_spell)


def _letters(word: str) -> str:
    return "".join(LETTER_NAMES[c] for c in word.upper())


def _with_ending(spoken: str, ending: str) -> str:
    if not spoken:
        return ending
    if ending in _GENITIVE:
        return with_case(spoken, "এর")
    if ending in _LOCATIVE:
        return with_case(spoken, "এ")
    if ending == "তে":
        return with_case(spoken, "তে")
    return spoken + ending


def _read(m: re.Match[str]) -> str:
    word = ascii_letters(m["w"])
    spoken = spell_english(word) if word.strip("'") else ""
    if m["end"]:
        spoken = _with_ending(spoken, m["end"])
    text, start, end = m.string, m.start(), m.end()
    # A Bangla word glued before or after is a separate word (অ্যাপেরFacebook); a vowel sign after it
    # continues this one (Facebookের).
    before = " " if start and _BN_LETTER.match(text[start - 1]) else ""
    after = " " if end < len(text) and _BN_LETTER.match(text[end]) and text[end] not in _BN_SIGNS else ""
    return f"{before}{spoken}{after}"


def read_english(text: str) -> str:
    """Every word in Latin letters -> Bangla letters (after the rules that read acronyms,
    abbreviations, units and addresses)."""
    if not _ANY_LATIN.search(text):
        return text
    text = _INITIAL.sub(r"\1 ", text)
    text = _DOTTED.sub(" ডট ", text)
    return _WORD.sub(_read, text)
