"""`python -m export verify BUNDLE`: checksums, every graph loads, one short synthesis per variant,
and each reduced-precision variant's parity against the bundle's fp32 on this CPU."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from function.bundle_format import MANIFEST
from function.engine import Engine, EngineError, SynthesisParams


def variant_dirs(path: Path) -> list[Path]:
    """The bundle itself if it holds a manifest, else each variant directory inside it."""
    if (path / MANIFEST).is_file():
        return [path]
    found = sorted(p.parent for p in path.glob(f"*/{MANIFEST}"))
    if not found:
        raise EngineError(f"no {MANIFEST} in {path} or its subdirectories: not a bundle")
    return found


def synthetic_reference(sample_rate: int = 24000, seconds: float = 3.0) -> np.ndarray:
    """A voiced, speech-like test signal (harmonics of a gliding pitch, syllable-rate envelope)."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (0.2 * voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def verify(path: Path, *, parity_tokens: int = 100) -> int:
    from export.parity import compare
    from function.engine.cpu import describe

    failed = 0
    dirs = variant_dirs(path)
    fp32 = next((d for d in dirs if d.name == "fp32"), None)
    reference: Engine | None = None  # loaded once, for every variant compared with it
    for bundle in dirs:
        t0 = time.perf_counter()
        try:
            engine = Engine.load(bundle)
            voice = engine.make_voice(synthetic_reference(), 24000)
            lang = "bn" if "bn" in engine.languages else engine.languages[0]
            text = "আমি বাংলায় কথা বলি।" if lang == "bn" else "hello"
            wav = engine.synthesize(
                text, voice, SynthesisParams(language=lang, greedy=True, max_new_tokens=20)
            )
            if wav.size == 0 or not np.isfinite(wav).all():
                raise EngineError("synthesis produced no finite audio")
        except EngineError as exc:
            failed += 1
            print(f"[verify] FAIL {bundle}: {exc}")
            continue
        print(
            f"[verify] ok   {bundle}: variant {engine.manifest['variant']}, "
            f"{len(engine.manifest['files'])} files verified, provider {engine.provider}, "
            f"{wav.size / engine.sample_rate:.2f} s of audio in {time.perf_counter() - t0:.1f} s"
        )
        if fp32 is not None and bundle != fp32 and engine.manifest["variant"] != "fp32":
            # On the building host's CPU (docs/model-bundle.md#int8-formats: the formats hold on
            # AVX2-only CPUs too).
            reference = reference or Engine.load(fp32, verify=False)
            parity = compare(reference, engine, tokens=parity_tokens)
            variant = engine.manifest["variant"]
            print(f"[verify]      {variant} vs fp32 on this CPU ({describe()}): {parity.summary()}")
    return 1 if failed else 0
