"""Describe the machine a benchmark ran on, for the JSON under bench/results/."""

import contextlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from function.engine.cpu import kernel_isas

# BENCH_RESULTS: elsewhere, e.g. a test's smoke run that must not touch the committed results.
RESULTS = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).parent / "results")


def machine_info() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        gpu = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "hostname": platform.node(),
        "cpu": cpu,
        "isa": kernel_isas(),
        "onnxruntime": ort_version,
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_gib, 1),
        "gpu": gpu or None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write bench/results/<name>-<timestamp>.json and <name>-latest.json with the machine attached."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
    }
    doc.update(payload)
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS / f"{name}-latest.json").write_text(text)
    return path
