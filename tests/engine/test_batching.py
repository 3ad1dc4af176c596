"""Batched decoding on the real demo bundle: a request's codes and audio are the same whether it
runs alone or beside others that join and leave mid-way (greedy, and sampled with a seed)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from function.engine import Engine, SynthesisParams, Voice, decoding
from function.engine.decoding import DecodeBatch, Sequence
from function.engine.sampling import SamplingConfig
from function.engine.scheduler import Scheduler
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

TEXTS = [
    ("আমি ভাত খাই।", "bn", 24),
    ("আমার সোনার বাংলা, আমি তোমায় ভালোবাসি।", "bn", 40),
    ("hello there", "en", 12),
    ("চিরদিন তোমার আকাশ, তোমার বাতাস।", "bn", 33),
]


@pytest.fixture(scope="module", params=["fp32", "int8"])
def engine(demo_bundle: Path, request: pytest.FixtureRequest) -> Engine:
    return Engine.load(demo_bundle / request.param, intra_op_threads=2)


@pytest.fixture(scope="module")
def voice(engine: Engine) -> Voice:
    rng = np.random.default_rng(3)
    return engine.make_voice((rng.standard_normal(24000 * 3) * 0.1).astype(np.float32), 24000)


def _params(i: int, greedy: bool) -> SynthesisParams:
    _, language, tokens = TEXTS[i]
    return SynthesisParams(
        language=language,
        greedy=greedy,
        seed=100 + i,
        temperature=0.8,
        top_k=40,
        top_p=0.9,
        repetition_penalty=5.0,
        max_new_tokens=tokens,
    )


def _sequence(engine: Engine, voice: Voice, i: int, greedy: bool) -> Sequence:
    text, language, tokens = TEXTS[i]
    p = _params(i, greedy)
    cfg = SamplingConfig(
        p.temperature or 1.0, p.top_k or 0, p.top_p or 1.0, p.repetition_penalty or 1.0, greedy
    )
    return engine.decoder.sequence(
        engine.tokenizer.encode(text, language),
        voice.cond_latents,
        cfg,
        seed=p.seed,
        max_new_tokens=tokens,
        min_new_tokens=0,
    )


@pytest.mark.parametrize("greedy", [True, False])
def test_rows_joining_and_leaving_keep_their_codes(engine: Engine, voice: Voice, greedy: bool) -> None:
    alone = [engine.generate_codes(TEXTS[i][0], voice, _params(i, greedy))[0] for i in range(len(TEXTS))]
    seqs = [_sequence(engine, voice, i, greedy) for i in range(len(TEXTS))]
    latents: list[list[np.ndarray]] = [[] for _ in seqs]
    batch = DecodeBatch()
    waiting = list(enumerate(seqs))
    step, widths = 0, set()
    while waiting or len(batch):
        if waiting and step % 5 == 0:  # a new request joins every fifth step, prefixes of other lengths
            i, seq = waiting.pop(0)
            latent, kv = engine.decoder.prefill(seq)
            latents[i].append(latent)
            batch.add(seq, kv)
        rows = list(batch.rows)
        for seq, latent in zip(rows, engine.decoder.step(batch), strict=True):
            latents[seqs.index(seq)].append(latent)
        widths.add(len(rows))
        batch.remove({id(s) for s in rows if s.finished})
        step += 1
    # int8 too: its GPT quantizes activations per row, block by block (docs/model-bundle.md#int8-formats; the
    # full-size shapes are checked in tests/export/test_int8_formats.py).
    assert [s.codes for s in seqs] == alone
    assert {1, 2, 3} <= widths  # rows really ran side by side, and left at different times
    # The latents (vocoder input) match the lone run to the rounding of a wider matmul.
    for i, seq in enumerate(seqs):
        lone = list(engine.decode_alone(_sequence(engine, voice, i, greedy)))
        assert len(lone) == len(latents[i]) == len(seq.codes)
        diff = float(np.abs(np.stack(lone) - np.stack(latents[i])).max())
        print(f"{engine.manifest['variant']} greedy={greedy} row {i}: latents differ by {diff:.2e}")
        assert diff < 1e-4


def test_concurrent_requests_through_the_scheduler_sound_as_alone(engine: Engine, voice: Voice) -> None:
    alone = [engine.synthesize(TEXTS[i][0], voice, _params(i, False)) for i in range(len(TEXTS))]
    scheduler = Scheduler(engine.decoder, max_batch=3)  # fewer rows than requests: one waits its turn
    out: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(TEXTS))

    def run(i: int) -> None:
        start.wait()
        out[i] = engine.synthesize(TEXTS[i][0], voice, _params(i, False), decode=scheduler.decode)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(TEXTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stats = scheduler.stats()
    scheduler.stop()
    for i, wav in enumerate(alone):
        assert out[i].shape == wav.shape
        diff = float(np.abs(out[i] - wav).max())
        print(f"{engine.manifest['variant']} request {i}: audio differs by {diff:.2e}")
        assert diff < 1e-3
    total = sum(
        len(c)
        for i in range(len(TEXTS))
        for c in engine.generate_codes(TEXTS[i][0], voice, _params(i, False))
    )
    assert stats.tokens == total and stats.steps < total  # steps carried several rows


class PacedDecoder:
    """The real decoder, a step at most every 20 ms: the scheduler cannot finish before the test looks."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def prefill(self, seq: Sequence) -> Any:
        return self.inner.prefill(seq)

    def step(self, batch: DecodeBatch) -> Any:
        time.sleep(0.02)
        return self.inner.step(batch)


def test_a_cancelled_stream_frees_its_row_at_the_next_step(engine: Engine, voice: Voice) -> None:
    scheduler = Scheduler(PacedDecoder(engine.decoder), max_batch=4)
    p = SynthesisParams(language="bn", greedy=True, stream_chunk_tokens=4)
    stream = engine.stream(TEXTS[1][0], voice, p, decode=scheduler.decode)
    next(stream)
    assert scheduler.stats().running == 1
    stream.close()
    tokens = scheduler.stats().tokens
    time.sleep(0.3)
    after = scheduler.stats()
    scheduler.stop()
    assert after.running == 0 and after.waiting == 0
    assert after.tokens <= tokens + 1  # at most the step already in flight
    assert after.tokens < engine.manifest["runtime"]["gpt"]["max_new_tokens"]


def test_the_device_resident_cache_path_gives_the_same_codes(
    demo_bundle: Path, engine: Engine, voice: Voice
) -> None:
    # The path a CUDA engine takes (KV cache bound as ONNX Runtime values, not numpy), run on CPU.
    bound = Engine.load(demo_bundle / engine.manifest["variant"], intra_op_threads=2, bind_kv=True)
    assert bound.decoder.device == "cpu" and engine.decoder.device is None
    scheduler = Scheduler(bound.decoder, max_batch=4)
    try:
        out: dict[int, list[list[int]]] = {}
        threads = [
            threading.Thread(
                target=lambda i=i: out.__setitem__(
                    i, bound.generate_codes(TEXTS[i][0], voice, _params(i, True), decode=scheduler.decode)
                )
            )
            for i in range(len(TEXTS))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        scheduler.stop()
    for i in range(len(TEXTS)):
        assert out[i] == engine.generate_codes(TEXTS[i][0], voice, _params(i, True))


def test_a_row_whose_sampling_fails_ends_alone(
    engine: Engine, voice: Voice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 31: NaN logits in one row made sampling raise, and every co-batched request failed."""
    alone = [list(_codes_alone(engine, _sequence(engine, voice, i, False))) for i in (0, 2)]
    seqs = [_sequence(engine, voice, i, False) for i in range(3)]
    bad = seqs[1]
    real = decoding.choose_token

    def choose(scores: np.ndarray, cfg: SamplingConfig, rng: np.random.Generator) -> int:
        if rng is bad.rng and len(bad.codes) >= 3:
            raise ValueError("probabilities contain NaN")
        return int(real(scores, cfg, rng))

    monkeypatch.setattr(decoding, "choose_token", choose)
    batch = DecodeBatch()
    for seq in seqs:
        batch.add(seq, engine.decoder.prefill(seq)[1])
    while batch.rows:
        rows = list(batch.rows)
        engine.decoder.step(batch)
        batch.remove({id(s) for s in rows if s.finished})
    assert isinstance(bad.error, ValueError) and len(bad.codes) == 3
    assert [seqs[0].codes, seqs[2].codes] == alone  # as if the failed row had never joined


def _codes_alone(engine: Engine, seq: Sequence) -> list[int]:
    for _ in engine.decode_alone(seq):
        pass
    return seq.codes


def test_a_lone_streams_first_audio_pauses_decoding_and_a_busy_batch_does_not(
    engine: Engine, voice: Voice
) -> None:
    """On a few cores the decode thread running ahead would slow the vocoder making a lone request's
    first audio (issue 30): from the latent that completes the first chunk until the consumer has
    made its audio, no step runs for that request alone. Beside other rows, steps go on."""
    scheduler = Scheduler(engine.decoder, max_batch=4)
    p = SynthesisParams(language="bn", greedy=True, min_new_tokens=60)
    try:
        (seq,) = engine.sequences(TEXTS[0][0], voice, p)[1]
        stream = scheduler.decode(seq)
        stream.expect_first_audio(3)
        for _ in range(3):
            next(stream)  # the prefill's latent and two steps'
        time.sleep(0.3)  # a step would take milliseconds here: none may come
        assert scheduler.stats().steps == 2
        with stream.first_audio():
            pass
        wait_until(lambda: scheduler.stats().steps > 2, timeout=10, what="decoding resumed")

        stream.close()

        # Two rows: the other row's steps go on while this one makes its first audio. Both join
        # together, so the other row has most of its tokens (the demo model's limit is 96) still to
        # make: an earlier row could have ended by now, leaving this one alone (and held).
        (seq_a,) = engine.sequences(TEXTS[1][0], voice, p)[1]
        (seq_b,) = engine.sequences(TEXTS[3][0], voice, p)[1]
        other = scheduler.decode(seq_a)
        busy = scheduler.decode(seq_b)
        busy.expect_first_audio(2)
        next(busy), next(busy)
        steps = scheduler.stats().steps
        wait_until(lambda: scheduler.stats().steps > steps + 2, timeout=10, what="steps beside a first audio")
        other.close()
        busy.close()
    finally:
        scheduler.stop()
