"""Incremental segmentation: an LLM's tokens (split mid-word, even mid-grapheme) cut into segments to
speak, each as soon as it is final, never inside a word, number, date, amount or abbreviation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from function.text import normalize_bangla_text
from function.text.incremental import IncrementalSegmenter

ANSWER = (
    "আমি ভালো আছি। ডা. রহমান ১২/০৫/২০২৪ তারিখে ৳১,০০০.৫০ দিলেন, আর www.example.com দেখলেন। "
    "Dr. Smith বললেন, ৩.৫ কেজি চাল লাগবে! তুমি কেমন আছ? ভালো থেকো॥ শেষ কথা"
)


def _feed(segmenter: IncrementalSegmenter, pieces: list[str]) -> list[str]:
    out: list[str] = []
    for piece in pieces:
        out += segmenter.push(piece)
    return out


def test_sentences_come_out_as_soon_as_their_end_and_the_space_after_it_arrive() -> None:
    seg = IncrementalSegmenter()
    assert seg.push("আমি ভা") == []
    assert seg.push("লো আছি") == []
    assert seg.push("।") == ["আমি ভালো আছি।"]  # a দাঁড়ি ends a sentence without waiting for a space
    assert seg.push(" তুমি কেমন?") == []  # "?" may be inside an address: its space decides
    assert seg.push(" আমি") == [" তুমি কেমন? "]
    assert seg.buffered == "আমি"
    assert seg.flush() == ["আমি"]
    assert seg.flush() == []


def test_no_cut_inside_numbers_dates_amounts_addresses_or_abbreviations() -> None:
    seg = IncrementalSegmenter()
    segments = _feed(seg, list(ANSWER)) + seg.flush()
    assert segments == [
        "আমি ভালো আছি।",
        " ডা. রহমান ১২/০৫/২০২৪ তারিখে ৳১,০০০.৫০ দিলেন, আর www.example.com দেখলেন।",
        " Dr. Smith বললেন, ৩.৫ কেজি চাল লাগবে! ",
        "তুমি কেমন আছ? ",
        "ভালো থেকো॥",
        " শেষ কথা",
    ]


def test_the_chunk_schedule_cuts_long_sentences_at_a_clause_mark_but_not_inside_a_date() -> None:
    seg = IncrementalSegmenter(schedule=(20, 40))
    text = "এটা একটা লম্বা বাক্য, যেটা এখানে ভাগ হবে, আর ১২ মে, ২০২৪ তারিখে শেষ হবে আরও অনেক পরে "
    out = _feed(seg, [w + " " for w in text.split(" ")[:-1]])
    assert out[:2] == ["এটা একটা লম্বা বাক্য, ", "যেটা এখানে ভাগ হবে, "]  # 20, then 40 buffered
    assert all(not s.rstrip().endswith("মে,") for s in out)  # "১২ মে, ২০২৪" stays whole
    assert "".join(out) + seg.buffered == text


def test_a_long_run_without_any_mark_is_cut_between_words_at_max_chars() -> None:
    seg = IncrementalSegmenter(max_chars=30)
    out = seg.push("শব্দ " * 20)
    assert out and all(len(s) <= 30 and s.endswith(" ") for s in out)


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from([*sorted(set(ANSWER)), "\n", "\t"]), max_size=200),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=40),
    schedule=st.sampled_from([(), (50,), (120, 160, 250, 290)]),
)
def test_every_character_comes_out_once_in_order_and_cuts_fall_between_tokens(
    text: str, cuts: list[int], schedule: tuple[int, ...]
) -> None:
    pieces, last = [], 0
    for cut in sorted({min(c, len(text)) for c in cuts}):
        pieces.append(text[last:cut])
        last = cut
    pieces.append(text[last:])
    seg = IncrementalSegmenter(schedule=schedule, max_chars=80)
    segments = _feed(seg, pieces)
    whole = "".join(segments) + "".join(seg.flush()) + seg.buffered
    assert whole == text
    for segment in segments[:-1]:
        # A cut is after whitespace or a দাঁড়ি: never inside a token (a word, a number, a grapheme).
        assert segment[-1].isspace() or segment.rstrip().endswith(("।", "॥"))


def test_each_segment_reads_like_the_whole_text_does() -> None:
    """Segments go through the same front-end: the readings join into the whole text's."""
    seg = IncrementalSegmenter()
    segments = _feed(seg, [ANSWER[i : i + 3] for i in range(0, len(ANSWER), 3)]) + seg.flush()
    joined = " ".join(normalize_bangla_text(s) for s in segments if s.strip())
    assert joined == normalize_bangla_text(ANSWER)


def test_a_tag_is_never_cut_though_it_has_spaces_in_it() -> None:
    seg = IncrementalSegmenter(schedule=(5,), max_chars=400)
    text = 'আমি এলাম, <break time="1.5s" /> তুমি, কেমন আছ? <break strength="x-strong"/>ভালো। শেষ'
    segments = _feed(seg, list(text)) + seg.flush()
    assert "".join(segments) == text
    for segment in segments:
        assert segment.count("<") == segment.count(">")  # each tag whole in one segment


def test_with_markup_a_segment_never_ends_inside_an_element() -> None:
    """enable_ssml_parsing: each segment is SSML of its own, so an open element keeps the segment
    open past sentence ends; between elements sentences cut as usual."""
    seg = IncrementalSegmenter(markup=True)
    text = (
        '<prosody rate="slow">এক কথা। দুই কথা।</prosody> তিন। '
        '<s>চার, <say-as interpret-as="digits">12</say-as>।</s> পাঁচ'
    )
    segments = _feed(seg, list(text)) + seg.flush()
    assert segments == [
        '<prosody rate="slow">এক কথা। দুই কথা।</prosody> ',  # its sentences end as it closes
        "তিন।",  # a দাঁড়ি cuts at once
        ' <s>চার, <say-as interpret-as="digits">12</say-as>।</s> ',
        "পাঁচ",
    ]


def test_markup_left_open_is_cut_at_max_chars_all_the_same() -> None:
    seg = IncrementalSegmenter(max_chars=30, markup=True)
    out = seg.push("<s>" + "কথা " * 20)
    assert out and all(len(s) <= 30 for s in out)
