"""Word lists, one `WORD<TAB>SPOKEN FORM` entry a line: the user lexicon (TTS_LEXICON_PATH) and the
built-in loanword list. Parsed and validated here; every error names the list and the line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from function.text.unicode_clean import BN_LETTERS, ZWJ, clean_unicode

# A word: Bangla letters, or Latin letters maybe with apostrophes (O'Brien, Cox's); maybe ending in an
# abbreviation's full stop (ডা., Dr.).
LATIN_WORD = "[A-Za-z]++(?:'[A-Za-z]++)*+"
BANGLA_WORD = f"[{BN_LETTERS}{ZWJ}]++"
WORD = f"(?:{LATIN_WORD}|{BANGLA_WORD})\\.?"
_WORD = re.compile(WORD)
# What a spoken form may hold: what the model reads (Bangla and Latin letters), spaces, - and '.
SPOKEN_CHARS = f"{BN_LETTERS}{ZWJ}A-Za-z '\\-"
_SPOKEN = re.compile(f"[{SPOKEN_CHARS}]+")
_NOT_SPOKEN = re.compile(f"[^{SPOKEN_CHARS}]")


class WordListError(ValueError):
    """A word list cannot be used; the message names the list and the line."""


def _folds(word: str) -> bool:
    """A Latin word in lower case or with only its first letter capital (yunus, Yunus) matches in
    any capitalisation; any other (BASIS, iPhone) and every Bangla word only as written."""
    return word.isascii() and word[:1].isalpha() and word[1:] == word[1:].lower()


@dataclass(frozen=True)
class WordList:
    exact: dict[str, str]  # matched as written
    folded: dict[str, str]  # lower-cased key: matched in any capitalisation
    lines: dict[str, int]  # stored key -> its line, for messages

    def get(self, word: str) -> str | None:
        """The spoken form of `word`, or None."""
        spoken = self.exact.get(word)
        if spoken is None and word.isascii():
            spoken = self.folded.get(word.lower())
        return spoken

    def line_of(self, word: str) -> int:
        return self.lines.get(word, self.lines.get(word.lower(), 0))

    def items(self) -> Iterator[tuple[str, str]]:
        yield from self.exact.items()
        yield from self.folded.items()

    def __len__(self) -> int:
        return len(self.exact) + len(self.folded)


def spoken_form(raw: str, where: str) -> str:
    spoken = " ".join(clean_unicode(raw).split())
    if not spoken:
        raise WordListError(f"{where}: the spoken form is empty")
    bad = _NOT_SPOKEN.search(spoken)
    if bad:
        char = bad.group()
        hint = "write numbers in words; " if char.isdigit() else ""
        raise WordListError(
            f"{where}: the spoken form has {char!r} (U+{ord(char):04X}), which the model cannot read: "
            f"{hint}use Bangla or Latin letters, spaces, - and '"
        )
    return spoken


def parse_word_list(text: str, source: str) -> WordList:
    """Entries `WORD<TAB>SPOKEN FORM`; blank lines and lines starting with # are skipped. WORD is one
    word (Bangla or Latin letters, maybe a final full stop); the spoken form is what the model should
    read instead. Raises WordListError naming `source` and the line."""
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{source}: line {number}"
        columns = line.split("\t")
        if len(columns) != 2:
            raise WordListError(
                f"{where}: expected the word, one tab, then how to say it; found {len(columns)} "
                f"tab-separated column{'s' if len(columns) != 1 else ''}"
            )
        word = clean_unicode(columns[0].strip())
        if not _WORD.fullmatch(word):
            raise WordListError(
                f"{where}: {columns[0].strip()!r} is not one word of Bangla or Latin letters "
                "(an abbreviation may end in a full stop, a Latin word may have apostrophes)"
            )
        key, table = (word.lower(), folded) if _folds(word) else (word, exact)
        if key in lines:
            raise WordListError(f"{where}: {word!r} is given again (first on line {lines[key]})")
        table[key] = spoken_form(columns[1], where)
        lines[key] = number
    return WordList(exact, folded, lines)
