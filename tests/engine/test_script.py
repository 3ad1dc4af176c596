"""A script (what SSML becomes): pauses of exactly the length asked, a speed and a language per
segment, the same audio streamed or whole. On the real engine with the demo bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.verify import synthetic_reference
from function.engine import Engine, Segment, SynthesisParams, TextError, UnsupportedLanguageError, Voice

pytestmark = pytest.mark.slow
A, B = "আমি ভাত খাই।", "তুমি কী খাও?"
GREEDY = SynthesisParams(language="bn", greedy=True, max_new_tokens=12)


@pytest.fixture(scope="module")
def engine(demo_bundle: Path) -> Engine:
    return Engine.load(demo_bundle / "fp32", intra_op_threads=2)


@pytest.fixture(scope="module")
def voice(engine: Engine) -> Voice:
    return engine.make_voice(synthetic_reference(), 24000)


def test_a_pause_is_exactly_its_length_of_silence_between_the_pieces(engine: Engine, voice: Voice) -> None:
    a, b = engine.synthesize(A, voice, GREEDY), engine.synthesize(B, voice, GREEDY)
    script = (Segment("", pause_after=0.25), Segment(A, pause_after=0.7), Segment(B, pause_after=0.1))
    out = engine.synthesize(script, voice, GREEDY)
    rate = engine.sample_rate
    silence = [np.zeros(round(s * rate), np.float32) for s in (0.25, 0.7, 0.1)]
    assert np.array_equal(out, np.concatenate([silence[0], a, silence[1], b, silence[2]]))
    without = engine.synthesize((Segment(A), Segment(B)), voice, GREEDY)
    assert out.size - without.size == round(1.05 * rate)  # to the sample: within one vocoder frame


def test_a_streamed_script_joins_into_the_whole_one(engine: Engine, voice: Voice) -> None:
    script = (Segment(A, pause_after=0.5), Segment(B, speed=1.5))
    params = SynthesisParams(language="bn", greedy=True, max_new_tokens=12, stream_chunk_tokens=4)
    whole = engine.synthesize(script, voice, params)
    chunks = list(engine.stream(script, voice, params))
    joined = np.concatenate([c.samples for c in chunks])
    assert joined.shape == whole.shape and np.abs(joined - whole).max() <= 1e-4
    pause = next(
        c for c in chunks if c.samples.size == round(0.5 * engine.sample_rate) and not c.samples.any()
    )
    assert pause.piece == 0  # it follows the first piece
    assert {c.piece for c in chunks} == {0, 1}


def test_each_segment_is_read_at_its_own_speed(engine: Engine, voice: Voice) -> None:
    fast = SynthesisParams(language="bn", greedy=True, max_new_tokens=12, speed=1.5)
    script = engine.synthesize((Segment(A), Segment(B, speed=1.5)), voice, GREEDY)
    alone = np.concatenate([engine.synthesize(A, voice, GREEDY), engine.synthesize(B, voice, fast)])
    assert np.array_equal(script, alone)


def test_a_script_is_checked_like_text(engine: Engine, voice: Voice) -> None:
    with pytest.raises(TextError, match="empty"):
        engine.synthesize((Segment("", pause_after=1.0),), voice, GREEDY)
    with pytest.raises(TextError, match="speed"):
        engine.synthesize((Segment(A, speed=9.0),), voice, GREEDY)
    with pytest.raises(UnsupportedLanguageError):
        engine.synthesize((Segment(A), Segment("Hallo", language="xx")), voice, GREEDY)
