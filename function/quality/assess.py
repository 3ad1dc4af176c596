"""Turning signals into a verdict: the thresholds (one policy, from TTS_QUALITY_*), the warnings,
and the record that goes into responses, result files and log lines (never the text)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from function.quality.policy import MIN_RATE_SPEECH_S, QualityPolicy
from function.quality.signals import Silence, clipping_share, loudness_lufs, silence, speech_span
from function.text import spoken_chars


@dataclass(frozen=True)
class PieceOutcome:
    """How one text piece's generation ended."""

    tokens: int
    limit: int
    stopped: bool  # ended on the stop token (not at its limit)


@dataclass(frozen=True)
class QualityWarning:
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Quality:
    speaker_similarity: float | None
    speech_rate: float | None  # spoken characters per second of speech (long pauses excluded)
    speech_rate_range: tuple[float, float]
    runaway: bool
    tokens: int
    silence: Silence
    clipping_share: float
    loudness_lufs: float | None
    warnings: tuple[QualityWarning, ...]
    attempts: int = 1
    retried_for: tuple[str, ...] = ()  # the warnings that caused a retry
    gain_db: float | None = None  # loudness normalization applied (TTS_TARGET_LUFS)
    check_ms: float = 0.0

    @property
    def codes(self) -> list[str]:
        return [w.code for w in self.warnings]

    def retry_reasons(self, policy: QualityPolicy) -> list[str]:
        return [c for c in self.codes if c in policy.retry_on]

    def to_json(self) -> dict[str, Any]:
        s = self.silence
        return {
            "speaker_similarity": _r(self.speaker_similarity, 4),
            "speech_rate": _r(self.speech_rate, 2),
            "speech_rate_range": [round(x, 2) for x in self.speech_rate_range],
            "runaway": self.runaway,
            "tokens": self.tokens,
            "leading_silence_s": round(s.leading_s, 3),
            "trailing_silence_s": round(s.trailing_s, 3),
            "long_pause_s": round(s.long_pause_s, 3),
            "longest_pause_s": round(s.longest_pause_s, 3),
            "silence_share": round(s.share, 4),
            "clipping_share": round(self.clipping_share, 6),
            "loudness_lufs": _r(self.loudness_lufs, 2),
            "normalized_gain_db": _r(self.gain_db, 2),
            "attempts": self.attempts,
            "retried": self.attempts > 1,
            "retried_for": list(self.retried_for),
            "warnings": [w.to_json() for w in self.warnings],
            "check_ms": round(self.check_ms, 1),
        }

    def log_fields(self) -> dict[str, Any]:
        """Flat fields for a JSON log line: the log-based metrics extract these (infra/monitoring/)."""
        return {
            "speaker_similarity": _r(self.speaker_similarity, 4),
            "speech_rate": _r(self.speech_rate, 2),
            "runaway": self.runaway,
            "silence_share": round(self.silence.share, 4),
            "clipping_share": round(self.clipping_share, 6),
            "loudness_lufs": _r(self.loudness_lufs, 2),
            "quality_warnings": self.codes,
            "quality_warned": bool(self.warnings),
            "quality_attempts": self.attempts,
            "quality_ms": round(self.check_ms, 1),
        }


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def assess(
    audio: npt.NDArray[np.float32],
    sample_rate: int,
    *,
    text: str,
    language: str,
    policy: QualityPolicy,
    speed: float = 1.0,
    pieces: Sequence[PieceOutcome] = (),
    similarity: Callable[[npt.NDArray[np.float32]], float] | None = None,
    length_fixed: bool = False,
) -> Quality:
    """Every signal of one output and the warnings the policy draws from them. `text` is what the
    engine spoke (normalized); `similarity` scores the speech (`speech_span`) against the voice;
    `length_fixed`: the caller fixed the token count, so reaching the limit is what was asked for,
    not a runaway."""
    sil = silence(audio, sample_rate)
    span = speech_span(audio, sample_rate, sil)
    speaker_similarity = similarity(span) if similarity is not None and span is not None else None
    clip = clipping_share(audio)
    lufs = loudness_lufs(audio, sample_rate)
    chars = spoken_chars(text)
    # Rate of speaking: long pauses are not speech (and are judged on their own).
    spoken_s = sil.speech_s - sil.long_pause_s
    rate = chars / spoken_s if spoken_s >= MIN_RATE_SPEECH_S else None
    lo, hi = policy.speech_rate_range(language, speed)
    runaway = not length_fixed and any(not p.stopped for p in pieces)

    warnings: list[QualityWarning] = []
    if runaway:
        hit = [p for p in pieces if not p.stopped]
        warnings.append(
            QualityWarning(
                "runaway",
                f"{len(hit)} of {len(pieces)} text piece(s) ran to the token limit "
                f"({', '.join(str(p.limit) for p in hit)} tokens) without a stop token",
            )
        )
    if sil.speech_s < MIN_RATE_SPEECH_S:
        warnings.append(
            QualityWarning("silent", "the output holds no speech: every frame is below the silence level")
        )
    elif rate is not None and not length_fixed:
        if rate < lo:
            warnings.append(
                QualityWarning(
                    "speech_rate_low",
                    f"{rate:.1f} characters/s of speech, below the expected {lo:g}-{hi:g} for {language}",
                )
            )
        elif rate > hi:
            warnings.append(
                QualityWarning(
                    "speech_rate_high",
                    f"{rate:.1f} characters/s of speech, above the expected {lo:g}-{hi:g} for {language}",
                )
            )
    if speaker_similarity is not None and speaker_similarity < policy.min_speaker_similarity:
        warnings.append(
            QualityWarning(
                "low_speaker_similarity",
                f"speaker similarity {speaker_similarity:.2f} is below {policy.min_speaker_similarity:g}",
            )
        )
    gaps = {"leading": sil.leading_s, "trailing": sil.trailing_s, "internal": sil.longest_pause_s}
    long_gaps = [f"{where} {s:.1f} s" for where, s in gaps.items() if s >= policy.max_silence_s]
    if long_gaps and sil.speech_s >= MIN_RATE_SPEECH_S:
        warnings.append(
            QualityWarning(
                "long_silence", f"silence of {', '.join(long_gaps)} (limit {policy.max_silence_s:g} s)"
            )
        )
    if clip > policy.max_clipping_share:
        warnings.append(
            QualityWarning(
                "clipping", f"{clip:.2%} of samples are at full scale (limit {policy.max_clipping_share:.2%})"
            )
        )
    return Quality(
        speaker_similarity=speaker_similarity,
        speech_rate=rate,
        speech_rate_range=(lo, hi),
        runaway=runaway,
        tokens=sum(p.tokens for p in pieces),
        silence=sil,
        clipping_share=clip,
        loudness_lufs=lufs,
        warnings=tuple(warnings),
    )
