"""Response bodies as typed models (pydantic v2): the routes build them, and the OpenAPI document's
response schemas are generated from them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from function.quality.policy import WARNING_CODES


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(_Out):
    code: str = Field(description="Stable machine-readable name of the problem.")
    message: str = Field(description="What was wrong and how to fix it.")


class Error(_Out):
    error: ErrorDetail


class Timings(_Out):
    normalize_ms: float | None = None
    voice_ms: float | None = None
    synthesis_ms: float | None = None
    encode_ms: float | None = None
    total_ms: float | None = None


class QualityWarning(_Out):
    code: str = Field(json_schema_extra={"enum": list(WARNING_CODES)})
    message: str


class QualityReport(_Out):
    """The output's quality signals (docs/quality.md); `warnings` lists what failed after
    the automatic retries (`attempts`)."""

    speaker_similarity: float | None = Field(
        description="Cosine of the output's speaker embedding and the voice's (-1..1); null under 0.5 s."
    )
    speech_rate: float | None = Field(description="Spoken characters per second of speech.")
    speech_rate_range: list[float] = Field(description="The expected range at this speed.")
    runaway: bool = Field(description="A text piece ran to its token limit without a stop token.")
    tokens: int
    leading_silence_s: float
    trailing_silence_s: float
    long_pause_s: float
    longest_pause_s: float
    silence_share: float
    clipping_share: float
    loudness_lufs: float | None = Field(description="Integrated loudness (ITU-R BS.1770-4).")
    normalized_gain_db: float | None = Field(description="Gain applied to reach TTS_TARGET_LUFS; null: none.")
    attempts: int
    retried: bool
    retried_for: list[str]
    warnings: list[QualityWarning]
    check_ms: float


class PronunciationMatch(_Out):
    """A lexicon rule that applied to the text."""

    string_to_replace: str
    alias: str | None
    dictionary_id: str = Field(description="The dictionary's id, or TTS_LEXICON_PATH.")
    version_id: str | None


class ReadSegment(_Out):
    text: str = Field(description="Normalized text; empty: only a pause.")
    speed: float | None = Field(description="Null: the request's.")
    language: str | None = Field(description="Null: the request's.")
    pause_after_s: float


class NormalizeResult(_Out):
    normalized_text: str = Field(description="What the model reads.")
    segments: list[ReadSegment] = Field(
        description="SSML's pieces with their speeds and breaks; one for plain text."
    )
    pronunciation: list[PronunciationMatch] = Field(description="The pronunciation rules that applied.")


class SynthesisResult(_Out):
    audio: str = Field(description="WAV bytes, base64.", json_schema_extra={"contentEncoding": "base64"})
    format: Literal["wav"]
    sample_rate: int
    duration_s: float
    normalized_text: str
    real_time_factor: float | None = None
    timings: Timings
    quality: QualityReport | None = Field(description="Null when TTS_QUALITY_CHECKS is off.")
    pronunciation: list[PronunciationMatch] = Field(
        default_factory=list, description="The pronunciation rules that applied, once each, in order."
    )
    timestamps: Timestamps | None = Field(default=None, description="When the request asked for them.")


class Voice(_Out):
    voice_id: str
    name: str | None = None
    created_at: float = Field(description="Unix time.")
    reference_seconds: float
    model: str
    owner: str | None = Field(
        default=None, description="The owning key's id (key_ + 32 hex; `local` without keys)."
    )
    pronunciation_dictionary_locators: list[dict[str, str | None]] = Field(
        default_factory=list,
        description="Default pronunciation dictionaries: {pronunciation_dictionary_id, version_id}.",
    )


class VoiceList(_Out):
    voices: list[Voice]


class ModelCard(_Out):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Out):
    object: Literal["list"]
    data: list[ModelCard]


class ModelName(_Out):
    name: str
    version: str


class Health(_Out):
    """Ready. Without a key (when the service has keys) only `status`; with one, the details."""

    status: Literal["ok"]
    model: ModelName | None = None
    variant: Literal["fp32", "fp16", "int8"] | None = None
    provider: str | None = None
    sample_rate: int | None = None
    languages: list[str] | None = None
    uptime_s: float | None = None
    in_flight: int | None = None
    queued: int | None = None
    decode_batch: dict[str, Any] | None = Field(default=None, description="The batching decoder's figures.")
    prefix_cache: dict[str, Any] | None = Field(default=None, description="The voice prefix cache's figures.")
    live: dict[str, int] | None = Field(
        default=None, description="Open voice-agent WebSockets (`sockets`) and their contexts, this process."
    )


class Loading(_Out):
    """Not ready: still loading, or failed (the process is ending; a new instance takes over)."""

    status: Literal["loading", "failed"]
    uptime_s: float | None = None
    reason: str | None = Field(default=None, description="Why it failed (with a key, when keys are set).")


class CharacterAlignment(_Out):
    """Per character of the text, when it is spoken (seconds from the audio's start; estimated)."""

    characters: list[str]
    character_start_times_seconds: list[float]
    character_end_times_seconds: list[float]


class WordSpan(_Out):
    word: str = Field(description="A word of `normalized_text` (or of `text`, in `input_words`).")
    start: float = Field(description="Seconds from the audio's start.")
    end: float


class Timestamps(_Out):
    alignment: Literal["forced", "estimated", "partly_forced"] = Field(
        description="`forced`: placed by the server's CTC aligner (TTS_ALIGNER_MODEL); `estimated`: "
        "spread over each piece's speech by spoken characters; `partly_forced`: some pieces each way."
    )
    words: list[WordSpan]
    characters: CharacterAlignment = Field(description="The words' characters, joined by single spaces.")
    input_words: list[WordSpan] | None = Field(
        default=None,
        description="The words of `text` as sent (whitespace-separated), each spanning the words it was "
        "read as (১২৩ spans একশো তেইশ); a word read as nothing has an empty span. Null for SSML.",
    )


class AudioWithTimestamps(_Out):
    """ElevenLabs' with-timestamps body, and each line of its streamed form (alignments on the last)."""

    audio_base64: str = Field(json_schema_extra={"contentEncoding": "base64"})
    alignment: CharacterAlignment | None
    normalized_alignment: CharacterAlignment | None


class ElevenLabsVoice(_Out):
    voice_id: str
    name: str
    category: str = Field(description="Always `cloned`: every voice here is made from a reference clip.")


class ElevenLabsVoiceList(_Out):
    voices: list[ElevenLabsVoice]


# ---- pronunciation dictionaries, in ElevenLabs' shapes -----------------------------------------------
class DictionaryRule(_Out):
    string_to_replace: str
    type: Literal["alias"]
    alias: str
    case_sensitive: bool | None = None


class DictionaryCreated(_Out):
    id: str
    name: str
    created_by: str = Field(description="The owner id.")
    creation_time_unix: int
    version_id: str
    version_rules_num: int
    description: str | None = None
    permission_on_resource: str = "admin"


class DictionaryRulesChanged(_Out):
    id: str
    version_id: str
    version_rules_num: int


class DictionaryMetadata(_Out):
    id: str
    latest_version_id: str
    latest_version_rules_num: int
    name: str
    created_by: str
    creation_time_unix: int
    archived_time_unix: int | None = None
    description: str | None = None
    permission_on_resource: str = "admin"


class DictionaryWithRules(DictionaryMetadata):
    rules: list[DictionaryRule]


class DictionaryList(_Out):
    pronunciation_dictionaries: list[DictionaryMetadata]
    next_cursor: str | None = None
    has_more: bool = False


RESPONSES: tuple[type[BaseModel], ...] = (
    NormalizeResult,
    DictionaryCreated,
    DictionaryRulesChanged,
    DictionaryWithRules,
    DictionaryList,
    ElevenLabsVoiceList,
    AudioWithTimestamps,
    Error,
    SynthesisResult,
    Voice,
    VoiceList,
    ModelList,
    Health,
    Loading,
)
