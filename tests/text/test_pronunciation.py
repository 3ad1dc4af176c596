"""Pronunciation dictionaries in the front-end: alias rules and PLS files checked, merged in order
with the global lexicon, matched as whole words and phrases, reported when they apply."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from function.text import normalize_bangla_text
from function.text.pronunciation import (
    AliasRule,
    DictionaryError,
    lexicon_of,
    rules_from_json,
    rules_from_pls,
    to_pls,
)
from function.text.user_lexicon import UserLexicon

PLS = """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"
         alphabet="ipa" xml:lang="bn-BD">
  <lexeme><grapheme>BTRC</grapheme><alias>বিটিআরসি</alias></lexeme>
  <lexeme>
    <grapheme>Sheikh Hasina</grapheme>
    <grapheme>Hasina</grapheme>
    <alias>শেখ হাসিনা</alias>
  </lexeme>
</lexicon>
""".encode()


def read(text: str, *dictionaries: list[AliasRule], base: UserLexicon | None = None) -> tuple[str, list[str]]:
    matched: list[str] = []
    lexicon = lexicon_of(list(dictionaries), base, source="test")
    return normalize_bangla_text(text, lexicon=lexicon, matched=matched), matched


def test_a_pls_files_alias_lexemes_are_rules_every_grapheme_its_own() -> None:
    assert rules_from_pls(PLS) == [
        AliasRule("BTRC", "বিটিআরসি"),
        AliasRule("Sheikh Hasina", "শেখ হাসিনা"),
        AliasRule("Hasina", "শেখ হাসিনা"),
    ]
    # what a download gives back reads as the same rules
    assert rules_from_pls(to_pls(rules_from_pls(PLS))) == rules_from_pls(PLS)


def test_rules_replace_whole_words_and_phrases_before_the_reading_rules() -> None:
    rules = rules_from_json(
        [
            {"string_to_replace": "BTRC", "type": "alias", "alias": "বাংলাদেশ টেলিযোগাযোগ নিয়ন্ত্রণ কমিশন"},
            {"string_to_replace": "New York", "type": "alias", "alias": "নিউইয়র্ক"},
            {"string_to_replace": "iPhone", "type": "alias", "alias": "আইফোন"},
            {"string_to_replace": "ঢাবি", "type": "alias", "alias": "ঢাকা বিশ্ববিদ্যালয়"},
        ]
    )
    text, matched = read("BTRC-র ২ নির্দেশ, NEW  YORK থেকে iPhone এল; ঢাবি খোলা, ঢাবিতে নয়, BTRCs নয়।", rules)
    assert text.startswith("বাংলাদেশ টেলিযোগাযোগ নিয়ন্ত্রণ কমিশন-র দুই নির্দেশ, নিউইয়র্ক থেকে আইফোন এল;")
    assert "ঢাকা বিশ্ববিদ্যালয় খোলা, ঢাবিতে নয়" in text  # whole words only
    assert matched == ["BTRC", "new york", "iPhone", "ঢাবি"]  # folded keys in lower case


@pytest.mark.parametrize(
    ("rule", "text", "applies"),
    [
        ({"string_to_replace": "zorp"}, "ZORP Zorp zorp", 3),  # lower case: any capitalisation
        ({"string_to_replace": "Zorp"}, "ZORP Zorp zorp", 3),  # Title case: any capitalisation
        ({"string_to_replace": "ZORP"}, "ZORP Zorp zorp", 1),  # otherwise as written
        ({"string_to_replace": "zorp", "case_sensitive": True}, "ZORP Zorp zorp", 1),
        ({"string_to_replace": "ZORP", "case_sensitive": False}, "ZORP Zorp zorp", 3),
    ],
)
def test_capitalisation_follows_the_global_lexicon_unless_the_rule_says(
    rule: dict, text: str, applies: int
) -> None:
    rules = rules_from_json([{"type": "alias", "alias": "জর্প", **rule}])
    out, matched = read(text, rules)
    assert out.count("জর্প") == applies == len(matched)


def test_dictionaries_apply_in_order_then_the_global_lexicon() -> None:
    first = rules_from_json([{"string_to_replace": "Rahim", "alias": "রহিম"}])
    second = rules_from_json(
        [{"string_to_replace": "Rahim", "alias": "রাহিম"}, {"string_to_replace": "Karim", "alias": "কারিম"}]
    )
    base = UserLexicon.from_bytes("Karim\tকরিম\nSalam\tসালাম\n".encode(), "TTS_LEXICON_PATH")
    assert read("Rahim Karim Salam", first, second, base=base)[0] == "রহিম কারিম সালাম"
    assert read("Rahim Karim Salam", second, first, base=base)[0] == "রাহিম কারিম সালাম"


@pytest.mark.parametrize(
    ("rules", "says"),
    [
        (
            [{"string_to_replace": "UN", "type": "phoneme", "phoneme": "juːɛn", "alphabet": "ipa"}],
            "not phonemes",
        ),
        ([{"string_to_replace": "UN", "alias": "ইউ এন", "word_boundaries": False}], "whole words"),
        ([{"string_to_replace": "১২৩", "alias": "এক"}], "not a word or phrase"),
        ([{"string_to_replace": "UN", "alias": "৫ জন"}], "numbers in words"),
        ([{"string_to_replace": "UN", "alias": ""}], "empty"),
        (
            [{"string_to_replace": "a b", "alias": "ক"}, {"string_to_replace": "A B", "alias": "খ"}],
            "given again",
        ),
        # an alias holding another rule's key would read differently once that rule applied
        (
            [{"string_to_replace": "UN", "alias": "ইউ এন"}, {"string_to_replace": "WHO", "alias": "UN সংস্থা"}],
            "UN",
        ),
        ([{"string_to_replace": "x", "type": "regex", "alias": "ক"}], "alias"),
    ],
)
def test_rules_the_model_cannot_use_are_refused_saying_why(rules: list[dict], says: str) -> None:
    with pytest.raises(DictionaryError, match=says):
        rules_from_json(rules)


@pytest.mark.parametrize(
    ("pls", "says"),
    [
        (b'<lexicon xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"><lexeme><grapheme>UN</grapheme>'
         b"<phoneme>ju\xcb\x90\xc9\x9bn</phoneme></lexeme></lexicon>", "only alias lexemes"),
        (b"<lexicon><lexeme><alias>x</alias></lexeme></lexicon>", "no <grapheme>"),
        (b"<lexeme/>", "root element is <lexicon>"),
        (b"<lexicon>\n<lexeme></lexicon>", "line 2"),
        (b'<!DOCTYPE l [<!ENTITY a "b">]><lexicon/>', "DTD"),
        (b"<lexicon>" + b" " * (2**20), "bytes"),
    ],
)  # fmt: skip
def test_a_pls_file_that_cannot_be_used_is_refused_saying_why(pls: bytes, says: str) -> None:
    with pytest.raises(DictionaryError, match=says):
        rules_from_pls(pls)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Found by this test in CI: keys the lexicon can never find in text, accepted until they had to be
# words as the lexicon finds them (an apostrophe between Latin letters, one script per word).
@example(lexemes=[(["'"], "a")])
@example(lexemes=[(["aক"], "a")])
@given(
    lexemes=st.lists(
        st.tuples(
            st.lists(st.text(alphabet="abcXYZ কখগ.'<&", min_size=0, max_size=8), max_size=3),
            st.one_of(st.none(), st.text(alphabet="abc কখ-'১&<", max_size=10)),
        ),
        max_size=6,
    )
)
def test_any_pls_file_gives_rules_or_a_clear_refusal(lexemes: list[tuple[list[str], str | None]]) -> None:
    from xml.sax.saxutils import escape

    body = "".join(
        "<lexeme>"
        + "".join(f"<grapheme>{escape(g)}</grapheme>" for g in graphemes)
        + (f"<alias>{escape(alias)}</alias>" if alias is not None else "<phoneme>x</phoneme>")
        + "</lexeme>"
        for graphemes, alias in lexemes
    )
    t0 = time.perf_counter()
    try:
        rules = rules_from_pls(
            f'<lexicon xmlns="http://www.w3.org/2005/01/pronunciation-lexicon">{body}</lexicon>'.encode()
        )
    except DictionaryError as exc:
        assert str(exc)
        return
    assert time.perf_counter() - t0 < 1
    lexicon = lexicon_of([rules], None, source="fuzz")
    for rule in rules:  # every rule, once accepted, reads its key as its alias
        assert lexicon.restore(lexicon.protect(rule.string_to_replace)) == rule.alias
