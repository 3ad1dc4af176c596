"""Failure paths of the serving core (issue 31): no slot leaks, a dead or wedged decode thread turns
/health red and ends the process, one bad row fails alone, a failing quality check or a shutdown
never makes a cut stream look complete. Fault injection through the scheduler and the real Flask
app, on the fake engine of test_service."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from function.config import load_settings
from function.engine import scheduler as scheduler_module
from function.engine.decoding import DecodeBatch, Sequence
from function.engine.scheduler import (
    DecodeFailedError,
    Scheduler,
    SchedulerFailedError,
)
from function.http import routes_synthesis
from function.http.app import create_app
from function.http.context import SHUTTING_DOWN
from function.http.streaming import StreamCutError
from function.quality.policy import QualityPolicy
from function.service.model import Loaded
from function.service.speech import SpeechRequest
from tests.function.fakes import GREEDY, FakeDecoder, FakeEngine, make_service, voice_id
from tests.waiting import wait_until


def sequence(limit: int) -> Sequence:
    return Sequence(
        np.zeros((1, 3, 4), np.float32), GREEDY, np.random.default_rng(0), np.zeros(8, np.bool_), limit, 0
    )


def drain(stream: Iterator[Any]) -> list[Any]:
    return list(stream)


# ---- the scheduler ------------------------------------------------------------------------------


class PoisonDecoder(FakeDecoder):
    """A row whose sampling fails (NaN logits, say): GptDecoder marks it and goes on with the rest."""

    def __init__(self, poisoned: Sequence, at: int) -> None:
        super().__init__()
        self.poisoned, self.at = poisoned, at

    def step(self, batch: DecodeBatch) -> np.ndarray:
        out = super().step(batch)
        p = self.poisoned
        if p in batch.rows and len(p.codes) >= self.at:
            p.error, p.finished = ValueError("probabilities contain NaN"), True
        return out


def test_one_bad_row_fails_alone_and_the_others_finish_as_if_it_never_joined() -> None:
    alone = Scheduler(FakeDecoder(), max_batch=4)
    expected = [drain(alone.decode(sequence(n))) for n in (6, 9)]
    alone.stop()
    bad = sequence(20)
    scheduler = Scheduler(PoisonDecoder(bad, at=3), max_batch=4)
    streams = [scheduler.decode(sequence(6)), scheduler.decode(bad), scheduler.decode(sequence(9))]
    results: dict[int, Any] = {}

    def read(i: int) -> None:
        try:
            results[i] = drain(streams[i])
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=read, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    scheduler.stop()
    assert isinstance(results[1], DecodeFailedError) and "NaN" in str(results[1])
    assert [np.stack(results[0]).tolist(), np.stack(results[2]).tolist()] == [
        np.stack(e).tolist() for e in expected
    ]


def test_a_failed_step_gives_each_row_its_own_error() -> None:
    decoder = FakeDecoder()
    real_step = decoder.step

    def step(batch: DecodeBatch) -> np.ndarray:
        if len(batch) == 3:  # once all three rows run side by side
            raise RuntimeError("injected: the GPT call failed")
        return real_step(batch)

    decoder.step = step  # type: ignore[method-assign]
    scheduler = Scheduler(decoder, max_batch=4)
    streams = [scheduler.decode(sequence(50)) for _ in range(3)]
    errors = []
    for stream in streams:
        with pytest.raises(DecodeFailedError) as info:
            drain(stream)
        errors.append(info.value)
    scheduler.stop()
    assert len({id(e) for e in errors}) == 3  # one instance per request: tracebacks never mix
    assert all(isinstance(e.__cause__, RuntimeError) and "injected" in str(e) for e in errors)


def test_prefills_are_not_steps_and_at_most_one_joins_between_two_steps() -> None:
    decoder = FakeDecoder()
    kinds: list[str] = []
    prefill, step = decoder.prefill, decoder.step
    decoder.prefill = lambda seq: (kinds.append("prefill"), prefill(seq))[1]  # type: ignore[method-assign]
    decoder.step = lambda batch: (kinds.append("step"), step(batch))[1]  # type: ignore[method-assign]
    decoder.gate = gate = threading.Semaphore(0)
    scheduler = Scheduler(decoder, max_batch=8)
    first = scheduler.decode(sequence(30))
    gate.release(2)  # its prefill and one step: a stream is running
    wait_until(lambda: kinds[:2] == ["prefill", "step"], timeout=5, what="a prefill then a step")
    others = [scheduler.decode(sequence(10)) for _ in range(6)]  # a burst arrives
    decoder.gate = None
    gate.release(1000)
    for stream in [first, *others]:
        drain(stream)
    stats = scheduler.stats()
    scheduler.stop()
    assert stats.prefills == 7 and stats.steps == kinds.count("step")
    assert stats.tokens == 30 + 6 * 10
    # Every running stream waits for at most one new row's prefill between two of its steps.
    assert "prefill,prefill" not in ",".join(kinds[kinds.index("step") :])


class Dies(BaseException):
    """What the loop's `except Exception` lets through (as a bug outside the guarded part would)."""


def test_a_dead_decode_thread_fails_waiting_requests_and_refuses_new_ones() -> None:
    decoder = FakeDecoder()
    scheduler = Scheduler(decoder, max_batch=2)
    decoder.gate = gate = threading.Semaphore(0)
    running = scheduler.decode(sequence(50))
    waiting = [scheduler.decode(sequence(5)) for _ in range(3)]  # two cannot join: max_batch 2

    def die(batch: DecodeBatch) -> np.ndarray:
        raise Dies("the decode thread is gone")

    decoder.step = die  # type: ignore[method-assign]
    gate.release(100)
    t0 = time.monotonic()
    for stream in [running, *waiting]:
        with pytest.raises(SchedulerFailedError, match="died"):
            drain(stream)
    assert time.monotonic() - t0 < 3  # an error, not a wait for ever
    assert "died" in (scheduler.failure() or "")
    with pytest.raises(SchedulerFailedError):
        scheduler.decode(sequence(5))


def test_a_wedged_decode_thread_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "WEDGED_AFTER_S", 0.5)
    decoder = FakeDecoder()
    decoder.gate = gate = threading.Semaphore(0)  # the first GPT call never returns
    scheduler = Scheduler(decoder, max_batch=2)
    assert scheduler.failure() is None  # idle is not wedged
    stream = scheduler.decode(sequence(5))
    with pytest.raises(SchedulerFailedError, match="no progress"):
        next(stream)
    assert "no progress" in (scheduler.failure() or "")
    gate.release(1000)
    scheduler.stop()


def test_a_model_that_fails_every_call_is_reported() -> None:
    decoder = FakeDecoder()

    def broken(seq: Sequence) -> Any:
        raise RuntimeError("CUDA error: an illegal memory access")

    decoder.prefill = broken  # type: ignore[method-assign]
    scheduler = Scheduler(decoder, max_batch=2)
    for _ in range(scheduler_module.FAILING_AFTER):
        with pytest.raises(DecodeFailedError):
            drain(scheduler.decode(sequence(5)))
    assert "model calls failed" in (scheduler.failure() or "")
    scheduler.stop()


# ---- through the HTTP app ------------------------------------------------------------------------


@pytest.fixture
def app_with(loaded: Loaded) -> Iterator[Callable[..., Any]]:
    apps: list[Any] = []

    def make(running: int = 2, on_fatal: Callable[[], None] = lambda: None, quality: bool = False) -> Any:
        env = {
            "TTS_MODEL_PATH": "/unused",
            "TTS_MAX_CONCURRENT_REQUESTS": str(running),
            "TTS_QUEUE_SIZE": "0",
        }
        if not quality:
            env["TTS_QUALITY_CHECKS"] = "false"
        app = create_app(load_settings(env), load=False, on_fatal=on_fatal)
        app.extensions["tts"].model.serve(loaded)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["tts"].model.status = "stopped"  # ends its watchdog


class BrokenError(Exception):
    pass


@pytest.mark.parametrize("where", ["encoder", "first_encode", "sse_tokens"])
def test_a_stream_that_fails_before_its_body_exists_frees_its_slot(
    app_with: Callable[..., Any],
    loaded: Loaded,
    engine: FakeEngine,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """Two such failures used to leave every later request at 429 for the life of the process."""
    app = app_with(running=2)
    client = app.test_client()
    service = app.extensions["tts"].service
    vid = voice_id(service, engine)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise BrokenError(f"injected at {where}")

    if where == "encoder":
        monkeypatch.setattr(routes_synthesis, "AudioEncoder", broken)
    elif where == "first_encode":
        monkeypatch.setattr("function.http.streaming.AudioRender.chunk", broken)
    else:
        monkeypatch.setattr(engine, "count_tokens", broken, raising=False)
    for _ in range(3):  # more failures than slots
        if where == "sse_tokens":
            body = {"model": "tts-1", "input": "ab", "voice": vid, "stream_format": "sse"}
            r = client.post("/v1/audio/speech", json=body)
        else:
            r = client.post("/synthesize/stream", json={"text": "ab", "voice_id": vid, "language": "en"})
        assert r.status_code == 500 and r.json["error"]["code"] == "internal_error"
        assert service.limiter.running == 0
    monkeypatch.undo()
    ok = client.post("/synthesize", json={"text": "ab", "voice_id": vid, "language": "en"})
    assert ok.status_code == 200


def test_a_stream_dropped_without_close_releases_its_slot(loaded: Loaded, engine: FakeEngine) -> None:
    service = make_service(loaded, running=1)
    vid = voice_id(service, engine)
    stream = service.stream(SpeechRequest("ab", "en", voice_id=vid))
    assert service.limiter.running == 1
    del stream  # the safety net: nobody closed it
    gc.collect()  # in case a cycle holds it (CPython frees it at once otherwise)
    wait_until(lambda: service.limiter.running == 0, timeout=5, what="every slot free")


def test_a_dead_decode_thread_turns_health_red_and_ends_the_process(
    app_with: Callable[..., Any], loaded: Loaded, engine: FakeEngine
) -> None:
    fatal = threading.Event()
    app = app_with(on_fatal=fatal.set)
    client = app.test_client()
    assert client.get("/health").status_code == 200
    vid = voice_id(app.extensions["tts"].service, engine)

    def die(batch: DecodeBatch) -> np.ndarray:
        raise Dies("the decode thread is gone")

    engine.decoder.step = die  # type: ignore[method-assign]
    r = client.post("/synthesize", json={"text": "abc", "voice_id": vid, "language": "en"})
    assert r.status_code == 503 and r.json["error"]["code"] == "service_unavailable"
    health = client.get("/health")
    assert health.status_code == 503 and health.json["status"] == "failed"
    assert fatal.wait(5)  # the watchdog asked the process to exit
    assert app.extensions["tts"].model.status == "failed"


def test_a_failing_quality_check_never_cuts_a_finished_stream(
    loaded: Loaded, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(loaded, quality=QualityPolicy(enabled=True))
    vid = voice_id(service, engine)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise BrokenError("injected: the quality check failed")

    monkeypatch.setattr(service, "_assess", broken)
    stream = service.stream(SpeechRequest("ab|c", "en", voice_id=vid))
    chunks = list(stream)  # ends normally
    assert sum(c.samples.size for c in chunks) == 12 * 10 and stream.quality is None
    assert service.limiter.running == 0


def test_after_sigterm_no_new_work_starts_and_a_cut_stream_is_not_complete(
    app_with: Callable[..., Any], loaded: Loaded, engine: FakeEngine
) -> None:
    app = app_with()
    client = app.test_client()
    vid = voice_id(app.extensions["tts"].service, engine)
    response = client.post(
        "/synthesize/stream", json={"text": "a" * 30, "voice_id": vid, "language": "en"}, buffered=False
    )
    body = iter(response.response)
    next(body)  # the header and first chunk
    SHUTTING_DOWN.set()
    try:
        with pytest.raises(StreamCutError):  # the server closes without the last chunk
            for _ in body:
                pass
        refused = client.post("/synthesize", json={"text": "ab", "voice_id": vid, "language": "en"})
        assert refused.status_code == 503 and refused.json["error"]["code"] == "shutting_down"
        assert refused.headers["Retry-After"] == "1"
        assert client.get("/health").status_code == 200  # probes still answer while draining
    finally:
        SHUTTING_DOWN.clear()
        response.close()
    assert app.extensions["tts"].service.limiter.running == 0
