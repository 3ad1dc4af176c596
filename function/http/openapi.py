"""The OpenAPI 3.1 document served at /openapi.json: request schemas generated from the request models
(function.http.models) that validate the bodies; paths, responses and result schemas written here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from function.audio import CONTENT_TYPES, MAX_REFERENCE_SECONDS
from function.config import Settings
from function.http.dictionaries import DICTIONARY_REQUESTS
from function.http.elevenlabs import CONTENT_TYPES as ELEVENLABS_CONTENT_TYPES
from function.http.elevenlabs import DEFAULT_OUTPUT_FORMAT, OUTPUT_FORMATS, ElevenLabsSpeechRequest
from function.http.models import (
    CLIP,
    NormalizeRequest,
    OpenAISpeechRequest,
    SynthesisRequest,
    VoiceCreateRequest,
    VoiceUpdateRequest,
)
from function.http.responses import RESPONSES

_ERROR_TEXT = {
    400: "Malformed JSON, missing/empty/too long text, bad base64, undecodable or too short/long reference "
    "audio, unsupported language, or a parameter out of range. `error.message` says which and how to fix it.",
    401: "Missing or wrong `Authorization: Bearer <key>` (only when the service has API keys).",
    404: "Unknown voice id.",
    405: "Method not allowed on this path (see the Allow header).",
    408: "The request (head or body) did not arrive in time: see TTS_REQUEST_*_TIMEOUT_SECONDS; the "
    "connection is closed.",
    409: "The stored voice cannot be used by this model (damaged, or made by another one): create it again.",
    413: "Body larger than TTS_MAX_REQUEST_BYTES.",
    414: "Request line (path and query) longer than 4094 bytes.",
    415: "Wrong Content-Type.",
    426: "A WebSocket endpoint was called without a WebSocket handshake.",
    431: "Request line and headers larger than 64 KiB.",
    429: "All synthesis slots are busy and the wait queue is full, or the worker is receiving too many "
    "request bodies at once (TTS_REQUEST_BUFFER_BYTES); retry after `Retry-After` seconds.",
    503: "The model is still loading; retry after `Retry-After` seconds.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        resp: dict[str, Any] = {
            "description": _ERROR_TEXT[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        if code in (429, 503):
            resp["headers"] = {"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}}}
        out[str(code)] = resp
    return out


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    """pydantic writes `X | None` as anyOf [X, null]; the document says type [X, "null"] instead."""
    options = prop.get("anyOf")
    if not options or len(options) != 2 or {"type": "null"} not in options:
        return prop
    inner = next(o for o in options if o != {"type": "null"})
    if "type" not in inner or len(inner) == 0:
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf"}
    return {**inner, **rest, "type": [inner["type"], "null"]}


def response_schemas() -> dict[str, Any]:
    """Every response model's schema (and the models they use), keyed by name, as components."""
    out: dict[str, Any] = {}
    for model in RESPONSES:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            out[name] = _clean(sub)
        out[model.__name__] = _clean(schema)
    return out


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    schema = {k: v for k, v in schema.items() if k != "title"}
    if "properties" in schema:
        schema["properties"] = {
            n: {k: v for k, v in _nullable(p).items() if k != "title"}
            for n, p in schema["properties"].items()
        }
    return schema


# The models request models use (a dictionary locator): components, as the response models' are.
REQUEST_DEFS: dict[str, Any] = {}


def request_schema(model: type[BaseModel], **properties: dict[str, Any]) -> dict[str, Any]:
    """A request model's JSON schema, with what this deployment adds to some properties; the models
    it uses go to REQUEST_DEFS (the document's components)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        REQUEST_DEFS[name] = _clean(sub)
    schema.pop("title", None)
    props = {name: _nullable(prop) for name, prop in schema["properties"].items()}
    for prop in props.values():
        prop.pop("title", None)
    for name, extra in properties.items():
        props[name] = {**props[name], **extra}
    schema["properties"] = props
    return schema


def build_openapi(settings: Settings, languages: list[str] | None) -> dict[str, Any]:
    lang: dict[str, Any] = {"enum": languages} if languages else {}
    limit = settings.max_text_chars
    text = {
        "minLength": 1,
        "maxLength": limit,
        "description": "Text to speak (Bangla text is normalized first: numbers, dates, symbols), "
        "or an SSML document (<speak>…</speak>; a <break time='1s'/> in plain text is a pause too). "
        f"At most {limit} characters (TTS_MAX_TEXT_CHARS).",
    }
    clip = {
        "contentEncoding": "base64",
        "description": f"{CLIP} Files over {MAX_REFERENCE_SECONDS:.0f} s are refused before decoding.",
    }
    synth_request = request_schema(SynthesisRequest, text=text, language=lang, speaker_wav=clip)
    speech_request = request_schema(OpenAISpeechRequest, input=text, language=lang)
    voice_create = request_schema(VoiceCreateRequest, speaker_wav=clip, audio=clip)
    voice_create["anyOf"] = [{"required": ["speaker_wav"]}, {"required": ["audio"]}]
    wav = {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}] if settings.api_keys else []
    auth = (401,) if settings.api_keys else ()
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Bangla XTTS v2 speech API",
            "version": "1.0.0",
            "description": "Voice-cloning text to speech for Bangladeshi Bangla. Errors are always "
            '`{"error": {"code", "message"}}`.',
        },
        "security": security,
        "paths": {
            "/health": {
                "get": {
                    "summary": "Readiness: 200 once the model is loaded and warmed up, 503 while loading.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Ready.",
                            "content": {"application/json": {"schema": _ref("Health")}},
                        },
                        "503": {
                            "description": "Loading.",
                            "headers": {"Retry-After": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": _ref("Loading")}},
                        },
                        **_errors(405),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1.",
                            "content": {"application/json": {"schema": {}}},
                        },
                        **_errors(*auth, 405),
                    },
                }
            },
            "/synthesize": {
                "post": {
                    "summary": "Synthesize speech; the whole file in one response.",
                    "requestBody": _json_body("SynthesisRequest"),
                    "responses": {
                        "200": {
                            "description": "`audio/wav` (PCM16 mono), or JSON when response_format is json.",
                            "headers": {
                                "X-Audio-Duration": {"schema": {"type": "string"}},
                                "X-Quality-Warnings": {
                                    "description": "Quality warning codes, comma-separated (empty: none).",
                                    "schema": {"type": "string"},
                                },
                                "X-Quality-Attempts": {
                                    "description": "Syntheses made (2: retried with another seed).",
                                    "schema": {"type": "string"},
                                },
                            },
                            "content": {**wav, "application/json": {"schema": _ref("SynthesisResult")}},
                        },
                        **_errors(400, *auth, 404, 405, 408, 409, 413, 415, 429, 431, 503),
                    },
                }
            },
            "/synthesize/stream": {
                "post": {
                    "summary": "Synthesize speech as a chunked WAV (open-length header, then PCM16) "
                    "that plays as it arrives. Closing the connection stops the generation.",
                    "requestBody": _json_body("SynthesisRequest"),
                    "responses": {
                        "200": {"description": "Chunked audio/wav.", "content": wav},
                        **_errors(400, *auth, 404, 405, 408, 409, 413, 415, 429, 431, 503),
                    },
                }
            },
            "/normalize": {
                "post": {
                    "summary": "The text as the model reads it (front-end, SSML, pronunciation "
                    "dictionaries);"
                    " no audio is made.",
                    "requestBody": _json_body("NormalizeRequest"),
                    "responses": {
                        "200": {
                            "description": "Normalized text, its segments and the rules that applied.",
                            "content": {"application/json": {"schema": _ref("NormalizeResult")}},
                        },
                        **_errors(400, *auth, 404, 405, 408, 413, 415, 429, 431, 503),
                    },
                }
            },
            "/voices": {
                "post": {
                    "summary": "Clone a voice once from a reference clip; use its id in later requests.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref("VoiceCreate")},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["speaker_wav"],
                                    "properties": {
                                        "speaker_wav": {"type": "string", "format": "binary"},
                                        "audio": {"type": "string", "format": "binary", "deprecated": True},
                                        "name": {"type": "string", "maxLength": 100},
                                    },
                                }
                            },
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Created.",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": _ref("Voice")}},
                        },
                        **_errors(400, *auth, 405, 408, 409, 413, 415, 429, 431, 503),
                    },
                },
                "get": {
                    "summary": "List voices (shared by every instance); `?name=` finds the one so named.",
                    "parameters": [
                        {
                            "name": "name",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 100},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "Voices.",
                            "content": {"application/json": {"schema": _ref("VoiceList")}},
                        },
                        **_errors(400, *auth, 405, 503),
                    },
                },
            },
            "/voices/{voice_id}": {
                "parameters": [
                    {"name": "voice_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "get": {
                    "summary": "One voice's metadata.",
                    "responses": {
                        "200": {
                            "description": "Voice.",
                            "content": {"application/json": {"schema": _ref("Voice")}},
                        },
                        **_errors(*auth, 404, 405, 503),
                    },
                },
                "patch": {
                    "summary": "Set the voice's default pronunciation dictionaries.",
                    "requestBody": _json_body("VoiceUpdate"),
                    "responses": {
                        "200": {
                            "description": "Voice.",
                            "content": {"application/json": {"schema": _ref("Voice")}},
                        },
                        **_errors(400, *auth, 404, 405, 413, 415, 431, 503),
                    },
                },
                "delete": {
                    "summary": "Delete a voice everywhere.",
                    "responses": {"204": {"description": "Deleted."}, **_errors(*auth, 404, 405, 503)},
                },
            },
            "/v1/audio/speech": {
                "post": {
                    "summary": "OpenAI-compatible speech endpoint (`openai` client: audio.speech.create); "
                    "the body streams as it is generated, in every format.",
                    "requestBody": _json_body("SpeechRequest"),
                    "responses": {
                        "200": {
                            "description": "Audio in the requested format (`pcm`: raw 16-bit LE mono).",
                            "content": {
                                **{
                                    ct: {"schema": {"type": "string", "format": "binary"}}
                                    for ct in dict.fromkeys(CONTENT_TYPES.values())
                                },
                                "text/event-stream": {"schema": {"type": "string"}},
                            },
                        },
                        **_errors(400, *auth, 404, 405, 408, 409, 413, 415, 429, 431, 503),
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "summary": "OpenAI-compatible model list.",
                    "responses": {
                        "200": {
                            "description": "Models.",
                            "content": {"application/json": {"schema": _ref("ModelList")}},
                        },
                        **_errors(*auth, 405, 503),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "xiApiKey": {"type": "apiKey", "in": "header", "name": "xi-api-key"},
            },
            "schemas": {
                "SynthesisRequest": synth_request,
                "VoiceCreate": voice_create,
                "SpeechRequest": speech_request,
                "NormalizeRequest": request_schema(NormalizeRequest, text=text, language=lang),
                "VoiceUpdate": request_schema(VoiceUpdateRequest),
                "ElevenLabsSpeechRequest": request_schema(ElevenLabsSpeechRequest, text=text),
                **{m.model_config["title"]: request_schema(m) for m in DICTIONARY_REQUESTS},
                **REQUEST_DEFS,
                **response_schemas(),
            },
        },
    }
    doc["paths"].update(_elevenlabs_paths(auth))
    doc["paths"].update(_dictionary_paths(auth))
    return doc


def _dictionary_paths(auth: tuple[int, ...]) -> dict[str, Any]:
    """Pronunciation dictionaries (function.http.routes_dictionaries), under both prefixes."""
    dictionary_id = {"name": "dictionary_id", "in": "path", "required": True, "schema": {"type": "string"}}
    version = {
        "name": "version_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^v[0-9]+$"},
        "description": "v1, v2, …",
    }
    errors = _errors(400, *auth, 404, 405, 413, 415, 429, 431, 503)

    def op(
        summary: str,
        response: str,
        *,
        body: str | None = None,
        params: tuple[Any, ...] = (),
        status: str = "200",
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "summary": summary,
            "parameters": list(params),
            "responses": {
                status: {"description": summary, "content": {"application/json": {"schema": _ref(response)}}},
                **errors,
            },
        }
        if body is not None:
            out["requestBody"] = _json_body(body)
        return out

    pls = {"application/pls+xml": {"schema": {"type": "string"}}}
    download = {
        "get": {
            "summary": "A version of the dictionary as a W3C PLS file.",
            "parameters": [dictionary_id, version],
            "responses": {"200": {"description": "The PLS file.", "content": pls}, **errors},
        }
    }
    upload = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "A PLS lexicon of alias lexemes.",
                    },
                },
            }
        }
    }
    paths: dict[str, Any] = {}
    for prefix in ("/v1/pronunciation-dictionaries", "/pronunciation-dictionaries"):
        paths[f"{prefix}/add-from-file"] = {
            "post": {
                **op("Create a dictionary from a PLS file.", "DictionaryCreated", status="201"),
                "requestBody": {"required": True, "content": upload},
            }
        }
        paths[f"{prefix}/add-from-rules"] = {
            "post": op(
                "Create a dictionary from alias rules.",
                "DictionaryCreated",
                body="PronunciationDictionaryFromRules",
                status="201",
            )
        }
        paths[prefix] = {"get": op("The caller's dictionaries.", "DictionaryList")}
        paths[f"{prefix}/{{dictionary_id}}"] = {
            "get": op("A dictionary and its latest rules.", "DictionaryWithRules", params=(dictionary_id,)),
            "patch": op(
                "Rename it (name), or delete it (archived: true).",
                "DictionaryMetadata",
                body="PronunciationDictionaryUpdate",
                params=(dictionary_id,),
            ),
            "delete": {
                "summary": "Delete the dictionary and every version.",
                "parameters": [dictionary_id],
                "responses": {"204": {"description": "Deleted."}, **errors},
            },
        }
        for action, summary, body in (
            (
                "add-rules",
                "A new version with these rules added (or replaced).",
                "PronunciationDictionaryRules",
            ),
            ("set-rules", "A new version with exactly these rules.", "PronunciationDictionaryRules"),
            ("remove-rules", "A new version without these rules.", "PronunciationDictionaryRuleStrings"),
        ):
            paths[f"{prefix}/{{dictionary_id}}/{action}"] = {
                "post": op(summary, "DictionaryRulesChanged", body=body, params=(dictionary_id,))
            }
        paths[f"{prefix}/{{dictionary_id}}/{{version_id}}/download"] = download
        paths[f"{prefix}/{{dictionary_id}}/download/{{version_id}}"] = download
    return paths


def _elevenlabs_paths(auth: tuple[int, ...]) -> dict[str, Any]:
    """ElevenLabs' REST text-to-speech (function.http.routes_elevenlabs)."""
    voice = {
        "name": "voice",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "A voice id or name from POST /voices, or a TTS_VOICE_ALIASES alias.",
    }
    query = [
        voice,
        {"name": "output_format", "in": "query", "schema": {"enum": list(OUTPUT_FORMATS)},
         "description": f"codec_rate[_kbps]; default {DEFAULT_OUTPUT_FORMAT}."},
        {"name": "optimize_streaming_latency", "in": "query", "schema": {"enum": [0, 1, 2, 3, 4]},
         "description": "0 to 4: the first streamed chunk of 20, 12, 8, 6 or 4 audio codes."},
        {"name": "enable_ssml_parsing", "in": "query", "schema": {"type": "boolean"},
         "description": "true: the text is SSML, with or without <speak> around it."},
    ]  # fmt: skip
    audio = {
        ct: {"schema": {"type": "string", "format": "binary"}} for ct in ELEVENLABS_CONTENT_TYPES.values()
    }
    errors = _errors(400, *auth, 404, 405, 408, 409, 413, 414, 415, 429, 431, 503)

    def post(summary: str, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "parameters": query,
                "requestBody": _json_body("ElevenLabsSpeechRequest"),
                "responses": {"200": {"description": "See the summary.", "content": content}, **errors},
            }
        }

    timestamps = {"application/json": {"schema": _ref("AudioWithTimestamps")}}
    return {
        "/v1/text-to-speech/{voice}": post("ElevenLabs-compatible speech: the audio, sent as made.", audio),
        "/v1/text-to-speech/{voice}/stream": post("ElevenLabs-compatible streamed speech.", audio),
        "/v1/text-to-speech/{voice}/with-timestamps": post(
            "Base64 audio with character alignment (estimated from spoken characters).", timestamps
        ),
        "/v1/text-to-speech/{voice}/stream/with-timestamps": post(
            "One JSON object a line: base64 audio; the alignment on the last line.",
            {"application/x-ndjson": {"schema": {"type": "string"}}},
        ),
        **{
            f"/v1/text-to-speech/{{voice}}/{path}": {
                "get": {
                    "summary": summary,
                    "description": "A WebSocket (ElevenLabs' protocol; docs/serving-api.md, Voice agents): "
                    "JSON text messages in, base64 audio messages out. The key may also come as "
                    "xi_api_key in the first message.",
                    "parameters": [
                        *query,
                        {
                            "name": "inactivity_timeout",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 180},
                            "description": "Seconds without input; default 20.",
                        },
                        {
                            "name": "auto_mode",
                            "in": "query",
                            "schema": {"type": "boolean"},
                            "description": "true: segments end at sentences only (no chunk_length_schedule).",
                        },
                        {
                            "name": "language_code",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "bn (default) or another language the model offers.",
                        },
                    ],
                    "responses": {
                        "101": {"description": "Switching to the WebSocket."},
                        **_errors(400, *auth, 404, 405, 414, 426, 431, 503),
                    },
                }
            }
            for path, summary in (
                ("stream-input", "Voice agents: text streamed in, audio out, one context (WebSocket)."),
                ("multi-stream-input", "Voice agents: up to TTS_WS_MAX_CONTEXTS contexts on one WebSocket."),
            )
        },
        "/v1/voices": {
            "get": {
                "summary": "The caller's voices in ElevenLabs' shape.",
                "responses": {
                    "200": {
                        "description": "Voices.",
                        "content": {"application/json": {"schema": _ref("ElevenLabsVoiceList")}},
                    },
                    **_errors(*auth, 405, 503),
                },
            }
        },
    }
