"""The model's lifecycle in one process: fetch the bundle, create the sessions, warm up, serve.

Loading runs in a background thread so /health answers 503 meanwhile (the Cloud Run startup
probe's target). A bundle that cannot be used is fatal: one clear log line, then `on_fatal`
(gunicorn's worker exits with its boot-error code, which stops the whole server), so the service
never answers ready with a broken model. Once serving, a watchdog does the same when the decode
thread dies, wedges or fails every call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from function.align.aligner import CtcAligner
from function.align.ctc_model import CtcModel
from function.config import Settings
from function.engine import Engine, EngineError, SynthesisParams, Voice
from function.engine.scheduler import Scheduler
from function.service.ports import SpeechEngine
from function.storage import BundleFetchError, StorageError, fetch_bundle, open_store
from function.text.user_lexicon import UserLexicon
from function.voices import VoiceStore
from function.voices.dictionaries import DictionaryStore

log = logging.getLogger("function.model")
WATCH_INTERVAL_S = 1.0


@dataclass
class Loaded:
    engine: SpeechEngine
    voices: VoiceStore[Voice]
    scheduler: Scheduler
    manifest: dict[str, Any]
    languages: list[str]
    defaults: dict[str, Any] = field(default_factory=dict)
    lexicon: UserLexicon | None = None  # TTS_LEXICON_PATH, applied to Bangla text
    dictionaries: DictionaryStore | None = None  # the owners' pronunciation dictionaries
    aligner: CtcAligner | None = None  # TTS_ALIGNER_MODEL: forced word timestamps; None: estimated

    @property
    def model_name(self) -> str:
        return str(self.manifest.get("model", {}).get("name", "unknown"))

    @property
    def model_version(self) -> str:
        return str(self.manifest.get("model", {}).get("version", "unknown"))

    def params(self, language: str, overrides: dict[str, Any]) -> SynthesisParams:
        """Request values over TTS_CONFIG_PATH defaults; anything unset takes the bundle's default."""
        values = {**self.defaults, **overrides}
        return SynthesisParams(language=language, **values)

    def text_tokens(self, text: str, language: str) -> int:
        """The text tokens the GPT reads for `text` (OpenAI's usage.input_tokens)."""
        return self.engine.count_tokens(text, language)

    def audio_codes(self, seconds: float, speed: float) -> int:
        """The audio codes the GPT generated for `seconds` of audio at `speed` (usage.output_tokens)."""
        return round(seconds * speed * self.engine.codes_per_second)

    def runtime(self) -> dict[str, Any]:
        """What /health reports of the model at work: where it runs, its decode batch and prefix cache."""
        return {
            "provider": self.engine.provider,
            "sample_rate": self.engine.sample_rate,
            "decode_batch": asdict(self.scheduler.stats()),
            "prefix_cache": asdict(self.engine.prefix_cache_stats()),
        }


class ModelSource(Protocol):
    """Where the loaded model comes from (ModelState, or a test's stand-in)."""

    @property
    def loaded(self) -> Loaded | None: ...


class ModelState:
    def __init__(self, settings: Settings, on_fatal: Callable[[], None]) -> None:
        self.settings = settings
        self.on_fatal = on_fatal
        self.started = time.monotonic()
        self.status = "loading"
        self.loaded: Loaded | None = None
        self.ready_at: float | None = None  # wall-clock time, for /v1/models' "created"

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self.started

    def start(self) -> None:
        threading.Thread(target=self._run, name="model-loader", daemon=True).start()

    def _run(self) -> None:
        try:
            self.serve(load_model(self.settings))
        except (BundleFetchError, StorageError, EngineError, ValueError, OSError) as exc:
            self._fail(f"model load failed: {exc}")
        except Exception as exc:  # a bug, not bad input: keep the traceback in the log
            log.exception("model load failed unexpectedly")
            self._fail(f"model load failed unexpectedly: {type(exc).__name__}: {exc}")

    def serve(self, loaded: Loaded) -> None:
        """Ready: requests are served from `loaded`, and a watchdog follows its decode thread."""
        self.ready_at = time.time()
        self.status = "ready"
        self.loaded = loaded
        threading.Thread(target=self._watch, name="decode-watchdog", daemon=True).start()

    def failure(self) -> str | None:
        """Why the loaded model cannot serve (its decode thread died, is wedged, or every model call
        fails), or None."""
        loaded = self.loaded
        return None if loaded is None else loaded.scheduler.failure()

    def _watch(self) -> None:
        # A process that stays up but can decode nothing must not look healthy: /health turns 503 at
        # once (failure()), and the process exits so the platform starts a new instance.
        while self.status == "ready":
            time.sleep(WATCH_INTERVAL_S)
            why = self.failure()
            if why is not None:
                self._fail(f"the model cannot serve: {why}; exiting so that a new instance starts")
                return

    def _fail(self, message: str) -> None:
        self.status = "failed"
        log.critical(message, extra={"phase": "startup", "model_path": self.settings.model_path})
        self.on_fatal()


def voices_location(voices_path: str, manifest: dict[str, Any]) -> str:
    """Conditioning latents only fit the model that made them: voices are kept per model version."""
    model = manifest.get("model", {})
    return f"{voices_path}/{model.get('name', 'model')}-{model.get('version', 'v')}"


def load_lexicon(location: str) -> UserLexicon:
    """TTS_LEXICON_PATH's file, read through the store (gs://, s3:// or a local path) and parsed. A
    bad line raises WordListError (a ValueError) naming the variable and the line number."""
    t0 = time.perf_counter()
    folder, _, name = location.rpartition("/")
    lexicon = UserLexicon.from_bytes(
        open_store(folder or ".").read_bytes(name), f"TTS_LEXICON_PATH={location}"
    )
    log.info(
        "user lexicon: %d entries from %s",
        len(lexicon),
        location,
        extra={"phase": "lexicon", "entries": len(lexicon), "duration_s": round(time.perf_counter() - t0, 3)},
    )
    return lexicon


def load_aligner(s: Settings) -> CtcAligner | None:
    """TTS_ALIGNER_MODEL and TTS_ALIGNER_VOCAB, fetched into the cache (onnxruntime reads a file) and
    loaded; None when they are not set. Raises CtcModelError naming the variable, StorageError."""
    if s.aligner_model is None or s.aligner_vocab is None:
        return None
    t0 = time.perf_counter()
    folder = s.cache_dir / "aligner"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for location, name in ((s.aligner_model, "model.onnx"), (s.aligner_vocab, "vocab.json")):
        parent, _, key = location.rpartition("/")
        open_store(parent or ".").download(key, folder / name)
        files.append(folder / name)
    model = CtcModel(
        files[0],
        files[1],
        sample_rate=s.aligner_sample_rate,
        use_gpu=s.enable_gpu,
        threads=s.intra_op_threads,
        options=(f"TTS_ALIGNER_MODEL={s.aligner_model}", f"TTS_ALIGNER_VOCAB={s.aligner_vocab}"),
    )
    log.info(
        "word aligner: %s",
        s.aligner_model,
        extra={"phase": "aligner", "duration_s": round(time.perf_counter() - t0, 3)},
    )
    return CtcAligner(model)


def voice_store(location: str, model_id: str, capacity: int) -> VoiceStore[Voice]:
    """The voices at `location` (a directory, gs:// or s3://) that fit the model `model_id`."""
    return VoiceStore(
        open_store(location),
        capacity=capacity,
        loads=Voice.from_bytes,
        dumps=lambda v: v.to_bytes(),
        model=model_id,
    )


def load_model(s: Settings) -> Loaded:
    """Fetch the bundle, create the sessions, warm up, open the voice store (the server's start
    and the batch job's). Raises BundleFetchError, StorageError, EngineError, ValueError, OSError."""
    t_all = time.perf_counter()
    # First, so that a bad lexicon stops the start before minutes of downloading.
    lexicon = load_lexicon(s.lexicon_path) if s.lexicon_path else None
    aligner = load_aligner(s)
    log.info(
        "loading %s (%s) on %s",
        s.model_path,
        s.model_variant,
        "GPU" if s.enable_gpu else "CPU",
        extra={
            "phase": "start",
            "cache_dir": str(s.cache_dir),
            "voices_path": s.voices_path,
            "max_concurrent_requests": s.max_concurrent_requests,
            "queue_size": s.queue_size,
            "intra_op_threads": s.intra_op_threads,
            "api_keys": len(s.api_keys),  # how many, never which
        },
    )
    store = open_store(s.model_path, chunk_bytes=s.download_chunk_bytes, workers=s.download_workers)
    report = fetch_bundle(store, s.model_variant, s.cache_dir, log=log)

    t0 = time.perf_counter()
    engine = Engine.load(
        report.bundle_dir,
        use_gpu=s.enable_gpu,
        intra_op_threads=s.intra_op_threads,
        verify=not report.verified,  # hashed once, by whoever fetched it
        prefix_cache_voices=s.prefix_cache_voices,
    )
    load_s = time.perf_counter() - t0
    log.info(
        "sessions created: %s on %s in %.2f s",
        report.bundle_dir.name,
        engine.provider,
        load_s,
        extra={
            "phase": "session_creation",
            "duration_s": round(load_s, 3),
            "provider": engine.provider,
            "variant": engine.manifest.get("variant"),
            "bytes": sum(int(e["size"]) for e in engine.manifest["files"].values()),
        },
    )

    t0 = time.perf_counter()
    engine.warm_up()
    warm_s = time.perf_counter() - t0
    log.info("warm-up run done in %.2f s", warm_s, extra={"phase": "warm_up", "duration_s": round(warm_s, 3)})

    manifest = engine.manifest
    model = manifest.get("model", {})
    voices = voice_store(voices_location(s.voices_path, manifest), engine.model_id, s.voice_cache_size)
    languages = [x for x in engine.languages if s.languages is None or x in s.languages]
    if not languages:
        raise ValueError(f"TTS_CONFIG_PATH languages {list(s.languages or [])} are not in the bundle")
    total_s = time.perf_counter() - t_all
    log.info(
        "model ready in %.2f s: %s %s (%s) on %s",
        total_s,
        model.get("name"),
        model.get("version"),
        manifest.get("variant"),
        engine.provider,
        extra={
            "phase": "ready",
            "duration_s": round(total_s, 3),
            "download_bytes": report.bytes,
            "cache_hit": report.cached,
            "download_throughput_mib_s": round(report.throughput_mib_s, 2),
            "voices_path": voices.location,
        },
    )
    scheduler = Scheduler(engine.decoder, s.max_batch)
    dictionaries = DictionaryStore(open_store(f"{s.voices_path}/pronunciation-dictionaries"))
    return Loaded(
        engine,
        voices,
        scheduler,
        manifest,
        languages,
        dict(s.synthesis_defaults),
        lexicon,
        dictionaries,
        aligner,
    )
