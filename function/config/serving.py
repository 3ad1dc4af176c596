"""The server's settings (gunicorn, the service, the engine's knobs), from TTS_* variables."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from function.bundle_format import VARIANTS
from function.config.values import (
    ConfigError,
    _bool,
    _choice,
    _file_location,
    _float_in,
    _get,
    _int_in,
    _keys,
    _location,
    _parse,
)
from function.quality.policy import WARNING_CODES, QualityPolicy
from function.synthesis_params import SAMPLING_RANGES, STREAM_CHUNK_TOKENS
from function.voices.ids import VOICE_ID, owner_id

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Voices whose conditioning KV the GPT keeps (function.engine.prefix_cache): 16 full-size voices
# are ~126 MB in fp32 (32 positions x 30 layers x keys and values x 1024 x 4 bytes each).
DEFAULT_PREFIX_CACHE_VOICES = 16


@dataclass(frozen=True)
class SocketSettings:
    """The voice-agent WebSockets (ElevenLabs' stream-input protocols; docs/serving-api.md)."""

    max_sockets: int  # open at once per worker process; one more is refused with 503
    max_contexts: int  # per socket (multi-stream-input)
    max_message_bytes: int
    max_messages_per_s: float  # per socket, averaged over a burst of as many
    max_seconds: float  # a socket's whole life, then it is closed (1001)


@dataclass(frozen=True)
class Settings:
    port: int
    model_path: str
    config_path: Path | None
    synthesis_defaults: dict[str, float | int]
    languages: tuple[str, ...] | None
    cache_dir: Path
    log_level: str
    max_batch: int
    max_concurrent_requests: int
    queue_size: int
    queue_timeout_s: float
    enable_gpu: bool
    model_variant: str
    max_text_chars: int
    max_request_bytes: int
    request_header_timeout_s: float
    request_body_timeout_s: float
    request_body_min_bytes_per_s: int
    request_buffer_bytes: int
    response_write_timeout_s: float
    ws: SocketSettings
    voices_path: str
    voice_cache_size: int
    prefix_cache_voices: int
    api_keys: tuple[str, ...]  # every key accepted (TTS_API_KEYS and TTS_ADMIN_KEYS)
    admin_keys: tuple[str, ...]
    legacy_voices_owner: str | None
    workers: int
    intra_op_threads: int
    download_chunk_bytes: int
    download_workers: int
    forwarded_for_hops: int
    voice_aliases: dict[str, str]
    gcp_project: str | None
    quality: QualityPolicy
    # On AWS Lambda (AWS_LAMBDA_FUNCTION_NAME, set by Lambda): the function's name, the path the
    # Lambda Web Adapter posts non-HTTP events to (AWS_LWA_PASS_THROUGH_PATH, the adapter's own
    # variable, so both agree), and how long before the invocation's deadline a batch run stops
    # taking new items. None off Lambda: the events route does not exist there.
    lambda_function: str | None = None
    events_path: str = "/events"
    batch_deadline_margin_s: float = 120.0
    # TTS_LEXICON_PATH: the user lexicon's file (gs://, s3:// or local), loaded at start; None: none.
    lexicon_path: str | None = None
    # TTS_ALIGNER_MODEL and TTS_ALIGNER_VOCAB: a CTC acoustic model (ONNX) and its vocab.json (gs://,
    # s3:// or local), loaded at start, for forced word timestamps; None: timestamps are estimated.
    aligner_model: str | None = None
    aligner_vocab: str | None = None
    # TTS_ALIGNER_SAMPLE_RATE: the rate the aligner's model takes (16 kHz for wav2vec2).
    aligner_sample_rate: int = 16000


def _runtime_overrides(path: Path | None) -> tuple[dict[str, float | int], tuple[str, ...] | None]:
    """TTS_CONFIG_PATH: {"defaults": {sampling parameter: value}, "languages": [codes]}."""
    if path is None:
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"TTS_CONFIG_PATH={str(path)!r} cannot be read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"TTS_CONFIG_PATH={str(path)!r} is not valid JSON: {exc}") from None
    runtime = data.get("runtime", data) if isinstance(data, dict) else None
    where = f"TTS_CONFIG_PATH={str(path)!r}"
    if not isinstance(runtime, dict):
        raise ConfigError(f'{where} must hold a JSON object of runtime settings (or {{"runtime": {{...}}}})')
    unknown = sorted(set(runtime) - {"defaults", "languages"})
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}; known: defaults, languages")
    defaults = runtime.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{where}: 'defaults' must be an object of sampling parameters")
    checked: dict[str, float | int] = {}
    for name, value in defaults.items():
        if name not in SAMPLING_RANGES or name == "seed":
            known = ", ".join(n for n in SAMPLING_RANGES if n != "seed")
            raise ConfigError(f"{where}: unknown default {name!r}; known: {known}")
        kind, lo, hi = SAMPLING_RANGES[name]
        ok = not isinstance(value, bool) and isinstance(value, int if kind is int else (int, float))
        if not ok or not lo <= value <= hi:
            raise ConfigError(
                f"{where}: defaults.{name}={value!r} must be a {kind.__name__} in {lo:g}..{hi:g}"
            )
        checked[name] = kind(value)
    languages = runtime.get("languages")
    if languages is not None and (
        not isinstance(languages, list) or not languages or not all(isinstance(x, str) for x in languages)
    ):
        raise ConfigError(f"{where}: 'languages' must be a non-empty list of language codes")
    return checked, tuple(languages) if languages is not None else None


_ALIAS = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _voice_aliases(raw: str | None) -> dict[str, str]:
    """TTS_VOICE_ALIASES: `alloy=voice_...,nova=voice_...`, the names OpenAI clients send."""
    aliases: dict[str, str] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        alias, sep, voice_id = (x.strip() for x in item.partition("="))
        if not sep or not _ALIAS.match(alias) or not VOICE_ID.match(voice_id):
            raise ConfigError(
                f"TTS_VOICE_ALIASES is invalid at {item.strip()!r}: expected NAME=VOICE_ID pairs separated "
                "by commas (NAME: 1-64 of A-Z a-z 0-9 . _ -; VOICE_ID: voice_ and 20 of a-z 0-9)"
            )
        if alias in aliases:
            raise ConfigError(f"TTS_VOICE_ALIASES is invalid: {alias!r} is given twice")
        aliases[alias] = voice_id
    return aliases


_RATE = re.compile(r"^([a-z]{2,3}(?:-[a-z]{2,4})?|default)=(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$")


def _speech_rates(raw: str | None) -> dict[str, tuple[float, float]]:
    """TTS_QUALITY_SPEECH_RATE: `bn=5-25,en=6-25`, over the defaults (function.quality.policy)."""
    rates = dict(QualityPolicy().speech_rates)
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        m = _RATE.match(item.strip().lower())
        if m is None or not 0 < float(m[2]) < float(m[3]):
            raise ConfigError(
                f"TTS_QUALITY_SPEECH_RATE is invalid at {item.strip()!r}: expected LANGUAGE=LOW-HIGH "
                "pairs separated by commas, in spoken characters per second, 0 < LOW < HIGH "
                "(e.g. bn=5-25,default=2-30)"
            )
        rates[m[1]] = (float(m[2]), float(m[3]))
    return rates


def _warning_codes(raw: str) -> frozenset[str]:
    codes = frozenset(c.strip() for c in raw.split(",") if c.strip())
    if not codes or not codes <= set(WARNING_CODES):
        raise ValueError
    return codes


def _quality(env: Mapping[str, str]) -> QualityPolicy:
    """The quality checks' thresholds and actions (docs/quality.md justifies the defaults)."""
    default = QualityPolicy()
    lufs = _get(env, "TTS_TARGET_LUFS")
    return QualityPolicy(
        enabled=_parse(env, "TTS_QUALITY_CHECKS", True, _bool, "true or false"),
        speech_rates=_speech_rates(_get(env, "TTS_QUALITY_SPEECH_RATE")),
        min_speaker_similarity=_parse(
            env,
            "TTS_QUALITY_MIN_SPEAKER_SIMILARITY",
            default.min_speaker_similarity,
            _float_in(-1.0, 1.0),
            "a cosine similarity in -1..1",
        ),
        max_silence_s=_parse(
            env,
            "TTS_QUALITY_MAX_SILENCE_SECONDS",
            default.max_silence_s,
            _float_in(0.1, 600.0),
            "a number of seconds in 0.1..600",
        ),
        max_clipping_share=_parse(
            env,
            "TTS_QUALITY_MAX_CLIPPING_SHARE",
            default.max_clipping_share,
            _float_in(0.0, 1.0),
            "a share of samples in 0..1",
        ),
        runaway_factor=_parse(
            env,
            "TTS_QUALITY_RUNAWAY_FACTOR",
            default.runaway_factor,
            _float_in(0.0, 100.0),
            "a number in 0..100 (0: no token budget)",
        ),
        retries=_parse(env, "TTS_QUALITY_RETRIES", default.retries, _int_in(0, 3), "an integer in 0..3"),
        retry_on=_parse(
            env,
            "TTS_QUALITY_RETRY_ON",
            default.retry_on,
            _warning_codes,
            "warning codes separated by commas, of: " + ", ".join(WARNING_CODES),
        ),
        target_lufs=None
        if lufs is None
        else _parse(env, "TTS_TARGET_LUFS", 0.0, _float_in(-70.0, -5.0), "a loudness in LUFS, -70..-5"),
    )


def load_settings(env: Mapping[str, str] | None = None, *, cpu_count: int | None = None) -> Settings:
    """Read and validate every TTS_* variable (and PORT); raise ConfigError naming a bad one."""
    env = os.environ if env is None else env
    cpus = cpu_count or len(os.sched_getaffinity(0)) or 1

    model_raw = _get(env, "TTS_MODEL_PATH")
    if model_raw is None:
        raise ConfigError(
            "TTS_MODEL_PATH is required: set it to gs://BUCKET/PREFIX, s3://BUCKET/PREFIX or a local "
            "bundle directory"
        )
    model_path = _location("TTS_MODEL_PATH", model_raw)

    enable_gpu = _parse(env, "TTS_ENABLE_GPU", False, _bool, "true or false")
    variant = _parse(
        env, "TTS_MODEL_VARIANT", "fp16" if enable_gpu else "int8", _choice(VARIANTS), "|".join(VARIANTS)
    )

    config_raw = _get(env, "TTS_CONFIG_PATH")
    config_path = Path(config_raw).expanduser() if config_raw else None
    synthesis_defaults, languages = _runtime_overrides(config_path)
    # TTS_CONFIG_PATH's "defaults" may set it too, and then wins: the more specific file.
    first_chunk = _parse(
        env, "TTS_STREAM_CHUNK_TOKENS", STREAM_CHUNK_TOKENS, _int_in(1, 80), "an integer in 1..80"
    )
    synthesis_defaults = {"stream_chunk_tokens": first_chunk, **synthesis_defaults}

    cache_dir = Path(_get(env, "TTS_CACHE_DIR") or "/tmp/tts-cache").expanduser()
    voices_raw = _get(env, "TTS_VOICES_PATH")
    voices_path = _location("TTS_VOICES_PATH", voices_raw) if voices_raw else str(cache_dir / "voices")

    lexicon_raw = _get(env, "TTS_LEXICON_PATH")
    aligner_model = _get(env, "TTS_ALIGNER_MODEL")
    aligner_vocab = _get(env, "TTS_ALIGNER_VOCAB")
    if bool(aligner_model) != bool(aligner_vocab):
        given, missing = (
            ("TTS_ALIGNER_MODEL", "TTS_ALIGNER_VOCAB")
            if aligner_model
            else ("TTS_ALIGNER_VOCAB", "TTS_ALIGNER_MODEL")
        )
        raise ConfigError(
            f"{given} is set but {missing} is not: the aligner needs its model and its vocab.json"
        )

    user_keys = _keys(env, "TTS_API_KEYS")
    admin_keys = _keys(env, "TTS_ADMIN_KEYS")
    api_keys = tuple(dict.fromkeys((*user_keys, *admin_keys)))
    # Voices saved before voices had owners: whose they are now (an owner id, see
    # function.http.auth.owner_id). By default the only key's, so a one-key deployment keeps them.
    legacy_owner = _get(env, "TTS_LEGACY_VOICES_OWNER")
    if legacy_owner is not None and not re.fullmatch(r"local|key_[0-9a-f]{32}", legacy_owner):
        raise ConfigError(
            f"TTS_LEGACY_VOICES_OWNER={legacy_owner!r} is invalid: expected 'local' or an owner id "
            "key_<32 hex> (the 'owner' field of that key's voices)"
        )
    if legacy_owner is None and len(user_keys) == 1:
        legacy_owner = owner_id(user_keys[0])

    # One model per process: on a GPU one worker owns the device; on CPU each worker gets a
    # share of the cores for ONNX Runtime's intra-op pool (autoregressive decoding stops
    # scaling at about 4 threads, so more workers beat more threads per worker).
    # Lambda sends an execution environment one request at a time: one process, no second model.
    on_lambda = _get(env, "AWS_LAMBDA_FUNCTION_NAME")
    default_workers = 1 if enable_gpu or on_lambda else max(1, cpus // 4)
    workers = _parse(env, "TTS_WORKERS", default_workers, _int_in(1, 64), "an integer in 1..64")
    default_intra = 0 if enable_gpu else max(1, cpus // workers)
    # Rows per GPT decode step (function.engine.scheduler). CPU: measured by `python -m bench
    # throughput` (4 rows give most of the gain on 2 cores); GPU: weight traffic dominates far longer.
    max_batch = _parse(env, "TTS_MAX_BATCH", 16 if enable_gpu else 4, _int_in(1, 256), "an integer in 1..256")

    max_request_bytes = _parse(
        env, "TTS_MAX_REQUEST_BYTES", 16 * 2**20, _int_in(1024, 2**31), "a byte count in 1024..2147483648"
    )
    # Request bodies still arriving are held by the worker's main loop (function.server_worker);
    # this caps that memory per worker process. It must fit at least one body of the largest size.
    request_buffer_bytes = _parse(
        env,
        "TTS_REQUEST_BUFFER_BYTES",
        4 * max_request_bytes,
        _int_in(1024, 2**40),
        "a byte count in 1024..1099511627776",
    )
    if request_buffer_bytes < max_request_bytes:
        raise ConfigError(
            f"TTS_REQUEST_BUFFER_BYTES={request_buffer_bytes} is invalid: it must be at least "
            f"TTS_MAX_REQUEST_BYTES ({max_request_bytes}), or a body of the allowed size could never arrive"
        )

    return Settings(
        port=_parse(env, "PORT", 8080, _int_in(1, 65535), "a TCP port in 1..65535"),
        model_path=model_path,
        config_path=config_path,
        synthesis_defaults=synthesis_defaults,
        languages=languages,
        cache_dir=cache_dir,
        log_level=_parse(env, "TTS_LOG_LEVEL", "INFO", _choice(LOG_LEVELS), "|".join(LOG_LEVELS)),
        max_batch=max_batch,
        # Every running synthesis is one row of the decode batch (a long text's pieces run one
        # after another), and one more batch may wait: both follow from TTS_MAX_BATCH.
        max_concurrent_requests=_parse(
            env, "TTS_MAX_CONCURRENT_REQUESTS", max_batch, _int_in(1, 256), "an integer in 1..256"
        ),
        queue_size=_parse(env, "TTS_QUEUE_SIZE", max_batch, _int_in(0, 1024), "an integer in 0..1024"),
        queue_timeout_s=_parse(
            env, "TTS_QUEUE_TIMEOUT_SECONDS", 10.0, _float_in(0.0, 600.0), "a number of seconds in 0..600"
        ),
        enable_gpu=enable_gpu,
        model_variant=variant,
        max_text_chars=_parse(
            env, "TTS_MAX_TEXT_CHARS", 1000, _int_in(1, 100_000), "an integer in 1..100000"
        ),
        max_request_bytes=max_request_bytes,
        # Reading a request: the head within this many seconds of connecting (or of its first byte
        # on a kept-alive connection); then the body must keep arriving: every
        # TTS_REQUEST_BODY_TIMEOUT_SECONDS at least that many seconds' worth of
        # TTS_REQUEST_BODY_MIN_BYTES_PER_SECOND (1 KiB/s: far below any mobile link, so a 16 MiB
        # upload over 2G still arrives; a client that stops sending gets 408).
        request_header_timeout_s=_parse(
            env,
            "TTS_REQUEST_HEADER_TIMEOUT_SECONDS",
            10.0,
            _float_in(0.1, 600.0),
            "a number of seconds in 0.1..600",
        ),
        request_body_timeout_s=_parse(
            env,
            "TTS_REQUEST_BODY_TIMEOUT_SECONDS",
            20.0,
            _float_in(0.1, 600.0),
            "a number of seconds in 0.1..600",
        ),
        request_body_min_bytes_per_s=_parse(
            env,
            "TTS_REQUEST_BODY_MIN_BYTES_PER_SECOND",
            1024,
            _int_in(0, 2**30),
            "a byte rate in 0..1073741824 (0: only a pause of TTS_REQUEST_BODY_TIMEOUT_SECONDS ends it)",
        ),
        request_buffer_bytes=request_buffer_bytes,
        # Sending an answer: a client that accepts no byte of it for this long (one that never
        # reads a stream) loses the connection, and its synthesis slot goes to the next request.
        response_write_timeout_s=_parse(
            env,
            "TTS_RESPONSE_WRITE_TIMEOUT_SECONDS",
            30.0,
            _float_in(1.0, 3600.0),
            "a number of seconds in 1..3600",
        ),
        ws=SocketSettings(
            max_sockets=_parse(env, "TTS_WS_MAX_SOCKETS", 32, _int_in(0, 4096), "an integer in 0..4096"),
            max_contexts=_parse(env, "TTS_WS_MAX_CONTEXTS", 5, _int_in(1, 64), "an integer in 1..64"),
            max_message_bytes=_parse(
                env,
                "TTS_WS_MAX_MESSAGE_BYTES",
                64 * 1024,
                _int_in(1024, 16 * 2**20),
                "a byte count in 1024..16777216",
            ),
            max_messages_per_s=_parse(
                env,
                "TTS_WS_MAX_MESSAGES_PER_SECOND",
                100.0,
                _float_in(1.0, 10_000.0),
                "a number in 1..10000",
            ),
            # Cloud Run ends any request, a WebSocket included, at the service's timeout (at most
            # 3600 s): infra/ sets that timeout from this value.
            max_seconds=_parse(
                env,
                "TTS_WS_MAX_SECONDS",
                3600.0,
                _float_in(10.0, 86_400.0),
                "a number of seconds in 10..86400",
            ),
        ),
        voices_path=voices_path,
        voice_cache_size=_parse(
            env, "TTS_VOICE_CACHE_SIZE", 256, _int_in(1, 100_000), "an integer in 1..100000"
        ),
        prefix_cache_voices=_parse(
            env,
            "TTS_PREFIX_CACHE_VOICES",
            DEFAULT_PREFIX_CACHE_VOICES,
            _int_in(0, 4096),
            "an integer in 0..4096 (0: compute every request's conditioning)",
        ),
        api_keys=api_keys,
        admin_keys=admin_keys,
        legacy_voices_owner=legacy_owner,
        workers=workers,
        intra_op_threads=_parse(
            env,
            "TTS_INTRA_OP_THREADS",
            default_intra,
            _int_in(0, 256),
            "an integer in 0..256 (0: ORT default)",
        ),
        download_chunk_bytes=_parse(
            env,
            "TTS_DOWNLOAD_CHUNK_BYTES",
            32 * 2**20,
            _int_in(256 * 1024, 2**31),
            "a byte count in 262144..2147483648",
        ),
        download_workers=_parse(env, "TTS_DOWNLOAD_WORKERS", 8, _int_in(1, 64), "an integer in 1..64"),
        # Proxies in front of the app that append to X-Forwarded-For: Google's external Application
        # Load Balancer appends "<client-ip>,<load-balancer-ip>", so the client is the 2nd entry from
        # the right; anything left of it is whatever the client sent. 0: the socket's peer.
        forwarded_for_hops=_parse(
            env,
            "TTS_FORWARDED_FOR_HOPS",
            0,
            _int_in(0, 16),
            "an integer in 0..16 (0: ignore X-Forwarded-For)",
        ),
        voice_aliases=_voice_aliases(_get(env, "TTS_VOICE_ALIASES")),
        # Only to format trace ids as projects/<id>/traces/<trace> for Cloud Logging.
        gcp_project=_get(env, "GOOGLE_CLOUD_PROJECT"),
        quality=_quality(env),
        lambda_function=on_lambda,
        events_path=_parse(env, "AWS_LWA_PASS_THROUGH_PATH", "/events", _url_path, "a URL path like /events"),
        # An item started just before the stop runs to its end: the margin covers one item's
        # synthesis and its writes (at the pace of docs/batch.md, Throughput, a 60 s
        # article takes about 80 s on 2 cores). Lambda's own limit is 900 s.
        batch_deadline_margin_s=_parse(
            env,
            "TTS_BATCH_DEADLINE_MARGIN_SECONDS",
            120.0,
            _float_in(0.0, 890.0),
            "a number of seconds in 0..890",
        ),
        lexicon_path=_file_location("TTS_LEXICON_PATH", lexicon_raw) if lexicon_raw else None,
        aligner_model=_file_location("TTS_ALIGNER_MODEL", aligner_model) if aligner_model else None,
        aligner_vocab=_file_location("TTS_ALIGNER_VOCAB", aligner_vocab) if aligner_vocab else None,
        aligner_sample_rate=_parse(
            env, "TTS_ALIGNER_SAMPLE_RATE", 16000, _int_in(8000, 48000), "an integer in 8000..48000 (Hz)"
        ),
    )


def _url_path(raw: str) -> str:
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", raw):
        raise ValueError
    return raw
