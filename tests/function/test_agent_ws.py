"""Voice agents over ElevenLabs' WebSocket protocols, against the real gunicorn (its worker serving
each socket in a thread of its own) and the real engine, with the `websockets` client that agent
frameworks (Pipecat, LiveKit, ElevenLabs' SDK) use: text streamed in pieces split mid-word, audio
decoded in every codec family, alignment against the audio, contexts, barge-in, auth, limits."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.function.conftest import tone_clip
from tests.silence import longest_zero_run
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

KEY = "agent-key-0123456789abcdef"
# An LLM's tokens: words split, a vowel sign arriving apart from its consonant (ভা + লো, ক + ে).
TOKENS = [" ", "আমি ", "ভা", "লো", " আছি", "।", " তুমি ", "ক", "েমন", " আছ", "? ", "ধন্য", "বাদ"]


@pytest.fixture(scope="module")
def server(
    start_server: Callable[..., Any], demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    tmp = tmp_path_factory.mktemp("agent")
    srv = start_server(
        {
            "TTS_MODEL_PATH": str(demo_bundle),
            "TTS_MODEL_VARIANT": "int8",
            "TTS_CACHE_DIR": str(tmp / "cache"),
            "TTS_VOICES_PATH": str(tmp / "voices"),
            "TTS_API_KEYS": KEY,
            "TTS_MAX_CONCURRENT_REQUESTS": "3",
            "TTS_WORKERS": "1",
            "TTS_INTRA_OP_THREADS": "1",
            "TTS_WS_MAX_CONTEXTS": "2",
            "TTS_WS_MAX_MESSAGE_BYTES": "4096",
            "TTS_WS_MAX_SOCKETS": "3",
            "TTS_RESPONSE_WRITE_TIMEOUT_SECONDS": "2",
        }
    )
    srv.wait_ready()
    return srv


@pytest.fixture(scope="module")
def voice(server: Any) -> str:
    r = requests.post(
        server.url + "/voices",
        files={"speaker_wav": ("ref.wav", tone_clip(4.0))},
        data={"name": "agent"},
        headers={"xi-api-key": KEY},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    return "agent"  # by name, as a client calls it


def ws_url(server: Any, voice: str, path: str = "stream-input", **query: str) -> str:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{server.url.replace('http://', 'ws://')}/v1/text-to-speech/{voice}/{path}" + (
        f"?{qs}" if qs else ""
    )


def messages(ws: ClientConnection, timeout: float = 120) -> Iterator[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            raw = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        except ConnectionClosed:
            return
        yield json.loads(raw)


def decode(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    codec, rate = fmt.split("_")[:2]
    if codec == "pcm":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768, int(rate)
    demuxer = {"ulaw": "mulaw", "alaw": "alaw"}.get(codec)
    options = {"sample_rate": rate, "ch_layout": "mono"} if demuxer else {}
    with av.open(io.BytesIO(data), format=demuxer, options=options) as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
        out_rate = container.streams.audio[0].rate
    return np.concatenate(frames).astype(np.float32), int(out_rate)


def test_tokens_split_mid_word_come_back_as_audio_with_alignment_that_spans_it(
    server: Any, voice: str
) -> None:
    fmt = "pcm_16000"
    with connect(ws_url(server, voice, output_format=fmt), additional_headers={"xi-api-key": KEY}) as ws:
        ws.send(json.dumps({"text": " ", "voice_settings": {"speed": 1.0, "stability": 0.5}}))
        for token in TOKENS:
            ws.send(json.dumps({"text": token}))
        ws.send(json.dumps({"text": ""}))
        got = list(messages(ws))
        assert ws.close_code == 1000
    audio = b"".join(base64.b64decode(m["audio"]) for m in got if m.get("audio"))
    samples, rate = decode(audio, fmt)
    assert rate == 16000 and np.abs(samples).max() > 0
    aligned = [m["alignment"] for m in got if m.get("alignment")]
    # One alignment per segment: the two sentences, then what the end of input flushed.
    assert ["".join(a["chars"]) for a in aligned] == ["  আমি ভালো আছি।", " তুমি কেমন আছ? ", "ধন্যবাদ"]
    spans_ms = sum(a["charStartTimesMs"][-1] + a["charDurationsMs"][-1] for a in aligned)
    assert abs(spans_ms - 1000 * samples.size / rate) < 15  # the segments' alignments sum to the audio
    assert all(a["charDurationsMs"][i] >= 0 for a in aligned for i in range(len(a["chars"])))
    assert got[-1] == {"isFinal": True}
    assert all("contextId" not in m for m in got)


@pytest.mark.parametrize("fmt", ["ulaw_8000", "mp3_44100_128", "opus_48000_64"])
def test_every_codec_family_decodes(server: Any, voice: str, fmt: str) -> None:
    with connect(ws_url(server, voice, output_format=fmt), additional_headers={"xi-api-key": KEY}) as ws:
        ws.send(json.dumps({"text": "আমি ভালো আছি। ", "flush": True}))
        ws.send(json.dumps({"text": ""}))
        got = list(messages(ws))
    samples, rate = decode(b"".join(base64.b64decode(m["audio"]) for m in got if m.get("audio")), fmt)
    assert rate == int(fmt.split("_")[1])
    seconds = samples.size / rate
    aligned = next(m["alignment"] for m in got if m.get("alignment"))
    assert abs(seconds - (aligned["charStartTimesMs"][-1] + aligned["charDurationsMs"][-1]) / 1000) < 0.1


def health(server: Any) -> dict[str, Any]:
    r = requests.get(server.url + "/health", headers={"xi-api-key": KEY}, timeout=10)
    return dict(r.json())


def test_contexts_interleave_and_close_context_stops_one_mid_sentence(server: Any, voice: str) -> None:
    url = ws_url(server, voice, path="multi-stream-input", output_format="pcm_24000")
    long = "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। " * 4
    with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
        ws.send(json.dumps({"text": " ", "context_id": "a"}))
        ws.send(json.dumps({"text": long, "context_id": "a", "flush": True}))
        ws.send(json.dumps({"text": "তুমি কেমন আছ? ", "context_id": "b", "flush": True}))
        seen: dict[str, int] = {"a": 0, "b": 0}
        closed_at = final_a_at = 0.0
        for m in messages(ws):
            cid = m["contextId"]
            if m.get("audio"):
                seen[cid] += 1
                if cid == "a" and seen["a"] == 2:
                    assert health(server)["live"] == {"sockets": 1, "contexts": 2}
                    closed_at = time.monotonic()
                    # barge-in
                    ws.send(json.dumps({"context_id": "a", "close_context": True, "immediate": True}))
            if m.get("isFinal") and cid == "a":
                final_a_at = time.monotonic()
                ws.send(json.dumps({"context_id": "b", "close_context": True, "immediate": True}))
            if m.get("isFinal") and cid == "b":
                break
        assert seen["a"] >= 2 and seen["b"] >= 1
        assert 0 < final_a_at - closed_at < 5  # stopped mid-sentence: not after its 4 sentences
        wait_until(lambda: health(server)["live"]["contexts"] == 0, timeout=10, what="contexts to close")
        assert health(server)["in_flight"] == 0  # every slot the contexts held is free
        ws.send(json.dumps({"close_socket": True}))
        assert list(messages(ws, timeout=10)) == []
    wait_until(lambda: health(server)["live"]["sockets"] == 0, timeout=10, what="the socket to close")


def test_the_key_may_come_in_the_first_message(server: Any, voice: str) -> None:
    with connect(ws_url(server, voice, output_format="pcm_16000")) as ws:
        ws.send(json.dumps({"text": "আমি ভালো। ", "xi_api_key": KEY, "flush": True}))
        ws.send(json.dumps({"text": ""}))
        got = list(messages(ws))
    assert any(m.get("audio") for m in got) and got[-1] == {"isFinal": True}
    with connect(ws_url(server, voice)) as ws:
        ws.send(json.dumps({"text": " ", "xi_api_key": "wrong"}))
        got = list(messages(ws, timeout=10))
        assert got == [
            {
                "message": "missing or invalid API key: send xi_api_key in the first message",
                "error": "unauthorized",
                "code": 1008,
            }
        ]
        assert ws.close_code == 1008


def test_refusals_before_the_upgrade_are_json_errors(server: Any, voice: str) -> None:
    with pytest.raises(InvalidStatus) as wrong_key:
        connect(ws_url(server, voice), additional_headers={"xi-api-key": "wrong"})
    assert wrong_key.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as bad_format:
        connect(ws_url(server, voice, output_format="wav_1"), additional_headers={"xi-api-key": KEY})
    assert bad_format.value.response.status_code == 400
    assert b"output_format" in bad_format.value.response.body
    with pytest.raises(InvalidStatus) as bad_model:
        connect(ws_url(server, voice, model_id="whisper"), additional_headers={"xi-api-key": KEY})
    assert bad_model.value.response.status_code == 400 and b"tts-1" in bad_model.value.response.body
    # the same model ids as on REST: ElevenLabs' own, this service's and OpenAI's names
    for model in ("eleven_flash_v2_5", "tts-1"):
        with connect(ws_url(server, voice, model_id=model), additional_headers={"xi-api-key": KEY}) as ws:
            ws.send(json.dumps({"close_socket": True}))
    with pytest.raises(InvalidStatus) as no_voice:
        connect(ws_url(server, "nobody"), additional_headers={"xi-api-key": KEY})
    assert no_voice.value.response.status_code == 404
    plain = requests.get(
        ws_url(server, voice).replace("ws://", "http://"), headers={"xi-api-key": KEY}, timeout=10
    )
    assert plain.status_code == 426 and plain.json()["error"]["code"] == "upgrade_required"


@pytest.mark.parametrize(
    ("send", "code", "error"),
    [
        ("{not json", 1007, "invalid_message"),
        (json.dumps({"text": "ক" * 5000}), 1009, None),  # over TTS_WS_MAX_MESSAGE_BYTES
        (json.dumps({"text": 5}), 1007, "invalid_message"),
    ],
)
def test_bad_messages_get_an_error_and_the_right_close_code(
    server: Any, voice: str, send: str, code: int, error: str | None
) -> None:
    with connect(ws_url(server, voice), additional_headers={"xi-api-key": KEY}) as ws:
        ws.send(send)
        got = list(messages(ws, timeout=10))
        assert ws.close_code == code
    if error is not None:
        assert got[0]["error"] == error and got[0]["code"] == code


def test_too_many_contexts_and_inactivity_close_the_socket(server: Any, voice: str) -> None:
    url = ws_url(server, voice, path="multi-stream-input", inactivity_timeout="1")
    with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
        for cid in ("a", "b", "c"):
            ws.send(json.dumps({"text": " ", "context_id": cid}))
        got = list(messages(ws, timeout=10))
        assert got[-1]["error"] == "too_many_contexts" and ws.close_code == 1008
    with connect(ws_url(server, voice, inactivity_timeout="1"), additional_headers={"xi-api-key": KEY}) as ws:
        ws.send(json.dumps({"text": " "}))
        t0 = time.monotonic()
        got = list(messages(ws, timeout=10))
        assert got[-1]["error"] == "input_timeout_exceeded" and ws.close_code == 1008
        assert 1 <= time.monotonic() - t0 < 4


def test_open_sockets_are_capped_and_never_take_the_threads_health_needs(server: Any, voice: str) -> None:
    """Each socket runs in a thread of its own, not the request pool's: idle sockets up to
    TTS_WS_MAX_SOCKETS leave /health fast; one more is refused before the upgrade (503)."""
    url = ws_url(server, voice, path="multi-stream-input")
    with (
        connect(url, additional_headers={"xi-api-key": KEY}) as a,
        connect(url, additional_headers={"xi-api-key": KEY}) as b,
        connect(url, additional_headers={"xi-api-key": KEY}) as c,
    ):
        for ws in (a, b, c):
            ws.send(json.dumps({"text": ""}))  # a keep-alive: open, idle
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers={"xi-api-key": KEY})
        assert refused.value.response.status_code == 503
        assert b"TTS_WS_MAX_SOCKETS" in refused.value.response.body
        t0 = time.monotonic()
        assert health(server)["live"]["sockets"] == 3
        assert time.monotonic() - t0 < 1.0
    wait_until(lambda: health(server)["live"]["sockets"] == 0, timeout=10, what="the sockets to close")


def test_pipecats_turn_sequence_gets_its_audio_then_is_final(server: Any, voice: str) -> None:
    """What Pipecat's ElevenLabsTTSService sends for one turn (tools/agent_frameworks has the real
    thing): init, text, flush, close_context; it waits for the audio, then isFinal."""
    url = ws_url(server, voice, path="multi-stream-input", output_format="pcm_24000", auto_mode="true")
    with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
        ws.send(json.dumps({"text": " ", "context_id": "turn-1", "voice_settings": {"speed": 1.0}}))
        ws.send(json.dumps({"text": "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি।", "context_id": "turn-1"}))
        ws.send(json.dumps({"context_id": "turn-1", "flush": True}))
        ws.send(json.dumps({"context_id": "turn-1", "close_context": True}))
        got = []
        for m in messages(ws):
            got.append(m)
            if m.get("isFinal"):
                break
        ws.send(json.dumps({"close_socket": True}))
    assert all(m["contextId"] == "turn-1" for m in got)
    audio = b"".join(base64.b64decode(m["audio"]) for m in got if m.get("audio"))
    aligned = [m["alignment"] for m in got if m.get("alignment")]
    assert len(audio) > 24000 and "".join(aligned[0]["chars"]).strip() == "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি।"
    assert got[-1] == {"contextId": "turn-1", "isFinal": True}


def test_a_client_that_never_reads_loses_its_socket_and_its_slots(server: Any, voice: str) -> None:
    """The server's sends have a deadline (TTS_RESPONSE_WRITE_TIMEOUT_SECONDS, 2 s here): a client that
    asks for speech and reads nothing is cut off, and the synthesis it held is freed."""
    import socket

    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage

    client = WSConnection(ConnectionType.CLIENT)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    with sock:
        path = f"/v1/text-to-speech/{voice}/stream-input?output_format=pcm_48000"
        sock.sendall(
            client.send(Request(host="127.0.0.1", target=path, extra_headers=[(b"xi-api-key", KEY.encode())]))
        )
        client.receive_data(sock.recv(4096))
        assert any(isinstance(e, AcceptConnection) for e in client.events())
        long = "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। " * 6
        sock.sendall(client.send(TextMessage(data=json.dumps({"text": long, "flush": True}))))
        # ... and never reads: audio (48 kHz PCM, base64) fills both socket buffers within a second.
        wait_until(lambda: health(server)["live"]["sockets"] == 1, timeout=10, what="the socket to open")
        wait_until(
            lambda: health(server)["live"]["sockets"] == 0,
            timeout=60,
            what="the stalled socket to be cut off",
        )
        # The socket's count drops as its session ends; its player thread frees the slot right after.
        wait_until(lambda: health(server)["in_flight"] == 0, timeout=10, what="the socket's slot freed")
    lines = [r for r in server.log_records() if r.get("outcome") == "client_stalled"]
    assert lines and lines[-1]["httpRequest"]["requestUrl"].endswith("/stream-input")


def test_enable_ssml_parsing_reads_elements_arriving_in_pieces(server: Any, voice: str) -> None:
    """SSML split mid-tag and mid-element across messages: each segment is whole SSML, the break is
    its exact silence; without the flag a bare <break/> tag is a pause all the same."""
    pieces = [
        "<s>আমি ভা",
        "লো আছি।</s><break ti",
        'me="600ms"/>',
        "<prosody rate",
        '="slow">তুমি? ',
        "কেমন।</prosody>",
    ]

    def pcm(query: dict[str, str], texts: list[str]) -> np.ndarray:
        with connect(
            ws_url(server, voice, output_format="pcm_24000", **query), additional_headers={"xi-api-key": KEY}
        ) as ws:
            ws.send(json.dumps({"text": " "}))
            for text in texts:
                ws.send(json.dumps({"text": text}))
            ws.send(json.dumps({"text": ""}))
            got = list(messages(ws))
        assert not [m for m in got if "error" in m], got
        return np.frombuffer(b"".join(base64.b64decode(m["audio"]) for m in got if m.get("audio")), "<i2")

    assert longest_zero_run(pcm({"enable_ssml_parsing": "true"}, pieces)) >= 0.6 * 24000
    plain = pcm({}, ["আমি ভালো আছি। <break ", 'time="600ms" /> তুমি কেমন?'])
    assert longest_zero_run(plain) >= 0.6 * 24000
