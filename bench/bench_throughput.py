"""Served throughput: N concurrent streams, today's thread-per-request engine vs the batching scheduler.

The full-size XTTS v2 architecture with random weights (the engine bench's cached bundle), fp32 and
int8, 1/2/4/8 concurrent streams of the same length (min = max new tokens), each stream a thread
running `Engine.stream` exactly as the service does: alone (every request its own batch-of-one
decode loop, the service before the scheduler) or through `Scheduler.decode` (one GPT call per
step for every running stream). Each (variant, mode) runs in its own process, so its peak RSS is
its own. Every figure is the median of REPEATS runs; ratios come from one invocation on one machine.

The scheduler's process also times the model calls of one lone stream (prefill, a step of one row
and of four, the vocoder calls) and from them works out the best any scheduler could reach on these
cores with these kernels, every call back to back and no overhead at all (`*_bound_*` ratios): what
four streams must compute before the last of them hears audio, and before all of them end.
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

from bench.machine import write_result
from function.synthesis_params import STREAM_CHUNK_TOKENS

ROOT = Path(__file__).resolve().parents[1]
STREAMS = (1, 2, 4, 8)
REPEATS = 3  # each figure is the median of this many runs: single runs differ by ~10% on a quiet machine
TOKENS = 100
THREADS = 2
CHUNK = STREAM_CHUNK_TOKENS  # what the service streams by default
TEXT = "This is a benchmark sentence, long enough to keep the speech model busy for a while."
SAMPLING = {"temperature": 0.75, "top_k": 50, "top_p": 0.85, "repetition_penalty": 10.0}
VARIANTS = ("fp32", "int8")
MODES = ("threads", "scheduler")


def run_streams(
    engine: Any,
    voice: Any,
    n: int,
    decode: Any,
    *,
    text: str = TEXT,
    language: str = "en",
    tokens: int = TOKENS,
) -> dict[str, Any]:
    """n streams started together, each `tokens` long; aggregate audio s/s and time to first audio."""
    from function.engine import SynthesisParams

    ttfa: list[float] = [0.0] * n
    audio: list[float] = [0.0] * n
    start = threading.Barrier(n + 1)

    def one(i: int) -> None:
        p = SynthesisParams(
            language=language,
            min_new_tokens=tokens,
            max_new_tokens=tokens,
            seed=i,
            stream_chunk_tokens=CHUNK,
            **SAMPLING,
        )
        start.wait()
        t0 = time.perf_counter()
        samples = 0
        for chunk in engine.stream(text, voice, p, decode=decode):
            if not samples:
                ttfa[i] = time.perf_counter() - t0
            samples += chunk.samples.size
        audio[i] = samples / engine.sample_rate

    wall = together(n, one, start)
    return {
        "streams": n,
        "wall_s": wall,
        "audio_s": sum(audio),
        "audio_s_per_s": sum(audio) / wall,
        "ttfa_p50_s": statistics.median(ttfa),
        "ttfa_p95_s": p95(ttfa),
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over repeated runs of the same streams, with every run kept."""
    keys = ("wall_s", "audio_s", "audio_s_per_s", "ttfa_p50_s", "ttfa_p95_s")
    return {
        "streams": runs[0]["streams"],
        **{k: statistics.median(r[k] for r in runs) for k in keys},
        "repeats": runs,
    }


def together(n: int, one: Any, start: threading.Barrier) -> float:
    """Run one(i) for i < n in threads released at once by `start`; the wall seconds until all end."""
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run_decode_only(engine: Any, voice: Any, n: int, decode: Any) -> float:
    """n concurrent requests' GPT decoding alone (no vocoder): aggregate audio tokens per second."""
    from function.engine import SynthesisParams

    start = threading.Barrier(n + 1)

    def one(i: int) -> None:
        p = SynthesisParams(language="en", min_new_tokens=TOKENS, max_new_tokens=TOKENS, seed=i, **SAMPLING)
        start.wait()
        engine.generate_codes(TEXT, voice, p, decode=decode)

    return n * TOKENS / together(n, one, start)


def timed_calls(engine: Any, voice: Any) -> dict[str, Any]:
    """One lone stream with its model calls timed (seconds), and a GPT step of four rows."""
    from function.engine import SynthesisParams
    from function.engine.decoding import DecodeBatch

    calls: dict[str, list[float]] = {"prefill": [], "step": [], "vocode": []}
    # (object, method) per kind: a stream vocodes its windows through engine.vocoder.window.
    targets = {
        "prefill": (engine.decoder, "prefill"),
        "step": (engine.decoder, "step"),
        "vocode": (engine.vocoder, "window"),
    }

    def timing(kind: str, call: Any) -> Any:
        def run(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return call(*args)
            finally:
                calls[kind].append(time.perf_counter() - t0)

        return run

    for kind, (target, method) in targets.items():  # instance attributes shadow the methods for this stream
        setattr(target, method, timing(kind, getattr(target, method)))
    try:
        run_streams(engine, voice, 1, None)
    finally:
        for target, method in targets.values():
            delattr(target, method)
    p = SynthesisParams(language="en", min_new_tokens=TOKENS, max_new_tokens=TOKENS, **SAMPLING)
    batch = DecodeBatch()
    for i in range(4):
        _, (seq,) = engine.sequences(TEXT, voice, SynthesisParams(**{**p.__dict__, "seed": i}))
        batch.add(seq, engine.decoder.prefill(seq)[1])
    steps4 = []
    for _ in range(CHUNK):
        t0 = time.perf_counter()
        engine.decoder.step(batch)
        steps4.append(time.perf_counter() - t0)
    return {
        "prefill_s": statistics.median(calls["prefill"]),
        "step_1_row_s": statistics.median(calls["step"]),
        "step_4_rows_s": statistics.median(steps4),
        "first_vocode_s": calls["vocode"][0],
        "vocode_total_s": sum(calls["vocode"]),
    }


def bounds(c: dict[str, float], threads_4_audio_s_per_s: float, audio_s: float) -> dict[str, float]:
    """What four streams must compute, back to back at the timed speeds: before the last of them
    hears its first chunk (every prefill, CHUNK-1 steps of four rows, every first vocoder call),
    and before all of them end (every prefill, TOKENS-1 steps of four rows, all vocoder calls)."""
    alone = c["prefill_s"] + (CHUNK - 1) * c["step_1_row_s"] + c["first_vocode_s"]
    first_of_4 = 4 * c["prefill_s"] + (CHUNK - 1) * c["step_4_rows_s"] + 4 * c["first_vocode_s"]
    all_of_4 = 4 * c["prefill_s"] + (TOKENS - 1) * c["step_4_rows_s"] + 4 * c["vocode_total_s"]
    return {
        "ttfa_bound_4_vs_alone": first_of_4 / alone,
        "throughput_bound_4": 4 * audio_s / all_of_4 / threads_4_audio_s_per_s,
    }


def engine_and_voice(variant: str) -> tuple[Any, Any]:
    """The cached full-size bundle's variant loaded as the service loads it, and the bench voice."""
    import soundfile as sf

    from bench.bench_engine import prepare
    from function.config import DEFAULT_PREFIX_CACHE_VOICES
    from function.engine import Engine

    build = prepare()
    engine = Engine.load(
        build / "bundle" / variant, intra_op_threads=THREADS, prefix_cache_voices=DEFAULT_PREFIX_CACHE_VOICES
    )
    audio, sr = sf.read(build / "reference.wav", dtype="float32")
    return engine, engine.make_voice(audio, sr)


def worker(variant: str, mode: str, out: Path) -> None:
    from function.engine.scheduler import Scheduler

    engine, voice = engine_and_voice(variant)
    scheduler = Scheduler(engine.decoder, max_batch=max(STREAMS)) if mode == "scheduler" else None
    decode = scheduler.decode if scheduler else None
    run_streams(engine, voice, 1, decode)  # warm-up
    results = [median_run([run_streams(engine, voice, n, decode) for _ in range(REPEATS)]) for n in STREAMS]
    decode_only = {n: run_decode_only(engine, voice, n, decode) for n in (1, 4)}
    calls = timed_calls(engine, voice) if scheduler else None
    if scheduler:
        scheduler.stop()
    peak = next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    out.write_text(
        json.dumps(
            {"results": results, "decode_tokens_per_s": decode_only, "peak_rss_mb": peak, "calls": calls}
        )
    )


def main() -> None:
    from bench.bench_engine import reference_wav

    subprocess.run([sys.executable, "-m", "bench.bench_engine", "prepare"], check=True, cwd=ROOT)
    from bench.bench_engine import prepare

    build = prepare()
    reference_wav(build / "reference.wav")
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    runs: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        for mode in MODES:
            out = build / f"throughput-{variant}-{mode}.json"
            print(f"running {variant} {mode} ...", flush=True)
            subprocess.run(
                [sys.executable, "-m", "bench.bench_throughput", "worker", variant, mode, str(out)],
                check=True,
                cwd=ROOT,
                env=env,
            )
            runs[f"{variant}-{mode}"] = json.loads(out.read_text())

    head = f"{'variant':>7} {'mode':>9} {'streams':>7} {'audio s/s':>9} {'TTFA p50':>8} {'TTFA p95':>8}"
    print(f"\n{head} {'peak MB':>7}")
    for key, run in runs.items():
        variant, mode = key.split("-")
        for r in run["results"]:
            print(
                f"{variant:>7} {mode:>9} {r['streams']:>7} {r['audio_s_per_s']:9.2f} "
                f"{r['ttfa_p50_s']:8.2f} {r['ttfa_p95_s']:8.2f} {run['peak_rss_mb']:7.0f}"
            )

    def at(variant: str, mode: str, n: int) -> dict[str, Any]:
        return next(r for r in runs[f"{variant}-{mode}"]["results"] if r["streams"] == n)

    # throughput_4_<v>: scheduler over threads, aggregate audio seconds per second at 4 streams.
    # ttfa_p95_4_vs_alone_<v>: the scheduler's p95 time to first audio at 4 streams over one alone.
    ratios = {}
    for v in VARIANTS:
        for n in STREAMS[1:]:
            ratios[f"throughput_{n}_{v}"] = (
                at(v, "scheduler", n)["audio_s_per_s"] / at(v, "threads", n)["audio_s_per_s"]
            )
        ratios[f"ttfa_p95_4_vs_alone_{v}"] = (
            at(v, "scheduler", 4)["ttfa_p95_s"] / at(v, "scheduler", 1)["ttfa_p50_s"]
        )
        # decode_4_<v>: the GPT part alone (no vocoder), tokens per second at 4 requests.
        ratios[f"decode_4_{v}"] = (
            runs[f"{v}-scheduler"]["decode_tokens_per_s"]["4"]
            / runs[f"{v}-threads"]["decode_tokens_per_s"]["4"]
        )
        ratios[f"peak_rss_scheduler_over_threads_{v}"] = (
            runs[f"{v}-scheduler"]["peak_rss_mb"] / runs[f"{v}-threads"]["peak_rss_mb"]
        )
        # *_bound_4_<v>: the best any scheduler could reach here (see `bounds`), beside the measured.
        alone = at(v, "scheduler", 1)
        best = bounds(runs[f"{v}-scheduler"]["calls"], at(v, "threads", 4)["audio_s_per_s"], alone["audio_s"])
        ratios[f"ttfa_bound_4_vs_alone_{v}"] = best["ttfa_bound_4_vs_alone"]
        ratios[f"throughput_bound_4_{v}"] = best["throughput_bound_4"]
    print("\nratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    path = write_result(
        "throughput",
        {
            "tokens": TOKENS,
            "threads": THREADS,
            "streams": list(STREAMS),
            "stream_chunk_tokens": CHUNK,
            "repeats": REPEATS,
            "text": TEXT,
            "runs": runs,
            "ratios": ratios,
        },
    )
    print(f"written {path}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
    else:
        main()
