"""Fast checks of the HTTP layer's parts: limiter, auth, trace ids, JSON logs, request models, OpenAPI."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time

import pytest

from function.config import SAMPLING_RANGES, load_settings
from function.http.access import client_ip
from function.http.auth import authorized
from function.http.errors import ApiError
from function.http.models import OpenAISpeechRequest, SynthesisFields, SynthesisRequest, validate
from function.http.openapi import build_openapi
from function.jsonlog import JsonFormatter, cloud_trace, request_id_var, trace_var
from function.service.limiter import Busy, ConcurrencyLimiter
from function.voices import EVERYONE, Owner
from tests.waiting import wait_until

LANGS = ["bn", "en"]


def test_limiter_runs_n_queues_then_refuses() -> None:
    lim = ConcurrencyLimiter(max_running=2, queue_size=1, queue_timeout_s=5)
    assert lim.acquire() is None and lim.acquire() is None
    got: list[Busy | None] = []
    waiter = threading.Thread(target=lambda: got.append(lim.acquire()))
    waiter.start()
    wait_until(lambda: lim.waiting == 1, timeout=5, what="the third request queued")
    busy = lim.acquire()  # two running, queue full
    assert busy is not None and busy.queue_full and 1 <= busy.retry_after <= 60
    lim.release(1.0)
    waiter.join(2)
    assert got == [None] and lim.running == 2 and lim.waiting == 0


def test_limiter_queue_times_out() -> None:
    lim = ConcurrencyLimiter(max_running=1, queue_size=4, queue_timeout_s=0.2)
    assert lim.acquire() is None
    t0 = time.monotonic()
    busy = lim.acquire()
    assert busy is not None and not busy.queue_full  # it waited: a different answer from "full"
    assert 0.15 < time.monotonic() - t0 < 2
    lim.release(0.1)
    assert lim.acquire() is None


def test_retry_after_counts_slots_held_longer_than_usual(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 23: four streams held by clients that never read kept every slot for 90 s, and the
    429 said "retry after 1 s" (the average of the holds that had ended). A slot already held
    longer than the average is expected to run about as long again."""
    now = [1000.0]
    monkeypatch.setattr("function.service.limiter.time.monotonic", lambda: now[0])
    lim = ConcurrencyLimiter(max_running=2, queue_size=0, queue_timeout_s=0)
    for held in (2.0, 2.0, 2.0):  # the average hold settles near 2 s
        assert lim.acquire() is None
        now[0] += held
        lim.release(held)
    assert lim.acquire() is None and lim.acquire() is None
    now[0] += 1.0  # both slots 1 s old: the sooner one frees in about 1 s
    busy = lim.acquire()
    assert busy is not None and busy.retry_after == 1
    now[0] += 40.0  # both held 41 s now, far over the average: not "retry in 1 s"
    busy = lim.acquire()
    assert busy is not None and busy.queue_full and busy.retry_after == 41
    now[0] += 100.0
    assert lim.acquire() == Busy(queue_full=True, retry_after=60)  # capped


def test_auth() -> None:
    keys = ("a" * 16, "b" * 16)
    assert authorized(None, ())
    assert authorized("Bearer " + "b" * 16, keys) and authorized("bearer  " + "a" * 16, keys)
    assert not authorized("Bearer", keys) and not authorized("Bearer ", keys)
    assert not authorized(None, keys)
    assert not authorized("Bearer " + "c" * 16, keys)
    assert not authorized("Token " + "a" * 16, keys)


def test_cloud_trace() -> None:
    header = "105445aa7843bc8bf206b12000100000/1;o=1"
    assert cloud_trace(header, "proj") == "projects/proj/traces/105445aa7843bc8bf206b12000100000"
    assert cloud_trace(header, None) == "105445aa7843bc8bf206b12000100000"
    assert cloud_trace("not-hex/1", "p") is None and cloud_trace(None, "p") is None


def test_json_log_line_has_cloud_logging_fields() -> None:
    rid, trace = request_id_var.set("r1"), trace_var.set("projects/p/traces/t")
    try:
        record = logging.LogRecord("x", logging.WARNING, "f", 1, "hello %s", ("you",), None)
        record.latency_ms = 12.5
        doc = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(rid)
        trace_var.reset(trace)
    assert doc["severity"] == "WARNING" and doc["message"] == "hello you"
    assert doc["request_id"] == "r1" and doc["logging.googleapis.com/trace"] == "projects/p/traces/t"
    assert doc["latency_ms"] == 12.5


def parse_synthesis(body: dict[str, object], **context: object) -> SynthesisFields:
    return validate(SynthesisRequest, body, **context)


def test_synthesis_request_defaults_and_data_urls() -> None:
    clip = base64.b64encode(b"RIFF....").decode()
    req = parse_synthesis(
        {"text": "আমি", "speaker_wav": "data:audio/wav;base64," + clip, "top_k": 10},
        languages=LANGS,
        max_text_chars=100,
    )
    assert req.language == "bn" and req.response_format == "wav"
    job = req.job(EVERYONE)
    assert job.speaker_wav == b"RIFF...." and job.params == {"top_k": 10} and job.owner == EVERYONE
    assert parse_synthesis({"text": "x", "voice_id": "v", "seed": None}, languages=LANGS).params() == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": "", "voice_id": "v"}, "empty_text"),
        ({"text": "x" * 11, "voice_id": "v"}, "text_too_long"),
        ({"text": "x", "voice_id": "v", "language": "fr"}, "unsupported_language"),
        ({"text": "x"}, "invalid_speaker"),
        ({"text": "x", "voice_id": "v", "speaker_wav": "UklGRg=="}, "invalid_speaker"),
        ({"text": "x", "voice_id": "v", "response_format": "json"}, "invalid_response_format"),
        # The order a person fixes a request in: the text before the knobs.
        ({"text": "x" * 11, "voice_id": "v", "top_k": 0}, "text_too_long"),
    ],
)
def test_synthesis_request_errors(body: dict[str, object], code: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_synthesis(body, languages=LANGS, max_text_chars=10, formats=("wav",))
    assert info.value.status == 400 and info.value.code == code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"input": "x", "voice": "v"}, "invalid_model"),
        ({"model": "m", "voice": "v"}, "missing_text"),
        ({"model": "m", "input": "x"}, "invalid_speaker"),
        ({"model": "m", "input": "x", "voice": "v", "language": "fr"}, "unsupported_language"),
    ],
)
def test_speech_request_errors(body: dict[str, str], code: str) -> None:
    with pytest.raises(ApiError) as info:
        validate(OpenAISpeechRequest, body, models=["m"], languages=LANGS, max_text_chars=10)
    assert info.value.status == 400 and info.value.code == code


def test_openapi_ranges_are_the_enforced_ones() -> None:
    settings = load_settings({"TTS_MODEL_PATH": "/m", "TTS_API_KEYS": "k" * 16})
    doc = build_openapi(settings, LANGS)
    props = doc["components"]["schemas"]["SynthesisRequest"]["properties"]
    for name, (kind, lo, hi) in SAMPLING_RANGES.items():
        assert props[name]["minimum"] == lo and props[name]["maximum"] == hi
        below = lo - (1 if kind is int else 0.001)
        with pytest.raises(ApiError, match="out of range"):
            parse_synthesis({"text": "x", "voice_id": "v", name: below}, languages=LANGS)
    assert props["language"]["enum"] == LANGS
    assert doc["security"] == [{"bearerAuth": []}] and doc["paths"]["/health"]["get"]["security"] == []
    # Every $ref resolves.
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in doc["components"]["schemas"]


@pytest.mark.parametrize(
    ("header", "hops", "expected"),
    [
        ("203.0.113.9, 130.211.0.5", 2, "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9, 130.211.0.5", 2, "203.0.113.9"),  # a forged first entry is skipped
        ("203.0.113.9", 1, "203.0.113.9"),
        ("203.0.113.9", 2, "203.0.113.9"),  # one proxy fewer than expected: the oldest entry
        (" , 203.0.113.9 ,130.211.0.5, ", 2, "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9", 0, "10.0.0.1"),  # hops 0: the header is not trusted at all
        (None, 2, "10.0.0.1"),
        ("", 2, "10.0.0.1"),
    ],
)
def test_the_client_ip_is_the_entry_our_proxies_appended(
    header: str | None, hops: int, expected: str
) -> None:
    assert client_ip(header, "10.0.0.1", hops) == expected


def test_forwarded_for_hops_is_validated() -> None:
    assert load_settings({"TTS_MODEL_PATH": "/m"}).forwarded_for_hops == 0
    assert load_settings({"TTS_MODEL_PATH": "/m", "TTS_FORWARDED_FOR_HOPS": "2"}).forwarded_for_hops == 2
    with pytest.raises(ValueError, match="TTS_FORWARDED_FOR_HOPS"):
        load_settings({"TTS_MODEL_PATH": "/m", "TTS_FORWARDED_FOR_HOPS": "-1"})


def test_the_caller_is_the_owner_its_key_names() -> None:
    from function.http.auth import caller
    from function.voices import owner_id

    one, two, admin = "alice-key-0123456789", "bob-key-0123456789ab", "admin-key-0123456789"
    keyless = load_settings({"TTS_MODEL_PATH": "/m"})
    assert caller(None, keyless) == Owner("local", legacy=True)
    single = load_settings({"TTS_MODEL_PATH": "/m", "TTS_API_KEYS": one})
    assert caller(f"Bearer {one}", single) == Owner(owner_id(one), legacy=True)  # keeps old voices
    many = load_settings({"TTS_MODEL_PATH": "/m", "TTS_API_KEYS": f"{one},{two}", "TTS_ADMIN_KEYS": admin})
    assert caller(f"Bearer {one}", many) == Owner(owner_id(one))  # nobody inherits them by default
    assert caller(f"Bearer {admin}", many).admin and admin in many.api_keys
    heir = load_settings(
        {"TTS_MODEL_PATH": "/m", "TTS_API_KEYS": f"{one},{two}", "TTS_LEGACY_VOICES_OWNER": owner_id(two)}
    )
    assert caller(f"Bearer {two}", heir).legacy and not caller(f"Bearer {one}", heir).legacy
    assert owner_id(one) != owner_id(two) and one not in owner_id(one)
    with pytest.raises(ValueError, match="TTS_LEGACY_VOICES_OWNER"):
        load_settings({"TTS_MODEL_PATH": "/m", "TTS_LEGACY_VOICES_OWNER": "alice"})
    with pytest.raises(ValueError, match="TTS_ADMIN_KEYS"):
        load_settings({"TTS_MODEL_PATH": "/m", "TTS_ADMIN_KEYS": "short"})


def test_voice_aliases_are_checked_at_start() -> None:
    ok = load_settings(
        {
            "TTS_MODEL_PATH": "/m",
            "TTS_VOICE_ALIASES": "alloy=voice_abcdefghij0123456789, nova=voice_00000000000000000000",
        }
    )
    assert ok.voice_aliases == {"alloy": "voice_abcdefghij0123456789", "nova": "voice_00000000000000000000"}
    for bad in (
        "alloy",
        "alloy=v1",
        "a b=voice_abcdefghij0123456789",
        "x=voice_abcdefghij0123456789,x=voice_abcdefghij0123456789",
    ):
        with pytest.raises(ValueError, match="TTS_VOICE_ALIASES"):
            load_settings({"TTS_MODEL_PATH": "/m", "TTS_VOICE_ALIASES": bad})


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    from function.http.app import create_app

    settings = load_settings({"TTS_MODEL_PATH": "/m"})
    app = create_app(settings, load=False)
    doc = build_openapi(settings, LANGS)
    page = {"/", "/static/app.js", "/static/<path:filename>"}  # the try-it page, not the API
    served = {
        (rule.rule.replace("<", "{").replace(">", "}"), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule not in page
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    verbs = {"get", "put", "post", "delete", "patch"}
    documented = {(path, m) for path, item in doc["paths"].items() for m in item if m in verbs}
    assert served == documented


def test_elevenlabs_output_formats_and_alignment() -> None:
    from function.http.elevenlabs import OUTPUT_FORMATS, OutputFormat, estimated_alignment, output_format

    assert output_format(None) == OutputFormat("mp3", 44100, 128_000)  # ElevenLabs' default
    assert output_format("ulaw_8000") == OutputFormat("ulaw", 8000, None)
    assert all(output_format(f) is not None for f in OUTPUT_FORMATS)
    for bad in ("mp3_44100_999", "pcm_12345", "wav_44100", "mp3", "ulaw_8000_64"):
        assert output_format(bad) is None, bad
    a = estimated_alignment("ab, c", 1.0, 3.0)
    assert a.characters == ["a", "b", ",", " ", "c"]
    # letters one share, a space half, punctuation none: 3.5 shares over 2 s
    assert a.character_start_times_seconds == [1.0, 1.5714, 2.1429, 2.1429, 2.4286]
    assert a.character_end_times_seconds == [1.5714, 2.1429, 2.1429, 2.4286, 3.0]
    assert estimated_alignment("", 0.0, 1.0).characters == []
