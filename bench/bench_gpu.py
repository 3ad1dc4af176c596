"""GPU serving speed and parity: what to run on your own GPU (an L4 on Cloud Run) before going live.

    python -m bench gpu                                  # the full-size random-weight model (export env)
    BENCH_GPU_BUNDLE=bundles/v1 python -m bench gpu      # your own bundle root (holding fp16/ and fp32/)
    BENCH_GPU_SKELETON=DIR python -m bench gpu           # a bundle that travelled as structure
    BENCH_GPU_SMOKE=1 python -m bench gpu                # the same path on the CPU provider, small

A host that takes files only in ~50 MiB pieces gets the bundle as structure (`bench.gpu_bundle`:
`python -m bench.gpu_bundle skeleton BUNDLE_ROOT DIR` here, a few MiB) and makes its weights from
the seed, checked against the manifests; this path imports numpy, onnxruntime(-gpu) and tokenizers
only. For fp16 and fp32, each in its own process on the CUDA provider (the KV cache stays on the
device): parity against fp32 on the host's CPU (conditioning latents, speaker embedding, 200 greedy
codes, latents and waveform before the first fork: `export.parity.compare`), time to first audio
for a 60-character Bangla sentence alone (p50/p95 of 10), its real-time factor, then 1, 4, 16, 32
and 64 concurrent streams through the decode scheduler at `TTS_MAX_BATCH` 64, and 64 streams at
`TTS_MAX_BATCH` 1, 8, 16, 32 (aggregate audio seconds per second, p95 time to first audio), the
process's peak GPU memory (nvidia-smi), and per graph the nodes that ran on the CPU provider.
Generation is capped at 150 audio tokens a stream (about 7 s of audio) to keep the run short.
JSON with the GPU, driver, CUDA and onnxruntime versions. Without onnxruntime's CUDA provider it
refuses, unless BENCH_GPU_SMOKE (CPU figures mean nothing here; the smoke run proves a host's
Python before GPU time is spent on it).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_throughput import p95, run_streams
from bench.machine import write_result

ROOT = Path(__file__).resolve().parents[1]
TEXT = "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। চিরদিন তোমার আকাশ, তোমার বাতাস।"  # 60+ characters
TOKENS = 150
STREAMS = (1, 4, 16, 32, 64)
MAX_BATCH = (1, 8, 16, 32)  # at the most streams, beside STREAMS' runs at max(STREAMS)
ALONE_RUNS = 10
PARITY_TOKENS = 200
VARIANTS = ("fp16", "fp32")
# BENCH_GPU_SMOKE: the same path, on the CPU provider and small.
SMOKE = {"tokens": 12, "streams": (1, 2), "max_batch": (1,), "alone_runs": 2, "parity_tokens": 12}


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


def reference_clip() -> np.ndarray:
    """Six seconds of a voiced tone at 24 kHz: the voice every run here speaks with."""
    rng = np.random.default_rng(0)
    t = np.arange(24000 * 6) / 24000
    return (0.2 * np.sin(2 * np.pi * 140 * t) * (1 + rng.standard_normal(t.size) * 0.05)).astype(np.float32)


def _bundle_root() -> Path:
    given = os.environ.get("BENCH_GPU_BUNDLE")
    if given:
        return Path(given)
    skeleton = os.environ.get("BENCH_GPU_SKELETON")
    if skeleton:
        from bench.gpu_bundle import materialize

        made = Path(skeleton).resolve().parent / f"{Path(skeleton).name}-made"
        if not all((made / v / "manifest.json").is_file() for v in VARIANTS):
            print(f"making the bundle's weights in {made} ...", flush=True)
            materialize(Path(skeleton), made)  # checked against the skeleton's manifests
        return made
    from bench.bench_engine import prepare

    return prepare() / "bundle"


def worker(variant: str, root: Path, out: Path, smoke: bool) -> None:

    from export.parity import compare
    from function.config import DEFAULT_PREFIX_CACHE_VOICES
    from function.engine import Engine, SynthesisParams
    from function.engine.scheduler import Scheduler

    sizes = SMOKE if smoke else {
        "tokens": TOKENS, "streams": STREAMS, "max_batch": MAX_BATCH, "alone_runs": ALONE_RUNS,
        "parity_tokens": PARITY_TOKENS,
    }  # fmt: skip
    memory = GpuMemory()
    engine = Engine.load(root / variant, use_gpu=not smoke, prefix_cache_voices=DEFAULT_PREFIX_CACHE_VOICES)
    # Against fp32 on this host's CPU: what the GPU's kernels and fp16 change.
    reference = Engine.load(root / "fp32", use_gpu=False)
    parity = compare(reference, engine, tokens=int(sizes["parity_tokens"])).to_dict()
    del reference
    voice = engine.make_voice(reference_clip(), 24000)
    tokens = int(sizes["tokens"])
    p = SynthesisParams(language="bn", max_new_tokens=tokens, min_new_tokens=tokens, seed=0)
    engine.synthesize(TEXT, voice, p)  # warm-up: cuDNN algorithm search, arena growth
    alone = []
    for _ in range(int(sizes["alone_runs"])):
        t0 = time.perf_counter()
        stream = engine.stream(TEXT, voice, p)
        next(stream)
        alone.append(time.perf_counter() - t0)
        stream.close()
    t0 = time.perf_counter()
    wav = engine.synthesize(TEXT, voice, p)
    rtf = (time.perf_counter() - t0) / (wav.size / engine.sample_rate)
    streams: tuple[int, ...] = sizes["streams"]  # type: ignore[assignment]
    levels = []
    for max_batch, counts in [(max(streams), streams), *((b, (max(streams),)) for b in sizes["max_batch"])]:
        scheduler = Scheduler(engine.decoder, max_batch=max_batch)
        for n in counts:
            level = run_streams(engine, voice, n, scheduler.decode, text=TEXT, language="bn", tokens=tokens)
            levels.append({**level, "max_batch": max_batch})
        scheduler.stop()
    with tempfile.TemporaryDirectory() as work:
        fallback = cpu_nodes(root, variant, not smoke, Path(work))
    result = {
        "provider": engine.provider,
        "cpu_nodes": fallback,
        "parity_vs_fp32_cpu": parity,
        "ttfa_alone_p50_s": statistics.median(alone),
        "ttfa_alone_p95_s": p95(alone),
        "rtf_alone": rtf,
        "levels": levels,
        "peak_gpu_mib": memory.stop(),
    }
    out.write_text(json.dumps(result))


def cpu_nodes(root: Path, variant: str, use_gpu: bool, work: Path) -> dict[str, dict[str, int]]:
    """Per graph, the op types (node counts) that ran on the CPU provider in one short synthesis,
    from onnxruntime's profile: on the CUDA provider, what falls back to the CPU."""
    import onnxruntime as ort

    from function.engine import Engine, SynthesisParams

    made: list[tuple[str, Any]] = []
    real = ort.InferenceSession

    class Profiled(real):  # type: ignore[misc, valid-type]
        def __init__(self, path: str, sess_options: Any = None, **kwargs: Any) -> None:
            sess_options.enable_profiling = True
            sess_options.profile_file_prefix = str(work / Path(path).stem)
            super().__init__(path, sess_options=sess_options, **kwargs)
            made.append((Path(path).stem, self))

    ort.InferenceSession = Profiled
    try:
        engine = Engine.load(root / variant, use_gpu=use_gpu)
    finally:
        ort.InferenceSession = real
    voice = engine.make_voice(reference_clip(), 24000)
    engine.synthesize(TEXT, voice, SynthesisParams(language="bn", greedy=True, max_new_tokens=8))
    found: dict[str, dict[str, int]] = {}
    for graph, session in made:
        nodes: dict[str, str] = {}
        for event in json.loads(Path(session.end_profiling()).read_text()):
            args = event.get("args", {})
            if event.get("cat") == "Node" and args.get("provider") == "CPUExecutionProvider":
                nodes[event["name"].removesuffix("_kernel_time")] = args.get("op_name", "?")
        ops: dict[str, int] = {}
        for op in nodes.values():
            ops[op] = ops.get(op, 0) + 1
        found[graph] = dict(sorted(ops.items()))
    return found


def gpu_record() -> dict[str, str]:
    """The GPU, its driver and the CUDA version the driver supports (nvidia-smi), if any."""
    try:
        query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        gpu = subprocess.run(query, capture_output=True, text=True, check=True).stdout.strip()
        banner = subprocess.run(["nvidia-smi"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    cuda = banner.split("CUDA Version:")[1].split()[0] if "CUDA Version:" in banner else ""
    return {"gpu": gpu, "cuda_driver_api": cuda}


def main() -> None:
    import onnxruntime as ort

    smoke = os.environ.get("BENCH_GPU_SMOKE", "") not in ("", "0")
    if not smoke and "CUDAExecutionProvider" not in ort.get_available_providers():
        print(
            "skipped: bench gpu needs onnxruntime's CUDA provider (onnxruntime-gpu and a GPU); this "
            f"onnxruntime has {ort.get_available_providers()}. Run it where the GPU image runs "
            "(BENCH_GPU_SMOKE=1 runs the same path on the CPU, small)."
        )
        return
    root = _bundle_root()
    # The GPU host runs a copy of the tree with only numpy, onnxruntime-gpu and tokenizers
    # installed (issue 29), not this project: its workers find the packages through PYTHONPATH.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    runs: dict[str, Any] = {}
    for variant in VARIANTS:
        out = root.parent / f"gpu-{variant}.json"
        print(f"running {variant} ...", flush=True)
        cmd = [
            sys.executable,
            "-m",
            "bench.bench_gpu",
            "worker",
            variant,
            str(root),
            str(out),
            str(int(smoke)),
        ]
        subprocess.run(cmd, check=True, cwd=ROOT, env=env)
        runs[variant] = json.loads(out.read_text())
    print(f"\n{'variant':>7} {'batch':>5} {'streams':>7} {'audio s/s':>9} {'TTFA p50':>8} {'TTFA p95':>8}")
    for variant, run in runs.items():
        for r in run["levels"]:
            print(
                f"{variant:>7} {r['max_batch']:>5} {r['streams']:>7} {r['audio_s_per_s']:9.2f} "
                f"{r['ttfa_p50_s']:8.3f} {r['ttfa_p95_s']:8.3f}"
            )
        parity = run["parity_vs_fp32_cpu"]
        print(
            f"{variant}: alone TTFA p50 {run['ttfa_alone_p50_s']:.3f} s, "
            f"p95 {run['ttfa_alone_p95_s']:.3f} s, RTF {run['rtf_alone']:.3f}, "
            f"peak GPU memory {run['peak_gpu_mib']:.0f} MiB; against fp32 on the CPU: "
            f"cond latents {parity['cond_latents_snr_db']:.1f} dB, greedy codes agree up to "
            + ", ".join(f"{t['first_fork']}/{t['tokens']}" for t in parity["texts"])
        )
    name = "gpu-smoke" if smoke else "gpu"
    path = write_result(name, {"text": TEXT, "smoke": smoke, **gpu_record(), "runs": runs})
    print(f"written {path}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "worker":
        worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5] == "1")
    else:
        main()
