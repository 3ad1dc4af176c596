"""Engine speed: coqui-tts PyTorch (`inference`, `inference_stream`) vs our ONNX engine (fp32, int8).

The released full-size XTTS v2 architecture (30 layers, 1024 wide, 16 heads) with random weights,
exported once and cached under bench/cache/. Both sides generate exactly the same number of audio
tokens (min = max new tokens), use 2 threads and the same sampling settings, and each side runs in
its own process so peak RSS is its own. Ratios come from one run on one machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import write_result

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / "cache"
TOKENS = (100, 250)
THREADS = 2
CHUNK = 20
TEXT = "This is a benchmark sentence, long enough to keep the speech model busy for a while."
SIDES = ("coqui", "fp32", "int8")
VARIANTS = ("fp32", "fp16", "int8")
SAMPLING = {"temperature": 0.75, "top_k": 50, "top_p": 0.85, "repetition_penalty": 10.0}


def _sources_hash() -> str:
    digest = hashlib.sha256()
    export = [*(ROOT / "export").rglob("*.py"), *(ROOT / "export").rglob("*.json")]
    for path in sorted([*export, ROOT / "function" / "bundle_format.py"]):  # what a build writes
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def prepare() -> Path:
    """Full-size random-weight checkpoint and its bundle (every variant: bench_gpu and
    bench_coldstart take fp16), built once."""
    target = CACHE / f"full-{_sources_hash()}"
    if all((target / "bundle" / v / "manifest.json").is_file() for v in VARIANTS):
        return target
    from export.build import build_bundle
    from export.demo import write_demo_checkpoint

    print(f"building the full-size bench model under {target} (once; a few minutes)", flush=True)
    config, ckpt, vocab = write_demo_checkpoint(target / "checkpoint", full_size=True)
    build_bundle(
        ckpt,
        config,
        vocab,
        target / "bundle",
        variants=list(VARIANTS),
        model_name="xtts-v2-random",
        model_version="bench",
    )
    return target


def reference_wav(path: Path) -> None:
    import soundfile as sf

    from export.verify import synthetic_reference

    sf.write(path, synthetic_reference(seconds=6.0), 24000, subtype="PCM_16")


def copy_bandwidth_gbs(threads: int = THREADS) -> float:
    """memcpy bandwidth with the sides' thread count (numpy releases the GIL while copying),
    counting bytes read and written; the best of five."""
    from concurrent.futures import ThreadPoolExecutor

    src = np.ones(1 << 28, dtype=np.float32)  # 1 GiB
    dst = np.empty_like(src)
    parts = np.array_split(np.arange(src.size), threads)
    bounds = [(int(p[0]), int(p[-1]) + 1) for p in parts]
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(5):
            t0 = time.perf_counter()
            list(pool.map(lambda b: np.copyto(dst[b[0] : b[1]], src[b[0] : b[1]]), bounds))
            best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


# ---- one side, in its own process ---------------------------------------------------------------


def _coqui_side(build: Path, ref: Path) -> dict[str, Any]:
    import torch

    from export.model_loading import load_xtts

    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(1)
    ck = build / "checkpoint"
    model = load_xtts(ck / "config.json", ck / "best_checkpoint.pth", ck / "vocab.json")
    gl, se = model.get_conditioning_latents(audio_path=str(ref))
    sr = 24000

    def run(n: int) -> dict[str, float]:
        kw = {"min_new_tokens": n, "max_new_tokens": n, **SAMPLING}
        torch.manual_seed(0)
        tokens = torch.IntTensor(model.tokenizer.encode(TEXT.lower(), lang="en")).unsqueeze(0)
        t0 = time.perf_counter()
        with torch.inference_mode():
            codes = model.gpt.generate(
                cond_latents=gl,
                text_inputs=tokens,
                do_sample=True,
                num_return_sequences=1,
                num_beams=1,
                length_penalty=1.0,
                output_attentions=False,
                **kw,
            )
        gpt_s = time.perf_counter() - t0
        torch.manual_seed(0)
        t0 = time.perf_counter()
        wav = model.inference(TEXT, "en", gl, se, **kw)["wav"]
        total = time.perf_counter() - t0
        torch.manual_seed(0)
        t0 = time.perf_counter()
        first, samples = None, 0
        for chunk in model.inference_stream(TEXT, "en", gl, se, stream_chunk_size=CHUNK, **kw):
            first = first if first is not None else time.perf_counter() - t0
            samples += chunk.shape[-1]
        stream_total = time.perf_counter() - t0
        return {
            "tokens": int(codes.shape[-1]),
            "gpt_s": gpt_s,
            "e2e_s": total,
            "audio_s": len(wav) / sr,
            "ttfc_s": float(first or 0.0),
            "stream_total_s": stream_total,
            "stream_audio_s": samples / sr,
        }

    run(5)  # warm-up
    results = {str(n): run(n) for n in TOKENS}
    return {"results": results, "model_bytes": (ck / "best_checkpoint.pth").stat().st_size}


def _engine_side(build: Path, ref: Path, variant: str) -> dict[str, Any]:
    import soundfile as sf

    from function.engine import Engine, SynthesisParams

    bundle = build / "bundle" / variant
    engine = Engine.load(bundle, intra_op_threads=THREADS)
    audio, sr = sf.read(ref, dtype="float32")
    voice = engine.make_voice(audio, sr)

    def run(n: int) -> dict[str, float]:
        p = SynthesisParams(
            language="en", min_new_tokens=n, max_new_tokens=n, seed=0, stream_chunk_tokens=CHUNK, **SAMPLING
        )
        t0 = time.perf_counter()
        codes = engine.generate_codes(TEXT, voice, p)[0]
        gpt_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        wav = engine.synthesize(TEXT, voice, p)
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        first, samples = None, 0
        for chunk in engine.stream(TEXT, voice, p):
            first = first if first is not None else time.perf_counter() - t0
            samples += chunk.samples.size
        stream_total = time.perf_counter() - t0
        return {
            "tokens": len(codes),
            "gpt_s": gpt_s,
            "e2e_s": total,
            "audio_s": wav.size / engine.sample_rate,
            "ttfc_s": float(first or 0.0),
            "stream_total_s": stream_total,
            "stream_audio_s": samples / engine.sample_rate,
        }

    run(5)
    results = {str(n): run(n) for n in TOKENS}
    files = engine.manifest["files"]
    gpt_bytes = sum(m["size"] for name, m in files.items() if name.startswith("gpt.onnx"))
    return {"results": results, "model_bytes": sum(m["size"] for m in files.values()), "gpt_bytes": gpt_bytes}


def _status_mb(field: str) -> float:
    """VmHWM / VmRSS of this process (ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(side: str, build: Path, ref: Path, out: Path) -> None:
    data = _coqui_side(build, ref) if side == "coqui" else _engine_side(build, ref, side)
    data["peak_rss_mb"] = _status_mb("VmHWM")
    data["final_rss_mb"] = _status_mb("VmRSS")
    out.write_text(json.dumps(data))


# ---- the report ---------------------------------------------------------------------------------


def main() -> None:
    # Built in its own process so this one stays small while the sides run.
    subprocess.run([sys.executable, "-m", "bench.bench_engine", "prepare"], check=True, cwd=ROOT)
    build = prepare()
    ref = build / "reference.wav"
    reference_wav(ref)
    bandwidth = copy_bandwidth_gbs()
    sides: dict[str, Any] = {}
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    for side in SIDES:
        out = build / f"result-{side}.json"
        print(f"running {side} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "bench.bench_engine", "worker", side, str(build), str(ref), str(out)],
            check=True,
            cwd=ROOT,
            env=env,
        )
        sides[side] = json.loads(out.read_text())
    fp32_gpt_bytes = sides["fp32"]["gpt_bytes"]
    floors = {"coqui": fp32_gpt_bytes, "fp32": fp32_gpt_bytes, "int8": sides["int8"]["gpt_bytes"]}
    rows = []
    for n in map(str, TOKENS):
        for side in SIDES:
            r = sides[side]["results"][n]
            per_token = r["gpt_s"] / r["tokens"]
            floor = floors[side] / (bandwidth * 1e9)
            r.update(
                {
                    "rtf": r["e2e_s"] / r["audio_s"],
                    "gpt_ms_per_token": per_token * 1e3,
                    "floor_ms_per_token": floor * 1e3,
                    "vs_floor": per_token / floor,
                    "stream_overhead": r["stream_total_s"] / r["e2e_s"] - 1,
                }
            )
            rows.append((n, side, r))
    ratios_by_tokens = {}
    for n in map(str, TOKENS):
        c, f, q = (sides[s]["results"][n] for s in SIDES)
        ratios_by_tokens[n] = {
            "e2e_speedup_fp32": c["e2e_s"] / f["e2e_s"],
            "e2e_speedup_int8": c["e2e_s"] / q["e2e_s"],
            "ttfc_speedup_fp32": c["ttfc_s"] / f["ttfc_s"],
            "ttfc_speedup_int8": c["ttfc_s"] / q["ttfc_s"],
            "stream_total_speedup_int8": c["stream_total_s"] / q["stream_total_s"],
        }
    ratios = dict(ratios_by_tokens[str(TOKENS[0])])
    ratios["rss_ratio_int8"] = sides["int8"]["peak_rss_mb"] / sides["coqui"]["peak_rss_mb"]
    ratios["rss_ratio_fp32"] = sides["fp32"]["peak_rss_mb"] / sides["coqui"]["peak_rss_mb"]

    head = (
        f"{'tokens':>6} {'side':>6} {'e2e s':>7} {'RTF':>5} {'TTFC s':>7} {'stream s':>8} {'str+%':>6} "
        f"{'ms/tok':>7} {'floor':>6} {'x floor':>7}"
    )
    print("\n" + head)
    for n, side, r in rows:
        print(
            f"{n:>6} {side:>6} {r['e2e_s']:7.2f} {r['rtf']:5.2f} {r['ttfc_s']:7.2f} "
            f"{r['stream_total_s']:8.2f} "
            f"{100 * r['stream_overhead']:5.0f}% {r['gpt_ms_per_token']:7.1f} {r['floor_ms_per_token']:6.1f} "
            f"{r['vs_floor']:7.2f}"
        )
    print("\npeak RSS MB: " + ", ".join(f"{s} {sides[s]['peak_rss_mb']:.0f}" for s in SIDES))
    print("RSS at the end MB: " + ", ".join(f"{s} {sides[s]['final_rss_mb']:.0f}" for s in SIDES))
    print("model bytes: " + ", ".join(f"{s} {sides[s]['model_bytes'] / 2**20:.0f} MiB" for s in SIDES))
    print(
        f"copy bandwidth {bandwidth:.1f} GB/s; ratios (coqui-tts over ours, {TOKENS[0]} tokens): "
        + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
    )
    path = write_result(
        "engine",
        {
            "tokens": list(TOKENS),
            "threads": THREADS,
            "stream_chunk_tokens": CHUNK,
            "text": TEXT,
            "copy_bandwidth_gbs": bandwidth,
            "sides": sides,
            "ratios": ratios,
            "ratios_by_tokens": ratios_by_tokens,
        },
    )
    print(f"written {path}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "worker":
        worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]))
    elif sys.argv[1:] == ["prepare"]:
        prepare()
    else:
        main()
