"""Pronunciation dictionaries: alias rules (ElevenLabs' shape, or a W3C PLS file's lexemes) checked
for what this model can read, and several dictionaries merged with the global lexicon into the one
lexicon a request is read with.

A rule replaces a whole word or phrase (`string_to_replace`) with how to say it (`alias`), before the
front-end's own reading rules, as TTS_LEXICON_PATH's entries do; the alias is not read again.
Capitalisation: `case_sensitive` true matches only as written, false in any capitalisation; unset
follows TTS_LEXICON_PATH (a Latin key in lower or Title case matches any capitalisation).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape as xml_escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from function.text.unicode_clean import clean_unicode
from function.text.user_lexicon import UserLexicon
from function.text.word_list import WORD, WordList, WordListError, spoken_form

MAX_RULES = 5000  # a dictionary's rules
MAX_KEY_CHARS = 100
MAX_ALIAS_CHARS = 300
MAX_PLS_BYTES = 2**20
MAX_DICTIONARIES = 3  # per request, as ElevenLabs allows
_PLS_NS = "{http://www.w3.org/2005/01/pronunciation-lexicon}"
# A key: words as the lexicon finds them in text (word_list.WORD), one space apart.
_KEY = re.compile(f"{WORD}(?: {WORD})*")


class DictionaryError(ValueError):
    """Rules or a PLS file that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class AliasRule:
    string_to_replace: str
    alias: str
    case_sensitive: bool | None = None  # None: as TTS_LEXICON_PATH

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "string_to_replace": self.string_to_replace,
            "type": "alias",
            "alias": self.alias,
        }
        if self.case_sensitive is not None:
            out["case_sensitive"] = self.case_sensitive
        return out


def rules_from_json(items: Sequence[dict[str, Any]]) -> list[AliasRule]:
    """ElevenLabs' rule objects -> checked rules. Phoneme rules are refused: this model reads letters."""
    rules = []
    for n, item in enumerate(items, start=1):
        kind = item.get("type", "alias")
        if kind == "phoneme":
            raise DictionaryError(
                f"rule {n}: phoneme rules are not supported (this model reads letters, not phonemes): "
                'write how the word sounds as an alias rule, {"type": "alias", "alias": "…"}'
            )
        if kind != "alias":
            raise DictionaryError(f'rule {n}: type must be "alias", not {kind!r}')
        if item.get("word_boundaries") is False:
            raise DictionaryError(
                f"rule {n}: rules match whole words and phrases only (word_boundaries false)"
            )
        key, alias = item.get("string_to_replace"), item.get("alias")
        if not isinstance(key, str) or not isinstance(alias, str):
            raise DictionaryError(f"rule {n}: string_to_replace and alias must be strings")
        case = item.get("case_sensitive")
        if case is not None and not isinstance(case, bool):
            raise DictionaryError(f"rule {n}: case_sensitive must be true or false")
        rules.append(AliasRule(key, alias, case))
    return check_rules(rules)


def rules_from_pls(data: bytes) -> list[AliasRule]:
    """A W3C PLS lexicon's <lexeme>s with an <alias> -> checked rules (every <grapheme> of a lexeme
    gets its alias). Parsed without DTDs, entities or external references."""
    if len(data) > MAX_PLS_BYTES:
        raise DictionaryError(f"the PLS file is {len(data)} bytes; at most {MAX_PLS_BYTES} are accepted")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ParseError as exc:
        line, column = exc.position
        raise DictionaryError(
            f"the PLS file is not well-formed XML: line {line}, column {column + 1}"
        ) from None
    except (ValueError, LookupError) as exc:  # an encoding expat cannot read
        raise DictionaryError(f"the PLS file cannot be read: {exc}") from None
    except DefusedXmlException:
        raise DictionaryError(
            "the PLS file may not hold a DTD, entity declarations or external references"
        ) from None
    if root.tag not in (f"{_PLS_NS}lexicon", "lexicon"):
        raise DictionaryError(
            "a PLS file's root element is <lexicon> (xmlns http://www.w3.org/2005/01/pronunciation-lexicon)"
        )
    rules = []
    for n, lexeme in enumerate(_children(root, "lexeme"), start=1):
        graphemes = [" ".join((g.text or "").split()) for g in _children(lexeme, "grapheme")]
        aliases = [" ".join((a.text or "").split()) for a in _children(lexeme, "alias")]
        if not aliases:
            what = "a <phoneme>" if _children(lexeme, "phoneme") else "no <alias>"
            raise DictionaryError(
                f"lexeme {n} ({', '.join(graphemes) or 'no grapheme'}) has {what}: only alias lexemes are "
                "supported (this model reads letters, not phonemes); write <alias>how it sounds</alias>"
            )
        if not graphemes:
            raise DictionaryError(f"lexeme {n} has no <grapheme>")
        rules += [AliasRule(g, aliases[0]) for g in graphemes]
    return check_rules(rules)


def _children(element: Any, name: str) -> list[Any]:
    return [c for c in element if c.tag in (f"{_PLS_NS}{name}", name)]


def check_rules(rules: Sequence[AliasRule]) -> list[AliasRule]:
    """Keys that are words or phrases, aliases the model can read, no key twice, within the limits;
    and no alias holding another rule's key (it would read differently once that rule applied)."""
    if len(rules) > MAX_RULES:
        raise DictionaryError(f"{len(rules)} rules; a dictionary holds at most {MAX_RULES}")
    checked: list[AliasRule] = []
    seen: dict[str, int] = {}
    for n, rule in enumerate(rules, start=1):
        key = " ".join(clean_unicode(rule.string_to_replace).split())
        if not key or len(key) > MAX_KEY_CHARS or not _KEY.fullmatch(key):
            raise DictionaryError(
                f"rule {n}: {rule.string_to_replace!r} is not a word or phrase of Bangla or Latin letters "
                f"(at most {MAX_KEY_CHARS} characters; a word is of one script, may end in a full "
                "stop, and a Latin word may have apostrophes between letters)"
            )
        if len(rule.alias) > MAX_ALIAS_CHARS:
            raise DictionaryError(f"rule {n}: the alias is over {MAX_ALIAS_CHARS} characters")
        try:
            alias = spoken_form(rule.alias, f"rule {n} ({key})")
        except WordListError as exc:
            raise DictionaryError(str(exc)) from None
        stored = stored_key(AliasRule(key, alias, rule.case_sensitive))
        if stored in seen:
            raise DictionaryError(f"rule {n}: {key!r} is given again (first in rule {seen[stored]})")
        seen[stored] = n
        checked.append(AliasRule(key, alias, rule.case_sensitive))
    lexicon_of([checked], None, source="this dictionary")  # the alias-holds-a-key check
    return checked


def _fold(rule: AliasRule) -> bool:
    """Whether the rule matches in any capitalisation."""
    key = rule.string_to_replace
    return key.isascii() and (_folds(key) if rule.case_sensitive is None else not rule.case_sensitive)


def stored_key(rule: AliasRule) -> str:
    """How the rule's key is kept in a lexicon: lower case when it matches in any capitalisation."""
    return rule.string_to_replace.lower() if _fold(rule) else rule.string_to_replace


def _folds(key: str) -> bool:
    """As TTS_LEXICON_PATH: Latin words each in lower or Title case match any capitalisation."""
    return key.isascii() and all(w[:1].isalpha() and w[1:] == w[1:].lower() for w in key.split())


def lexicon_of(
    dictionaries: Sequence[Sequence[AliasRule]], base: UserLexicon | None, *, source: str
) -> UserLexicon:
    """One lexicon: the dictionaries in order (an earlier one's rule wins a key), then `base`
    (TTS_LEXICON_PATH). Raises DictionaryError when an alias holds another rule's key."""
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    lines: dict[str, int] = {}
    for rules in dictionaries:
        for rule in rules:
            key, table = stored_key(rule), folded if _fold(rule) else exact
            if key not in table:
                table[key] = rule.alias
                lines[key] = len(lines) + 1
    if base is not None:
        for key, spoken in base.words.exact.items():
            exact.setdefault(key, spoken)
        for key, spoken in base.words.folded.items():
            folded.setdefault(key, spoken)
    try:
        return UserLexicon(WordList(exact, folded, lines), source)
    except WordListError as exc:
        raise DictionaryError(str(exc).replace("line ", "rule ")) from None


def to_pls(rules: Sequence[AliasRule], language: str = "bn-BD") -> bytes:
    """The rules as a W3C PLS file (what a download returns)."""
    lexemes = "".join(
        f"  <lexeme>\n    <grapheme>{xml_escape(r.string_to_replace)}</grapheme>\n"
        f"    <alias>{xml_escape(r.alias)}</alias>\n  </lexeme>\n"
        for r in rules
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" '
        f'alphabet="ipa" xml:lang="{xml_escape(language)}">\n{lexemes}</lexicon>\n'
    ).encode()
