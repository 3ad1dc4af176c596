"""Request and response bodies as typed models (pydantic v2). Request models are the one source of
the validation of types, ranges and known fields; every body schema in the OpenAPI document is
generated from these models (`model_json_schema`).

What depends on this deployment (the text limit, the bundle's languages) or spans fields (exactly
one voice source) is checked after, in function.http.requests. A validation failure becomes our
error body: the first problem in the order a person fixes a request (unknown fields, the text, the
language, the voice, the format, then the knobs), with the codes and messages the API has always
used (the knobs' through function.validation, as the batch job reports them).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, ValidationError, create_model

from function.audio import FORMATS
from function.http.errors import ApiError
from function.quality.policy import WARNING_CODES
from function.synthesis_params import SAMPLING_RANGES
from function.validation import ParamError, check_sampling, shown

DESCRIPTIONS = {
    "temperature": "Sampling temperature: lower is steadier, higher more varied.",
    "top_k": "Sample only from the k most likely audio tokens.",
    "top_p": "Nucleus sampling: the smallest token set with this total probability.",
    "repetition_penalty": "Penalty on repeated audio tokens (XTTS default 10).",
    "length_penalty": "Length penalty (only affects beam search; kept for parity).",
    "speed": "Speaking rate: 1.0 is natural, 2.0 twice as fast.",
    "seed": "Random seed: the same seed, text and voice give the same audio.",
}
SYNTH_FORMATS = ("wav", "json")
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")  # what OpenAI's clients and examples send
STREAM_FORMATS = ("audio", "sse")
CLIP = (
    "Base64 of a WAV, FLAC, OGG (Vorbis/Opus) or MP3 file: 2 to 30 s of clear speech (standard or "
    "URL-safe alphabet; line breaks and a data: URL prefix are accepted)."
)
Text = Annotated[str, Strict()]


def knob(name: str) -> Any:
    """A sampling parameter's type: strict (no strings, no booleans, no NaN), ranged, optional."""
    kind, lo, hi = SAMPLING_RANGES[name]
    doc = f"{DESCRIPTIONS[name]} Range {lo:g} to {hi:g}; omitted or null: the model's default."
    if kind is int:
        return Annotated[int | None, Strict(), Field(ge=int(lo), le=int(hi), description=doc)]
    return Annotated[float | None, Strict(), AllowInfNan(False), Field(ge=lo, le=hi, description=doc)]


class _SynthesisFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = Field(
        description="Text to speak (Bangla text is normalized first: numbers, dates, symbols)."
    )
    language: Text = Field(default="bn", description="Language code of the text.")
    speaker_wav: Text | None = Field(default=None, description=CLIP)
    voice_id: Text | None = Field(default=None, description="A voice id from POST /voices.")
    response_format: Literal["wav", "json"] = Field(
        default="wav",
        description="`wav`: an audio/wav body. `json`: base64 audio with timings. "
        "The stream endpoint accepts only `wav`.",
    )


# The knobs come from SAMPLING_RANGES, the table TTS_CONFIG_PATH's defaults are checked against.
SynthesisBody: type[_SynthesisFields] = create_model(  # type: ignore[call-overload]
    "SynthesisRequest",
    __base__=_SynthesisFields,
    __doc__="Send exactly one of `speaker_wav` or `voice_id`.",
    **{name: (knob(name), None) for name in SAMPLING_RANGES},
)


class SpeechBody(BaseModel):
    """The OpenAI /v1/audio/speech body; unknown fields are ignored (OpenAI clients send extras)."""

    model_config = ConfigDict(extra="ignore", title="SpeechRequest")
    model: Text = Field(description="tts-1, tts-1-hd, gpt-4o-mini-tts or the bundle's name (GET /v1/models).")
    input: Text = Field(description="Text to speak.")
    voice: Text = Field(
        min_length=1, description="A voice id or name from POST /voices, or a TTS_VOICE_ALIASES alias."
    )
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: knob("speed") = None  # type: ignore[valid-type]
    seed: knob("seed") = None  # type: ignore[valid-type]  # not OpenAI's: for reproducible audio
    language: Text = Field(default="bn", description="Language code of the text.")
    stream_format: Literal["audio", "sse"] = Field(
        default="audio",
        description="audio: the audio bytes, streamed as generated; sse: text/event-stream of "
        "speech.audio.delta events (base64 audio) and a final speech.audio.done with usage.",
    )
    instructions: Text | None = Field(
        default=None,
        description="Accepted for OpenAI compatibility and ignored: the cloned voice sets the style.",
    )


assert set(SpeechBody.model_fields["response_format"].annotation.__args__) == set(FORMATS)  # type: ignore[union-attr]


class VoiceCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", title="VoiceCreate")
    speaker_wav: Text | None = Field(default=None, description=CLIP)
    audio: Text | None = Field(default=None, description="The first name of `speaker_wav`.", deprecated=True)
    # Checked by the route (length, control characters) so its message says what a name may hold.
    name: Any = Field(default=None, json_schema_extra={"type": ["string", "null"], "maxLength": 100})


# ---- a validation failure as our error ------------------------------------------------------------
def validate(model: type[BaseModel], body: dict[str, Any], **context: Any) -> Any:
    """The body as `model`, or the ApiError for its first problem."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _first_problem(model, exc, context) from None


def _first_problem(model: type[BaseModel], exc: ValidationError, context: dict[str, Any]) -> ApiError:
    errors = exc.errors(include_url=False)
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        names = ", ".join(shown(k) for k in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        accepted = ", ".join(sorted(model.model_fields))
        return ApiError(400, "unknown_field", f"unknown field(s) {names}; accepted fields: {accepted}")
    order = list(model.model_fields)  # declared in the order a person fixes a request
    first = min(errors, key=lambda e: order.index(str(e["loc"][0])) if e["loc"] else len(order))
    field = str(first["loc"][0]) if first["loc"] else ""
    return problem(field, first["type"], first.get("input"), **context)


def problem(field: str, kind: str, value: Any, **context: Any) -> ApiError:
    """The 400 for a bad value of `field`: the API's code and a message that says how to fix it.
    `context` holds what the accepted values depend on (languages, models, formats)."""
    return ApiError(400, *_message(field, kind, value, context))


def _message(field: str, kind: str, value: Any, context: dict[str, Any]) -> tuple[str, str]:
    if field in SAMPLING_RANGES:
        try:
            check_sampling(field, value)
        except ParamError as exc:
            return exc.code, str(exc)
    if field in ("text", "input"):
        if kind == "missing" or value is None:
            return "missing_text", f"'{field}' is required: the Bangla (or other supported) text to speak"
        return "invalid_text", f"'{field}' must be a string"
    if field == "language":
        langs = ", ".join(context.get("languages", ()))
        return (
            "unsupported_language",
            f"language {shown(value)} is not supported by this model; use one of: {langs}",
        )
    if field in ("speaker_wav", "audio"):
        return "invalid_base64", f"'{field}' must be a non-empty base64 string of a WAV/FLAC/OGG/MP3 file"
    if field == "voice_id":
        return "invalid_speaker", "'voice_id' must be a string returned by POST /voices"
    if field == "voice":
        return (
            "invalid_speaker",
            "'voice' must be a voice id or name from POST /voices, or a TTS_VOICE_ALIASES alias",
        )
    if field == "model":
        models = ", ".join(context.get("models", ()))
        return "invalid_model", f"'model' must be one of: {models} (see GET /v1/models)"
    if field == "response_format":
        formats = ", ".join(context.get("formats", ()))
        return "invalid_response_format", f"'response_format' must be one of: {formats}"
    if field == "stream_format":
        return "invalid_stream_format", f"'stream_format' must be one of: {', '.join(STREAM_FORMATS)}"
    if field == "instructions":
        return "invalid_instructions", "'instructions' must be a string (it is accepted and ignored)"
    return "invalid_request", f"'{field}' is invalid"


# ---- response bodies: their schemas in the OpenAPI document ------------------------------------------
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
    """The output's quality signals (README "Quality signals"); `warnings` lists what failed after
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


class SynthesisResult(_Out):
    audio: str = Field(description="WAV bytes, base64.", json_schema_extra={"contentEncoding": "base64"})
    format: Literal["wav"]
    sample_rate: int
    duration_s: float
    normalized_text: str
    real_time_factor: float | None = None
    timings: Timings
    quality: QualityReport | None = Field(description="Null when TTS_QUALITY_CHECKS is off.")


class Voice(_Out):
    voice_id: str
    name: str | None = None
    created_at: float = Field(description="Unix time.")
    reference_seconds: float
    model: str
    owner: str | None = Field(
        default=None, description="The owning key's id (key_ + 32 hex; `local` without keys)."
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


class Loading(_Out):
    status: Literal["loading", "failed"]
    uptime_s: float | None = None


RESPONSES: tuple[type[BaseModel], ...] = (
    Error,
    SynthesisResult,
    Voice,
    VoiceList,
    ModelList,
    Health,
    Loading,
)
