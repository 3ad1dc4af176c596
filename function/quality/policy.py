"""The quality policy: thresholds and actions, read from TTS_QUALITY_* by function.config. Light
(no numerics) so configuration loads without the signal libraries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# code: what it means, for people (the message adds the measured values).
WARNING_CODES: dict[str, str] = {
    "runaway": "generation ran to its token limit without a stop token",
    "speech_rate_low": "speech is slower than the text warrants",
    "speech_rate_high": "speech is faster than the text warrants",
    "low_speaker_similarity": "the output does not sound like the voice",
    "silent": "the output holds no speech",
    "long_silence": "the output holds a long stretch of silence",
    "clipping": "samples are clipped at full scale",
}
# A new random stream can fix these; clipping comes from the voice and model, not the sampling.
RETRYABLE_WARNINGS = frozenset(WARNING_CODES) - {"clipping"}

# Per-piece token budget (the runaway guard): a piece of n spoken characters may generate at most
# BUDGET_BASE_S + runaway_factor * n / (slowest expected rate) seconds of codes.
BUDGET_BASE_S = 2.0
MIN_RATE_SPEECH_S = 0.1  # speech shorter than this has no meaningful rate
MIN_EMBED_S = 0.5  # the speaker encoder needs this much speech for a meaningful embedding
MAX_EMBED_S = 10.0  # speaker similarity is measured on at most this much speech (cost stays bounded)


@dataclass(frozen=True)
class QualityPolicy:
    """Thresholds and actions (function.config builds it from TTS_QUALITY_* and TTS_TARGET_LUFS)."""

    enabled: bool = True
    # Spoken characters per second of speech at speed 1, per language ("default" for the rest).
    speech_rates: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {"bn": (5.0, 25.0), "en": (6.0, 25.0), "default": (2.0, 30.0)}
    )
    min_speaker_similarity: float = 0.4
    max_silence_s: float = 2.0
    max_clipping_share: float = 0.001
    runaway_factor: float = 2.0  # 0: no token budget; only the model's own limit stops a runaway
    retries: int = 1
    retry_on: frozenset[str] = RETRYABLE_WARNINGS
    target_lufs: float | None = None

    def speech_rate_range(self, language: str, speed: float = 1.0) -> tuple[float, float]:
        base = language.split("-", maxsplit=1)[0]
        rates = self.speech_rates
        lo, hi = rates.get(language) or rates.get(base) or rates["default"]
        return lo * speed, hi * speed

    def token_budget(self, language: str) -> tuple[float, float] | None:
        """(seconds, seconds per spoken character) a piece may generate, or None for no budget."""
        if not self.enabled or self.runaway_factor <= 0:
            return None
        lo, _ = self.speech_rate_range(language)
        return BUDGET_BASE_S, self.runaway_factor / lo
