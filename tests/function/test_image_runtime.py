"""The image smoke test without Docker: the Dockerfile's own install and CMD serve the demo bundle.

From the Dockerfile: the `pip install -r` lines of the CPU build, the default target's WORKDIR,
COPY, ENV and CMD (the last stage, with those of the stages it is built from). A fresh venv gets
exactly those requirement files (hash-checked, binary wheels only, as in the image); the code is
laid out as the image's WORKDIR; the CMD runs there against the demo bundle until /health answers
200 and a synthesis works.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.schedule import BATCH_COMMAND
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)
    base: str = ""  # what FROM names: an image, or an earlier stage


def parse_stages(text: str) -> list[Stage]:
    """Dockerfile instructions per stage: continuation lines joined, comments dropped."""
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    stages: list[Stage] = []
    for line in logical:
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            m = re.search(r"\bAS\s+(\S+)", rest, re.IGNORECASE)
            stages.append(Stage(m.group(1) if m else f"stage{len(stages)}", base=rest.split()[0]))
        elif stages:
            stages[-1].instructions.append((op, rest.strip()))
    return stages


def default_target(stages: list[Stage]) -> Stage:
    """What `docker build` without --target makes: the last stage, on top of the stages it is built
    from (their instructions first)."""
    by_name = {s.name: s for s in stages}
    chain = [stages[-1]]
    while chain[-1].base in by_name:
        chain.append(by_name[chain[-1].base])
    return Stage(stages[-1].name, [i for s in reversed(chain) for i in s.instructions], chain[-1].base)


def cpu_requirement_files(stages: list[Stage]) -> list[str]:
    files: list[str] = []
    for stage in stages:
        if stage.name.endswith("-gpu"):
            continue
        for op, rest in stage.instructions:
            if op == "RUN" and "pip install" in rest:
                files += re.findall(r"(?:-r|--requirement)\s+(\S+)", rest)
    return files


def runtime_env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for op, rest in stage.instructions:
        if op != "ENV":
            continue
        for token in shlex.split(rest):
            key, _, value = token.partition("=")
            env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
    return env


def test_dockerfile_parses_into_an_install_and_a_cmd() -> None:
    stages = parse_stages(DOCKERFILE.read_text())
    files = cpu_requirement_files(stages)
    assert files and all((ROOT / f).is_file() for f in files), files
    target = default_target(stages)
    ops = dict(target.instructions)
    assert json.loads(ops["CMD"])[0] == "gunicorn" and ops["WORKDIR"].startswith("/")
    assert not any("AWS_LWA_" in rest for _, rest in target.instructions)  # not the lambda target


def test_the_image_cmd_serves_the_demo_bundle(
    demo_bundle: Path, tmp_path: Path, make_clip: Callable[..., bytes], helpers: Any
) -> None:
    stages = parse_stages(DOCKERFILE.read_text())
    runtime = default_target(stages)
    ops = runtime.instructions
    workdir = next(rest for op, rest in reversed(ops) if op == "WORKDIR")
    cmd = json.loads(next(rest for op, rest in reversed(ops) if op == "CMD"))

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    reqs = [a for f in cpu_requirement_files(stages) for a in ("-r", str(ROOT / f))]
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--only-binary=:all:", "--require-hashes", *reqs],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    image_root = tmp_path / "image"
    app = image_root / workdir.lstrip("/")
    app.mkdir(parents=True)
    for op, rest in ops:
        if op == "COPY" and not rest.startswith("--from"):
            src, dest = rest.split()[-2:]
            target = image_root / dest.lstrip("/") if dest.startswith("/") else app / dest
            shutil.copytree(ROOT / src, target, ignore=shutil.ignore_patterns("__pycache__"))

    # A port the kernel has just handed out as free (a pid-derived one can be some open
    # connection's local port: it once was, and gunicorn could not bind it).
    port = helpers.free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "PYTHON", "VIRTUAL_ENV"))},
        **runtime_env(runtime),
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PORT": str(port),
        "TTS_MODEL_PATH": str(demo_bundle),
        "TTS_CACHE_DIR": str(tmp_path / "cache"),
        "TTS_WORKERS": "1",
    }
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        cmd, cwd=app, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> requests.Response | None:
            with contextlib.suppress(requests.RequestException):
                answer = requests.get(url + "/health", timeout=2)
                if answer.status_code == 200:
                    return answer
            return None

        try:
            status = wait_until(
                healthy,
                timeout=180,
                what="/health answering 200",
                interval=0.3,
                alive=lambda: proc.poll() is None,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{(tmp_path / 'server.log').read_text()[-3000:]}") from None
        assert status.json()["variant"] == "int8"
        spoken = requests.post(
            url + "/synthesize",
            json={"text": "আমি", "speaker_wav": base64.b64encode(make_clip(3.0)).decode()},
            timeout=300,
        )
        assert spoken.status_code == 200 and spoken.content[:4] == b"RIFF"
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()

    # The batch job runs the same image with the command the Pulumi program gives it.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "clip.wav").write_bytes(make_clip(3.0))
    line = {"id": "one", "text": "আমি", "speaker_wav_uri": "clip.wav", "format": "mp3"}
    (tmp_path / "in" / "today.jsonl").write_text(
        json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    job_env = {**env, "TTS_BATCH_INPUT": str(tmp_path / "in"), "TTS_BATCH_OUTPUT": str(tmp_path / "out")}
    job = subprocess.run(
        BATCH_COMMAND, cwd=app, env=job_env, capture_output=True, text=True, timeout=300, check=False
    )
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    result = json.loads((tmp_path / "out/today/one.json").read_text())
    assert result["status"] == "ok" and (tmp_path / "out/today/one.mp3").stat().st_size > 0
