"""ElevenLabs' text-to-speech protocol (REST): its request body, its output formats, what its knobs
mean for this model, and character alignment, so its official SDK (and the agent frameworks built
on it) work with only their base URL changed.

What maps and what is accepted but has no effect here (docs/serving-api.md, "ElevenLabs API"):
`voice_settings.speed` is the speaking rate; `voice_settings.stability` sets the sampling temperature
(1.0 -> 0.2, 0.0 -> 1.0: a steadier voice samples more narrowly); `similarity_boost`, `style`,
`use_speaker_boost`, `previous_text`, `next_text`, `apply_text_normalization` (Bangla text is always
normalized) and `enable_logging` are accepted and ignored. `normalized_alignment` comes from the
word timestamps (forced with TTS_ALIGNER_MODEL, else estimated per piece); `alignment`, of the text as
sent, is spread by spoken weight over the speech from the first word's start to the last word's end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from function.align.timing import spread
from function.http.models import (
    LOCATORS_FIELD,
    DictionaryLocator,
    Text,
    checked_offer,
    checked_text,
    knob,
    locators,
)
from function.http.responses import CharacterAlignment
from function.service.speech import SpeechRequest
from function.voices import Owner

# codec -> the sample rates ElevenLabs offers for it, and bit rates where it has them.
_RATES = {
    "mp3": ((22050, 24000, 44100), (32, 64, 96, 128, 192)),
    "pcm": ((8000, 16000, 22050, 24000, 44100, 48000), ()),
    "ulaw": ((8000,), ()),
    "alaw": ((8000,), ()),
    "opus": ((48000,), (32, 64, 96, 128, 192)),
}
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "pcm": "audio/pcm",
    "ulaw": "audio/basic",
    "alaw": "audio/alaw",
    "opus": "audio/ogg",
}
_FORMAT = re.compile(r"(?P<codec>[a-z][a-z0-9]*?)_(?P<rate>\d+)(?:_(?P<kbps>\d+))?")
OUTPUT_FORMATS = tuple(
    f"{codec}_{rate}" + (f"_{kbps}" if kbps else "")
    for codec, (rates, rates_kbps) in _RATES.items()
    for rate in rates
    for kbps in (rates_kbps or (0,))
)
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
# optimize_streaming_latency 0 (none) .. 4 (most) -> the first streamed chunk, in audio codes.
LATENCY_CHUNKS = {0: 20, 1: 12, 2: 8, 3: 6, 4: 4}


def any_elevenlabs_model(model_id: str | None) -> bool:
    """No model_id, or one of ElevenLabs' own (an agent framework's default): this model serves it.
    Any other must be one of this service's model names."""
    return model_id is None or model_id.startswith("eleven_")


def first_chunk(latency: str | None) -> int | None:
    """`optimize_streaming_latency` (a query value) as the first streamed chunk; ValueError if bad."""
    if latency is None:
        return None
    if latency not in {str(k) for k in LATENCY_CHUNKS}:
        raise ValueError("optimize_streaming_latency must be 0, 1, 2, 3 or 4")
    return LATENCY_CHUNKS[int(latency)]


@dataclass(frozen=True)
class OutputFormat:
    codec: str  # the AudioEncoder format
    sample_rate: int
    bit_rate: int | None

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.codec]


def output_format(value: str | None) -> OutputFormat | None:
    """ElevenLabs' `codec_rate[_kbps]`, or None when it is not one this service makes."""
    m = _FORMAT.fullmatch(value or DEFAULT_OUTPUT_FORMAT)
    if m is None or m.group() not in OUTPUT_FORMATS:
        return None
    kbps = m["kbps"]
    return OutputFormat(m["codec"], int(m["rate"]), int(kbps) * 1000 if kbps else None)


class VoiceSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    stability: float | None = Field(default=None, ge=0.0, le=1.0)
    similarity_boost: float | None = Field(default=None, ge=0.0, le=1.0)
    style: float | None = Field(default=None, ge=0.0, le=1.0)
    use_speaker_boost: bool | None = None
    speed: knob("speed") = None  # type: ignore[valid-type]


def voice_params(settings: VoiceSettings | None) -> dict[str, Any]:
    """voice_settings as this model's knobs: speed is the speaking rate; stability sets the sampling
    temperature (1.0 -> 0.2, 0.0 -> 1.0); the rest have no counterpart here."""
    params: dict[str, Any] = {}
    if settings is not None and settings.speed is not None:
        params["speed"] = settings.speed
    if settings is not None and settings.stability is not None:
        params["temperature"] = round(1.0 - 0.8 * settings.stability, 4)
    return params


class ElevenLabsSpeechRequest(BaseModel):
    """The body of POST /v1/text-to-speech/{voice_id}[/stream][/with-timestamps]; fields the SDK sends
    that have no meaning here are ignored."""

    model_config = ConfigDict(extra="ignore", title="ElevenLabsSpeechRequest")
    text: Text = Field(description="Text to speak.")
    model_id: Text | None = Field(
        default=None, description="This service's model names (GET /v1/models) or any ElevenLabs model id."
    )
    language_code: Text | None = Field(default=None, description="ISO 639-1 code; default bn.")
    voice_settings: VoiceSettings | None = None
    seed: knob("seed") = None  # type: ignore[valid-type]
    pronunciation_dictionary_locators: list[DictionaryLocator] | None = LOCATORS_FIELD

    _text = field_validator("text")(checked_text)

    @field_validator("model_id")
    @classmethod
    def _model(cls, value: str | None, info: ValidationInfo) -> str | None:
        if any_elevenlabs_model(value):
            return value
        return checked_offer(value or "", info, "model")

    @field_validator("language_code")
    @classmethod
    def _language(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else checked_offer(value, info, "language")

    def job(
        self,
        voice_id: str,
        owner: Owner,
        first_chunk: int | None,
        ssml_parsing: bool = False,
        timestamps: bool = False,
    ) -> SpeechRequest:
        params = voice_params(self.voice_settings)
        if self.seed is not None:
            params["seed"] = self.seed
        if first_chunk is not None:
            params["stream_chunk_tokens"] = first_chunk
        return SpeechRequest(
            self.text,
            self.language_code or "bn",
            voice_id=voice_id,
            params=params,
            owner=owner,
            ssml=True if ssml_parsing else None,  # None: a <speak> document, or <break/> tags, all the same
            dictionaries=locators(self.pronunciation_dictionary_locators),
            timestamps=timestamps,
        )


def ssml_parsing(value: str | None) -> bool:
    """The `enable_ssml_parsing` query value; ValueError if it is not a boolean."""
    if (value or "false").lower() not in ("true", "false"):
        raise ValueError("enable_ssml_parsing must be true or false")
    return (value or "").lower() == "true"


def estimated_alignment(text: str, start_s: float, end_s: float) -> CharacterAlignment:
    """ElevenLabs' character alignment of `text` spread over [start_s, end_s] by spoken weight."""
    times = spread(text, start_s, end_s)
    return CharacterAlignment(
        characters=times.characters,
        character_start_times_seconds=times.starts,
        character_end_times_seconds=times.ends,
    )
