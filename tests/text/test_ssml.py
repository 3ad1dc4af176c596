"""SSML -> the parts the engine speaks: what each element does, and what is refused, where."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.text.ssml import MAX_DEPTH, Part, SsmlError, inline_breaks, is_ssml, parse_ssml

NS = 'xmlns="http://www.w3.org/2001/10/synthesis" version="1.1" xml:lang="bn-BD"'


@pytest.mark.parametrize(
    ("ssml", "parts"),
    [
        # breaks: exactly the time given, or the strength's length; none at a document's edges is lost
        (
            '<speak>আমি ভাত খাই।<break time="700ms"/>তুমি কী খাও?</speak>',
            [Part("আমি ভাত খাই।", pause_after=0.7), Part("তুমি কী খাও?")],
        ),
        ('<speak>এক<break time="1.5s"/>দুই</speak>', [Part("এক", pause_after=1.5), Part("দুই")]),
        ('<speak>এক<break strength="strong"/>দুই</speak>', [Part("এক", pause_after=0.75), Part("দুই")]),
        ("<speak>এক<break/>দুই</speak>", [Part("এক", pause_after=0.4), Part("দুই")]),
        ('<speak>এক<break strength="none"/>দুই</speak>', [Part("এক"), Part("দুই")]),
        ('<speak><break time="1s"/>শুরু</speak>', [Part("", pause_after=1.0), Part("শুরু")]),
        (
            '<speak>শেষ<break time="1s"/><break time="500ms"/></speak>',
            [Part("শেষ", pause_after=1.5)],
        ),
        # <p> and <s> end a piece; whitespace is XML's: any run is one space
        (
            f"<speak {NS}><p><s>এক কথা</s><s>দুই\n   কথা</s></p><p>তিন</p></speak>",
            [Part("এক কথা"), Part("দুই কথা"), Part("তিন")],
        ),
        # <sub> says the alias; <say-as> reads by the kind it names
        ('<speak><sub alias="বাংলাদেশ ব্যাংক">BB</sub> বলেছে</speak>', [Part("বাংলাদেশ ব্যাংক বলেছে")]),
        ('<speak><say-as interpret-as="characters">BTRC</say-as></speak>', [Part("বি টি আর সি")]),
        ('<speak><say-as interpret-as="spell-out">ক্ষমা</say-as></speak>', [Part("ক্ষ মা")]),
        ('<speak><say-as interpret-as="cardinal">১২৩৪</say-as></speak>', [Part("এক হাজার দুইশো চৌত্রিশ")]),
        ('<speak><say-as interpret-as="number">-2.5</say-as></speak>', [Part("মাইনাস দুই দশমিক পাঁচ")]),
        ('<speak><say-as interpret-as="ordinal">3</say-as></speak>', [Part("তৃতীয়")]),
        ('<speak><say-as interpret-as="digits">2024</say-as></speak>', [Part("দুই শূন্য দুই চার")]),
        (
            '<speak><say-as interpret-as="telephone">01712-345678</say-as></speak>',
            [Part("শূন্য এক সাত এক দুই, তিন চার পাঁচ, ছয় সাত আট")],
        ),
        (
            '<speak><say-as interpret-as="date">২১/০২/১৯৫২</say-as></speak>',
            [Part("একুশে ফেব্রুয়ারি উনিশশো বাহান্ন")],
        ),
        (
            '<speak><say-as interpret-as="date" format="mdy">12/16/1971</say-as></speak>',
            [Part("ষোলোই ডিসেম্বর উনিশশো একাত্তর")],
        ),
        (
            '<speak><say-as interpret-as="date" format="my">3/2024</say-as></speak>',
            [Part("মার্চ দুই হাজার চব্বিশ")],
        ),
        ('<speak><say-as interpret-as="time">14:05</say-as></speak>', [Part("দুপুর দুইটা পাঁচ মিনিট")]),
        ('<speak><say-as interpret-as="currency">৳1,500</say-as></speak>', [Part("এক হাজার পাঁচশো টাকা")]),
        ('<speak><say-as interpret-as="currency">$12.50</say-as></speak>', [Part("বারো ডলার পঞ্চাশ সেন্ট")]),
        # <prosody rate>: a piece of its own at that share of the request's speed; nested ones multiply
        (
            '<speak>আগে <prosody rate="slow">ধীরে <prosody rate="50%">আরও ধীরে</prosody></prosody>'
            " পরে</speak>",
            [Part("আগে"), Part("ধীরে", rate=0.64), Part("আরও ধীরে", rate=0.32), Part("পরে")],
        ),
        ('<speak><prosody rate="+20%">দ্রুত</prosody></speak>', [Part("দ্রুত", rate=1.2)]),
        ('<speak><prosody rate="1.5">দ্রুত</prosody></speak>', [Part("দ্রুত", rate=1.5)]),
        ('<speak><prosody pitch="high" volume="loud">শুধু লেখা</prosody></speak>', [Part("শুধু লেখা")]),
        # <lang>: read in that language (its numbers too); bn is the request's own
        (
            '<speak>খবর: <lang xml:lang="en-US">Breaking <say-as interpret-as="cardinal">5</say-as>'
            "</lang></speak>",
            [Part("খবর:"), Part("Breaking 5", language="en")],
        ),
        ('<speak><lang xml:lang="bn-IN">বাংলা</lang></speak>', [Part("বাংলা")]),
        # what has no effect passes its text through: emphasis, mark, voice, other vendors' tags
        (
            '<speak><emphasis level="strong">জোর</emphasis> <mark name="m1"/>দিয়ে '
            '<voice name="x">বলা</voice> <amazon:effect xmlns:amazon="urn:a">কথা</amazon:effect></speak>',
            [Part("জোর দিয়ে বলা কথা")],
        ),
        ("<speak>&amp; &lt;৫&gt;</speak>", [Part("& <৫>")]),
        ("<speak/>", []),
    ],
)
def test_ssml_cases(ssml: str, parts: list[Part]) -> None:
    assert parse_ssml(ssml) == parts


@pytest.mark.parametrize(
    ("ssml", "where", "says"),
    [
        (
            '<speak>\n  এক <phoneme alphabet="ipa" ph="x">শব্দ</phoneme></speak>',
            "line 2, column 6",
            "<sub alias",
        ),
        ('<speak><audio src="https://example.com/a.mp3"/></speak>', "line 1, column 8", "not supported"),
        ('<speak>\n<break time="12s"/></speak>', "line 2, column 1", "at most 10 s"),
        ('<speak><break time="3"/></speak>', "line 1, column 8", "700ms or 1.5s"),
        ('<speak><break strength="huge"/></speak>', "line 1, column 8", "x-strong"),
        ("<speak>" + '<break time="10s"/>' * 7 + "</speak>", "line 1, column 122", "more than 60 s"),
        ('<speak><prosody rate="9">x</prosody></speak>', "line 1, column 8", "0.25 to 4"),
        ('<speak><prosody rate="quick">x</prosody></speak>', "line 1, column 8", "x-slow"),
        ("<speak><sub>x</sub></speak>", "line 1, column 8", "alias"),
        ("<speak><say-as>x</say-as></speak>", "line 1, column 8", "interpret-as"),
        ('<speak><say-as interpret-as="time">99:99</say-as></speak>', "line 1, column 8", "HH:MM"),
        ('<speak><say-as interpret-as="date">1/2</say-as></speak>', "line 1, column 8", "3 numbers"),
        ('<speak><say-as interpret-as="bleep">x</say-as></speak>', "line 1, column 8", "one of characters"),
        ('<speak><lang xml:lang="english">x</lang></speak>', "line 1, column 8", "language tag"),
        ("<p>x</p>", "line 1, column 1", "root must be <speak>"),
        ("<speak>\n<s>x</speak>", "line 2, column 7", "not well-formed"),
        ("<speak>a & b</speak>", "line 1, column 11", "not well-formed"),
        ("<speak>" + "<s>" * (MAX_DEPTH + 1) + "x" + "</s>" * (MAX_DEPTH + 1) + "</speak>", "line 1", "deep"),
    ],
)
def test_what_cannot_be_read_is_named_with_its_line_and_column(ssml: str, where: str, says: str) -> None:
    with pytest.raises(SsmlError) as err:
        parse_ssml(ssml)
    assert where in str(err.value)
    assert says in str(err.value)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + "]><speak>&lol9;</speak>"
)
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>'


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_entities_and_dtds_are_refused_before_anything_is_expanded(document: str) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(SsmlError, match="DTD"):
        parse_ssml(document)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.5  # 10^9 "lol"s expanded would take minutes and gigabytes
    assert peak < 2**20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<speak>x</speak>", True),
        ("  \n<speak xml:lang='bn'>", True),
        ("<speaker>", False),
        ("আমি <speak>", False),
    ],
)
def test_ssml_is_input_that_starts_with_speak(text: str, expected: bool) -> None:
    assert is_ssml(text) is expected


_TAGS = ["speak", "p", "s", "break", "sub", "say-as", "prosody", "lang", "emphasis", "phoneme", "voice", "x"]
_ATTRS = [
    'time="1s"',
    'time="99999s"',
    'strength="weak"',
    'alias="ক"',
    'interpret-as="date"',
    'rate="-500%"',
    'xml:lang="en"',
    'format="ymd"',
    'ph="a"',
    'rate="fast"',
]
_fragment = st.recursive(
    st.text(alphabet="আমি ১২/3:4.৳$<>&;\"' \nab", max_size=12),
    lambda inner: st.builds(
        lambda tag, attrs, body, close: (
            f"<{tag} {' '.join(attrs)}>{''.join(body)}" + (f"</{tag}>" if close else "")
        ),
        st.sampled_from(_TAGS),
        st.lists(st.sampled_from(_ATTRS), max_size=2, unique=True),
        st.lists(inner, max_size=3),
        st.booleans(),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(_fragment, max_size=4))
def test_any_document_parses_or_is_refused_with_a_message(body: list[str]) -> None:
    """Fuzzed markup: parts within the limits, or an SsmlError; never another exception, never slow."""
    t0 = time.perf_counter()
    try:
        parts = parse_ssml("<speak>" + "".join(body) + "</speak>")
    except SsmlError as exc:
        assert str(exc)
        return
    assert time.perf_counter() - t0 < 1.0
    assert sum(p.pause_after for p in parts) <= 60
    assert all(0.25**MAX_DEPTH <= p.rate <= 4**MAX_DEPTH and (p.text or p.pause_after) for p in parts)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ('Tom & Jerry <break time="1.5s" /> 5 < 6', [Part("Tom & Jerry", pause_after=1.5), Part("5 < 6")]),
        ('এক<BREAK time="2s"/>দুই', [Part("এক", pause_after=2.0), Part("দুই")]),
        ("এক <break/> দুই", [Part("এক", pause_after=0.4), Part("দুই")]),
    ],
)
def test_break_tags_in_plain_text_are_pauses_and_the_rest_stays_text(text: str, parts: list[Part]) -> None:
    document = inline_breaks(text)
    assert document is not None and parse_ssml(document) == parts


@pytest.mark.parametrize("text", ["এক দুই", "a <b> c", "<speak>এক</speak>", "<breakfast/>"])
def test_text_without_break_tags_is_left_alone(text: str) -> None:
    assert inline_breaks(text) is None
