"""The service layer with a fake engine, in milliseconds: orchestration, streaming, slots, error
mapping (domain error -> HTTP status through the real Flask app) and the decode scheduler."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from function.config import load_settings
from function.engine import AudioChunk, Segment, Voice
from function.engine.decoding import DecodeBatch
from function.http.app import create_app
from function.quality.policy import QualityPolicy
from function.service.errors import (
    InvalidInput,
    ModelLoading,
    Overloaded,
    VoiceNameTaken,
    VoiceNotFound,
    VoiceUnusable,
)
from function.service.model import Loaded, ModelState
from function.service.speech import SpeechRequest
from function.text.user_lexicon import UserLexicon
from function.voices import Owner
from tests.function.fakes import WIDTH, FakeEngine, make_service, voice_id
from tests.waiting import wait_until


def test_synthesis_goes_through_the_scheduler_and_frees_its_slot(loaded: Loaded, engine: FakeEngine) -> None:
    service = make_service(loaded)
    speech = service.synthesize(SpeechRequest("ab|c", "en", voice_id=voice_id(service, engine)))
    assert speech.audio.shape == (12 * 10,)  # 8 codes for "ab", 4 for "c", 10 samples each
    assert speech.prepared.text == "ab|c" and service.limiter.running == 0
    assert loaded.scheduler.stats().tokens == 12


@pytest.mark.parametrize(
    ("request_", "error", "code"),
    [
        (SpeechRequest("a", "en", voice_id="voice_00000000000000000000"), VoiceNotFound, "voice_not_found"),
        (SpeechRequest("a!", "en", voice_id="__fixture__"), InvalidInput, "invalid_text"),
        (SpeechRequest("   ", "bn", voice_id="__fixture__"), InvalidInput, "empty_text"),
        (SpeechRequest("a", "en", speaker_wav=b"not audio"), InvalidInput, "invalid_reference_audio"),
        (SpeechRequest("a", "en"), InvalidInput, "invalid_speaker"),
    ],
)
def test_errors_are_domain_errors_and_free_the_slot(
    loaded: Loaded, engine: FakeEngine, request_: SpeechRequest, error: type, code: str
) -> None:
    service = make_service(loaded)
    if request_.voice_id == "__fixture__":
        request_ = SpeechRequest(request_.text, request_.language, voice_id=voice_id(service, engine))
    for call in (service.synthesize, service.stream):
        with pytest.raises(error) as info:
            call(request_)
        assert info.value.code == code and service.limiter.running == 0


def test_a_voice_of_another_model_is_unusable(loaded: Loaded) -> None:
    service = make_service(loaded)
    other = Voice(np.zeros((1, 2, WIDTH + 1), np.float32), np.zeros((1, 3, 1), np.float32), "other/1")
    vid = loaded.voices.add(other, name=None, reference_seconds=3.0).voice_id
    with pytest.raises(VoiceUnusable):
        service.stream(SpeechRequest("a", "en", voice_id=vid))
    assert service.limiter.running == 0


def test_loading_and_overload_say_when_to_retry(loaded: Loaded, engine: FakeEngine) -> None:
    with pytest.raises(ModelLoading) as info:
        make_service(None).synthesize(SpeechRequest("a", "en", voice_id="v"))
    assert info.value.retry_after == 5
    service = make_service(loaded, running=1)
    vid = voice_id(service, engine)
    stream = service.stream(SpeechRequest("abc", "en", voice_id=vid))  # holds the only slot
    with pytest.raises(Overloaded) as busy:
        service.synthesize(SpeechRequest("a", "en", voice_id=vid))
    assert busy.value.retry_after is not None and busy.value.retry_after >= 1
    stream.close()
    stream.close()  # closing twice releases once
    assert service.limiter.running == 0
    assert service.synthesize(SpeechRequest("a", "en", voice_id=vid)).audio.size == 40


def test_a_closed_stream_leaves_the_batch_at_the_next_step(loaded: Loaded, engine: FakeEngine) -> None:
    service = make_service(loaded)
    vid = voice_id(service, engine)
    engine.decoder.gate = gate = threading.Semaphore(0)
    gate.release(2)  # the prefill and one step
    first: list[AudioChunk] = []
    stream_holder: list[Any] = []
    opener = threading.Thread(
        target=lambda: stream_holder.append(service.stream(SpeechRequest("a" * 50, "en", voice_id=vid)))
    )
    opener.start()
    opener.join(5)
    stream = stream_holder[0]
    first.append(next(stream))
    # The first latent reaches the stream inside the admission; the row is counted just after.
    wait_until(lambda: loaded.scheduler.stats().running == 1, timeout=5, what="the row running")
    stream.close()
    gate.release(1)  # the step in flight finishes; the cancelled row is dropped before the next
    wait_until(lambda: not loaded.scheduler.stats().running, timeout=5, what="the cancelled row gone")
    calls = len(engine.decoder.calls)
    engine.decoder.gate = None
    gate.release(100)
    time.sleep(0.05)
    assert loaded.scheduler.stats().running == 0
    assert len(engine.decoder.calls) == calls  # no step ran for it after it left
    assert service.limiter.running == 0


def test_concurrent_streams_share_decode_steps(
    loaded: Loaded, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service(loaded, running=4)
    submitted: list[Any] = []
    decode = loaded.scheduler.decode

    def counted(seq: Any) -> Any:
        submitted.append(seq)
        return decode(seq)

    monkeypatch.setattr(loaded.scheduler, "decode", counted)
    vid = voice_id(service, engine)
    engine.decoder.gate = gate = threading.Semaphore(0)
    results: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        results[i] = service.synthesize(SpeechRequest("a" * (i + 1), "en", voice_id=vid)).audio

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    # Every request handed to the scheduler while the gate holds its decode thread (on a prefill).
    wait_until(lambda: len(submitted) == 4, timeout=5, what="four requests at the scheduler")
    engine.decoder.gate = None
    gate.release(1000)
    for t in threads:
        t.join(5)
    # Each got its own codes (4 per letter), whatever ran beside it ...
    assert {i: a.size for i, a in results.items()} == {i: 40 * (i + 1) for i in range(4)}
    # ... and decode steps carried several rows at once.
    assert max(engine.decoder.calls) >= 3
    assert len(engine.decoder.calls) < sum(4 * (i + 1) for i in range(4))


# ---- the HTTP adapter: one table from domain error to status ------------------------------------
@pytest.fixture
def client(loaded: Loaded) -> Any:
    settings = load_settings(
        {"TTS_MODEL_PATH": "/unused", "TTS_MAX_CONCURRENT_REQUESTS": "1", "TTS_QUEUE_SIZE": "0"}
    )
    app = create_app(settings, load=False)
    app.extensions["tts"].model.loaded = loaded
    app.extensions["tts"].model.status = "ready"
    return app.test_client()


def test_http_maps_each_domain_error_to_its_status(client: Any, loaded: Loaded, engine: FakeEngine) -> None:
    vid = loaded.voices.add(engine.make_voice(None, 0), name=None, reference_seconds=3.0).voice_id
    ok = client.post("/synthesize", json={"text": "ab", "voice_id": vid, "language": "en"})
    assert ok.status_code == 200 and ok.mimetype == "audio/wav"
    cases = [
        ({"text": "a", "voice_id": "voice_00000000000000000000"}, 404, "voice_not_found"),
        ({"text": "a!", "voice_id": vid, "language": "en"}, 400, "invalid_text"),
    ]
    for body, status, code in cases:
        for path in ("/synthesize", "/synthesize/stream"):
            r = client.post(path, json=body)
            assert (r.status_code, r.json["error"]["code"]) == (status, code), (path, r.json)
    stream = client.post("/synthesize/stream", json={"text": "abc", "voice_id": vid, "language": "en"})
    assert stream.status_code == 200
    busy = client.post("/synthesize", json={"text": "a", "voice_id": vid, "language": "en"})
    assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
    stream.close()
    health = client.get("/health").json
    assert health["decode_batch"]["max_batch"] == 4 and health["in_flight"] == 0
    assert health["prefix_cache"] == {"voices": 0, "capacity": 0, "hits": 0, "misses": 0}


def test_a_failing_batch_fails_its_requests_and_the_scheduler_goes_on(
    loaded: Loaded, engine: FakeEngine
) -> None:
    service = make_service(loaded)
    vid = voice_id(service, engine)
    real_step = engine.decoder.step

    def broken(batch: DecodeBatch) -> np.ndarray:
        raise RuntimeError("injected: the GPT call failed")

    engine.decoder.step = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="injected"):
        service.synthesize(SpeechRequest("ab", "en", voice_id=vid))
    assert service.limiter.running == 0
    engine.decoder.step = real_step  # type: ignore[method-assign]
    assert service.synthesize(SpeechRequest("ab", "en", voice_id=vid)).audio.size == 80


def test_a_client_names_a_voice_by_id_alias_or_name(loaded: Loaded, engine: FakeEngine) -> None:
    service = make_service(loaded)
    info = loaded.voices.add(engine.make_voice(None, 0), name="মিতা", reference_seconds=3.0)
    aliases = {"alloy": info.voice_id}
    local = Owner("local", legacy=True)
    assert service.resolve_voice(info.voice_id, aliases, local) == info.voice_id
    assert service.resolve_voice("alloy", aliases, local) == info.voice_id
    assert service.resolve_voice("মিতা", aliases, local) == info.voice_id
    with pytest.raises(VoiceNotFound, match="no voice named 'nova'"):
        service.resolve_voice("nova", aliases, local)
    with pytest.raises(VoiceNotFound):  # another owner does not see it by name
        service.resolve_voice("মিতা", aliases, Owner("key_" + "0" * 32))


def test_a_second_voice_with_a_taken_name_is_a_conflict(loaded: Loaded) -> None:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.sin(np.arange(3 * 22050) / 20).astype(np.float32) * 0.3, 22050, format="WAV")
    service = make_service(loaded)
    owner = Owner("key_" + "1" * 32)
    first = service.create_voice(buf.getvalue(), "anchor", owner)
    with pytest.raises(VoiceNameTaken) as info:
        service.create_voice(buf.getvalue(), "anchor", owner)
    assert info.value.code == "voice_name_taken" and service.limiter.running == 0
    assert service.find_voice("anchor", owner) == first
    # Names are unique per owner: another owner may use the same one.
    other = service.create_voice(buf.getvalue(), "anchor", Owner("key_" + "2" * 32))
    assert other.voice_id != first.voice_id and other.owner == "key_" + "2" * 32


# ---- quality checks and the runaway retry -------------------------------------------------------
# Rates that never warn: the fake engine's audio is not speech; these tests are about runaways.
RUNAWAY_ONLY = QualityPolicy(
    speech_rates={"default": (0.01, 1e6)}, max_silence_s=600.0, max_clipping_share=1.0
)


def test_a_runaway_is_retried_once_with_the_next_seed_and_what_remains_is_reported(
    loaded: Loaded, engine: FakeEngine
) -> None:
    service = make_service(loaded, quality=RUNAWAY_ONLY)
    engine.runaways = 10
    speech = service.synthesize(
        SpeechRequest("ab|c", "en", voice_id=voice_id(service, engine), params={"seed": 7})
    )
    assert [p.seed for p in engine.params if p] == [7, 8]
    q = speech.quality
    assert q is not None and q.attempts == 2 and q.retried_for == ("runaway",) and q.codes == ["runaway"]
    assert q.to_json()["retried"] is True
    assert loaded.scheduler.stats().tokens == 2 * 12 and service.limiter.running == 0


def test_a_retry_that_fixes_the_runaway_returns_the_clean_attempt(loaded: Loaded, engine: FakeEngine) -> None:
    service = make_service(loaded, quality=RUNAWAY_ONLY)
    engine.runaways = 1
    speech = service.synthesize(SpeechRequest("ab|c", "en", voice_id=voice_id(service, engine)))
    q = speech.quality
    assert q is not None and q.attempts == 2 and q.retried_for == ("runaway",) and q.warnings == ()
    assert [p.seed for p in engine.params if p] == [None, None]  # unseeded: a fresh random stream


@pytest.mark.parametrize(
    ("params", "policy"),
    [
        ({"greedy": True}, RUNAWAY_ONLY),  # deterministic: another seed changes nothing
        ({}, replace(RUNAWAY_ONLY, retries=0)),
        ({}, replace(RUNAWAY_ONLY, retry_on=frozenset({"clipping"}))),
    ],
)
def test_no_retry_when_it_cannot_help_or_is_off(
    loaded: Loaded, engine: FakeEngine, params: dict[str, Any], policy: QualityPolicy
) -> None:
    service = make_service(loaded, quality=policy)
    engine.runaways = 10
    speech = service.synthesize(
        SpeechRequest("ab|c", "en", voice_id=voice_id(service, engine), params=params)
    )
    assert len(engine.params) == 1 and speech.quality is not None
    assert speech.quality.attempts == 1 and speech.quality.codes == ["runaway"]


def test_the_runaway_guard_budget_reaches_the_engine_unless_the_length_is_fixed(
    loaded: Loaded, engine: FakeEngine
) -> None:
    service = make_service(loaded, quality=RUNAWAY_ONLY)
    vid = voice_id(service, engine)
    service.synthesize(SpeechRequest("a", "bn", voice_id=vid))
    assert engine.params[-1] is not None and engine.params[-1].token_budget == RUNAWAY_ONLY.token_budget("bn")
    loaded.defaults.update(min_new_tokens=4, max_new_tokens=4)  # as the benchmarks force lengths
    speech = service.synthesize(SpeechRequest("a", "bn", voice_id=vid))
    assert engine.params[-1] is not None and engine.params[-1].token_budget is None
    assert speech.quality is not None and speech.quality.attempts == 1 and not speech.quality.runaway


def test_a_stream_is_checked_when_it_ends_and_never_retried(loaded: Loaded, engine: FakeEngine) -> None:
    service = make_service(loaded, quality=RUNAWAY_ONLY)
    vid = voice_id(service, engine)
    engine.runaways = 10
    stream = service.stream(SpeechRequest("ab|c", "en", voice_id=vid))
    samples = sum(chunk.samples.shape[0] for chunk in stream)
    assert samples == 120 and len(engine.params) == 1
    assert stream.quality is not None and stream.quality.codes == ["runaway"] and stream.quality.attempts == 1
    cut = service.stream(SpeechRequest("ab|c", "en", voice_id=vid))
    next(cut)
    cut.close()
    assert cut.quality is None and service.limiter.running == 0  # a stream cut short has no verdict


def test_checks_off_means_no_quality_and_no_budget(loaded: Loaded, engine: FakeEngine) -> None:
    service = make_service(loaded)
    speech = service.synthesize(SpeechRequest("ab|c", "en", voice_id=voice_id(service, engine)))
    assert speech.quality is None and engine.params[-1] is not None and engine.params[-1].token_budget is None


def test_bangla_requests_are_read_with_the_user_lexicon(loaded: Loaded, engine: FakeEngine) -> None:
    loaded.lexicon = UserLexicon.from_bytes("Yunus\tমুহাম্মদ ইউনূস\n".encode(), "test lexicon")
    service = make_service(loaded)
    vid = voice_id(service, engine)
    speech = service.synthesize(SpeechRequest("Dr. Yunus বলেন", "bn", voice_id=vid))
    assert speech.prepared.text == "ডক্টর মুহাম্মদ ইউনূস বলেন"
    # Text sent as English is the engine's own to read, as before.
    assert service.synthesize(SpeechRequest("Dr. Yunus", "en", voice_id=vid)).prepared.text == "Dr. Yunus"


def test_a_bad_user_lexicon_stops_the_start_with_its_line(tmp_path: Any, caplog: Any) -> None:
    lexicon = tmp_path / "lexicon.tsv"
    lexicon.write_text("Yunus\tইউনূস\nBBC বিবিসি\n", encoding="utf-8")
    settings = load_settings({"TTS_MODEL_PATH": str(tmp_path / "bundle"), "TTS_LEXICON_PATH": str(lexicon)})
    stopped: list[bool] = []
    state = ModelState(settings, on_fatal=lambda: stopped.append(True))
    state._run()  # the loader thread's body, here in the test's thread
    assert state.status == "failed" and stopped == [True]
    assert f"TTS_LEXICON_PATH={lexicon}: line 2: expected the word, one tab" in caplog.text


def test_ssml_reaches_the_engine_as_a_script_each_part_read_in_its_language(
    loaded: Loaded, engine: FakeEngine
) -> None:
    loaded.lexicon = UserLexicon.from_bytes("Yunus\tমুহাম্মদ ইউনূস\n".encode(), "test lexicon")
    service = make_service(loaded)
    vid = voice_id(service, engine)
    ssml = (
        '<speak><break time="250ms"/>Dr. Yunus ১২ টাকা দিলেন।<break time="700ms"/>'
        '<prosody rate="slow"><lang xml:lang="en-GB">Dr. Yunus 12</lang></prosody></speak>'
    )
    speech = service.synthesize(SpeechRequest(ssml, "bn", voice_id=vid, params={"speed": 1.5}))
    script = engine.texts[-1]
    assert script == (
        Segment("", pause_after=0.25),
        Segment("ডক্টর মুহাম্মদ ইউনূস বারো টাকা দিলেন।", pause_after=0.7),  # the Bangla front-end and lexicon
        Segment("Dr. Yunus 12", speed=1.5 * 0.64, language="en"),  # English is the engine's own to read
    )
    assert speech.prepared.text == "ডক্টর মুহাম্মদ ইউনূস বারো টাকা দিলেন। Dr. Yunus 12"
    # Plain text: a <break/> tag in it is a pause (as ElevenLabs and others read it), other markup
    # is text; ssml=True reads any element without a <speak> around it; ssml=False reads it all as text.
    tagged = 'এক <break time="1s"/> দুই & <prosody rate="slow">তিন</prosody>'
    service.synthesize(SpeechRequest(tagged, "bn", voice_id=vid))
    first, rest = engine.texts[-1]
    assert first == Segment("এক", pause_after=1.0) and "দুই এবং প্রসডি" in rest.text
    service.synthesize(SpeechRequest(tagged.replace(" &", ""), "bn", voice_id=vid, ssml=True))
    assert engine.texts[-1] == (Segment("এক", pause_after=1.0), Segment("দুই"), Segment("তিন", speed=0.64))
    service.synthesize(SpeechRequest(tagged, "bn", voice_id=vid, ssml=False))
    assert isinstance(engine.texts[-1], str) and engine.texts[-1].startswith("এক ব্রেক টাইম")


@pytest.mark.parametrize(
    ("ssml", "code", "says"),
    [
        ("<speak>\n<s>এক</speak>", "invalid_ssml", "line 2"),
        ('<speak><phoneme ph="x">এক</phoneme></speak>', "invalid_ssml", "<sub alias"),
        ('<speak><break time="1s"/>!?</speak>', "empty_text", "nothing to speak"),
        (
            '<speak><prosody rate="x-slow"><prosody rate="25%">ধীরে</prosody></prosody></speak>',
            "invalid_text",
            "speed",
        ),
        ('<speak><lang xml:lang="xx">Hallo</lang></speak>', "unsupported_language", "xx"),
    ],
)
def test_ssml_that_cannot_be_spoken_is_invalid_input_and_frees_the_slot(
    loaded: Loaded, engine: FakeEngine, ssml: str, code: str, says: str
) -> None:
    service = make_service(loaded)
    req = SpeechRequest(ssml, "bn", voice_id=voice_id(service, engine))
    for call in (service.synthesize, service.stream):
        with pytest.raises(InvalidInput) as info:
            call(req)
        assert info.value.code == code and says in str(info.value) and service.limiter.running == 0
