"""What a synthesis may be asked for: the settings and the range of each knob a request may set.

A leaf module (no imports from function/): the engine checks against it, and the settings, the
request validators and the OpenAPI document are built from it without loading the engine."""

from __future__ import annotations

from dataclasses import dataclass

# Sampling parameters a request (or TTS_CONFIG_PATH's "defaults") may set: (type, minimum, maximum).
# The request validators, the OpenAPI document and the engine's own checks are built from this table.
SAMPLING_RANGES: dict[str, tuple[type, float, float]] = {
    "temperature": (float, 0.01, 2.0),
    "top_k": (int, 1, 1024),
    "top_p": (float, 0.01, 1.0),
    "repetition_penalty": (float, 1.0, 20.0),
    "length_penalty": (float, 0.0, 10.0),
    "speed": (float, 0.25, 4.0),
    "seed": (int, 0, 2**32 - 1),
    # Not sampling: streams only, the audio codes (~46 ms of speech each) before the first chunk.
    "stream_chunk_tokens": (int, 1, 80),
}
# The first streamed chunk's size when a request does not say (TTS_STREAM_CHUNK_TOKENS): chosen by
# measurement of time to first audio against the streaming total (docs/serving.md, "Time to first
# audio"); the chunks join into the whole waveform whatever their size: no audible cost.
STREAM_CHUNK_TOKENS = 8


@dataclass(frozen=True)
class SynthesisParams:
    """Synthesis settings; a sampling knob left None takes the checkpoint config's default."""

    language: str = "bn"
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    length_penalty: float | None = None  # beam search only in coqui-tts, so no effect with one beam
    speed: float = 1.0
    seed: int | None = None
    greedy: bool = False
    stream_chunk_tokens: int = STREAM_CHUNK_TOKENS  # tokens before the first streamed chunk; later ones grow
    max_new_tokens: int | None = None  # cap below the model's own limit
    # The runaway guard: a piece of n spoken characters may generate at most (seconds + n *
    # seconds_per_char) seconds of audio codes; None: only the model's limit (and max_new_tokens).
    token_budget: tuple[float, float] | None = None
    min_new_tokens: int = 0  # ban the stop token before this many tokens (benchmarks force lengths)
