"""The newsroom's own readings (TTS_LEXICON_PATH): whole words replaced before the reading rules, in a
form no later rule changes.

Each matched word becomes a private-use placeholder (clean_unicode has removed every such character
from the input, so none can be forged); the rules pass it by, and restore() puts the spoken form in
its place before the final tidy-up.
"""

from __future__ import annotations

import re

from function.text.unicode_clean import BN_LETTERS, ZWJ
from function.text.word_list import BANGLA_WORD, LATIN_WORD, WordList, WordListError, parse_word_list

_BASE = 0xF0000  # Supplementary Private Use Area-A: one code point per entry
MAX_ENTRIES = 65_000  # different spoken forms (and Latin words in them): fewer than the area holds
_PLACEHOLDER = re.compile("[\U000f0000-\U000ffffd]")
_LATIN_WORD = re.compile(LATIN_WORD)
_BANGLA_WORD = re.compile(BANGLA_WORD)


class UserLexicon:
    """Entries of a word list, applied to whole words: a Latin key in lower or Title case matches
    any capitalisation, any other key only as written (see word_list)."""

    def __init__(self, words: WordList, source: str) -> None:
        self.words = words
        self.entries = len(words)
        self._spoken: list[str] = []  # placeholder index -> spoken form
        self._index: dict[str, int] = {}
        for _, spoken in words.items():
            self._add(spoken)
        self._keep_latin_words_of_spoken_forms(source)
        if len(self._spoken) > MAX_ENTRIES:  # each needs a placeholder
            raise WordListError(
                f"{source}: {len(self._spoken)} different spoken forms, more than the {MAX_ENTRIES} allowed"
            )
        keys = [k for k, _ in words.items()]
        scripts = [LATIN_WORD] if any(k.isascii() for k in keys) else []
        if any(not k.isascii() for k in keys):
            scripts.append(BANGLA_WORD)
        alternatives = [f"(?:{'|'.join(scripts)})\\.?"] if scripts else []
        phrases = sorted((k for k in keys if " " in k), key=len, reverse=True)
        if phrases:  # several words (a pronunciation dictionary's "Sheikh Hasina"): tried first
            alternatives.insert(0, _phrases(phrases, words))
        self._token = re.compile("|".join(alternatives)) if alternatives else None

    def _keep_latin_words_of_spoken_forms(self, source: str) -> None:
        """A word of a spoken form must read as itself when the output is read again (idempotence):
        it may not be another entry's word, and a Latin word there is kept as written."""
        extra: dict[str, str] = {}
        for line, _, spoken in sorted((self.words.line_of(k), k, v) for k, v in self.words.items()):
            for m in (*_LATIN_WORD.finditer(spoken), *_BANGLA_WORD.finditer(spoken)):
                word = m.group()
                reading = self.words.get(word)
                if reading is not None and reading != word:
                    raise WordListError(
                        f"{source}: line {line}: the spoken form contains {word!r}, which line "
                        f"{self.words.line_of(word)} reads as {reading!r}: a spoken form is not read "
                        "again, so write the final reading here"
                    )
                if reading is None and word.isascii():
                    extra[word] = word
        for word in extra:
            self.words.exact[word] = word
            self._add(word)

    def _add(self, spoken: str) -> None:
        if spoken not in self._index:
            self._index[spoken] = len(self._spoken)
            self._spoken.append(spoken)

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> UserLexicon:
        """Parse a UTF-8 word list; raise WordListError (a ValueError) naming `source` and the line."""
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise WordListError(f"{source}: not UTF-8 text (byte {exc.start})") from None
        return cls(parse_word_list(text, source), source)

    def __len__(self) -> int:
        return self.entries

    def _replace(self, m: re.Match[str], matched: list[str] | None = None) -> str:
        token = " ".join(m.group().split())
        word, dot = (token[:-1], ".") if token.endswith(".") else (token, "")
        choices = [(token, ""), (word, dot)]
        if word.endswith("'s"):  # Yunus's: the entry and an s, as English words are read (ইউনূসস)
            choices.append((word[:-2], "স" + dot))
        found = [(spoken, tail) for key, tail in choices if (spoken := self.words.get(key)) is not None]
        if not found:
            return token
        spoken, tail = found[0]
        if matched is not None:  # the entry's key as stored (a folding key in lower case)
            key = next(key for key, _ in choices if self.words.get(key) is not None)
            matched.append(key if key in self.words.exact else key.lower())
        text, start, end = m.string, m.start(), m.end()
        # A number glued to the word (COVID19) would be read into it: keep them apart.
        before = " " if start and text[start - 1].isdigit() else ""
        after = " " if end < len(text) and text[end].isdigit() else ""
        return f"{before}{chr(_BASE + self._index[spoken])}{tail}{after}"

    def protect(self, text: str, matched: list[str] | None = None) -> str:
        """Every whole word (or phrase) with an entry -> its placeholder; `matched` gets each key
        that matched, in order."""
        if self._token is None:
            return text
        return self._token.sub(lambda m: self._replace(m, matched), text)

    def restore(self, text: str) -> str:
        """Placeholders -> the spoken forms."""
        return _PLACEHOLDER.sub(lambda m: self._spoken[ord(m.group()) - _BASE], text)


_LETTER = f"A-Za-z{BN_LETTERS}{ZWJ}"


def _phrases(phrases: list[str], words: WordList) -> str:
    """Whole phrases, longest first, any run of whitespace between their words; a phrase that folds
    (every word lower or Title case) in any capitalisation."""
    alternatives = []
    for phrase in phrases:
        pattern = r"\s+".join(map(re.escape, phrase.split()))
        alternatives.append(f"(?i:{pattern})" if phrase in words.folded else pattern)
    return f"(?<![{_LETTER}'])(?:{'|'.join(alternatives)})(?![{_LETTER}'])"
