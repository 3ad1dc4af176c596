"""Hostile but honest JSON: odd nesting, numbers and Unicode get a 400 with the usual body, never a
500, and one bad record can never poison the voice listing (issue 16, classes 3 and 4).

The fast tests check the parsers and the voice store alone; the server tests run the real gunicorn
with the "stopping" demo bundle (its stop token wins at once, so an accepted synthesis is quick) and
end with a hypothesis fuzz over every JSON endpoint.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.http.auth import authorized
from function.http.errors import ApiError
from function.http.models import SynthesisRequest, validate
from function.http.requests import decode_base64_audio, parse_json_object
from function.storage import LocalStore, StorageError
from function.voices import VoiceNotFoundError, VoiceStore, owner_id

KEY = "hostile-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
SURROGATE_NAME = b'{"voice_id": "%s", "name": "bad \\ud800 name", "created_at": 1.0, '


def _api_error(call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as info:
        call()
    err = info.value
    err.message.encode("utf-8")  # the message itself can always be sent
    return err


# ---- parsers, fast -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),  # RecursionError in the parser
        (b'{"text": "x", "seed": ' + b"9" * 5000 + b"}", "invalid_json"),  # the int digit limit
        (b'{"text": "\\ud800"}', "invalid_unicode"),
        (b'{"\\udfff": 1}', "invalid_unicode"),
        (b'{"a": [{"b": {"\\ud83d": 1}}]}', "invalid_unicode"),  # a key deep inside
        (b'{"a": [[["ok", "\\udc00"]]]}', "invalid_unicode"),
        (b"\xff\xfe{}", "invalid_json"),
        (b'"just a string"', "invalid_json"),
    ],
)
def test_odd_json_is_a_400(raw: bytes, code: str) -> None:
    err = _api_error(lambda: parse_json_object(raw))
    assert (err.status, err.code) == (400, code)


def test_a_surrogate_pair_is_a_character_not_an_error() -> None:
    assert parse_json_object(b'{"text": "\\ud83d\\ude00"}') == {"text": "\U0001f600"}


def test_error_messages_quote_what_was_sent_briefly() -> None:
    huge = {"text": "x", "voice_id": "v", "language": ["x" * 10**6]}
    err = _api_error(lambda: validate(SynthesisRequest, huge, languages=["bn"], max_text_chars=9))
    assert err.code == "unsupported_language" and len(err.message) < 200
    keys = {"text": "x", "voice_id": "v", **{f"k{i}" * 1000: 1 for i in range(50)}}
    err = _api_error(lambda: validate(SynthesisRequest, keys, languages=["bn"], max_text_chars=9))
    assert err.code == "unknown_field" and len(err.message) < 600


def test_base64_as_the_base64_command_prints_it() -> None:
    raw = bytes(range(256)) * 40
    assert decode_base64_audio(base64.encodebytes(raw).decode(), "audio") == raw  # wrapped at 76
    assert decode_base64_audio(base64.b64encode(raw).decode().replace("\n", "\r\n"), "audio") == raw
    assert decode_base64_audio(base64.urlsafe_b64encode(raw).decode().rstrip("="), "audio") == raw
    err = _api_error(lambda: decode_base64_audio("QUJD\nRA==é", "audio"))
    assert err.code == "invalid_base64" and "position 9" in err.message and "'\\xe9'" in err.message
    err = _api_error(lambda: decode_base64_audio("QUJDR", "audio"))
    assert err.code == "invalid_base64" and "truncated" in err.message


def test_bearer_whitespace_is_treated_alike_everywhere() -> None:
    key = "k" * 20
    for header in (f"Bearer {key}", f"bearer\t{key}", f"  BEARER   {key}  ", f"Bearer \t{key}\t"):
        assert authorized(header, (key,)), header
    for header in (f"Bearer{key}", f"Bearer {key} extra", f"Basic {key}", "Bearer", ""):
        assert not authorized(header, (key,)), header


# ---- the voice store: all-or-nothing writes, readers that survive a bad record ------------------
def _store(root: Path) -> VoiceStore[bytes]:
    return VoiceStore(LocalStore(root), capacity=4, loads=bytes, dumps=bytes, model="m/1")


def test_a_bad_record_on_disk_is_skipped_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = _store(tmp_path)
    good = store.add(b"payload", name="ভালো", reference_seconds=3.0)
    bad_records = {
        "voice_aaaaaaaaaaaaaaaaaaaa": SURROGATE_NAME % b"voice_aaaaaaaaaaaaaaaaaaaa"
        + b'"reference_seconds": 3.0, "model": "m/1"}',
        "voice_bbbbbbbbbbbbbbbbbbbb": b"{truncated",
        "voice_cccccccccccccccccccc": b'{"voice_id": "voice_cccccccccccccccccccc", "created_at": "soon"}',
        "voice_dddddddddddddddddddd": b'["not", "an", "object"]',
        "voice_eeeeeeeeeeeeeeeeeeee": b'{"voice_id": "voice_ffffffffffffffffffff", "created_at": 1, '
        b'"reference_seconds": 2}',  # another voice's record
    }
    for voice_id, raw in bad_records.items():
        (tmp_path / f"{voice_id}.json").write_bytes(raw)
        (tmp_path / f"{voice_id}.voice").write_bytes(b"x")
    with caplog.at_level(logging.WARNING):
        assert [i.voice_id for i in store.list()] == [good.voice_id]
    for voice_id in bad_records:
        assert voice_id in caplog.text
        with pytest.raises(VoiceNotFoundError):
            store.info(voice_id)
    assert store.info(good.voice_id) == good


def test_a_voice_whose_metadata_cannot_be_written_leaves_nothing(tmp_path: Path) -> None:
    class FailingMetadata(LocalStore):
        def write_bytes(self, key: str, data: bytes) -> None:
            if key.endswith(".json"):
                raise StorageError("bucket unavailable")
            super().write_bytes(key, data)

    store: VoiceStore[bytes] = VoiceStore(
        FailingMetadata(tmp_path), capacity=4, loads=bytes, dumps=bytes, model="m/1"
    )
    with pytest.raises(StorageError):
        store.add(b"payload", name="n", reference_seconds=3.0)
    # No object at all (the name's claim is released too; an empty folder is not an object).
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [] and store.cached_ids() == []


def test_a_name_that_could_not_be_listed_is_never_stored(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(ValueError, match="round-trip"):
        store.add(b"payload", name="bad \ud800", reference_seconds=3.0)
    assert list(tmp_path.iterdir()) == []


# ---- the real server -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., Any], stopping_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    tmp = tmp_path_factory.mktemp("hostile")
    srv = start_server(
        {
            "TTS_MODEL_PATH": str(stopping_build / "bundle"),
            "TTS_MODEL_VARIANT": "fp32",
            "TTS_CACHE_DIR": str(tmp / "cache"),
            "TTS_VOICES_PATH": str(tmp / "voices"),
            "TTS_API_KEYS": KEY,
            "TTS_MAX_REQUEST_BYTES": str(2**20),
            "TTS_MAX_TEXT_CHARS": "200",
            "TTS_WORKERS": "1",
            "TTS_INTRA_OP_THREADS": "1",
        }
    )
    srv.wait_ready()
    srv.voices_root = tmp / "voices"
    return srv


def post(server: Any, path: str, raw: bytes, ctype: str = "application/json") -> requests.Response:
    headers = {**AUTH, "Content-Type": ctype}
    return requests.post(server.url + path, data=raw, headers=headers, timeout=120)


def assert_json_error(r: requests.Response, status: int | None = None, code: str | None = None) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.status_code >= 400:
        assert r.headers["Content-Type"].startswith("application/json"), r.headers
        err = r.json()["error"]
        assert isinstance(err["code"], str) and isinstance(err["message"], str) and err["message"]
    if status is not None:
        assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["error"]["code"] == code, r.text


@pytest.fixture(scope="module")
def voice_id(server: Any, make_clip: Callable[..., bytes]) -> str:
    # Line-wrapped base64, as `base64 clip.wav` prints it, is accepted.
    wrapped = base64.encodebytes(make_clip(3.0)).decode()
    r = post(server, "/voices", json.dumps({"audio": wrapped, "name": "fuzz"}).encode())
    assert r.status_code == 201, r.text
    voice = str(r.json()["voice_id"])
    # Voices live in one directory per model version.
    server.voices_dir = next(server.voices_root.glob(f"*/{voice}.json")).parent
    return voice


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "raw", "code"),
    [
        ("/synthesize", b"[" * 50_000 + b"]" * 50_000, "invalid_json"),
        ("/synthesize", b'{"text": "x", "voice_id": "v", "seed": ' + b"7" * 5000 + b"}", "invalid_json"),
        ("/synthesize", b'{"text": "hello \\udc80", "language": "en", "voice_id": "v"}', "invalid_unicode"),
        ("/synthesize/stream", b'{"\\ud800": 1, "text": "x"}', "invalid_unicode"),
        ("/v1/audio/speech", b'{"model": "tts-1", "input": "\\ud800", "voice": "v"}', "invalid_unicode"),
        ("/voices", b'{"audio": "UklGRg==", "name": "\\ud800"}', "invalid_unicode"),
    ],
)
def test_issue_cases_are_400s(server: Any, path: str, raw: bytes, code: str) -> None:
    assert_json_error(post(server, path, raw), 400, code)


@pytest.mark.slow
def test_names_are_checked_before_anything_is_saved(
    server: Any, voice_id: str, make_clip: Callable[..., bytes]
) -> None:
    before = sorted(p.name for p in server.voices_dir.iterdir())
    clip = make_clip(3.0)
    r = requests.post(
        server.url + "/voices",
        headers=AUTH,
        files={"audio": ("c.wav", clip)},
        data={"name": "line\nbreak"},
        timeout=60,
    )
    assert_json_error(r, 400, "invalid_name")
    r = post(
        server, "/voices", json.dumps({"audio": base64.b64encode(clip).decode(), "name": "\x07"}).encode()
    )
    assert_json_error(r, 400, "invalid_name")
    assert sorted(p.name for p in server.voices_dir.iterdir()) == before
    listing = requests.get(server.url + "/voices", headers=AUTH, timeout=30)
    assert listing.status_code == 200 and voice_id in listing.text


@pytest.mark.slow
def test_a_poisoned_record_does_not_break_the_listing(server: Any, voice_id: str) -> None:
    bad = "voice_zzzzzzzzzzzzzzzzzzzz"
    (server.voices_dir / f"{bad}.voice").write_bytes(b"not a voice")
    (server.voices_dir / f"{bad}.json").write_bytes(
        SURROGATE_NAME % bad.encode() + b'"reference_seconds": 3.0, "model": "m"}'
    )
    listing = requests.get(server.url + "/voices", headers=AUTH, timeout=30)
    assert listing.status_code == 200
    assert voice_id in listing.text and bad not in listing.text
    assert_json_error(requests.get(server.url + f"/voices/{bad}", headers=AUTH, timeout=30), 404)
    assert requests.get(server.url + f"/voices/{voice_id}", headers=AUTH, timeout=30).status_code == 200
    # Whose it is cannot be read, so nobody may use it: not found, like a missing voice.
    r = post(server, "/synthesize", json.dumps({"text": "আমি", "voice_id": bad}).encode())
    assert_json_error(r, 404, "voice_not_found")
    # A readable record over a damaged payload: using it says so (409), not a failure in the engine.
    damaged = "voice_yyyyyyyyyyyyyyyyyyyy"
    (server.voices_dir / f"{damaged}.voice").write_bytes(b"not a voice")
    record = {"voice_id": damaged, "name": None, "created_at": 1.0, "reference_seconds": 3.0, "model": "m"}
    (server.voices_dir / f"{damaged}.json").write_text(json.dumps({**record, "owner": owner_id(KEY)}))
    r = post(server, "/synthesize", json.dumps({"text": "আমি", "voice_id": damaged}).encode())
    assert_json_error(r, 409, "voice_unusable")
    assert any(
        rec.get("severity") == "WARNING" and bad in rec.get("message", "") for rec in server.log_records()
    )


# ---- the fuzz: arbitrary JSON into every endpoint ------------------------------------------------
class Digits(int):
    """A JSON integer of this many digits: past 4300 Python itself will not build it."""


# Every Unicode category, lone surrogates and controls included, in values and in keys.
_CHARS = st.one_of(
    st.characters(codec=None), st.characters(categories=["Cs"]), st.characters(max_codepoint=0x1F)
)
_TEXT = st.lists(_CHARS, max_size=12).map("".join)
_NUMBERS = st.one_of(
    st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=4000, max_value=6000).map(Digits),
)
_LEAVES = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXT)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_TEXT, st.sampled_from(["text", "name"])), inner, max_size=4),
    ),
    max_leaves=12,
)


def _dumps(value: Any) -> bytes:
    """JSON text as a client may send it: escapes for surrogates, digits beyond Python's default limit."""
    if isinstance(value, Digits):
        return b"9" * int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value).encode()  # NaN / Infinity, which Python's parser accepts
    if isinstance(value, dict):
        items = (json.dumps(k).encode() + b": " + _dumps(v) for k, v in value.items())
        return b"{" + b", ".join(items) + b"}"
    if isinstance(value, list):
        return b"[" + b", ".join(_dumps(v) for v in value) + b"]"
    return json.dumps(value).encode()


def _bodies(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """The valid body, or it with one field replaced or added, a whole arbitrary value, deep nesting."""
    mutated = st.tuples(st.one_of(st.sampled_from(sorted(valid)), _TEXT), _JSON).map(
        lambda kv: _dumps({**valid, kv[0]: kv[1]})
    )
    nested = st.integers(min_value=500, max_value=20_000).map(
        lambda n: b'{"text": ' + b"[" * n + b"]" * n + b"}"
    )
    raw = st.binary(max_size=64)
    return st.one_of(st.just(_dumps(valid)), mutated, mutated, _JSON.map(_dumps), nested, raw)


def _model(server: Any) -> str:
    return str(requests.get(server.url + "/v1/models", headers=AUTH, timeout=30).json()["data"][0]["id"])


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/synthesize", "/synthesize/stream", "/v1/audio/speech", "/voices"])
def test_fuzzed_json_never_gets_a_5xx(
    server: Any, voice_id: str, make_clip: Callable[..., bytes], path: str
) -> None:
    valid = {
        "/synthesize": {"text": "আমি ভাত খাই।", "voice_id": voice_id, "seed": 1},
        "/synthesize/stream": {"text": "আমি ভাত খাই।", "voice_id": voice_id},
        "/v1/audio/speech": {"model": _model(server), "input": "আমি ভাত খাই।", "voice": voice_id},
        "/voices": {"audio": base64.b64encode(make_clip(2.5)).decode(), "name": "fuzzed"},
    }[path]
    statuses: dict[int, int] = {}

    @given(raw=_bodies(valid))
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(raw: bytes) -> None:
        r = post(server, path, raw)
        assert_json_error(r)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    run()
    # The fuzz reached both the validators and the engine.
    assert statuses.get(400, 0) > 10 and any(code < 300 for code in statuses), statuses
    assert requests.get(server.url + "/health", timeout=5).status_code == 200
    assert requests.get(server.url + "/voices", headers=AUTH, timeout=30).status_code == 200
    # Every line the server wrote is one JSON object (no tracebacks, no half-encoded lines).
    lines = [line for line in server.log_text().splitlines() if line.strip()]
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    assert server.proc.poll() is None


@pytest.mark.slow
def test_a_field_name_with_a_surrogate_leaves_json_logs(server: Any) -> None:
    # Sent raw over a socket: the bytes on the wire are exactly what a hostile client writes.
    body = b'{"\\ud800\\u0000": "x", "text": "y"}'
    head = (
        f"POST /synthesize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "invalid_unicode"
    for line in server.log_text().splitlines():
        json.loads(line)
