"""int8 formats: parity with fp32 on this CPU and on an emulated AVX2-only CPU, and speed on this CPU.

The released full-size XTTS v2 architecture with random weights (the engine bench's cached fp32
bundle). For each graph that the int8 variant quantizes, every format in `export.quantize.FORMATS`
that applies is built into a variant that differs from fp32 in that graph alone, and compared with
fp32 (`export.parity`, quick form: the GPT over up to 200 greedy tokens of two sentences, the
conditioning on a clip, HiFi-GAN on fp32's frames, a batched row against the same row alone). The
same comparison then runs with each variant's graphs under `qemu-x86_64 -cpu Haswell-v4` (AVX2, no
AVX-512, no VNNI) on the inputs fp32 produced natively, with fewer tokens; emulated timings mean
nothing, so speed is timed natively only: per GPT call (prefill of 100 positions, one decode step at
1 and 4 rows), the conditioning of a 6 s clip, HiFi-GAN on 200 frames. `python -m bench int8`
writes bench/results/int8-<time>.json; `BENCH_INT8_GRAPHS=gpt` (a comma list) measures those
graphs only. The full-size emulated column is opt-in, since every
variant's full-size graphs then run under emulation: `BENCH_INT8_EMULATED=old` runs the shipped
bundle and each graph's old format, `all` every format. `make test` runs the emulated parity on the
demo bundle (tests/engine/test_int8_on_avx2.py).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_engine import CACHE, ROOT, prepare
from bench.machine import write_result
from function.bundle_format import KV_PAST, U8U8_WITHOUT_VNNI
from function.engine.decoding import capacity_for, gpt_call
from function.engine.sessions import create_session

THREADS = 2
EMULATED_TOKENS = 12
EMULATOR = ("qemu-x86_64", "-cpu", "Haswell-v4")
GRAPHS = {"gpt": "matmul", "conditioning": "matmul", "vocoder": "conv"}
# The bundle's graph roles each candidate graph is (HiFi-GAN's two graphs take one format).
ROLES = {"gpt": ("gpt",), "conditioning": ("conditioning",), "vocoder": ("vocoder_head", "vocoder")}


def candidates(fp32: Path, graphs: list[str]) -> dict[str, Path]:
    """`<graph>/<format>` -> a variant directory equal to fp32 but for that one graph (built once)."""
    from export import quantize
    from export.build import vocoder_calibration, write_manifest

    root = CACHE / f"int8-formats-{fp32.parent.parent.name}"
    out: dict[str, Path] = {}
    base = json.loads((fp32 / "manifest.json").read_text())
    base = {k: v for k, v in base.items() if k not in ("variant", "graphs", "files")}
    for graph, ops in ((g, GRAPHS[g]) for g in graphs):
        for fmt in (f for f in quantize.FORMATS.values() if f.ops == ops):
            target = root / graph / fmt.name
            out[f"{graph}/{fmt.name}"] = target
            # As the exporter writes it, so the engine runs the variant as it would be served (on a
            # CPU without VNNI, uint8 x uint8 where the format needs it).
            plan = {role: fmt.name for role in ROLES[graph]}
            served = {"quantization": plan, U8U8_WITHOUT_VNNI: quantize.needs_vnni(plan)}
            manifest = target / "manifest.json"
            if manifest.is_file():
                written = json.loads(manifest.read_text())
                if any(written.get(k) != v for k, v in served.items()):  # built before this was written
                    manifest.write_text(json.dumps({**written, **served}, indent=2, ensure_ascii=False))
                continue
            print(f"building {graph} as {fmt.name}", flush=True)
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            files = [f"{role}.onnx" for role in ROLES[graph]]
            for f in fp32.iterdir():
                if f.name != "manifest.json" and not f.name.startswith(tuple(files)):
                    os.link(f, target / f.name)
            for role, name in zip(ROLES[graph], files, strict=True):
                calibration = functools.partial(vocoder_calibration, fp32, role)
                quantize.make(fmt.name, fp32 / name, target / name, calibration)
            write_manifest(target, {**base, **served}, "int8")
    return out


def parity(fp32: Path, variants: dict[str, Path], tokens: int, emulated: bool) -> dict[str, Any]:
    """Each variant against fp32 in one process (fp32 loaded once, natively); with `emulated`, each
    variant's graphs run under qemu on fp32's inputs (`export.parity.compare_elsewhere`)."""
    cmd = [
        sys.executable,
        "-m",
        "bench.bench_int8",
        "parity",
        str(fp32),
        str(tokens),
        json.dumps({k: str(v) for k, v in variants.items()}),
        " ".join(EMULATOR) if emulated else "",
    ]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(
            f"parity run failed ({'emulated' if emulated else 'native'}): {run.stderr[-2000:]}"
        )
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def _parity_worker(fp32: str, tokens: str, variants: str, emulator: str) -> None:
    from export.parity import compare, compare_elsewhere, saturation_canary_snr_db
    from function.engine import Engine

    reference = Engine.load(Path(fp32), intra_op_threads=THREADS, verify=False)
    results: dict[str, Any] = {} if emulator else {"canary_snr_db": saturation_canary_snr_db()}
    for name, path in json.loads(variants).items():
        t0 = time.perf_counter()
        # A variant whose GPT is fp32's decodes alike: a few tokens show it.
        n = int(tokens) if name.startswith(("gpt/", "shipped")) else min(int(tokens), 8)
        if emulator:
            report = compare_elsewhere(reference, Path(path), emulator.split(), tokens=n)
            results[name] = report["parity"]
            results["canary_snr_db"] = report["canary_snr_db"]
        else:
            other = Engine.load(Path(path), intra_op_threads=THREADS, verify=False)
            results[name] = compare(reference, other, tokens=n, quick=True).to_dict()
        print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(json.dumps(results))


def speed(graph: str, variant: Path, needs_vnni: bool) -> dict[str, float]:
    """Median times (ms) of the calls that graph serves, natively, in sessions made as the engine
    makes them (2 threads; uint8 x uint8 without VNNI where `needs_vnni`)."""
    sessions = [
        create_session(variant / f"{role}.onnx", ["CPUExecutionProvider"], THREADS, needs_vnni=needs_vnni)
        for role in ROLES[graph]
    ]
    session = sessions[-1]
    rng = np.random.default_rng(0)

    def timed(call: Callable[[], Any], repeat: int) -> float:
        """Median ms of `repeat` calls after one to warm up."""
        call()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        return 1000 * float(np.median(times))

    if graph == "conditioning":
        mel = rng.standard_normal((1, 80, 517)).astype(np.float32)
        return {"conditioning_6s_ms": timed(lambda: session.run(None, {"mel": mel}), 3)}
    if graph == "vocoder":
        z = (0.5 * rng.standard_normal((1, 1024, 200))).astype(np.float32)
        g = rng.standard_normal((1, 512, 1)).astype(np.float32)
        g = g / np.linalg.norm(g)
        head, tail = sessions

        def vocode() -> Any:
            return tail.run(None, {"h": head.run(None, {"z": z, "g": g})[0], "g": g})

        return {"vocoder_200_frames_ms": timed(vocode, 3)}
    inputs = {i.name: i for i in session.get_inputs()}
    past = [n for n in inputs if n.startswith(KV_PAST)]
    width, heads, head_dim = (
        inputs["inputs_embeds"].shape[2],
        inputs[past[0]].shape[1],
        inputs[past[0]].shape[3],
    )

    def calls(rows: int, positions: int) -> Callable[[], Any]:
        """Calls writing `positions` new ones at 100 - positions + 1 ... 100 of a cache for 101: a
        prefill of 100, or a decode step (the 101st position, rewritten each call)."""
        kv = [np.zeros((rows, heads, capacity_for(101), head_dim), np.float32) for _ in past]
        new = (0.1 * rng.standard_normal((rows, positions, width))).astype(np.float32)
        seqlens = np.full(rows, 99 if positions > 1 else 100, np.int32)
        return lambda: gpt_call(session, new, seqlens, kv)

    result = {"prefill_100_ms": timed(calls(1, 100), 3)}
    for rows in (1, 4):
        result[f"step_{rows}_rows_ms"] = timed(calls(rows, 1), 12)
    return result


def _figures(p: dict[str, Any]) -> str:
    forks = "/".join(str(t["first_fork"]) for t in p["texts"])
    latents = min(t["latent_snr_db"] for t in p["texts"])
    return f"{p['cond_latents_snr_db']:5.1f} {forks:>8s} {latents:5.1f} {p['vocoder_snr_db']:5.1f}"


def _table_row(row: dict[str, Any]) -> str:
    native, emulated = row["native"], row["emulated"]
    speed = " ".join(f"{k} {v:.1f}" for k, v in row["speed_ms"].items())
    emu = _figures(emulated) if emulated else "-"
    return f"{row['name']:32s} {_figures(native)} {native['batch_row_max_abs']:8.1e} | {emu} | {speed}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "parity":
        return _parity_worker(*sys.argv[2:6])
    from export.quantize import FORMATS, INT8_PLAN

    build = prepare()
    fp32 = build / "bundle" / "fp32"
    graphs = os.environ.get("BENCH_INT8_GRAPHS", ",".join(GRAPHS)).split(",")
    unknown = set(graphs) - set(GRAPHS)
    if unknown:
        raise SystemExit(f"BENCH_INT8_GRAPHS: {sorted(unknown)} not among {sorted(GRAPHS)}")
    variants = candidates(fp32, graphs)
    shipped = build / "bundle" / "int8"
    print("speed (native)", flush=True)
    speeds = {}
    for name, path in variants.items():
        graph, fmt = name.split("/")
        speeds[name] = speed(graph, path, FORMATS[fmt].needs_vnni)
    speeds.update({f"{g}/fp32": speed(g, fp32, False) for g in graphs})
    print("parity (native)", flush=True)
    native = parity(fp32, {**variants, "shipped": shipped}, 200, emulated=False)
    emulated: dict[str, Any] = {}
    scope = os.environ.get("BENCH_INT8_EMULATED", "none")
    if scope != "none":
        # By default the shipped bundle and each graph's old format (a full-size model loads slowly
        # under emulation); BENCH_INT8_EMULATED=all runs every format.
        old = {"gpt/dynamic-u8s8", "conditioning/dynamic-u8s8", "vocoder/static-s8"}
        chosen = {k: v for k, v in variants.items() if scope == "all" or k in old}
        print(f"parity (emulated AVX2-only CPU, {len(chosen) + 1} variants; slow)", flush=True)
        emulated = parity(fp32, {**chosen, "shipped": shipped}, EMULATED_TOKENS, emulated=True)
    print("\ngraph/format: native cond dB, greedy forks, GPT dB, vocoder dB, row diff | emulated | speed ms")
    rows = []
    for name in [*variants, "shipped"]:
        rows.append(
            {
                "name": name,
                "native": native[name],
                "emulated": emulated.get(name),
                "speed_ms": speeds.get(name, {}),
            }
        )
        print(_table_row(rows[-1]), flush=True)
    path = write_result(
        "int8",
        {
            "plan": INT8_PLAN,
            "tokens": {"native": 200, "emulated": EMULATED_TOKENS},
            "emulated_cpu": "qemu-x86_64 -cpu Haswell-v4 (AVX2, no AVX-512, no VNNI)" if emulated else None,
            "canary_snr_db": {"native": native["canary_snr_db"], "emulated": emulated.get("canary_snr_db")},
            "graphs": graphs,
            "fp32_speed_ms": {g: speeds[f"{g}/fp32"] for g in graphs},
            "rows": rows,
        },
    )
    print(f"\nwrote {path}")
    return None


if __name__ == "__main__":
    main()
