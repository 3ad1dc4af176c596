"""A lone request: the batching scheduler against thread-per-request, paired run by run.

`python -m bench throughput` times each mode in its own process, three runs each, and a lone
request's figures then move by ~10% from one invocation to the next: too coarse to show whether the
scheduler costs a lone request 3%. Here one process per variant loads the full-size bundle (the
engine bench's cache) once and alternates the two modes PAIRS times on the same engine and voice,
one 100-token stream at the service's default first chunk each time, so a slow spell of the machine
lands on both sides of a pair. Reported per variant: the median time to first audio and wall time
of each mode, and the median of the per-pair ratios (scheduler over thread-per-request) with their
spread. `python -m bench lone` writes bench/results/lone-<time>.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.bench_throughput import ROOT, THREADS, VARIANTS, engine_and_voice, run_streams
from bench.machine import write_result

PAIRS = 9


def worker(variant: str, out: Path) -> None:
    from function.engine.scheduler import Scheduler

    engine, voice = engine_and_voice(variant)
    scheduler = Scheduler(engine.decoder, max_batch=8)
    modes = {"threads": None, "scheduler": scheduler.decode}
    for decode in modes.values():
        run_streams(engine, voice, 1, decode)  # warm-up, and the voice's prefix cached for both
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for i in range(PAIRS):
        # Alternate which mode goes first, so neither always runs right after the other.
        order = list(modes) if i % 2 == 0 else list(reversed(modes))
        for mode in order:
            runs[mode].append(run_streams(engine, voice, 1, modes[mode]))
    scheduler.stop()
    out.write_text(json.dumps(runs))


def summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in ("ttfa_p50_s", "wall_s"):
        ratios = [s[key] / t[key] for s, t in zip(runs["scheduler"], runs["threads"], strict=True)]
        result[key] = {
            "threads_median": statistics.median(r[key] for r in runs["threads"]),
            "scheduler_median": statistics.median(r[key] for r in runs["scheduler"]),
            "pair_ratio_median": statistics.median(ratios),
            "pair_ratio_min": min(ratios),
            "pair_ratio_max": max(ratios),
        }
    return result


def main() -> None:
    from bench.bench_engine import prepare, reference_wav

    subprocess.run([sys.executable, "-m", "bench.bench_engine", "prepare"], check=True, cwd=ROOT)
    build = prepare()
    reference_wav(build / "reference.wav")
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    results: dict[str, Any] = {}
    for variant in VARIANTS:
        out = build / f"lone-{variant}.json"
        print(f"running {variant}: {PAIRS} pairs ...", flush=True)
        cmd = [sys.executable, "-m", "bench.bench_lone", "worker", variant, str(out)]
        subprocess.run(cmd, check=True, cwd=ROOT, env=env)
        runs = json.loads(out.read_text())
        results[variant] = {"summary": summary(runs), "runs": runs}
    head = f"{'variant':>7} {'figure':>8} {'threads':>8} {'scheduler':>9}"
    print(f"\n{head} {'pair ratio median [min, max]':>30}")
    for variant, r in results.items():
        for key, s in r["summary"].items():
            print(
                f"{variant:>7} {key.removesuffix('_s').removesuffix('_p50'):>8} {s['threads_median']:8.3f} "
                f"{s['scheduler_median']:9.3f} {s['pair_ratio_median']:12.3f} "
                f"[{s['pair_ratio_min']:.3f}, {s['pair_ratio_max']:.3f}]"
            )
    path = write_result("lone", {"pairs": PAIRS, "threads": THREADS, "results": results})
    print(f"written {path}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "worker":
        worker(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
