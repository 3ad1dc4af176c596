"""Shared fixtures: the demo checkpoint (real XTTS v2 architecture, tiny, random weights) and its bundle.

Both are built once and cached under .cache/test-bundles/<hash of the exporter and engine sources>,
so a second `make test` reuses them and any change to the export or engine code rebuilds them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from function.storage.bundle import exclusive_lock

# `make test` (CI) draws the same examples in every property test on every run, so a red run is a
# change's doing, never an unlucky draw (a CI run once failed on a PLS key drawn for the first time);
# `make fuzz` draws new ones, and what it finds becomes an @example.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "test-bundles"


def pytest_report_header(config: pytest.Config) -> str:
    """Free disk where the suite writes: a full disk fails every tmp_path test at once, so say it first."""
    free = shutil.disk_usage(config._tmp_path_factory.getbasetemp()).free  # type: ignore[attr-defined]
    return f"free disk for tmp_path: {free / 2**30:.1f} GiB (a whole run peaks near 0.6 GiB)"


def _source_hash() -> str:
    digest = hashlib.sha256()
    files = sorted(
        [
            *(ROOT / "export").rglob("*.py"),
            *(ROOT / "export").rglob("*.json"),
            *(ROOT / "function" / "engine").rglob("*.py"),
            ROOT / "function" / "bundle_format.py",
        ]
    )
    for path in files:
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _build_cached(
    name: str, variants: tuple[str, ...] = ("fp32", "fp16", "int8"), **demo_kwargs: float
) -> Path:
    """Build (once) a demo checkpoint and its bundle of `variants`; return the cache directory."""
    target = CACHE / f"{name}-{_source_hash()}"
    with exclusive_lock(CACHE / f"{name}.lock"):
        if not all((target / "bundle" / v / "manifest.json").is_file() for v in variants):
            from export.build import build_bundle
            from export.demo import write_demo_checkpoint

            tmp = CACHE / f"{name}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            config, ckpt, vocab = write_demo_checkpoint(tmp / "checkpoint", **demo_kwargs)  # type: ignore[arg-type]
            build_bundle(
                ckpt,
                config,
                vocab,
                tmp / "bundle",
                variants=list(variants),
                model_name="bn-xtts-demo",
                model_version="demo",
            )
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
            for stale in CACHE.glob(f"{name}-*"):  # builds of older sources
                if stale != target and stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def demo_build() -> Path:
    """Directory with checkpoint/ (config, vocab, best_checkpoint.pth) and bundle/{fp32,fp16,int8}."""
    return _build_cached("demo")


@pytest.fixture(scope="session")
def demo_bundle(demo_build: Path) -> Path:
    """Root of the demo bundle: fp32/, fp16/ and int8/ inside, each a complete bundle."""
    return demo_build / "bundle"


@pytest.fixture(scope="session")
def stopping_build() -> Path:
    """A demo checkpoint whose stop token wins as soon as it is allowed: exercises the stop path.
    fp32 only: its users compare with coqui-tts and serve quick syntheses (no variant is the point)."""
    return _build_cached("stopping", ("fp32",), stop_logit_bias=30.0)


@pytest.fixture(scope="session")
def reference_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, int]:
    """A 4 s, 24 kHz PCM16 voice-like clip on disk, and the same samples as float32."""
    import soundfile as sf

    sr = 24000
    t = np.arange(int(sr * 4.0)) / sr
    rng = np.random.default_rng(1)
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sr) / k for k in range(1, 8))
    wav = 0.2 * voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.shape)
    path = tmp_path_factory.mktemp("ref") / "reference.wav"
    sf.write(path, wav.astype(np.float32), sr, subtype="PCM_16")
    samples, _ = sf.read(path, dtype="float32")
    return path, samples, sr
