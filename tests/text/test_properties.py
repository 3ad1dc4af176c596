"""Properties that hold for any input: no crash, idempotent, nothing unreadable left, and the
sentence splitter loses nothing and respects its limit."""

import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.text import ALLOWED_PUNCTUATION, MAX_WORD_CHARS, normalize_bangla_text, split_sentences
from function.text.user_lexicon import UserLexicon

# Bangla-heavy text with the characters the rules react to, plus anything Unicode has.
_INTERESTING = (
    "০১২৩৪৫৬৭৮৯0123456789.,:;/-–—%৳$£€₹+−½¼¾। ?!\n\t\u00a0\u200c\u200d\u200b\u09bc\u09cd"
    "কখগঘঙচছজঝঞটঠডঢণতথদধনপফবভমযরলশষসহড়ঢ়য়ৎংঃঁ"
    "ািীুূৃেৈোৌ অআইঈউঊঋএঐওঔ ABCXYZabcxyz @#&*()\"'“”‘’… টাকা সাল মার্চ ডা মো কি মি PM AM Tk"
    "\ud800\udc00\udfff\x00\x1b\u202e\ufeff😀"
)
bangla_text = st.text(alphabet=st.sampled_from(_INTERESTING), max_size=200)
# Every code point, lone surrogates (category Cs, excluded by default) and controls included.
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=200)
# Code-mixed text: English words, names, a user lexicon's words, addresses, glued case endings.
_WORDS = (
    "Facebook",
    "iPhone",
    "YouTube",
    "Dr.",
    "Yunus",
    "yunus",
    "XTTS",
    "bkash",
    "bKash",
    "ঢাবি",
    "Rahman's",
    "www.prothomalo.com",
    "info@bsmmu.edu.bd",
    "café",
    "Zürich",
    "ami",
    "tomake",
    "bsmmu",
    "A.",
    "e.g.",
    "-এর",
    "এ",
    "টি",
    "node.js",
    "McDonald's",
    "PhD",
    "COVID19",
    "১৯৭১",
    "৳১০০",
    "সালে",
)
mixed_text = st.lists(st.one_of(st.sampled_from(_WORDS), bangla_text), max_size=8).map(" ".join)
texts = st.one_of(bangla_text, any_text, mixed_text, st.lists(bangla_text, max_size=5).map("".join))

_BANGLA = (
    "\u0981-\u0983\u0985-\u098c\u098f\u0990\u0993-\u09a8\u09aa-\u09b0\u09b2\u09b6-\u09b9"
    "\u09bc-\u09c4\u09c7\u09c8\u09cb-\u09ce\u09d7\u09dc\u09dd\u09df-\u09e3"
)
# No Latin letter: every English word is read into Bangla letters.
_ALLOWED = re.compile(f"[{_BANGLA}\u200d {re.escape(ALLOWED_PUNCTUATION)}]*")
# A newsroom's lexicon that keeps two words in Latin letters (the model reads them that way).
LEXICON = UserLexicon.from_bytes(
    "yunus\tইউনূস\nXTTS\tXTTS\nbkash\tbKash\nঢাবি\tঢাকা বিশ্ববিদ্যালয়\nDr.\tডাক্তার\n".encode(), "test lexicon"
)
_LEXICON_LATIN = {"XTTS", "bKash"}
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(texts)
def test_never_raises_and_output_is_readable(text: str) -> None:
    out = normalize_bangla_text(text)
    assert _ALLOWED.fullmatch(out), out
    assert not any(unicodedata.category(c) == "Nd" for c in out)
    assert not any(unicodedata.numeric(c, None) is not None for c in out)
    assert out == out.strip() and "  " not in out
    assert all(len(word) <= MAX_WORD_CHARS for word in out.split(" "))
    # ZWJ only where it forms র‍্য.
    assert re.search("(?<!\u09b0)\u200d|\u200d(?!\u09cd\u09af)", out) is None


@SETTINGS
@given(texts)
def test_latin_letters_only_where_the_user_lexicon_says_so(text: str) -> None:
    out = normalize_bangla_text(text, lexicon=LEXICON)
    assert set(re.findall("[A-Za-z]+", out)) <= _LEXICON_LATIN, out
    assert normalize_bangla_text(out, lexicon=LEXICON) == out, ascii((text, out))


@SETTINGS
@given(texts, st.sampled_from(["composed", "decomposed"]))
def test_idempotent(text: str, form: str) -> None:
    once = normalize_bangla_text(text, nukta=form)  # type: ignore[arg-type]
    twice = normalize_bangla_text(once, nukta=form)  # type: ignore[arg-type]
    assert twice == once, ascii((text, once, twice))


@SETTINGS
@given(texts)
def test_nukta_forms_differ_only_in_the_three_letters(text: str) -> None:
    decomposed = normalize_bangla_text(text, nukta="decomposed")
    composed = normalize_bangla_text(text, nukta="composed")
    assert not re.search("[\u09dc\u09dd\u09df]", decomposed)
    assert not re.search("[\u09af\u09a1\u09a2]\u09bc", composed)
    assert unicodedata.normalize("NFC", composed) == decomposed


@SETTINGS
@given(texts, st.integers(min_value=MAX_WORD_CHARS, max_value=300))
def test_split_join_gives_back_the_normalized_text(text: str, max_chars: int) -> None:
    normalized = normalize_bangla_text(text)
    chunks = split_sentences(normalized, max_chars)
    assert " ".join(chunks) == normalized
    assert all(0 < len(c) <= max_chars for c in chunks)
    assert all(c == c.strip() for c in chunks)


@SETTINGS
@given(texts, st.integers(min_value=1, max_value=60))
def test_no_chunk_exceeds_the_limit_even_on_raw_text(text: str, max_chars: int) -> None:
    chunks = split_sentences(text, max_chars)
    assert all(0 < len(c) <= max_chars for c in chunks)
    # Nothing is lost: only whitespace differs.
    assert "".join("".join(chunks).split()) == "".join(text.split())


def test_idempotent_when_removal_brings_letters_together() -> None:
    # A dot or symbol between two characters that a repair joins: found by hypothesis.
    for text in ("অ.া", "ত্.", "কে.া", "ত্😀", "ব.়", "ড−:0"):
        once = normalize_bangla_text(text)
        assert normalize_bangla_text(once) == once, ascii((text, once))


def test_ten_thousand_character_inputs() -> None:
    for text in ("ক" * 10_000, "১" * 10_000, "\ud800" * 10_000, "a1." * 3_400, "৳" * 10_000):
        out = normalize_bangla_text(text)
        assert _ALLOWED.fullmatch(out)
        assert " ".join(split_sentences(out, 200)) == out
