"""Word timestamps (issue 28): the CTC forced aligner against posteriors whose peaks are known, the
estimate used without an aligner, and the captions made from word times."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import srt
import webvtt

from function.align.aligner import CtcAligner
from function.align.captions import LINE_CHARS, MAX_CUE_S, cues, to_srt, to_vtt
from function.align.ctc import AlignmentError, force_align
from function.align.ctc_model import CtcModel
from function.align.timing import WordTime, characters_of, estimate_words, speech_span
from tests.ctc_models import FRAME, SR, template, write_template_ctc


def peaks(tokens: list[int], frames: list[int], total: int, vocab: int) -> np.ndarray:
    """Log-posteriors: blank everywhere except each token, sure, at its frame."""
    lp = np.full((total, vocab), np.log(1e-4))
    lp[:, 0] = np.log(1 - 1e-4 * (vocab - 1))
    for f, tok in zip(frames, tokens, strict=True):
        lp[f] = np.log(1e-4)
        lp[f, tok] = np.log(1 - 1e-4 * (vocab - 1))
    return lp


@pytest.mark.parametrize("seed", range(5))
def test_the_viterbi_path_recovers_known_frames(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tokens = [int(t) for t in rng.integers(1, 12, size=80)]  # repeats included
    frames = sorted(int(f) for f in rng.choice(np.arange(0, 400, 2), size=80, replace=False))
    assert force_align(peaks(tokens, frames, 400, 12), tokens, 0) == [(f, f) for f in frames]


def test_a_token_held_over_frames_spans_them_all() -> None:
    lp = peaks([3, 3, 5], [2, 6, 9], 12, 8)
    lp[3] = lp[2]  # the first 3 held two frames
    assert force_align(lp, [3, 3, 5], 0) == [(2, 3), (6, 6), (9, 9)]


def test_audio_too_short_for_its_tokens_is_refused() -> None:
    with pytest.raises(AlignmentError, match="cannot hold"):
        force_align(np.zeros((2, 5)), [1, 1], 0)  # a repeat needs a blank between: 3 frames
    assert force_align(np.zeros((3, 5)), [1, 1], 0) == [(0, 0), (2, 2)]


# ---- the aligner on a real ONNX model ------------------------------------------------------------


@pytest.fixture(scope="module")
def aligner(tmp_path_factory: pytest.TempPathFactory) -> CtcAligner:
    model, vocab = write_template_ctc(tmp_path_factory.mktemp("aligner"))
    return CtcAligner(CtcModel(model, vocab, sample_rate=SR, normalize=False))


def speak(placed: list[tuple[int, int]], total: int) -> np.ndarray:
    """Audio of `total` frames: each (token, frame) sounds its template there, silence elsewhere."""
    audio = np.zeros(total * FRAME, np.float32)
    for token, frame in placed:
        audio[frame * FRAME : (frame + 1) * FRAME] = template(token)
    return audio


def test_the_aligner_places_words_where_they_are_spoken(aligner: CtcAligner) -> None:
    # "আমি গান, ok গাই।": আ+মি at frames 10-11 (মি held 3 frames), | at 20, গ া ন at 30-40,
    # | at 45, nothing for "ok" (no Latin in the vocabulary), | at 60, গ া ই at 70-74.
    assert aligner.tokens("আমি") == [2, 3] and aligner.tokens("গান,") == [4, 5, 6]
    placed = [(2, 10), (3, 11), (3, 12), (3, 13), (1, 20), (4, 30), (5, 35), (6, 40), (1, 45), (1, 60)]
    placed += [(4, 70), (5, 72), (7, 74)]
    words = aligner.align("আমি গান, ok গাই।", speak(placed, 100), SR)
    assert [w.word for w in words] == ["আমি", "গান,", "ok", "গাই।"]
    frame = FRAME / SR
    expected = [(10, 14), (30, 41), None, (70, 75)]  # [first frame, last frame + 1]
    for word, span in zip(words, expected, strict=True):
        if span is not None:  # exact to the frame
            assert (word.start, word.end) == pytest.approx((span[0] * frame, span[1] * frame), abs=1e-6)
    assert words[1].end <= words[2].start < words[2].end <= words[3].start  # "ok" fills the gap


def test_the_estimate_spreads_words_over_the_speech_alone() -> None:
    audio = np.zeros(3 * SR, np.float32)
    audio[SR // 2 : 2 * SR] = 0.3 * np.sin(2 * np.pi * 220 * np.arange(3 * SR // 2) / SR)
    start, end = speech_span(audio, SR)
    assert start == pytest.approx(0.5, abs=0.011) and end == pytest.approx(2.0, abs=0.011)
    words = estimate_words("আমি  গান গাই।", audio, SR)
    assert [w.word for w in words] == ["আমি", "গান", "গাই।"]
    assert words[0].start == pytest.approx(start) and words[-1].end == pytest.approx(end)
    assert all(a.end <= b.start and a.start < a.end for a, b in itertools.pairwise(words))
    chars = characters_of(words)
    assert "".join(chars.characters) == "আমি গান গাই।"
    assert chars.starts == sorted(chars.starts) and chars.ends[-1] == pytest.approx(end)


def test_silence_has_no_speech_span_to_trim() -> None:
    assert speech_span(np.zeros(SR, np.float32), SR) == (0.0, 1.0)


# ---- captions -------------------------------------------------------------------------------------


def timed(text: str, seconds_per_word: float = 0.4) -> list[WordTime]:
    return [
        WordTime(w, round(i * seconds_per_word, 3), round((i + 0.9) * seconds_per_word, 3))
        for i, w in enumerate(text.split())
    ]


LONG = (
    "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। চিরদিন তোমার আকাশ, তোমার বাতাস, আমার প্রাণে বাজায় বাঁশি। "
    "ও মা, ফাগুনে তোর আমের বনে ঘ্রাণে পাগল করে, মরি হায়, হায় রে— ও মা, অঘ্রাণে তোর ভরা ক্ষেতে "
    "আমি কী দেখেছি মধুর হাসি। Shonar Bangla was written in 1905 during the partition of Bengal."
)


def test_captions_are_readable_cues_split_at_sentence_ends() -> None:
    words = timed(LONG)
    made = cues(words)
    assert " ".join(" ".join(c.lines) for c in made) == " ".join(LONG.split())  # every word, in order
    for cue in made:
        assert len(cue.lines) <= 2 and all(len(line) <= LINE_CHARS for line in cue.lines), cue
        assert cue.end - cue.start <= MAX_CUE_S
    assert made[0].lines[-1].endswith("ভালোবাসি।")  # a sentence end closes a cue
    assert all(a.end <= b.start for a, b in itertools.pairwise(made))


def test_srt_and_vtt_read_back_with_subtitle_parsers() -> None:
    words = timed(LONG, 0.5)
    subtitles = list(srt.parse(to_srt(words)))
    made = cues(words)
    assert [s.content for s in subtitles] == ["\n".join(c.lines) for c in made]
    assert [s.start.total_seconds() for s in subtitles] == pytest.approx([c.start for c in made], abs=1e-3)
    vtt = webvtt.from_string(to_vtt(words))
    assert [c.text for c in vtt] == ["\n".join(c.lines) for c in made]
    ends = [sum(float(part) * 60**i for i, part in enumerate(reversed(c.end.split(":")))) for c in vtt]
    assert ends == pytest.approx([c.end for c in made], abs=1e-3)


def test_words_as_sent_span_the_words_they_were_read_as() -> None:
    from function.align.input_words import input_word_times
    from function.align.timing import characters_over
    from function.text.normalize import normalize_bangla_text

    text = "আমি ১২৩ টাকা দিলাম,  ২১ ফেব্রুয়ারি ২০২৪ ডা. রহমানকে — Dhaka-তে ৫-৭ জন।"
    read = normalize_bangla_text(text)
    assert read.startswith("আমি একশো তেইশ টাকা দিলাম, একুশে ফেব্রুয়ারি দুই হাজার চব্বিশ ডাক্তার")
    words = [WordTime(w, float(i), i + 0.9) for i, w in enumerate(read.split())]  # word i at second i
    sent = input_word_times(text, normalize_bangla_text, words)
    spans = {w.word: (w.start, w.end) for w in sent}
    assert [w.word for w in sent] == text.split()
    assert spans["১২৩"] == (1.0, 2.9)  # একশো তেইশ
    assert spans["২০২৪"] == (7.0, 9.9)  # দুই হাজার চব্বিশ
    assert spans["ডা."] == (10.0, 10.9) and spans["৫-৭"] == (13.0, 15.9)  # ডাক্তার; পাঁচ থেকে সাত
    assert spans["—"][0] == spans["—"][1]  # read as nothing: an empty span
    assert all(a.end <= b.start for a, b in itertools.pairwise(sent))
    chars = characters_over(text, sent)  # ElevenLabs' alignment of the text exactly as sent
    assert "".join(chars.characters) == text and chars.starts == sorted(chars.starts)
