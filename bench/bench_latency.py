"""Time to first audio of a lone request through the real HTTP server: old code against new.

The full-size XTTS v2 architecture with random weights (the engine bench's cached bundle), int8 and
fp32, one gunicorn worker, one request at a time (the next starts once the server holds no slot): a
60-character Bangla sentence to POST /synthesize/stream, timed from sending the request to the
first byte of audio after the WAV header. A cold voice is one the server has not decoded before (a
new clip each time: the prefix cache misses); a warm voice has been used once already.

"old" is the server of another revision (BENCH_LATENCY_BASE, default the last commit before the
time-to-first-audio work), run from a temporary git worktree on the same bundle; "new" is this tree
with its defaults, and "new, 20-token first chunk" sends the old first-chunk size to the new server,
which isolates the decode thread's pause from the chunk schedule. Every figure is from one
invocation on one machine; the ratios are old over new.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_engine import CACHE, prepare
from bench.bench_load import _free_port
from bench.machine import write_result
from function.bundle_format import FORMAT_VERSION

ROOT = Path(__file__).resolve().parents[1]
BASE = os.environ.get("BENCH_LATENCY_BASE", "77e4b6c")
TEXT = "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। আজ চিরদিন তোমার আকাশ।"  # 60 characters
COLD, WARM = 5, 7
VARIANTS = ("int8", "fp32")
WAV_HEADER = 44


def clip(seed: int) -> bytes:
    """A 4 s voiced clip; each seed a different voice (so a new prefix for the cache)."""
    import numpy as np
    import soundfile as sf

    rate = 24000
    t = np.arange(rate * 4) / rate
    f0 = 110 + 7 * seed
    voiced = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    rng = np.random.default_rng(seed)
    wav = 0.2 * voiced * (1.2 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)
    buf = io.BytesIO()
    sf.write(buf, wav.astype(np.float32), rate, format="WAV")
    return buf.getvalue()


class Server:
    def __init__(
        self, tree: Path, bundle: Path, variant: str, work: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TTS_")},
            "PORT": str(self.port),
            "TTS_MODEL_PATH": str(bundle),
            "TTS_MODEL_VARIANT": variant,
            "TTS_CACHE_DIR": str(work / "cache"),
            "TTS_VOICES_PATH": str(work / f"voices-{variant}-{tree.name}"),
            "TTS_WORKERS": "1",
            "TTS_QUALITY_CHECKS": "false",
            "TTS_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        self.log = (work / f"server-{variant}-{tree.name}.log").open("wb")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--config", "function/gunicorn.conf.py"],
            cwd=tree,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 600
        while self.health().get("status") != "ok":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: see {self.log.name}")
            time.sleep(0.5)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def health(self) -> dict[str, Any]:
        try:
            status, raw = self.call("GET", "/health")
        except OSError:
            return {}
        return dict(json.loads(raw)) if status in (200, 503) else {}

    def voice(self, seed: int) -> str:
        status, raw = self.call("POST", "/voices", {"speaker_wav": base64.b64encode(clip(seed)).decode()})
        if status != 201:
            raise RuntimeError(f"POST /voices answered {status}: {raw[:300]!r}")
        return str(json.loads(raw)["voice_id"])

    def first_audio_s(self, voice_id: str, extra: dict[str, Any], text: str = TEXT) -> float:
        """Seconds from sending the request to the first audio byte after the WAV header; the
        stream is then dropped (the server stops generating) and the slot waited for."""
        body = json.dumps({"text": text, "voice_id": voice_id, "seed": 7, **extra}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            t0 = time.perf_counter()
            conn.request("POST", "/synthesize/stream", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200:
                raise RuntimeError(f"/synthesize/stream answered {resp.status}: {resp.read()[:300]!r}")
            got = 0
            while got <= WAV_HEADER:
                data = resp.read1(65536)
                if not data:
                    raise RuntimeError("the stream ended before any audio")
                got += len(data)
            elapsed = time.perf_counter() - t0
        finally:
            conn.close()
        deadline = time.monotonic() + 120
        while self.health().get("in_flight", 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        return elapsed

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


def measure(server: Server, extra: dict[str, Any], seed0: int) -> dict[str, Any]:
    cold = []
    for i in range(COLD):
        cold.append(server.first_audio_s(server.voice(seed0 + i), extra))
    warm_voice = server.voice(seed0 + 100)
    server.first_audio_s(warm_voice, extra)  # its prefix is cached from here on
    warm = [server.first_audio_s(warm_voice, extra) for _ in range(WARM)]
    return {"cold": summary(cold), "warm": summary(warm)}


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_s": round(statistics.median(values), 4), "p95_s": round(p95, 4), "runs": values}


def bundle_for(tree: Path, bundle: Path) -> Path:
    """The bench bundle as `tree`'s code reads it: ours, or, where that revision reads another
    bundle format, the one its own exporter builds (cached beside ours)."""
    ask = [sys.executable, "-c", "from function.bundle_format import FORMAT_VERSION as v; print(v)"]
    version = subprocess.run(ask, cwd=tree, check=True, capture_output=True, text=True).stdout.strip()
    if version == str(FORMAT_VERSION):
        return bundle
    (tree / "bench" / "cache").symlink_to(CACHE, target_is_directory=True)
    print(f"{tree.name} reads bundle format {version}: building its bundle with its exporter", flush=True)
    build = [sys.executable, "-c", "from bench.bench_engine import prepare; print(prepare())"]
    done = subprocess.run(build, cwd=tree, check=True, stdout=subprocess.PIPE, text=True)
    return Path(done.stdout.strip().splitlines()[-1]) / "bundle"


def main() -> None:
    bundle = prepare() / "bundle"
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    old_tree = work / "old"
    subprocess.run(["git", "worktree", "add", "--detach", str(old_tree), BASE], cwd=ROOT, check=True)
    base = subprocess.run(
        ["git", "rev-parse", "--short", BASE], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    cases = {"old": (old_tree, {}), "new": (ROOT, {}), "new_chunk20": (ROOT, {"stream_chunk_tokens": 20})}
    results: dict[str, dict[str, Any]] = {}
    try:
        bundles = {old_tree: bundle_for(old_tree, bundle), ROOT: bundle}
        for variant in VARIANTS:
            results[variant] = {}
            for tree in (old_tree, ROOT):
                print(f"{variant}: server from {tree} ...", flush=True)
                server = Server(tree, bundles[tree], variant, work)
                try:
                    for seed0, (name, (where, extra)) in enumerate(cases.items()):
                        if where == tree:
                            results[variant][name] = measure(server, extra, 1000 * seed0)
                finally:
                    server.stop()
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT, check=False)

    ratios = {
        f"{variant}_{voice}_p50_old_over_new": round(
            results[variant]["old"][voice]["p50_s"] / results[variant]["new"][voice]["p50_s"], 3
        )
        for variant in VARIANTS
        for voice in ("cold", "warm")
    }
    print(f"\n{'variant':7} {'case':12} {'cold p50':>9} {'cold p95':>9} {'warm p50':>9} {'warm p95':>9}")
    for variant in VARIANTS:
        for name in cases:
            r = results[variant][name]
            print(
                f"{variant:7} {name:12} {r['cold']['p50_s']:9.3f} {r['cold']['p95_s']:9.3f} "
                f"{r['warm']['p50_s']:9.3f} {r['warm']['p95_s']:9.3f}"
            )
    print("ratios (old over new):", ratios)
    path = write_result(
        "latency",
        {
            "text": TEXT,
            "text_chars": len(TEXT),
            "old_revision": base,
            "cold_runs": COLD,
            "warm_runs": WARM,
            "results": results,
            "ratios": ratios,
        },
    )
    print(f"written {path}")
