"""Run a worker process whose last line of output is a JSON report: the tests that need a separate
process (an emulated CPU, a clean memory baseline) read their figures this way."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def run_json_worker(
    cmd: list[str], *, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report
