"""The quality checks' cost next to synthesis (issue target: under 5% of synthesis time on CPU).

The full-size XTTS v2 architecture with random weights (the engine bench's cached bundle), fp32 and
int8, through the service itself (`SpeechService.synthesize`, the path every request and batch item
takes) with the checks on and TTS_TARGET_LUFS set (the most work: every signal, the speaker
encoder on up to 10 s of the output, and a loudness pass for the gain). Each item is forced to a
token count (random weights never choose the stop token), so no retry runs: the figure is the
checks alone. Overhead = the checks' own time / the synthesis time without them, per item.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.machine import write_result

VARIANTS = ("int8", "fp32")
THREADS = 2
ITEMS = (  # (text, forced audio tokens): ~2.8 s, ~7 s and ~14 s of audio
    ("আজ সকালে বৃষ্টি হয়েছে।", 60),
    ("আজ সকালে ঢাকায় হালকা বৃষ্টি হয়েছে, বিকেলে আকাশ পরিষ্কার থাকবে।", 150),
    ("একুশে ফেব্রুয়ারি আন্তর্জাতিক মাতৃভাষা দিবস হিসেবে সারা বিশ্বে পালিত হয়, সেদিন সবাই শহীদ মিনারে যায়।", 300),
)


def served(build: Path, variant: str, **env: str) -> tuple[Any, Any, Any]:
    """The full-size bench bundle through the service (one slot), `env` over the bench's settings:
    the service, its loaded model and a voice from the bench's reference clip."""
    from bench.bench_engine import reference_wav
    from function.config import load_settings
    from function.service.limiter import ConcurrencyLimiter
    from function.service.model import load_model
    from function.service.speech import SpeechService

    settings = load_settings(
        {
            "TTS_MODEL_PATH": str(build / "bundle"),
            "TTS_MODEL_VARIANT": variant,
            "TTS_CACHE_DIR": str(build / "quality-cache"),
            "TTS_INTRA_OP_THREADS": str(THREADS),
            "TTS_LOG_LEVEL": "WARNING",
            **env,
        }
    )
    loaded = load_model(settings)
    ref = build / "quality-reference.wav"
    reference_wav(ref)
    service = SpeechService(_Ready(loaded), ConcurrencyLimiter(1, 0, 1.0), settings.quality)
    return service, loaded, service.voice_from_clip(ref.read_bytes())


def run_variant(build: Path, variant: str) -> dict[str, Any]:
    from function.service.speech import SpeechRequest

    service, loaded, voice = served(build, variant, TTS_TARGET_LUFS="-16")
    rows = []
    try:
        for text, tokens in ITEMS:
            loaded.defaults.update(min_new_tokens=tokens, max_new_tokens=tokens, seed=1)
            service.synthesize(SpeechRequest(text, "bn", voice=voice))  # warm-up for this length
            speech = service.synthesize(SpeechRequest(text, "bn", voice=voice))
            assert speech.quality is not None and speech.quality.attempts == 1
            check = speech.quality.check_ms
            synth = speech.synthesis_ms - check
            rows.append(
                {
                    "tokens": tokens,
                    "audio_s": round(speech.seconds, 3),
                    "synthesis_ms": round(synth, 1),
                    "check_ms": round(check, 1),
                    "overhead_pct": round(100 * check / synth, 2),
                }
            )
    finally:
        loaded.scheduler.stop()
    return {"variant": variant, "items": rows}


class _Ready:
    def __init__(self, loaded: Any) -> None:
        self.loaded = loaded


def main() -> None:
    import subprocess
    import sys

    from bench.bench_engine import ROOT, prepare

    subprocess.run([sys.executable, "-m", "bench.bench_engine", "prepare"], check=True, cwd=ROOT)
    build = prepare()
    runs = [run_variant(build, v) for v in VARIANTS]
    print(f"\n{'variant':>7} {'tokens':>6} {'audio s':>7} {'synth ms':>9} {'checks ms':>9} {'overhead':>8}")
    for run in runs:
        for r in run["items"]:
            print(
                f"{run['variant']:>7} {r['tokens']:>6} {r['audio_s']:7.2f} {r['synthesis_ms']:9.0f} "
                f"{r['check_ms']:9.1f} {r['overhead_pct']:7.2f}%"
            )
    ratios = {
        f"checks_over_synthesis_{run['variant']}_median": round(
            statistics.median(r["overhead_pct"] for r in run["items"]) / 100, 4
        )
        for run in runs
    }
    print("\nratios: " + ", ".join(f"{k} {v:.4f}" for k, v in ratios.items()))
    path = write_result("quality", {"threads": THREADS, "runs": runs, "ratios": ratios})
    print(f"written {path}")


if __name__ == "__main__":
    main()
