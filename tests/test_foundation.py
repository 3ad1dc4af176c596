"""Guard rails every later part relies on."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_serving_package_never_imports_torch() -> None:
    # A fresh interpreter: other tests in this process may have imported torch already. The WSGI entry
    # module and gunicorn's config are skipped: importing them starts the service by design.
    code = (
        "import importlib, pkgutil, sys\n"
        "import function\n"
        "for m in pkgutil.walk_packages(function.__path__, 'function.'):\n"
        "    if not m.name.endswith(('gunicorn.conf', '.wsgi')):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in {'torch', 'TTS', 'torchaudio'})\n"
        "assert not bad, bad\n"
        "print(len([n for n in sys.modules if n.startswith('function')]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 1


def test_no_model_or_audio_file_is_tracked() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    banned = (".onnx", ".pth", ".pt", ".safetensors", ".wav", ".flac", ".mp3", ".ogg", ".bin")
    assert [f for f in files if f.endswith(banned)] == []


def test_serving_lock_is_fully_pinned_with_hashes_and_torch_free() -> None:
    lock = (ROOT / "function" / "requirements.txt").read_text()
    reqs = [line for line in lock.splitlines() if line and not line.startswith((" ", "#"))]
    assert reqs and all("==" in r for r in reqs)
    assert "--hash=sha256:" in lock
    names = {r.split("==")[0].lower() for r in reqs}
    assert "torch" not in names and "onnxruntime" in names


def test_export_lock_keeps_the_verified_pins() -> None:
    lock = (ROOT / "export" / "requirements.txt").read_text().splitlines()
    for pin in (
        "torch==2.14.1",
        "torchaudio==2.11.0",
        "torchcodec==0.17.0",
        "coqui-tts==0.28.0",
        "transformers==4.57.6",
    ):
        assert pin in lock


def _pins(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    pairs = (
        line.split(" ")[0].split("==") for line in lines if "==" in line and not line.startswith((" ", "#"))
    )
    return {name.lower(): version for name, version in pairs}


def test_the_bench_lock_never_moves_a_package_the_test_venv_pins() -> None:
    # `make bench` installs bench/requirements.txt into the one .venv: a stale bench lock once moved
    # python-dateutil to 4.0.0 under botocore (<3), breaking the S3 tests after a benchmark run.
    venv = {**_pins(ROOT / "export" / "requirements.txt"), **_pins(ROOT / "requirements-dev.txt")}
    bench = _pins(ROOT / "bench" / "requirements.txt")
    moved = {name: (venv[name], v) for name, v in bench.items() if name in venv and venv[name] != v}
    assert moved == {}, f"re-run pip-compile for bench/requirements.in: {moved}"
