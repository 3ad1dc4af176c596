"""The Dockerfile and .dockerignore, checked without a Docker engine."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current = f"{current} {line[:-1].strip()}" if line.endswith("\\") else f"{current} {line}"
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(x.split(None, 1)[0].upper(), x.split(None, 1)[1]) for x in logical]


def stages() -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    name = ""
    for op, args in instructions():
        if op == "FROM":
            name = args.split()[-1]
            result[name] = []
        elif name:
            result[name].append((op, args))
    return result


def test_hadolint_passes() -> None:
    out = subprocess.run([str(HADOLINT), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_ignored_hadolint_rule_is_explained() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert lines[i - 1].startswith("#") and "hadolint" not in lines[i - 1], f"unexplained: {line}"


def test_each_target_installs_its_own_lock_with_hashes_from_binaries() -> None:
    expected = {"deps-cpu": "function/requirements.txt", "deps-gpu": "function/requirements-gpu.txt"}
    for stage, lock in expected.items():
        runs = [args for op, args in stages()[stage] if op == "RUN" and "pip install" in args]
        assert len(runs) == 1
        words = shlex.split(runs[0])
        assert words[words.index("-r") + 1] == lock
        assert "--require-hashes" in words and "--only-binary=:all:" in words
        assert "--hash=sha256:" in (ROOT / lock).read_text()
    assert re.search(r"^FROM deps-\$\{TARGET\} AS deps$", (ROOT / "Dockerfile").read_text(), re.M)


def test_gpu_lock_is_the_cpu_lock_with_onnxruntime_gpu() -> None:
    def pins(path: str) -> dict[str, str]:
        lines = (ROOT / path).read_text().splitlines()
        return dict(line.split(" ")[0].split("==") for line in lines if re.match(r"^[a-z0-9]", line))

    cpu, gpu = pins("function/requirements.txt"), pins("function/requirements-gpu.txt")
    assert "onnxruntime" not in gpu and gpu["onnxruntime-gpu"] == "1.26.0"
    shared = set(cpu) - {"onnxruntime"}
    assert {k: gpu.get(k) for k in shared} == {k: cpu[k] for k in shared}
    # CUDA 12 user-space libraries: Cloud Run's L4 driver (535, CUDA 12.2) cannot run CUDA 13.
    cuda = {k: v for k, v in gpu.items() if k.startswith("nvidia-")}
    assert cuda and all(k.endswith("-cu12") for k in cuda)
    assert cuda["nvidia-cuda-runtime-cu12"].startswith("12.") and cuda["nvidia-cudnn-cu12"].startswith("9.")


def test_runtime_stage_is_minimal_and_runs_as_non_root() -> None:
    runtime = stages()["runtime"]
    text = " ".join(args for op, args in runtime if op == "RUN")
    for tool in ("gcc", "g++", "build-essential", "make", "clang", "-dev"):
        assert tool not in text
    assert "libsndfile1" in text and "libgomp1" in text
    user = [args for op, args in runtime if op == "USER"]
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0"
    assert ("WORKDIR", "/app") in runtime
    assert ("COPY", "function/ /app/function/") in runtime
    assert ("COPY", "--from=deps /opt/venv /opt/venv") in runtime


def test_container_serves_on_8080_with_gunicorn_and_checks_health() -> None:
    runtime = dict((op, args) for op, args in stages()["runtime"] if op in ("EXPOSE", "CMD", "HEALTHCHECK"))
    assert runtime["EXPOSE"] == "8080"
    assert json.loads(runtime["CMD"]) == ["gunicorn", "--config", "function/gunicorn.conf.py"]
    assert "/health" in runtime["HEALTHCHECK"] and "--start-period=" in runtime["HEALTHCHECK"]
    assert (ROOT / "function" / "gunicorn.conf.py").is_file()


def test_gpu_library_path_names_the_directories_the_cuda_wheels_install() -> None:
    env = " ".join(args for op, args in stages()["runtime"] if op == "ENV")
    ld = re.search(r"LD_LIBRARY_PATH=(\S+)", env)
    assert ld
    dirs = {d.replace("$NVIDIA_LIBS/", "") for d in ld.group(1).split(":")}
    # First the driver's libraries where Google's GPU runtimes mount them (issue 24), then the wheels'.
    assert ld.group(1).split(":")[0] == "/usr/local/nvidia/lib64"
    dirs.remove("/usr/local/nvidia/lib64")
    # nvidia-cuda-runtime-cu12 -> nvidia/cuda_runtime/lib, nvidia-cudnn-cu12 -> nvidia/cudnn/lib, ...
    lock = (ROOT / "function" / "requirements-gpu.txt").read_text()
    wheels = re.findall(r"^nvidia-([a-z-]+)-cu12==", lock, re.M)
    assert {f"{w.replace('-', '_')}/lib" for w in wheels} == dirs
    # The venv's site-packages through a version-free link made from the interpreter itself: the
    # Python minor version is written only in the base image reference.
    assert "NVIDIA_LIBS=/opt/venv/site-packages/nvidia" in env
    assert not re.search(r"python3\.\d+", env)
    venv = " ".join(args for op, args in stages()["builder"] if op == "RUN")
    assert 'sysconfig.get_path("purelib")' in venv and "/opt/venv/site-packages" in venv
    assert "python:3.11" in (ROOT / "Dockerfile").read_text()


def _dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; a match on a parent directory counts."""
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, c) for c in candidates) or fnmatch.fnmatch(path, pattern):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "path",
    ["tests/infra/test_container.py", "bundles/demo/int8/gpt.onnx", ".venv/bin/python", "export/build.py",
     "infra/stack.py", ".git/HEAD", "function/__pycache__/config.cpython-311.pyc", "function/x/y.onnx",
     "bench/results/raw/a.json", "README.md"],
)  # fmt: skip
def test_dockerignore_keeps_everything_but_the_function_out(path: str) -> None:
    assert _dockerignore_excludes(path)


@pytest.mark.parametrize(
    "path", ["function/gunicorn.conf.py", "function/requirements.txt", "function/requirements-gpu.txt",
             "function/engine/__init__.py"],
)  # fmt: skip
def test_dockerignore_sends_the_function_package(path: str) -> None:
    assert not _dockerignore_excludes(path)


DIGEST_PIN = re.compile(r"^[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$")


def base_image() -> str:
    arg = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert arg
    return arg.group(1)


def test_base_image_is_pinned_by_digest_and_every_stage_uses_it() -> None:
    """A floating tag moved under the exact Debian pins and broke the build when Debian moved."""
    image = base_image()
    assert DIGEST_PIN.match(image), image
    assert image.startswith("python:3.11-slim-bookworm@sha256:")
    froms = [args.split()[0] for op, args in instructions() if op == "FROM"]
    assert {f for f in froms if not f.startswith("deps-") and f not in stages()} == {"${PYTHON_IMAGE}"}
    assert "docker buildx imagetools inspect" in (ROOT / "Dockerfile").read_text()
    # The pipeline's Python steps run on the same base.
    import yaml

    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert build["substitutions"]["_PYTHON_IMAGE"] == image


def test_apt_reads_the_base_images_own_debian_snapshot(tmp_path: Path) -> None:
    """The Dockerfile's sed turns the snapshot URL the base image records (as a comment) into the
    source, so the pinned versions resolve however far the Debian archive has moved."""
    run = next(args for op, args in stages()["runtime"] if op == "RUN" and "apt-get" in args)
    assert "libsndfile1=" in run and "libgomp1=" in run
    assert "Acquire::Check-Valid-Until=false update" in run
    sed = re.search(r"sed -i -E ('[^']+')", run)
    assert sed
    sources = tmp_path / "debian.sources"
    sources.write_text(
        "Types: deb\n# http://snapshot.debian.org/archive/debian/20250811T000000Z\n"
        "URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\n# http://snapshot.debian.org/archive/debian-security/20250811T000000Z\n"
        "URIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    out = subprocess.run(
        ["sh", "-c", f"sed -i -E {sed.group(1)} {sources}"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    text = sources.read_text()
    assert "deb.debian.org" not in text
    assert re.findall(r"^URIs: (\S+)$", text, re.M) == [
        "http://snapshot.debian.org/archive/debian/20250811T000000Z",
        "http://snapshot.debian.org/archive/debian-security/20250811T000000Z",
    ]
    assert "\n\n" in text and text.count("Types: deb") == 2  # the stanzas are intact


def test_the_gpu_comment_says_which_kernels_the_l4_runs() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "sm_86 and sm_90" in text and "the L4 runs the" in text
    assert "sm_89 kernels ship prebuilt" not in text


# ---- the AWS Lambda target -------------------------------------------------------------------------
ADAPTER_PIN = re.compile(
    r"^--from=public\.ecr\.aws/awsguru/aws-lambda-adapter:(\d+\.\d+\.\d+)@sha256:([0-9a-f]{64}) "
    r"/lambda-adapter /opt/extensions/lambda-adapter$"
)


def lambda_env() -> dict[str, str]:
    env = " ".join(args for op, args in stages()["lambda"] if op == "ENV")
    return dict(word.split("=", 1) for word in shlex.split(env))


def test_lambda_target_is_the_cpu_runtime_plus_the_pinned_adapter() -> None:
    froms = [args for op, args in instructions() if op == "FROM"]
    assert "runtime AS lambda" in froms  # the same image as Cloud Run's: user, CMD, code unchanged
    lam = stages()["lambda"]
    assert [op for op, _ in lam if op in ("CMD", "ENTRYPOINT", "USER", "WORKDIR")] == []
    copies = [args for op, args in lam if op == "COPY"]
    assert len(copies) == 1
    pin = ADAPTER_PIN.match(copies[0])
    assert pin, copies[0]  # one COPY of the extension, pinned by version and digest
    assert pin.group(1) == "0.9.1"
    # Built with the CPU dependencies only: the GPU venv's CUDA libraries stop the build.
    run = next(args for op, args in lam if op == "RUN")
    assert "/opt/venv/site-packages/nvidia" in run and "exit 1" in run


def test_the_default_target_is_still_the_cloud_run_runtime() -> None:
    """docker builds the last stage without --target (cloudbuild.yaml passes none): it must be the
    runtime itself, not the lambda target after it."""
    froms = [args for op, args in instructions() if op == "FROM"]
    assert froms[-1] == "runtime AS default" and stages()["default"] == []


def test_lambda_adapter_settings_match_the_app() -> None:
    from function.config import load_settings

    env = lambda_env()
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"  # /synthesize/stream through a Function URL
    assert env["AWS_LWA_ASYNC_INIT"] == "true"  # the model load outlasts Lambda's 10 s init phase
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/health"
    assert env["HOME"] == "/tmp"  # the only writable path on Lambda
    assert "AWS_LWA_PORT" not in env  # the adapter falls back to PORT, which gunicorn binds
    runtime_env = " ".join(args for op, args in stages()["runtime"] if op == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime_env and "TTS_CACHE_DIR=/tmp/tts-cache" in runtime_env
    # The app serves its scheduled-event route where the adapter posts non-HTTP events.
    s = load_settings({"TTS_MODEL_PATH": "s3://bkt/m", "AWS_LAMBDA_FUNCTION_NAME": "f", **env})
    assert s.events_path == env["AWS_LWA_PASS_THROUGH_PATH"] == "/events" and s.lambda_function == "f"


def test_hadolint_finds_nothing_in_the_lambda_stage() -> None:
    """Every finding, style included, in the lines of the lambda target."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines, 1) if line.startswith("FROM runtime AS lambda"))
    out = subprocess.run(
        [str(HADOLINT), "--format", "json", "--failure-threshold", "none", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(out.stdout or "[]")
    assert [f for f in findings if f["line"] >= start] == []
