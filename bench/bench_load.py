"""Loopback load test of the real service: gunicorn + the int8 demo bundle, driven by locust.

N users (BENCH_LOAD_USERS, default 6) send requests back to back for BENCH_LOAD_SECONDS (default
60): two whole-file syntheses for each streamed one, all with one cloned voice. Reported: latency
p50/p95/p99 of successful requests, time to first chunk of the streams, the 429 share, errors
(anything but 200/429: must be 0) and peak RSS per gunicorn worker. The server runs with its
defaults for this machine (TTS_WORKERS, TTS_MAX_CONCURRENT_REQUESTS, TTS_QUEUE_SIZE), which
`BENCH_LOAD_ENV` ("K=V,K=V") can override.

The demo model has random weights, so every sentence runs to its token limit: latencies are those
of the longest possible sentence, not of typical speech.

When locust loads this file as its locustfile (`locust` is imported then), it defines the user.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / "cache"
TEXT = "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। আজ ২১ ফেব্রুয়ারি, ভাষা দিবস।"

if "locust" in sys.modules:  # loaded by locust as the locustfile
    import requests
    from locust import User, constant, events, task

    class SpeechUser(User):
        """One client: whole-file syntheses and streams back to back; 429 is counted, not an error."""

        wait_time = constant(0)

        def on_start(self) -> None:
            self.session = requests.Session()
            self.voice = os.environ["BENCH_LOAD_VOICE"]

        def _report(self, name: str, t0: float, length: int, status: int) -> None:
            ok = status in (200, 429)
            events.request.fire(
                request_type="POST",
                name=name if status == 200 else f"{name} {status}",
                response_time=(time.perf_counter() - t0) * 1000,
                response_length=length,
                exception=None if ok else RuntimeError(f"HTTP {status}"),
                context={},
            )

        @task(2)
        def whole(self) -> None:
            t0 = time.perf_counter()
            r = self.session.post(
                f"{self.host}/synthesize", json={"text": TEXT, "voice_id": self.voice}, timeout=600
            )
            self._report("synthesize", t0, len(r.content), r.status_code)

        @task(1)
        def stream(self) -> None:
            t0 = time.perf_counter()
            with self.session.post(
                f"{self.host}/synthesize/stream",
                json={"text": TEXT, "voice_id": self.voice},
                stream=True,
                timeout=600,
            ) as r:
                if r.status_code != 200:
                    self._report("stream", t0, len(r.content), r.status_code)
                    return
                chunks = r.iter_content(chunk_size=None)
                first = next(chunks, b"")
                events.request.fire(
                    request_type="TTFC",
                    name="stream first chunk",
                    response_time=(time.perf_counter() - t0) * 1000,
                    response_length=len(first),
                    exception=None,
                    context={},
                )
                size = len(first) + sum(len(c) for c in chunks)
            self._report("stream", t0, size, 200)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_bundle() -> Path:
    """The int8 demo bundle (tiny XTTS architecture, random weights), built once under bench/cache."""
    target = CACHE / "load-demo"
    if not (target / "int8" / "manifest.json").is_file():
        print(f"building the demo bundle under {target} (once)", flush=True)
        subprocess.run(
            [sys.executable, "-m", "export", "demo", "--out", str(target), "--variants", "int8"],
            check=True,
            cwd=ROOT,
        )
    return target


def _reference_clip() -> bytes:
    import numpy as np
    import soundfile as sf

    rate = 24000
    t = np.arange(rate * 4) / rate
    voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    buf = io.BytesIO()
    sf.write(buf, (0.2 * voiced * (1.2 + np.sin(2 * np.pi * 3 * t))).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def _watch_rss(root_pid: int, peaks: dict[int, int], stop: threading.Event) -> None:
    import psutil

    master = psutil.Process(root_pid)
    while not stop.is_set():
        try:
            for child in master.children():
                rss = child.memory_info().rss
                peaks[child.pid] = max(peaks.get(child.pid, 0), rss)
        except psutil.Error:
            pass
        stop.wait(0.2)


def _percentiles(row: dict[str, str]) -> dict[str, float | int]:
    return {
        "count": int(row["Request Count"]),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
        "mean_ms": round(float(row["Average Response Time"]), 1),
    }


def _ready(server: subprocess.Popen[bytes], url: str, log: Path) -> dict[str, Any]:
    """/health's body once it answers 200 (five minutes at most)."""
    import requests

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: see {log}")
        try:
            r = requests.get(url + "/health", timeout=2)
            if r.status_code == 200:
                return dict(r.json())
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return {}


def _locust(url: str, voice: str, users: int, seconds: int, prefix: Path) -> None:
    """The load: `users` users for `seconds`, their figures in `prefix`_stats.csv and _failures.csv."""
    locust = [str(Path(sys.executable).parent / "locust"), "-f", __file__, "--headless", "--host", url]
    load = ["-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "120"]
    output = [
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    run = subprocess.run(
        [*locust, *load, *output],
        cwd=ROOT,
        env={**os.environ, "BENCH_LOAD_VOICE": voice},
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"locust failed ({run.returncode}):\n{run.stderr[-3000:]}")


def main() -> None:
    import requests

    users = int(os.environ.get("BENCH_LOAD_USERS", "6"))
    seconds = int(os.environ.get("BENCH_LOAD_SECONDS", "60"))
    overrides = dict(kv.split("=", 1) for kv in os.environ.get("BENCH_LOAD_ENV", "").split(",") if "=" in kv)
    bundle = demo_bundle()
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TTS_")},
        "PORT": str(port),
        "TTS_MODEL_PATH": str(bundle),
        "TTS_MODEL_VARIANT": "int8",
        "TTS_CACHE_DIR": str(work / "cache"),
        "TTS_LOG_LEVEL": "WARNING",
        **overrides,
    }
    log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", "function/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    peaks: dict[int, int] = {}
    stop = threading.Event()
    try:
        health = _ready(server, url, work / "server.log")
        voice = requests.post(
            url + "/voices", json={"audio": base64.b64encode(_reference_clip()).decode()}, timeout=120
        ).json()["voice_id"]
        # Every worker should have loaded before the clock starts.
        time.sleep(2)

        watcher = threading.Thread(target=_watch_rss, args=(server.pid, peaks, stop), daemon=True)
        watcher.start()
        _locust(url, voice, users, seconds, work / "locust")
    finally:
        stop.set()
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        log.close()

    rows = {row["Name"]: row for row in csv.DictReader((work / "locust_stats.csv").open())}
    failures = list(csv.DictReader((work / "locust_failures.csv").open()))
    counts = {name: int(row["Request Count"]) for name, row in rows.items() if name != "Aggregated"}
    throttled = sum(n for name, n in counts.items() if name.endswith(" 429"))
    answered = sum(n for name, n in counts.items() if name != "stream first chunk")
    errors = sum(int(f["Occurrences"]) for f in failures)
    result: dict[str, Any] = {
        "users": users,
        "seconds": seconds,
        "server": {
            "variant": health.get("variant"),
            "provider": health.get("provider"),
            "model": health.get("model"),
            "overrides": overrides,
        },
        "text_chars": len(TEXT),
        "latency": {name: _percentiles(rows[name]) for name in ("synthesize", "stream") if name in rows},
        "time_to_first_chunk": _percentiles(rows["stream first chunk"])
        if "stream first chunk" in rows
        else None,
        "requests": answered,
        "throttled_429": throttled,
        "share_429": round(throttled / answered, 4) if answered else None,
        "errors": errors,
        "error_detail": failures,
        "peak_rss_mib_per_worker": sorted(round(v / 2**20, 1) for v in peaks.values()),
        "throughput_rps": round((answered - throttled) / seconds, 3),
    }
    path = _write(result)
    print(f"{users} users for {seconds} s against {health.get('variant')} on {health.get('provider')}")
    print(f"{'':22}{'count':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name, stats in [*result["latency"].items(), ("first chunk", result["time_to_first_chunk"])]:
        if stats:
            print(
                f"{name:22}{stats['count']:>7}{stats['p50_ms']:>10.0f}{stats['p95_ms']:>10.0f}{stats['p99_ms']:>10.0f}"
            )
    print(
        f"429 share {result['share_429']}, errors {errors}, "
        f"peak RSS per worker (MiB) {result['peak_rss_mib_per_worker']}"
    )
    print(f"wrote {path}")
    if errors:
        raise SystemExit(f"{errors} errors other than 429: {json.dumps(failures)[:2000]}")


def _write(result: dict[str, Any]) -> Path:
    from bench.machine import write_result

    return write_result("load", result)
