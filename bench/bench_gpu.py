"""GPU serving speed: what to run on your own GPU (an L4 on Cloud Run) before going live.

    python -m bench gpu                      # the full-size random-weight model (needs the export env)
    BENCH_GPU_BUNDLE=bundles/v1 python -m bench gpu   # your own bundle root (holding fp16/ and fp32/)

For fp16 and fp32, each in its own process on the CUDA provider (the KV cache stays on the device):
time to first audio for a 60-character Bangla sentence alone (p50/p95 of 10), its real-time factor,
then 1, 4, 16 and 32 concurrent streams through the decode scheduler (aggregate audio seconds per
second, p95 time to first audio) and the process's peak GPU memory (nvidia-smi). Generation is
capped at 150 audio tokens a stream (about 7 s of audio) so the whole run stays under 8 minutes.
Refuses to run without onnxruntime's CUDA provider: CPU figures would be meaningless here.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.bench_throughput import p95, run_streams
from bench.machine import write_result

ROOT = Path(__file__).resolve().parents[1]
TEXT = "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। চিরদিন তোমার আকাশ, তোমার বাতাস।"  # 60+ characters
TOKENS = 150
STREAMS = (1, 4, 16, 32)
VARIANTS = ("fp16", "fp32")


class GpuMemory:
    """Polls nvidia-smi for this process's GPU memory; keeps the peak in MiB."""

    def __init__(self) -> None:
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        query = ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]
        while not self._stop.wait(0.2):
            try:
                out = subprocess.run(query, capture_output=True, text=True, check=False).stdout
            except OSError:  # no nvidia-smi: the figure stays 0 and says so
                return
            for line in out.splitlines():
                pid, _, used = line.partition(",")
                if pid.strip() == str(os.getpid()):
                    self.peak_mib = max(self.peak_mib, float(used))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mib


def _bundle_root() -> Path:
    given = os.environ.get("BENCH_GPU_BUNDLE")
    if given:
        return Path(given)
    from bench.bench_engine import prepare

    return prepare() / "bundle"


def worker(variant: str, root: Path, out: Path) -> None:
    import numpy as np

    from function.config import DEFAULT_PREFIX_CACHE_VOICES
    from function.engine import Engine, SynthesisParams
    from function.engine.scheduler import Scheduler

    memory = GpuMemory()
    engine = Engine.load(root / variant, use_gpu=True, prefix_cache_voices=DEFAULT_PREFIX_CACHE_VOICES)
    rng = np.random.default_rng(0)
    t = np.arange(24000 * 6) / 24000
    clip = (0.2 * np.sin(2 * np.pi * 140 * t) * (1 + rng.standard_normal(t.size) * 0.05)).astype(np.float32)
    voice = engine.make_voice(clip, 24000)
    p = SynthesisParams(language="bn", max_new_tokens=TOKENS, min_new_tokens=TOKENS, seed=0)
    engine.synthesize(TEXT, voice, p)  # warm-up: cuDNN algorithm search, arena growth
    alone = []
    for _ in range(10):
        t0 = time.perf_counter()
        stream = engine.stream(TEXT, voice, p)
        next(stream)
        alone.append(time.perf_counter() - t0)
        stream.close()
    t0 = time.perf_counter()
    wav = engine.synthesize(TEXT, voice, p)
    rtf = (time.perf_counter() - t0) / (wav.size / engine.sample_rate)
    scheduler = Scheduler(engine.decoder, max_batch=max(STREAMS))
    levels = [
        run_streams(engine, voice, n, scheduler.decode, text=TEXT, language="bn", tokens=TOKENS)
        for n in STREAMS
    ]
    scheduler.stop()
    result = {
        "provider": engine.provider,
        "ttfa_alone_p50_s": statistics.median(alone),
        "ttfa_alone_p95_s": p95(alone),
        "rtf_alone": rtf,
        "levels": levels,
        "peak_gpu_mib": memory.stop(),
    }
    out.write_text(json.dumps(result))


def main() -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print(
            "skipped: bench gpu needs onnxruntime's CUDA provider (onnxruntime-gpu and a GPU); this "
            f"onnxruntime has {ort.get_available_providers()}. Run it where the GPU image runs."
        )
        return
    root = _bundle_root()
    # The GPU host runs a copy of the tree with only numpy, onnxruntime-gpu and tokenizers
    # installed (issue 29), not this project: its workers find the packages through PYTHONPATH.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs: dict[str, Any] = {}
    for variant in VARIANTS:
        out = root.parent / f"gpu-{variant}.json"
        print(f"running {variant} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "bench.bench_gpu", "worker", variant, str(root), str(out)],
            check=True,
            cwd=ROOT,
            env=env,
        )
        runs[variant] = json.loads(out.read_text())
    print(f"\n{'variant':>7} {'streams':>7} {'audio s/s':>9} {'TTFA p50':>8} {'TTFA p95':>8}")
    for variant, run in runs.items():
        for r in run["levels"]:
            print(
                f"{variant:>7} {r['streams']:>7} {r['audio_s_per_s']:9.2f} {r['ttfa_p50_s']:8.3f} "
                f"{r['ttfa_p95_s']:8.3f}"
            )
        print(
            f"{variant}: alone TTFA p50 {run['ttfa_alone_p50_s']:.3f} s, "
            f"p95 {run['ttfa_alone_p95_s']:.3f} s, RTF {run['rtf_alone']:.3f}, "
            f"peak GPU memory {run['peak_gpu_mib']:.0f} MiB"
        )
    path = write_result("gpu", {"text": TEXT, "tokens": TOKENS, "streams": list(STREAMS), "runs": runs})
    print(f"written {path}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "worker":
        worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        main()
