"""From signals to warnings: what each threshold flags, the runaway rule, and what is logged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from function.quality.assess import PieceOutcome, assess
from function.quality.policy import RETRYABLE_WARNINGS, QualityPolicy
from function.text import spoken_chars

SR = 24000
POLICY = QualityPolicy()
BN = "আমার সোনার বাংলা"  # 14 spoken characters (letters, vowel signs, the virama); spaces do not count


def speechlike(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(
        np.float32
    )


def gap(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SR), np.float32)


def codes(audio: np.ndarray, text: str = BN, **kw: object) -> list[str]:
    return assess(audio, SR, text=text, language="bn", policy=POLICY, **kw).codes  # type: ignore[arg-type]


def test_spoken_characters_are_letters_marks_and_digits() -> None:
    assert spoken_chars(BN) == 14
    assert spoken_chars("Hi, 42!") == 4


def test_a_clean_output_has_no_warnings_and_its_rate() -> None:
    q = assess(
        speechlike(1.4), SR, text=BN, language="bn", policy=POLICY, pieces=[PieceOutcome(30, 605, True)]
    )
    assert q.warnings == () and not q.runaway and q.tokens == 30
    assert q.speech_rate == pytest.approx(10.0, rel=0.02)
    assert q.speech_rate_range == (5.0, 25.0)


def test_speech_rate_outside_the_range_for_the_language_and_speed() -> None:
    assert codes(speechlike(4.0)) == ["speech_rate_low"]  # 3.5 characters/s
    assert codes(speechlike(0.4)) == ["speech_rate_high"]  # 35 characters/s
    assert codes(speechlike(0.4), speed=2.0) == []  # twice the speed: twice the rate expected
    q = assess(speechlike(4.0), SR, text="hello there", language="en", policy=POLICY)
    assert q.speech_rate_range == (6.0, 25.0) and q.codes == ["speech_rate_low"]
    assert POLICY.speech_rate_range("zh-cn") == (2.0, 30.0)  # other languages take "default"


def test_runaway_is_a_piece_that_ran_to_its_limit_unless_the_caller_fixed_the_length() -> None:
    pieces = [PieceOutcome(40, 605, True), PieceOutcome(88, 88, False)]
    q = assess(speechlike(1.4), SR, text=BN, language="bn", policy=POLICY, pieces=pieces)
    assert q.runaway and q.codes == ["runaway"] and q.tokens == 128
    assert "1 of 2 text piece(s)" in q.warnings[0].message
    fixed = assess(
        speechlike(4.0), SR, text=BN, language="bn", policy=POLICY, pieces=pieces, length_fixed=True
    )
    assert not fixed.runaway and fixed.codes == []  # nor is its rate judged: the length was imposed


def test_silence_warnings() -> None:
    assert codes(gap(2.0)) == ["silent"]
    long_gap = np.concatenate([speechlike(0.7), gap(2.5), speechlike(0.7)])
    q = assess(long_gap, SR, text=BN, language="bn", policy=POLICY)
    assert q.codes == ["long_silence"] and "internal 2.5 s" in q.warnings[0].message
    tail = np.concatenate([speechlike(1.4), gap(3.0)])
    assert codes(tail) == ["long_silence"]


def test_clipping_warning_is_not_retryable() -> None:
    loud = np.clip(speechlike(1.4, amplitude=3.0), -1.0, 1.0)
    assert "clipping" in codes(loud)
    assert "clipping" not in RETRYABLE_WARNINGS and "runaway" in RETRYABLE_WARNINGS


def test_speaker_similarity_is_measured_on_the_speech_only() -> None:
    seen: list[int] = []

    def similarity(speech: np.ndarray) -> float:
        seen.append(speech.shape[0])
        return 0.2

    audio = np.concatenate([gap(0.5), speechlike(1.4), gap(0.5)])
    q = assess(audio, SR, text=BN, language="bn", policy=POLICY, similarity=similarity)
    assert seen and abs(seen[0] - 1.4 * SR) <= 0.02 * SR  # leading and trailing silence cut
    assert q.speaker_similarity == 0.2 and q.codes == ["low_speaker_similarity"]
    seen.clear()
    short = assess(speechlike(0.3), SR, text="না", language="bn", policy=POLICY, similarity=similarity)
    assert short.speaker_similarity is None and not seen  # too little speech to embed


def test_json_and_log_fields_carry_every_signal_and_never_the_text() -> None:
    q = assess(
        np.concatenate([gap(0.5), speechlike(4.0)]),
        SR,
        text=BN,
        language="bn",
        policy=POLICY,
        pieces=[PieceOutcome(86, 86, False)],
        similarity=lambda s: 0.9,
    )
    doc = q.to_json()
    assert doc["warnings"] == [{"code": "runaway", "message": q.warnings[0].message}, doc["warnings"][1]]
    assert doc["warnings"][1]["code"] == "speech_rate_low"
    assert doc["leading_silence_s"] == pytest.approx(0.5, abs=0.02) and doc["attempts"] == 1
    assert doc["retried"] is False and doc["speaker_similarity"] == 0.9
    fields = q.log_fields()
    assert fields["quality_warnings"] == ["runaway", "speech_rate_low"] and fields["quality_warned"] is True
    assert fields["runaway"] is True and fields["speaker_similarity"] == 0.9
    assert BN not in json.dumps(fields, ensure_ascii=False) and BN not in json.dumps(doc, ensure_ascii=False)


def test_token_budget_follows_the_slowest_expected_rate() -> None:
    assert POLICY.token_budget("bn") == (2.0, 2.0 / 5.0)
    assert QualityPolicy(runaway_factor=0).token_budget("bn") is None
    assert QualityPolicy(enabled=False).token_budget("bn") is None
