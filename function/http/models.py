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

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from function.audio import FORMATS
from function.http.errors import ApiError
from function.http.requests import decode_base64_audio
from function.service.pronunciation import Locator
from function.service.speech import SpeechRequest
from function.synthesis_params import SAMPLING_RANGES
from function.text.pronunciation import MAX_DICTIONARIES
from function.validation import ParamError, check_sampling, shown
from function.voices import Owner

DESCRIPTIONS = {
    "temperature": "Sampling temperature: lower is steadier, higher more varied.",
    "top_k": "Sample only from the k most likely audio tokens.",
    "top_p": "Nucleus sampling: the smallest token set with this total probability.",
    "repetition_penalty": "Penalty on repeated audio tokens (XTTS default 10).",
    "length_penalty": "Length penalty (only affects beam search; kept for parity).",
    "speed": "Speaking rate: 1.0 is natural, 2.0 twice as fast.",
    "seed": "Random seed: the same seed, text and voice give the same audio.",
    "stream_chunk_tokens": "Streams only: audio codes (about 46 ms of speech each) before the first "
    "chunk is sent; smaller answers sooner, and the chunks join into the whole waveform whatever their "
    "size. Default TTS_STREAM_CHUNK_TOKENS.",
}
SYNTH_FORMATS = ("wav", "json")
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")  # what OpenAI's clients and examples send
STREAM_FORMATS = ("audio", "sse")
CLIP = (
    "Base64 of a WAV, FLAC, OGG (Vorbis/Opus) or MP3 file: 2 to 30 s of clear speech (standard or "
    "URL-safe alphabet; line breaks and a data: URL prefix are accepted)."
)
Text = Annotated[str, Strict()]
Request = TypeVar("Request", bound=BaseModel)


def knob(name: str) -> Any:
    """A sampling parameter's type: strict (no strings, no booleans, no NaN), ranged, optional."""
    kind, lo, hi = SAMPLING_RANGES[name]
    doc = f"{DESCRIPTIONS[name]} Range {lo:g} to {hi:g}; omitted or null: the model's default."
    if kind is int:
        return Annotated[int | None, Strict(), Field(ge=int(lo), le=int(hi), description=doc)]
    return Annotated[float | None, Strict(), AllowInfNan(False), Field(ge=lo, le=hi, description=doc)]


def _refuse(code: str, message: str) -> PydanticCustomError:
    """A problem the API names itself: `code` and `message` reach the client as they are."""
    return PydanticCustomError(code, message, {"api": True})


def checked_text(value: str, info: ValidationInfo) -> str:
    """The words to speak: not blank, within the deployment's limit (the context's max_text_chars)."""
    field = info.field_name
    if not value.strip():
        raise _refuse("empty_text", f"'{field}' is empty: send the words to speak")
    limit = (info.context or {}).get("max_text_chars")
    if limit is not None and len(value) > limit:
        raise _refuse(
            "text_too_long",
            f"'{field}' has {len(value)} characters; the limit is {limit} (TTS_MAX_TEXT_CHARS): split it",
        )
    return value


# A field whose accepted values depend on the deployment, and the validation context's key for them.
_OFFERED = {"language": "languages", "model": "models", "response_format": "formats"}


def checked_offer(value: str, info: ValidationInfo, field: str | None = None) -> str:
    """One of what this deployment offers for `field` (default: the field validated), from the context."""
    field = field or info.field_name or ""
    offered = (info.context or {}).get(_OFFERED[field])
    if offered is not None and value not in offered:
        raise _refuse(*_message(field, "not_offered", value, info.context or {}))
    return value


class DictionaryLocator(BaseModel):
    """A pronunciation dictionary of the caller's (POST /v1/pronunciation-dictionaries/...), and the
    version to read with; the latest when `version_id` is left out."""

    model_config = ConfigDict(extra="forbid", title="PronunciationDictionaryLocator")
    pronunciation_dictionary_id: Text
    version_id: Text | None = None


LOCATORS_FIELD = Field(
    default=None,
    max_length=MAX_DICTIONARIES,
    description=f"Up to {MAX_DICTIONARIES} pronunciation dictionaries, applied in order (an earlier one's "
    "rule wins a word), before TTS_LEXICON_PATH and the front-end's own rules.",
)


def locators(given: list[DictionaryLocator] | None) -> tuple[Locator, ...]:
    return tuple(Locator(g.pronunciation_dictionary_id, g.version_id) for g in given or ())


class SynthesisFields(BaseModel):
    """SynthesisRequest less its knobs (added from SAMPLING_RANGES below): the type routes see."""

    model_config = ConfigDict(extra="forbid")
    text: Text = Field(
        description="Text to speak (Bangla text is normalized first: numbers, dates, symbols), "
        "or an SSML document (<speak>…</speak>)."
    )
    language: Text = Field(default="bn", description="Language code of the text.")
    speaker_wav: Text | None = Field(default=None, description=CLIP)
    voice_id: Text | None = Field(default=None, description="A voice id from POST /voices.")
    response_format: Literal["wav", "json"] = Field(
        default="wav",
        description="`wav`: an audio/wav body. `json`: base64 audio with timings. "
        "The stream endpoint accepts only `wav`.",
    )
    pronunciation_dictionary_locators: list[DictionaryLocator] | None = LOCATORS_FIELD
    stream_format: Literal["audio", "sse"] = Field(
        default="audio",
        description="The stream endpoint only. `audio`: WAV as it is generated; `sse`: text/event-stream "
        "of speech.audio.delta events (base64 PCM16 mono at `sample_rate`), speech.audio.timestamps "
        "events with `timestamps`, and a final speech.audio.done.",
    )
    timestamps: bool = Field(
        default=False,
        description="Each word's start and end in the audio, forced-aligned when the server has "
        "TTS_ALIGNER_MODEL, else estimated (`alignment` says which): in the answer's `timestamps` with "
        "`response_format` `json`, or a speech.audio.timestamps event after each piece's audio with "
        "`stream_format` `sse` (the stream endpoint).",
    )
    _text = field_validator("text")(checked_text)
    _offers = field_validator("language", "response_format")(checked_offer)

    @model_validator(mode="after")
    def _one_voice_source(self) -> SynthesisFields:
        if (self.speaker_wav is None) == (self.voice_id is None):
            raise _refuse(
                "invalid_speaker",
                "send exactly one of 'speaker_wav' (base64 reference clip, 2-30 s) "
                "or 'voice_id' (from POST /voices)",
            )
        if self.timestamps and self.response_format != "json" and self.stream_format != "sse":
            raise _refuse(
                "invalid_parameter",
                "'timestamps' come in a JSON answer ('response_format': 'json') or, from /synthesize/stream, "
                "as SSE events ('stream_format': 'sse')",
            )
        return self

    def params(self) -> dict[str, Any]:
        """The knobs that were sent (the rest take the model's defaults)."""
        return {name: getattr(self, name) for name in SAMPLING_RANGES if getattr(self, name) is not None}

    def job(self, owner: Owner) -> SpeechRequest:
        """What the service synthesizes; the clip is decoded here, after every other check."""
        clip = None if self.speaker_wav is None else decode_base64_audio(self.speaker_wav, "speaker_wav")
        return SpeechRequest(
            self.text,
            self.language,
            self.voice_id,
            clip,
            self.params(),
            owner=owner,
            dictionaries=locators(self.pronunciation_dictionary_locators),
            timestamps=self.timestamps,
        )


# The knobs come from SAMPLING_RANGES, the table TTS_CONFIG_PATH's defaults are checked against.
SynthesisRequest: type[SynthesisFields] = create_model(  # type: ignore[call-overload]
    "SynthesisRequest",
    __base__=SynthesisFields,
    __doc__="Send exactly one of `speaker_wav` or `voice_id`.",
    **{name: (knob(name), None) for name in SAMPLING_RANGES},
)


class NormalizeRequest(BaseModel):
    """What /normalize reads: the text (or SSML) and the dictionaries, as on /synthesize."""

    model_config = ConfigDict(extra="forbid", title="NormalizeRequest")
    text: Text
    language: Text = Field(default="bn", description="Language code of the text.")
    speed: knob("speed") = None  # type: ignore[valid-type]  # what <prosody rate> is a share of
    pronunciation_dictionary_locators: list[DictionaryLocator] | None = LOCATORS_FIELD
    _text = field_validator("text")(checked_text)
    _offers = field_validator("language")(checked_offer)

    def job(self, owner: Owner) -> SpeechRequest:
        params = {} if self.speed is None else {"speed": self.speed}
        return SpeechRequest(
            self.text,
            self.language,
            params=params,
            owner=owner,
            dictionaries=locators(self.pronunciation_dictionary_locators),
        )


class OpenAISpeechRequest(BaseModel):
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
    stream_chunk_tokens: knob("stream_chunk_tokens") = None  # type: ignore[valid-type]  # not OpenAI's
    language: Text = Field(default="bn", description="Language code of the text.")
    stream_format: Literal["audio", "sse"] = Field(
        default="audio",
        description="audio: the audio bytes, streamed as generated; sse: text/event-stream of "
        "speech.audio.delta events (base64 audio) and a final speech.audio.done with usage.",
    )
    # Voice direction for OpenAI's own models: accepted, no effect (the cloned voice sets the style).
    instructions: Text | None = Field(
        default=None,
        description="Accepted for OpenAI compatibility and ignored: the cloned voice sets the style.",
    )

    # not OpenAI's: this service's pronunciation dictionaries
    pronunciation_dictionary_locators: list[DictionaryLocator] | None = LOCATORS_FIELD
    # not OpenAI's: word times as SSE events
    timestamps: bool = Field(
        default=False,
        description="Not OpenAI's; with stream_format sse: a speech.audio.timestamps event after each "
        "text piece's audio, with its words' start and end (seconds from the audio's start) and how "
        "they were placed (forced with TTS_ALIGNER_MODEL, else estimated).",
    )

    _text = field_validator("input")(checked_text)
    _offers = field_validator("model", "language")(checked_offer)

    @model_validator(mode="after")
    def _timestamps_in_sse(self) -> OpenAISpeechRequest:
        if self.timestamps and self.stream_format != "sse":
            raise _refuse("invalid_parameter", "'timestamps' come as SSE events: send 'stream_format': 'sse'")
        return self

    def job(self, voice_id: str, owner: Owner) -> SpeechRequest:
        """What the service synthesizes, `voice` already resolved to a voice id."""
        sent = (("speed", self.speed), ("seed", self.seed), ("stream_chunk_tokens", self.stream_chunk_tokens))
        params = {k: v for k, v in sent if v is not None}
        return SpeechRequest(
            self.input,
            self.language,
            voice_id=voice_id,
            params=params,
            owner=owner,
            dictionaries=locators(self.pronunciation_dictionary_locators),
            timestamps=self.timestamps,
        )


assert set(OpenAISpeechRequest.model_fields["response_format"].annotation.__args__) == set(FORMATS)  # type: ignore[union-attr]


class VoiceCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", title="VoiceCreate")
    speaker_wav: Text | None = Field(default=None, description=CLIP)
    audio: Text | None = Field(default=None, description="The first name of `speaker_wav`.", deprecated=True)
    # Checked by the route (length, control characters) so its message says what a name may hold.
    name: Any = Field(default=None, json_schema_extra={"type": ["string", "null"], "maxLength": 100})
    pronunciation_dictionary_locators: list[DictionaryLocator] | None = Field(
        default=None,
        max_length=MAX_DICTIONARIES,
        description="The caller's pronunciation dictionaries this voice is read with unless a request "
        "names them (after the request's own).",
    )


class VoiceUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", title="VoiceUpdate")
    pronunciation_dictionary_locators: list[DictionaryLocator] = Field(
        max_length=MAX_DICTIONARIES, description="The voice's default dictionaries, replacing the old ones."
    )


# ---- a validation failure as our error ------------------------------------------------------------
def validate(model: type[Request], body: dict[str, Any], **context: Any) -> Request:
    """The body as `model`, or the ApiError for its first problem. `context` holds what the accepted
    values depend on in this deployment: `languages`, `models`, `formats`, `max_text_chars`."""
    try:
        return model.model_validate(body, context=context)
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
    if first.get("ctx", {}).get("api"):
        return ApiError(400, first["type"], first["msg"])
    field = str(first["loc"][0]) if first["loc"] else ""
    return ApiError(400, *_message(field, first["type"], first.get("input"), context))


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
