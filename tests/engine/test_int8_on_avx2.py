"""The int8 variant tracks fp32 on an AVX2-only CPU too, whatever CPU runs this suite.

The demo bundle's int8 graphs run under `qemu-x86_64 -cpu Haswell-v4` (Debian's qemu-user, which
`make` installs) on inputs fp32 produced natively: a CPU with AVX2 but no AVX-512 and no VNNI,
where onnxruntime's U8S8 kernels take the saturating `VPMADDUBSW` path (docs/model-bundle.md#int8-formats). A
canary matmul in the old format proves the emulated CPU really takes that path, so the run cannot
pass for the wrong reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workers import run_json_worker

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EMULATED_CPU = ["qemu-x86_64", "-cpu", "Haswell-v4"]


@pytest.fixture(scope="module")
def emulated(demo_bundle: Path) -> dict:
    assert shutil.which(EMULATED_CPU[0]), "qemu-x86_64 is missing: `make env` installs Debian's qemu-user"
    # fp32 natively, the int8 variant's graphs and the CPU checks emulated: about 90 s of emulation
    # on a 2-core VM (emulating fp32's side too took over 15 minutes there).
    result = run_json_worker(
        [
            sys.executable,
            "-m",
            "export.parity",
            str(demo_bundle),
            "--tokens",
            "40",
            "--emulator",
            " ".join(EMULATED_CPU),
        ],
        cwd=ROOT,
        timeout=600,
    )
    print(json.dumps(result, indent=1))
    return result


def test_the_emulated_cpu_takes_the_saturating_path(emulated: dict) -> None:
    # ~50 dB on a VNNI CPU; measured 7.7 dB under the emulated Haswell.
    assert emulated["canary_snr_db"] < 20


def test_int8_tracks_fp32_on_the_emulated_cpu(emulated: dict) -> None:
    """The bounds of test_reduced_precision_variants_track_fp32, graph by graph."""
    parity = emulated["parity"]
    assert parity["cond_latents_max_abs"] <= 0.05
    for text in parity["texts"]:
        assert text["first_fork"] >= 16, text
        assert text["latent_snr_db"] >= 40, text
    assert parity["vocoder_snr_db"] >= 35  # 40.6 dB on either CPU; the saturating format gave 27


def test_int8_rows_are_independent_on_the_emulated_cpu(emulated: dict) -> None:
    parity = emulated["parity"]
    assert parity["batch_row_codes_equal"]
    assert parity["batch_row_max_abs"] <= 1e-4


def test_the_shipped_gpt_format_keeps_rows_independent_on_the_emulated_cpu(emulated: dict) -> None:
    # At the full-size shapes (export.parity.gpt_kernel_row_max_abs); natively in test_int8_formats.
    assert emulated["gpt_kernel_row_max_abs"] == 0.0


def test_the_engine_sees_the_emulated_cpu_lacks_vnni() -> None:
    """The engine asks CPUID (has_vnni), not /proc/cpuinfo, which qemu-user passes through from the
    host: so on the emulated Haswell it runs the GPT's 8-bit integer matmuls as uint8 x uint8."""
    probe = "from function.engine.cpu import has_vnni; print(has_vnni())"
    run = subprocess.run(
        [*EMULATED_CPU, sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.stdout.strip() == "False", run.stderr[-2000:]
