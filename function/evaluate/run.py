"""Synthesize the evaluation set with each target in turn and score every output.

Synthesis goes through the speech service itself, so an output is what serving would send: the same
text normalization, token budget (the runaway guard) and quality signals. Quality retries are off
(the first attempt is what is measured), and every synthesis uses the same seed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from function.batch.progress import Progress
from function.engine import Engine, EngineError, Voice
from function.engine.scheduler import Scheduler
from function.evaluate.accent import Clip, Embed, accent_distance, centroid
from function.evaluate.cer import character_error_rate
from function.evaluate.evalset import EvalItem
from function.evaluate.recognizer import CtcRecognizer
from function.evaluate.targets import Target
from function.quality.policy import QualityPolicy
from function.service.errors import ServiceError
from function.service.limiter import ConcurrencyLimiter
from function.service.model import Loaded, voice_store, voices_location
from function.service.speech import Speech, SpeechRequest, SpeechService
from function.storage import StorageError

# The quality signals' silence, loudness and similarity measures always run; the warning thresholds
# are serving's defaults (function/quality/policy.py).
EVAL_POLICY = QualityPolicy(retries=0)
# Signals copied from the service's quality record (function.quality.assess.Quality.to_json).
_QUALITY_FIELDS = (
    "speaker_similarity",
    "speech_rate",
    "leading_silence_s",
    "trailing_silence_s",
    "long_pause_s",
    "longest_pause_s",
    "silence_share",
    "clipping_share",
    "loudness_lufs",
    "runaway",
    "tokens",
)


class EvalError(ValueError):
    """An input the evaluation cannot use (bundle, voice, item); the message names it."""


@dataclass(frozen=True)
class Options:
    seed: int = 0
    threads: int = 0  # onnxruntime intra-op threads; 0: every core
    use_gpu: bool = False
    voices: str | None = None  # where stored voices live (a TTS_VOICES_PATH): for rows naming an id
    audio_dir: Path | None = None  # keep every output here (<bundle>/<variant>/<id>.wav)
    accent_refs: Sequence[Clip] = ()  # reference clips in the target accent; empty: no accent distance
    embedder: Embed | None = None  # None: each target's own speaker encoder
    recognizer: CtcRecognizer | None = None  # None: no CER
    policy: QualityPolicy = EVAL_POLICY


@dataclass(frozen=True)
class _Ready:
    loaded: Loaded


def evaluate(
    items: Sequence[EvalItem], targets: Sequence[Target], options: Options, progress: Progress
) -> list[dict[str, Any]]:
    """One row per item and target, targets in order (one engine in memory at a time)."""
    named = next((i for i in items if i.clip is None), None)
    if named is not None and options.voices is None:
        raise EvalError(
            f"evaluation set line {named.line} names voice {named.voice!r}: pass --voices LOCATION "
            "(the TTS_VOICES_PATH it was saved under), or give a reference clip instead"
        )
    # A user-supplied embedding model has one centroid; a speaker encoder, one per target.
    shared = (
        centroid(options.embedder, options.accent_refs) if options.embedder and options.accent_refs else None
    )
    progress.start(len(items) * len(targets))
    rows: list[dict[str, Any]] = []
    for target in targets:
        rows += _evaluate_target(items, target, options, shared, progress)
    progress.finish()
    return rows


def _evaluate_target(
    items: Sequence[EvalItem],
    target: Target,
    options: Options,
    shared: npt.NDArray[np.float64] | None,
    progress: Progress,
) -> list[dict[str, Any]]:
    try:
        engine = Engine.load(target.path, use_gpu=options.use_gpu, intra_op_threads=options.threads)
    except (EngineError, OSError, ValueError) as exc:
        raise EvalError(f"{target.label} cannot be loaded: {exc}") from None
    unsupported = next((i for i in items if i.language not in engine.languages), None)
    if unsupported is not None:
        raise EvalError(
            f"evaluation set line {unsupported.line}: {target.label} does not speak "
            f"{unsupported.language!r} (it speaks {', '.join(engine.languages)})"
        )
    embed: Embed = options.embedder or engine.embed_speaker
    center = shared if shared is not None or not options.accent_refs else centroid(embed, options.accent_refs)
    rows = []
    with _service(engine, options) as service:
        clones: dict[Path, Voice] = {}
        for item in items:
            speech = _synthesize(service, item, clones, options.seed)
            row = _score(item, target, speech, options, embed, center)
            rows.append(row)
            progress.advance("warned" if row["warnings"] else "ok", speech.seconds)
    return rows


@contextmanager
def _service(engine: Engine, options: Options) -> Iterator[SpeechService]:
    """The speech service over one engine, with its decode scheduler (stopped on the way out)."""
    with tempfile.TemporaryDirectory(prefix="evaluate-voices-") as empty:
        # Without --voices no row names a voice id (refused above), so the empty store is never read.
        location = voices_location(options.voices, engine.manifest) if options.voices else empty
        voices = voice_store(location, engine.model_id, 64)
        scheduler = Scheduler(engine.decoder, 1)
        loaded = Loaded(engine, voices, scheduler, engine.manifest, engine.languages)
        try:
            yield SpeechService(_Ready(loaded), ConcurrencyLimiter(1, 1, 3600.0), options.policy)
        finally:
            scheduler.stop()


def _synthesize(service: SpeechService, item: EvalItem, clones: dict[Path, Voice], seed: int) -> Speech:
    try:
        voice = None
        if item.clip is not None:
            if item.clip not in clones:
                clones[item.clip] = service.voice_from_clip(item.clip.read_bytes())
            voice = clones[item.clip]
        return service.synthesize(
            SpeechRequest(
                item.text,
                item.language,
                voice_id=item.voice if item.clip is None else None,
                voice=voice,
                params={"seed": seed},
            )
        )
    except ServiceError as exc:
        raise EvalError(f"evaluation set line {item.line} ({item.voice}): {exc.message}") from None
    except (OSError, StorageError) as exc:
        raise EvalError(f"evaluation set line {item.line} ({item.voice}): {exc}") from None


def _score(
    item: EvalItem,
    target: Target,
    speech: Speech,
    options: Options,
    embed: Embed,
    center: npt.NDArray[np.float64] | None,
) -> dict[str, Any]:
    audio, rate = speech.audio, speech.sample_rate
    quality = speech.quality
    assert quality is not None  # EVAL_POLICY is enabled
    signals = quality.to_json()
    synthesis_s = (speech.synthesis_ms - quality.check_ms) / 1000
    reference = item.transcript or speech.prepared.text
    hypothesis = options.recognizer.transcribe(audio, rate) if options.recognizer else None
    cer = None if hypothesis is None else character_error_rate(reference, hypothesis)
    accent = None if center is None else accent_distance(embed, audio, rate, center)
    kept = None
    if options.audio_dir is not None:
        path = options.audio_dir / target.bundle / target.variant / f"{item.id}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio, rate, subtype="FLOAT")  # float: the very samples that were scored
        kept = path.relative_to(options.audio_dir.parent).as_posix()
    return {
        "id": item.id,
        "bundle": target.bundle,
        "variant": target.variant,
        "voice": item.voice,
        "language": item.language,
        **{k: signals[k] for k in _QUALITY_FIELDS},
        "accent_distance": None if accent is None else round(accent, 6),
        "cer": None if cer is None else round(cer, 6),
        "seconds": round(speech.seconds, 3),
        "synthesis_s": round(synthesis_s, 3),
        "rtf": round(synthesis_s / speech.seconds, 4) if speech.seconds > 0 else None,
        "warnings": quality.codes,
        "text": item.text,
        "reference": reference if options.recognizer else None,
        "hypothesis": hypothesis,
        "audio": kept,
    }
