"""Cold start of the full-size fp16 bundle, phase by phase, against the startup probe's window.

    make bench BENCH=coldstart

What a GPU instance does before /health answers 200, measured here on the CPU: the bundle
downloaded from a gcp-storage-emulator on loopback at the stack's chunking (TTS_DOWNLOAD_CHUNK_BYTES,
TTS_DOWNLOAD_WORKERS defaults), verified, its sessions created and warmed up, through the server's
own `load_model` (the phases it logs). The full-size XTTS v2 architecture with random weights
(bench_engine's cached build). Compared with the startup window infra/service.py gives Cloud Run
(period x failures). What only a real instance shows (image pull, GPU driver and CUDA context, the
network from Cloud Storage) is not here: docs/serving.md's budget names it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_engine import prepare
from bench.machine import write_result
from infra.service import STARTUP_FAILURES, STARTUP_PERIOD_S

VARIANT = "fp16"
BUCKET = "bench-models"
PREFIX = "models/xtts/bench"
PHASES = ("download", "verify", "session_creation", "warm_up", "ready")


class _Phases(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, dict[str, Any]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        phase = getattr(record, "phase", None)
        if phase in PHASES:
            self.seen[phase] = {
                k: getattr(record, k)
                for k in ("duration_s", "bytes", "throughput_mib_s", "provider", "cached")
                if hasattr(record, k)
            }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    exe = Path(sys.executable).with_name("gcp-storage-emulator")
    proc = subprocess.Popen(
        [str(exe), "start", "--port", str(port), "--in-memory", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gcp-storage-emulator did not start")


def _upload(variant_dir: Path) -> int:
    from google.cloud import storage

    client = storage.Client(project="bench")
    bucket = client.create_bucket(BUCKET)
    total = 0
    files = sorted(p for p in variant_dir.rglob("*") if p.is_file())
    # Manifest last, as deploy/upload-bundle.sh does.
    for path in sorted(files, key=lambda p: p.name == "manifest.json"):
        name = f"{PREFIX}/{VARIANT}/{path.relative_to(variant_dir)}"
        bucket.blob(name).upload_from_filename(str(path), timeout=600)
        total += path.stat().st_size
    return total


def main() -> None:
    bundle = prepare() / "bundle"
    proc, url = _emulator()
    cache = Path(tempfile.mkdtemp(prefix="coldstart-cache-"))
    os.environ["STORAGE_EMULATOR_HOST"] = url
    try:
        size = _upload(bundle / VARIANT)
        from function.config import load_settings
        from function.service.model import load_model

        settings = load_settings(
            {
                "TTS_MODEL_PATH": f"gs://{BUCKET}/{PREFIX}/",
                "TTS_MODEL_VARIANT": VARIANT,
                "TTS_ENABLE_GPU": "false",
                "TTS_CACHE_DIR": str(cache),
                "TTS_VOICES_PATH": str(cache / "voices"),
                "TTS_API_KEYS": "bench-key-0123456789abcdef",
                "STORAGE_EMULATOR_HOST": url,
            }
        )
        handler = _Phases()
        model_log = logging.getLogger("function")
        model_log.addHandler(handler)
        model_log.setLevel(logging.INFO)
        t0 = time.perf_counter()
        load_model(settings)
        wall = time.perf_counter() - t0
        model_log.removeHandler(handler)
    finally:
        proc.kill()
        shutil.rmtree(cache, ignore_errors=True)

    window = STARTUP_PERIOD_S * STARTUP_FAILURES
    phases = handler.seen
    rows = [(p, float(phases.get(p, {}).get("duration_s", float("nan")))) for p in PHASES]
    print(f"\nfull-size {VARIANT} bundle, {size / 2**20:.0f} MiB, from gcp-storage-emulator (loopback), CPU")
    print(f"{'phase':<18}{'seconds':>10}{'share of window':>18}")
    for name, seconds in rows:
        print(f"{name:<18}{seconds:>10.2f}{seconds / window:>17.1%}")
    print(f"startup window: {window} s (period {STARTUP_PERIOD_S} s x {STARTUP_FAILURES} failures)")
    print(f"download at the emulator's rate: {phases.get('download', {}).get('throughput_mib_s')} MiB/s")
    write_result(
        "coldstart",
        {
            "variant": VARIANT,
            "bundle_bytes": size,
            "settings": {
                "download_chunk_bytes": settings.download_chunk_bytes,
                "download_workers": settings.download_workers,
                "intra_op_threads": settings.intra_op_threads,
            },
            "phases": phases,
            "load_model_wall_s": round(wall, 3),
            "startup_window_s": window,
            "source": "gcp-storage-emulator on loopback; CPUExecutionProvider",
        },
    )


if __name__ == "__main__":
    main()
