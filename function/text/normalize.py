"""normalize_bangla_text(): raw Bangla text in, exactly what XTTS should read aloud out."""

from __future__ import annotations

import re
import unicodedata

from function.text.english import read_english
from function.text.graphemes import cut_word
from function.text.lexicon import expand_addresses, expand_colon_abbreviations, expand_words
from function.text.numeric import expand_numbers
from function.text.unicode_clean import (
    BN_LETTERS,
    STRAY_ZWJ,
    NuktaForm,
    clean_unicode,
    repair_bangla,
    set_nukta_form,
)
from function.text.user_lexicon import UserLexicon

# What the output may contain besides letters and spaces.
ALLOWED_PUNCTUATION = "।,?!;:-'\"."
# Bangla letters, vowel signs, virama, nukta (no digits, no ৳ or currency numerators), ZWJ (only
# inside র‍্য), the allowed punctuation; Latin letters only where a user lexicon's spoken form has
# them (every other Latin word has been read into Bangla letters by then).
_BN_LETTERS = BN_LETTERS
_LATIN_LETTERS = "A-Za-z"
_LETTER = _BN_LETTERS + _LATIN_LETTERS
_OUTSIDE = re.compile(f"[^{_LETTER}\u200d {re.escape(ALLOWED_PUNCTUATION)}]+")
MAX_WORD_CHARS = 50  # longer runs without a space are cut, so a chunk limit of >= 50 always fits

_NEWLINE_AFTER_STOP = re.compile(r"(?<=[।?!.,;:])[ \n]*\n[ \n]*")
# Possessive runs, started only at a run's first space: a long run of spaces with no newline (or
# punctuation, or end) after it is then scanned once, not once from each of its spaces (quadratic).
_NEWLINE = re.compile(r"(?<! ) *+\n[ \n]*")
# "১. চাল" at the start of a line is a numbered item, read "এক, চাল", not a sentence "এক।".
_LIST_NUMBER = re.compile(r"^ *([0-9]{1,3})[.)] +", re.MULTILINE)
_ELLIPSIS = re.compile(r"\.{2,}+")
# Patterns start with the character they act on and look behind after it: the regex engine then
# skips ahead in C instead of trying the pattern at every position.
_DOT_AFTER_BN = re.compile(f"\\.(?<=[{_BN_LETTERS}]\\.)")
_STRAY_DOT = re.compile(f"\\.(?<![{_LATIN_LETTERS}]\\.)")
_STRAY_HYPHEN = re.compile(f"-(?:(?<![{_LETTER}]-)|(?![{_LETTER}]))")
_SPACE_BEFORE_PUNCT = re.compile(r"(?<! ) ++(?=[।?!.,;:])")
_PUNCT_RUN = re.compile(r"[।?!.,;:](?: ?[।?!.,;:])++")
_STRENGTH = "?!।.;:,"  # a run of marks keeps the strongest one
_NO_SPACE_AFTER = re.compile(f"([।?!,;:])(?=[^ {re.escape(ALLOWED_PUNCTUATION)}])")
_SPACES = re.compile(r" {2,}")
_LEADING = re.compile(r"^[ ।?!.,;:]+")
_TRAILING_PAUSE = re.compile(r"(?<![ ,;:])[ ,;:]++$")  # a pause with nothing after it
_LONG_WORD = re.compile(f"[^ ](?<![^ ][^ ])[^ ]{{{MAX_WORD_CHARS},}}")


def _strongest(m: re.Match[str]) -> str:
    run = m.group()
    return next(c for c in _STRENGTH if c in run)


def _tidy(text: str) -> str:
    """Only allowed characters, one space between words, punctuation attached to the word before."""
    text = _ELLIPSIS.sub(",", text)
    text = _OUTSIDE.sub(" ", text)
    if "\u200d" in text:
        text = STRAY_ZWJ.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    text = _DOT_AFTER_BN.sub("।", text)
    text = _STRAY_DOT.sub(" ", text)
    text = _STRAY_HYPHEN.sub(",", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    text = _PUNCT_RUN.sub(_strongest, text)
    text = _NO_SPACE_AFTER.sub(r"\1 ", text)
    text = _TRAILING_PAUSE.sub("", _LEADING.sub("", text))
    return _LONG_WORD.sub(lambda m: " ".join(cut_word(m.group(), MAX_WORD_CHARS)), text)


def normalize_bangla_text(
    text: str,
    *,
    nukta: NuktaForm = "decomposed",
    lexicon: UserLexicon | None = None,
    matched: list[str] | None = None,
) -> str:
    """Text as XTTS should read it: every number, date, amount, abbreviation, symbol and English
    word in Bangla letters; only Bangla letters, single spaces and ALLOWED_PUNCTUATION remain (and
    Latin letters where the lexicon's spoken forms have them).

    nukta picks how য় ড় ঢ় are written: "decomposed" (base + ়, what NFC and NFKC give) or
    "composed" (U+09DF U+09DC U+09DD); use the form the model's vocab was trained on. lexicon: the
    user's readings of whole words, applied before the reading rules (addresses are split into
    words first, so an entry also applies to a word of a web address); `matched` gets the key of
    each lexicon entry that applied."""
    if nukta not in ("composed", "decomposed"):
        raise ValueError(f"nukta must be 'composed' or 'decomposed', got {nukta!r}")
    text = clean_unicode(text)
    # A line break ends a sentence (a headline has no দাঁড়ি); after a mark it is only a space.
    text = _LIST_NUMBER.sub(r"\1, ", text)
    text = _NEWLINE_AFTER_STOP.sub(" ", text)
    text = _NEWLINE.sub("। ", text)
    text = expand_addresses(text)
    if lexicon is not None:
        text = lexicon.protect(text, matched)
    text = expand_numbers(text)
    text = expand_words(text)
    text = read_english(text)
    if lexicon is not None:
        text = lexicon.restore(text)
    text = _tidy(text)
    if ":" in text:  # removing a character may have put an abbreviation before a colon (ড😀: -> ড:)
        expanded = expand_colon_abbreviations(text)
        text = text if expanded == text else _tidy(expanded)
    # Removing characters may have joined a vowel sign to another or left a repairable pair.
    text = repair_bangla(unicodedata.normalize("NFC", text))
    return set_nukta_form(text, nukta)
