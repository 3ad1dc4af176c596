"""Voice agents: a Bangla answer streamed in at LLM pace over the WebSocket, heard as it is made.

The full-size XTTS v2 architecture with random weights (the engine bench's cached int8 bundle), one
gunicorn worker. A scripted client plays an LLM: the answer's tokens (1 to 6 characters, split
mid-word and mid-grapheme, fixed seed) sent at TOKENS_PER_S to /v1/text-to-speech/{voice}/stream-input
(pcm_24000), then the end of input. Per socket:

- first audio: from sending the token that ends the first sentence to the first audio message;
- stalls: a player that starts at the first audio and plays in real time runs dry whenever the
  next audio arrives after what it holds is played out: how often, and for how long in all;
- barge-in: an immediate close_context in the middle of the answer, to the context's isFinal
  (which the server sends once every slot the context held is free).

Over 1 socket (RUNS runs, one after another) and over 4 and 8 sockets at once. The reference is
POST /synthesize/stream's time to first audio (first byte after the WAV header) for the same first
sentence and voice, alone; `ratios` holds the one-socket first audio over it (target <= 1.1). The
model babbles (random weights), so each segment runs to the service's runaway budget: the audio is
longer than the text's natural length, which makes keeping up harder, not easier.
"""

from __future__ import annotations

import base64
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from bench.bench_engine import prepare
from bench.bench_latency import ROOT, Server
from bench.machine import write_result

ANSWER = (
    "আজ ঢাকার আবহাওয়া বেশ ভালো থাকবে। দুপুরে তাপমাত্রা হবে প্রায় বত্রিশ ডিগ্রি। বিকেলে হালকা বৃষ্টির সম্ভাবনা আছে, তাই ছাতা সঙ্গে রাখুন।"
)
FIRST_SENTENCE = ANSWER[: ANSWER.index("।") + 1]
TOKENS_PER_S = 20.0
RUNS = 5
SOCKETS = (1, 4, 8)
RATE = 24000


def tokens(seed: int) -> list[str]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(ANSWER):
        n = rng.randint(1, 6)
        out.append(ANSWER[i : i + n])
        i += n
    return out


def one_socket(port: int, voice: str, seed: int, result: dict[str, Any]) -> None:
    pieces = tokens(seed)
    first_end = next(i for i in range(len(pieces)) if "।" in "".join(pieces[: i + 1]))  # the sentence's end
    sent_first_end = threading.Event()
    t_first_end: list[float] = []
    url = f"ws://127.0.0.1:{port}/v1/text-to-speech/{voice}/stream-input?output_format=pcm_24000"
    arrivals: list[tuple[float, float]] = []  # (when, seconds of audio)
    with connect(url, max_size=16 * 2**20) as ws:

        def send() -> None:
            ws.send(json.dumps({"text": " "}))
            for i, piece in enumerate(pieces):
                ws.send(json.dumps({"text": piece}))
                if i == first_end:
                    t_first_end.append(time.perf_counter())
                    sent_first_end.set()
                time.sleep(1 / TOKENS_PER_S)
            ws.send(json.dumps({"text": ""}))

        sender = threading.Thread(target=send)
        sender.start()
        for raw in ws:
            m = json.loads(raw)
            if m.get("audio"):
                arrivals.append((time.perf_counter(), len(base64.b64decode(m["audio"])) / 2 / RATE))
            if m.get("isFinal"):
                break
        sender.join()
    sent_first_end.wait(5)
    first = arrivals[0][0]
    played_until, stalls, stalled_s = first + arrivals[0][1], 0, 0.0
    for when, seconds in arrivals[1:]:
        if when > played_until:
            stalls += 1
            stalled_s += when - played_until
            played_until = when
        played_until += seconds
    result.update(
        first_audio_s=round(first - t_first_end[0], 4),
        stalls=stalls,
        stalled_s=round(stalled_s, 3),
        audio_s=round(sum(s for _, s in arrivals), 3),
        done_after_s=round(arrivals[-1][0] - t_first_end[0], 3),
    )


def barge_in_s(port: int, voice: str) -> float:
    """Seconds from an immediate close_context, sent at a context's second audio message while
    its answer is being spoken, to its isFinal (sent once every slot it held is free)."""
    url = f"ws://127.0.0.1:{port}/v1/text-to-speech/{voice}/multi-stream-input?output_format=pcm_24000"
    with connect(url, max_size=16 * 2**20) as ws:
        ws.send(json.dumps({"text": ANSWER, "context_id": "a", "flush": True}))
        seen, closed_at = 0, 0.0
        for raw in ws:
            m = json.loads(raw)
            if m.get("audio"):
                seen += 1
                if seen == 2:
                    closed_at = time.perf_counter()
                    ws.send(json.dumps({"context_id": "a", "close_context": True, "immediate": True}))
            if m.get("isFinal"):
                stopped = time.perf_counter() - closed_at
                ws.send(json.dumps({"close_socket": True}))
                return stopped
    raise RuntimeError("the context never ended")


def sockets_at_once(port: int, voice: str, n: int, seed0: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in range(n)]
    threads = [
        threading.Thread(target=one_socket, args=(port, voice, seed0 + i, results[i])) for i in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> None:
    bundle = prepare() / "bundle"
    work = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    # Checks on, as served: their runaway budget bounds each babbled segment.
    extra = {
        "TTS_MAX_BATCH": "8",
        "TTS_MAX_CONCURRENT_REQUESTS": "16",
        "TTS_QUEUE_SIZE": "16",
        "TTS_QUALITY_CHECKS": "true",
    }
    server = Server(ROOT, bundle, "int8", work, extra_env=extra)
    try:
        voice = server.voice(1)
        server.first_audio_s(voice, {}, text=FIRST_SENTENCE)  # the voice's prefix is cached from here on
        rest = [server.first_audio_s(voice, {}, text=FIRST_SENTENCE) for _ in range(RUNS)]
        lone = [sockets_at_once(server.port, voice, 1, seed)[0] for seed in range(RUNS)]
        crowd = {n: sockets_at_once(server.port, voice, n, 100 * n) for n in SOCKETS if n > 1}
        barge = [barge_in_s(server.port, voice) for _ in range(RUNS)]
    finally:
        server.stop()

    rest_p50 = statistics.median(rest)
    lone_p50 = statistics.median(r["first_audio_s"] for r in lone)
    rows: dict[str, Any] = {"1": _summary(lone)}
    rows.update({str(n): _summary(rs) for n, rs in crowd.items()})
    ratios = {"one_socket_first_audio_over_rest_ttfa": round(lone_p50 / rest_p50, 3)}
    barge_p50 = statistics.median(barge)
    print(f"/synthesize/stream TTFA, first sentence alone: p50 {rest_p50:.3f} s")
    print(
        f"{'sockets':>7} {'first audio p50':>16} {'max':>7} {'stalls (sum)':>13} "
        f"{'stalled s':>10} {'audio s':>8}"
    )
    for n, row in rows.items():
        print(
            f"{n:>7} {row['first_audio_p50_s']:16.3f} {row['first_audio_max_s']:7.3f} "
            f"{row['stalls']:13d} {row['stalled_s']:10.2f} {row['audio_s_mean']:8.2f}"
        )
    print(
        f"barge-in (immediate close_context to isFinal, slots free): p50 {barge_p50:.3f} s, "
        f"max {max(barge):.3f} s"
    )
    print("ratios:", ratios)
    path = write_result(
        "agent",
        {
            "answer": ANSWER,
            "tokens_per_s": TOKENS_PER_S,
            "variant": "int8",
            "server_env": extra,
            "rest_ttfa_s": [round(v, 4) for v in rest],
            "sockets": {"1": lone, **{str(n): rs for n, rs in crowd.items()}},
            "summary": rows,
            "barge_in_s": [round(v, 4) for v in barge],
            "ratios": ratios,
        },
    )
    print(f"written {path}")


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    firsts = [r["first_audio_s"] for r in results]
    return {
        "first_audio_p50_s": round(statistics.median(firsts), 4),
        "first_audio_max_s": round(max(firsts), 4),
        "stalls": sum(r["stalls"] for r in results),
        "stalled_s": round(sum(r["stalled_s"] for r in results), 3),
        "audio_s_mean": round(statistics.mean(r["audio_s"] for r in results), 3),
        "runs": len(results),
    }
