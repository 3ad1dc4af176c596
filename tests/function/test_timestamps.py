"""Word timestamps through the service and the real server (issue 28): estimated without an aligner
and labelled so, forced with TTS_ALIGNER_MODEL; every word of the text read gets a span, in order,
inside the audio."""

from __future__ import annotations

import base64
import io
import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import soundfile as sf

from function.service.model import Loaded
from function.service.speech import SpeechRequest
from tests.ctc_models import write_template_ctc
from tests.function.fakes import FakeEngine, make_service, voice_id

KEY = "timestamps-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
WORDS = ["আমার", "সোনার", "বাংলা", "আমি", "তোমায়", "ভালোবাসি", "চিরদিন", "তোমার", "আকাশ", "বাতাস", "১২৩", "টাকা"]


def test_without_an_aligner_the_times_are_estimated_per_piece(loaded: Loaded, engine: FakeEngine) -> None:
    service = make_service(loaded)
    vid = voice_id(service, engine)
    speech = service.synthesize(SpeechRequest("ab cd|e", "en", voice_id=vid, timestamps=True))
    assert speech.timing is not None and speech.timing.alignment == "estimated"
    assert [w.word for w in speech.timing.words] == ["ab", "cd", "e"]
    # "ab cd" is the first piece (20 codes of 10 samples at 1 kHz), "e" the second: each word in its piece.
    assert speech.timing.words[1].end <= 0.2 <= speech.timing.words[2].start < speech.timing.words[2].end
    plain = service.synthesize(SpeechRequest("ab", "en", voice_id=vid))
    assert plain.timing is None  # not asked for: not computed


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., Any], demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    tmp = tmp_path_factory.mktemp("timestamps")
    model, vocab = write_template_ctc(tmp)
    srv = start_server(
        {
            "TTS_MODEL_PATH": str(demo_bundle),
            "TTS_MODEL_VARIANT": "int8",
            "TTS_CACHE_DIR": str(tmp / "cache"),
            "TTS_VOICES_PATH": str(tmp / "voices"),
            "TTS_API_KEYS": KEY,
            "TTS_WORKERS": "1",
            "TTS_INTRA_OP_THREADS": "1",
            "TTS_ALIGNER_MODEL": str(model),
            "TTS_ALIGNER_VOCAB": str(vocab),
        }
    )
    srv.wait_ready()
    return srv


@pytest.fixture(scope="module")
def voice(server: Any, make_clip: Callable[..., bytes]) -> str:
    r = requests.post(
        server.url + "/voices",
        json={"audio": base64.b64encode(make_clip(3.0)).decode()},
        headers=AUTH,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["voice_id"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_forced_timestamps_cover_every_word_in_order(server: Any, voice: str, seed: int) -> None:
    rng = random.Random(seed)
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) + "।"
    body = {"text": text, "voice_id": voice, "response_format": "json", "timestamps": True, "seed": seed}
    r = requests.post(server.url + "/synthesize", json=body, headers=AUTH, timeout=300)
    assert r.status_code == 200, r.text
    doc = r.json()
    stamps = doc["timestamps"]
    assert stamps["alignment"] == "forced"
    words = stamps["words"]
    assert [w["word"] for w in words] == doc["normalized_text"].split()  # complete, in order
    seconds = len(sf.read(io.BytesIO(base64.b64decode(doc["audio"])))[0]) / doc["sample_rate"]
    assert all(0 <= w["start"] < w["end"] <= seconds + 1e-3 for w in words)  # inside the audio
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(words))  # monotone
    chars = stamps["characters"]
    assert "".join(chars["characters"]) == " ".join(w["word"] for w in words)
    assert chars["character_start_times_seconds"] == sorted(chars["character_start_times_seconds"])
    # The words as sent: "১২৩" spans the words it was read as (একশো তেইশ).
    sent = stamps["input_words"]
    assert [w["word"] for w in sent] == text.split()
    j = 0  # the next word read
    for w in sent:
        n = 2 if w["word"].rstrip("।") == "১২৩" else 1  # every other word of WORDS reads as itself
        assert (w["start"], w["end"]) == (words[j]["start"], words[j + n - 1]["end"]), w
        j += n
    assert j == len(words)


@pytest.mark.slow
def test_timestamps_need_a_json_answer(server: Any, voice: str) -> None:
    r = requests.post(
        server.url + "/synthesize",
        json={"text": "আমি", "voice_id": voice, "timestamps": True},
        headers=AUTH,
        timeout=60,
    )
    assert r.status_code == 400 and "response_format" in r.json()["error"]["message"]


def sse_events(body: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(block[len(b"data: ") :]) for block in body.split(b"\n\n") if block.startswith(b"data: ")
    ]


@pytest.mark.slow
def test_sse_timestamps_follow_each_pieces_audio(server: Any, voice: str) -> None:
    # Long enough for several pieces: each piece's words come in an event after its audio.
    text = " ".join(["আমার সোনার বাংলা, আমি তোমায় ভালোবাসি, চিরদিন তোমার আকাশ, তোমার বাতাস।"] * 5)
    body = {
        "model": "tts-1",
        "input": text,
        "voice": voice,
        "response_format": "pcm",
        "stream_format": "sse",
        "timestamps": True,
        "seed": 3,
    }
    r = requests.post(server.url + "/v1/audio/speech", json=body, headers=AUTH, timeout=300)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(r.content)
    assert events[0]["type"] == "speech.audio.delta" and events[-1]["type"] == "speech.audio.done"
    sent = 0.0  # seconds of audio sent before each event (pcm: 16-bit mono at 24 kHz)
    stamped: list[dict[str, Any]] = []
    pieces = 0
    for event in events:
        if event["type"] == "speech.audio.delta":
            sent += len(base64.b64decode(event["audio"])) / 2 / 24000
        elif event["type"] == "speech.audio.timestamps":
            pieces += 1
            assert event["alignment"] == "forced"
            assert all(w["end"] <= sent + 1e-3 for w in event["words"])  # after its audio
            stamped += event["words"]
    normalized = requests.post(
        server.url + "/normalize", json={"text": text}, headers=AUTH, timeout=60
    ).json()["normalized_text"]
    assert pieces > 1 and [w["word"] for w in stamped] == normalized.split()
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(stamped))
    assert stamped[-1]["end"] <= sent + 1e-3


@pytest.mark.slow
def test_openai_timestamps_need_sse(server: Any, voice: str) -> None:
    body = {"model": "tts-1", "input": "আমি", "voice": voice, "timestamps": True}
    r = requests.post(server.url + "/v1/audio/speech", json=body, headers=AUTH, timeout=60)
    assert r.status_code == 400 and "stream_format" in r.json()["error"]["message"]


@pytest.mark.slow
def test_elevenlabs_sdk_gets_forced_normalized_alignment(server: Any, voice: str) -> None:
    from elevenlabs.client import ElevenLabs

    client = ElevenLabs(api_key=KEY, base_url=server.url)
    text = "আমি ১২৩ টাকা দিলাম, তুমি নাও।"
    words = requests.post(
        server.url + "/synthesize",
        json={"text": text, "voice_id": voice, "seed": 5, "response_format": "json", "timestamps": True},
        headers=AUTH,
        timeout=120,
    ).json()["timestamps"]["words"]
    whole = client.text_to_speech.convert_with_timestamps(voice, text=text, output_format="pcm_24000", seed=5)
    normalized = whole.normalized_alignment
    assert normalized is not None and whole.alignment is not None
    # The same seed, the same audio: the characters sit inside the words' forced spans.
    assert "".join(normalized.characters) == " ".join(w["word"] for w in words)
    assert normalized.character_start_times_seconds[0] == pytest.approx(words[0]["start"], abs=1e-3)
    assert normalized.character_end_times_seconds[-1] == pytest.approx(words[-1]["end"], abs=1e-3)
    assert "".join(whole.alignment.characters) == text
    lines = list(
        client.text_to_speech.stream_with_timestamps(voice, text=text, output_format="pcm_24000", seed=5)
    )
    last = lines[-1].normalized_alignment
    assert last is not None and last.character_end_times_seconds[-1] == pytest.approx(
        words[-1]["end"], abs=1e-3
    )


@pytest.mark.slow
def test_the_stream_endpoint_sends_the_same_events(server: Any, voice: str) -> None:
    text = "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। চিরদিন তোমার আকাশ, তোমার বাতাস।"
    body = {"text": text, "voice_id": voice, "stream_format": "sse", "timestamps": True, "seed": 2}
    r = requests.post(server.url + "/synthesize/stream", json=body, headers=AUTH, timeout=300)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(r.content)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "speech.audio.delta" and kinds[-1] == "speech.audio.done"
    samples = sum(len(base64.b64decode(e["audio"])) // 2 for e in events if e["type"] == "speech.audio.delta")
    words = [w for e in events if e["type"] == "speech.audio.timestamps" for w in e["words"]]
    assert words and all(e["alignment"] == "forced" for e in events if e["type"] == "speech.audio.timestamps")
    assert words[-1]["end"] <= samples / 24000 + 1e-3
    plain = requests.post(
        server.url + "/synthesize/stream", json={**body, "stream_format": "audio"}, headers=AUTH
    )
    assert plain.status_code == 400 and "timestamps" in plain.json()["error"]["message"]
    whole = requests.post(
        server.url + "/synthesize", json={**body, "response_format": "json"}, headers=AUTH, timeout=60
    )
    assert whole.status_code == 400 and whole.json()["error"]["code"] == "invalid_stream_format"


@pytest.mark.slow
def test_the_voice_agent_socket_sends_forced_alignment(server: Any, voice: str) -> None:
    from websockets.sync.client import connect

    ws_url = (
        server.url.replace("http", "ws", 1)
        + f"/v1/text-to-speech/{voice}/stream-input?output_format=pcm_24000"
    )
    text = "আমি ১২৩ টাকা দিলাম। তুমি নাও।"
    with connect(ws_url, additional_headers={"xi-api-key": KEY}) as ws:
        ws.send(json.dumps({"text": " "}))
        ws.send(json.dumps({"text": text, "flush": True}))
        ws.send(json.dumps({"text": ""}))
        got = []
        while not (got and got[-1].get("isFinal")):
            got.append(json.loads(ws.recv(timeout=120)))
    aligned = [m for m in got if m.get("normalizedAlignment")]
    assert len(aligned) == 2  # one a sentence
    sent = "".join("".join(m["alignment"]["chars"]) for m in aligned)
    assert " ".join(sent.split()) == text  # the text as sent, digits and all
    first = aligned[0]["normalizedAlignment"]
    assert "".join(first["chars"]) == "আমি একশো তেইশ টাকা দিলাম।"
    starts = first["charStartTimesMs"]
    assert starts == sorted(starts) and all(d >= 0 for d in first["charDurationsMs"])
