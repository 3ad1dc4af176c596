"""Batch synthesis throughput: items per hour and audio hours per wall hour.

The full-size XTTS v2 architecture with random weights (the engine bench's cached bundle), int8,
run through the batch job's own runner (`function.batch`) over a local manifest of ITEMS Bangla
items that share one reference clip, every item forced to TOKENS audio tokens (random weights
never emit the stop token on their own). Two configurations in one run, each in its own process:
one item at a time (TTS_MAX_BATCH=1, what a job without the batching scheduler does) and the
job's default (TTS_MAX_BATCH=4 on CPU: several items share each decode step).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.machine import write_result

ROOT = Path(__file__).resolve().parents[1]
ITEMS = 12
TOKENS = 100
BATCHES = (1, 4)
VARIANT = "int8"
TEXT = "আজ সকালে ঢাকায় হালকা বৃষ্টি হয়েছে, বিকেলে আকাশ পরিষ্কার থাকবে।"  # 60 characters


def worker(build: Path, max_batch: int, work: Path, out: Path) -> None:
    from function.batch.task import build_runner
    from function.config import load_batch_settings
    from function.service.model import load_model

    env = {
        **os.environ,
        "TTS_MODEL_PATH": str(build / "bundle"),
        "TTS_MODEL_VARIANT": VARIANT,
        "TTS_BATCH_INPUT": str(work / "in"),
        "TTS_BATCH_OUTPUT": str(work / "out"),
        "TTS_MAX_BATCH": str(max_batch),
        "TTS_CACHE_DIR": str(work / "cache"),
        "TTS_LOG_LEVEL": "WARNING",
    }
    settings = load_batch_settings(env)
    loaded = load_model(settings.serving)
    loaded.defaults.update(min_new_tokens=TOKENS, max_new_tokens=TOKENS)
    runner = build_runner(settings, loaded)
    t0 = time.perf_counter()
    report = runner.run()
    wall = time.perf_counter() - t0
    loaded.scheduler.stop()
    assert report.synthesized == ITEMS, report
    out.write_text(
        json.dumps(
            {
                "max_batch": max_batch,
                "intra_op_threads": settings.serving.intra_op_threads,
                "items": report.synthesized,
                "audio_s": report.audio_seconds,
                "wall_s": wall,
                "items_per_hour": report.synthesized / wall * 3600,
                "audio_hours_per_wall_hour": report.audio_seconds / wall,
            }
        )
    )


def main() -> None:
    from bench.bench_engine import reference_wav

    subprocess.run([sys.executable, "-m", "bench.bench_engine", "prepare"], check=True, cwd=ROOT)
    from bench.bench_engine import prepare

    build = prepare()
    runs: list[dict[str, Any]] = []
    for max_batch in BATCHES:
        work = build / f"batch-{max_batch}"
        shutil.rmtree(work, ignore_errors=True)
        (work / "in").mkdir(parents=True)
        reference_wav(work / "in" / "anchor.wav")
        lines = [
            json.dumps({"id": f"item-{i:03d}", "text": TEXT, "speaker_wav_uri": "anchor.wav", "seed": i})
            for i in range(ITEMS)
        ]
        (work / "in" / "bench.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = work / "result.json"
        print(f"running TTS_MAX_BATCH={max_batch} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.bench_batch",
                "worker",
                str(build),
                str(max_batch),
                str(work),
                str(out),
            ],
            check=True,
            cwd=ROOT,
            env=dict(os.environ),
        )
        runs.append(json.loads(out.read_text()))

    print(f"\n{'max batch':>9} {'items':>5} {'wall s':>7} {'items/h':>8} {'audio h / wall h':>16}")
    for r in runs:
        print(
            f"{r['max_batch']:>9} {r['items']:>5} {r['wall_s']:7.1f} {r['items_per_hour']:8.0f} "
            f"{r['audio_hours_per_wall_hour']:16.2f}"
        )
    # batched_over_sequential: the job's default batch over one item at a time, items per hour.
    ratios = {"batched_over_sequential": runs[-1]["items_per_hour"] / runs[0]["items_per_hour"]}
    print("\nratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    path = write_result(
        "batch",
        {"variant": VARIANT, "items": ITEMS, "tokens": TOKENS, "text": TEXT, "runs": runs, "ratios": ratios},
    )
    print(f"written {path}")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "worker":
        worker(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]))
    else:
        main()
