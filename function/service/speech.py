"""The speech service: text -> voice -> engine, under the concurrency limit, through the scheduler.

Every operation a client can ask for is one method here, raising only `ServiceError`s; the HTTP
layer parses requests, calls these, and renders results. Whole-file and streamed synthesis share
one preparation path and one error path; a stream holds its synthesis slot until it is closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from function.audio import AudioDecodeError, decode_reference
from function.engine import (
    SAMPLING_RANGES,
    AudioChunk,
    PieceSpan,
    ReferenceAudioError,
    Segment,
    SynthesisParams,
    TextError,
    UnsupportedLanguageError,
    Voice,
    VoiceFormatError,
)
from function.engine.decoding import Sequence
from function.engine.scheduler import SchedulerFailedError, SchedulerStoppedError
from function.quality.assess import PieceOutcome, Quality, assess
from function.quality.policy import QualityPolicy
from function.quality.signals import cosine_similarity, normalize_loudness
from function.service.errors import (
    InvalidInput,
    ModelLoading,
    Overloaded,
    ServiceError,
    StoreUnavailable,
    Unavailable,
    VoiceNameTaken,
    VoiceNotFound,
    VoiceUnusable,
)
from function.service.limiter import ConcurrencyLimiter
from function.service.model import Loaded, ModelSource
from function.service.ports import Decode, Latent
from function.service.pronunciation import Locator, PronunciationService
from function.service.timestamps import StreamTimer, Timing, with_input_words, word_timing
from function.storage import StorageError
from function.text import UserLexicon, normalize_bangla_text
from function.text.pronunciation import MAX_DICTIONARIES
from function.text.ssml import SsmlError, inline_breaks, is_ssml, parse_ssml
from function.voices import EVERYONE, Owner, VoiceInfo, VoiceNameTakenError, VoiceNotFoundError
from function.voices.store import valid_voice_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    language: str
    voice_id: str | None = None
    speaker_wav: bytes | None = None  # a reference clip instead of a stored voice
    params: dict[str, Any] = field(default_factory=dict)
    voice: Voice | None = None  # a voice the caller already made (the batch job reuses its clips')
    # Whose voices `voice_id` may name: the HTTP layer passes the caller's; trusted in-process
    # callers (the batch job) may use every voice.
    owner: Owner = EVERYONE
    # SSML: None reads text that starts with <speak> as SSML, and <break …/> tags in plain text as
    # pauses; True reads the text as SSML in any case (elements with no <speak> around them);
    # False reads it all as plain text.
    ssml: bool | None = None
    # Pronunciation dictionaries of the owner's, in order (the first rule for a word wins).
    dictionaries: tuple[Locator, ...] = ()
    # Word timestamps with the audio (Speech.timing): forced with TTS_ALIGNER_MODEL, else estimated.
    timestamps: bool = False


@dataclass(frozen=True)
class Reading:
    """Text as the engine reads it."""

    text: str  # normalized (an SSML script's words, joined)
    script: tuple[Segment, ...] | None  # SSML: the segments, with speeds, languages and breaks
    pronunciation: list[dict[str, Any]]  # the lexicon rules that applied
    # One word as sent -> how it is read alone, with the same reader (plain text; None for SSML):
    # what maps word times back to the words as sent.
    read_word: Callable[[str], str] | None = None


@dataclass
class Prepared:
    text: str  # normalized: what the engine speaks (an SSML script's words, joined)
    voice: Voice
    params: SynthesisParams
    queue_ms: float = 0.0
    normalize_ms: float = 0.0
    voice_ms: float = 0.0
    script: tuple[Segment, ...] | None = None  # SSML: the text in segments, with speeds and breaks
    pronunciation: list[dict[str, Any]] = field(default_factory=list)  # the lexicon rules that applied
    read_word: Callable[[str], str] | None = None  # see Reading

    @property
    def speech(self) -> str | tuple[Segment, ...]:
        """What the engine is given."""
        return self.text if self.script is None else self.script

    @property
    def longest_break(self) -> float:
        return max((seg.pause_after for seg in self.script or ()), default=0.0)


@dataclass
class Speech:
    audio: npt.NDArray[np.float32]
    sample_rate: int
    prepared: Prepared
    synthesis_ms: float
    quality: Quality | None = None  # None when TTS_QUALITY_CHECKS is off
    timing: Timing | None = None  # when the request asked for timestamps

    @property
    def seconds(self) -> float:
        return float(self.audio.shape[0] / self.sample_rate)


def engine_error(exc: Exception) -> ServiceError:
    """The engine's input errors carry user-readable messages; each becomes its domain error."""
    if isinstance(exc, UnsupportedLanguageError):
        return InvalidInput(str(exc), code="unsupported_language")
    if isinstance(exc, ReferenceAudioError):
        return InvalidInput(str(exc), code="invalid_reference_audio")
    if isinstance(exc, TextError):
        return InvalidInput(str(exc), code="invalid_text")
    if isinstance(exc, VoiceFormatError):
        return VoiceUnusable(str(exc))
    return InvalidInput(str(exc))


_ENGINE_INPUT_ERRORS = (UnsupportedLanguageError, TextError, ReferenceAudioError, VoiceFormatError)
# The decode thread cannot take work: shutting down, or failed (the watchdog is ending the process).
_CANNOT_DECODE = (SchedulerFailedError, SchedulerStoppedError)


class SpeechStream(Iterator[AudioChunk]):
    """A started synthesis: the first chunk is already made (so errors came out before any audio);
    iterating yields it and the rest. `close()` stops generation and frees the slot, exactly once.
    A stream that ran to its end has its `quality` (audio already sent cannot be retried)."""

    def __init__(
        self,
        first: AudioChunk,
        rest: Iterator[AudioChunk],
        prepared: Prepared,
        release: Any,
        check: Callable[[npt.NDArray[np.float32]], Quality | None] | None = None,
        cancel: Callable[[], None] = lambda: None,
        timer: StreamTimer | None = None,
        decoded: Callable[[float], bool] = lambda timeout: True,
    ) -> None:
        self.prepared = prepared
        self.timer = timer  # word times, piece by piece, when the request asked for them
        self.cancel = cancel
        self.decoded = decoded  # (timeout) -> whether its codes are all made: the decoder is free of it
        self.quality: Quality | None = None
        self._pending: AudioChunk | None = first
        self._rest = rest
        self._release = release
        self._check = check
        self._sent: list[npt.NDArray[np.float32]] = []

    def __next__(self) -> AudioChunk:
        if self._pending is not None:
            chunk, self._pending = self._pending, None
        else:
            try:
                chunk = next(self._rest)
            except StopIteration:
                if self.timer is not None:
                    self.timer.finish()
                if self._check is not None and self._sent:
                    try:
                        self.quality = self._check(np.concatenate(self._sent))
                    except Exception:
                        # The audio is all made and partly sent: a failing check must not cut it.
                        log.exception("the quality check of a finished stream failed; the stream ends whole")
                self.close()
                raise
        if self._check is not None:
            self._sent.append(chunk.samples)
        if self.timer is not None:
            self.timer.add(chunk)
        return chunk

    def __del__(self) -> None:
        # The safety net: whoever took this stream must close it (the HTTP layer hands it to the
        # response body, which closes it however the response ends). One that is dropped unclosed
        # would hold its synthesis slot for the life of the process.
        if getattr(self, "_release", None) is not None:
            log.warning("a synthesis stream was dropped without close(): its slot is released now")
            self.close()

    def close(self) -> None:
        """Stop generation and free the slot (from the thread that iterates; `cancel` is the one
        another thread may call: it stops the decoding at the next step, and the iteration ends)."""
        if self._release is None:
            return
        release, self._release = self._release, None
        try:
            close = getattr(self._rest, "close", None)
            if close is not None:
                close()  # frees the stream's decoding row at the scheduler's next step
        finally:
            release()


class SpeechService:
    def __init__(self, model: ModelSource, limiter: ConcurrencyLimiter, quality: QualityPolicy) -> None:
        self.model = model
        self.limiter = limiter
        self.quality = quality
        self.pronunciation = PronunciationService(model)
        # Streams' word times are placed here, off the threads that send audio (one thread: the
        # aligner's session has its own intra-op threads).
        self._aligning = ThreadPoolExecutor(max_workers=1, thread_name_prefix="word-align")

    def loaded(self) -> Loaded:
        loaded = self.model.loaded
        if loaded is None:
            raise ModelLoading("the model is still loading; retry in a few seconds", retry_after=5)
        return loaded

    # ---- synthesis ---------------------------------------------------------------------------
    def synthesize(self, req: SpeechRequest) -> Speech:
        loaded = self.loaded()
        with self._slot() as queue_ms:
            prepared = self._prepare(loaded, req, queue_ms)
            t0 = time.perf_counter()
            try:
                audio, quality, spans = self._synthesize_checked(loaded, prepared)
            except _ENGINE_INPUT_ERRORS as exc:
                raise engine_error(exc) from None
            except _CANNOT_DECODE as exc:
                raise Unavailable(f"{exc}; retry shortly", retry_after=5) from None
            synthesis_ms = (time.perf_counter() - t0) * 1000
        # After the slot: aligning needs no decoding row.
        sr = loaded.engine.sample_rate
        timing = None
        if req.timestamps:
            timing = word_timing(loaded.aligner, audio, sr, spans)
            if prepared.read_word is not None:
                timing = with_input_words(timing, req.text, prepared.read_word)
        return Speech(audio, sr, prepared, synthesis_ms, quality, timing)

    def _synthesize_checked(
        self, loaded: Loaded, prepared: Prepared
    ) -> tuple[npt.NDArray[np.float32], Quality | None, list[PieceSpan]]:
        """Synthesize, check, and retry with another seed while a retryable warning remains (up to
        TTS_QUALITY_RETRIES more attempts); the best attempt (fewest retryable warnings, the first
        on a tie) is returned, saying how many attempts were made and why."""
        policy = self.quality
        params = prepared.params
        audio, pieces, spans = self._run(loaded, prepared, params)
        if not policy.enabled:
            return audio, None, spans
        best = audio, self._assess(loaded, prepared, audio, pieces, params), spans
        reasons = best[1].retry_reasons(policy)
        retried_for = tuple(reasons)
        attempts = 1
        # Greedy decoding is deterministic and a fixed length is what was asked: a new seed changes nothing.
        while reasons and attempts <= policy.retries and not params.greedy and not _length_fixed(params):
            params = replace(params, seed=None if params.seed is None else (params.seed + 1) % 2**32)
            audio, pieces, spans = self._run(loaded, prepared, params)
            quality = self._assess(loaded, prepared, audio, pieces, params)
            attempts += 1
            reasons = quality.retry_reasons(policy)
            if len(reasons) < len(best[1].retry_reasons(policy)):
                best = audio, quality, spans
        audio, quality, spans = best
        quality = replace(quality, attempts=attempts, retried_for=retried_for if attempts > 1 else ())
        if policy.target_lufs is not None:
            audio, gain = normalize_loudness(
                audio, loaded.engine.sample_rate, policy.target_lufs, measured=quality.loudness_lufs
            )
            lufs = None if quality.loudness_lufs is None else quality.loudness_lufs + gain
            quality = replace(quality, gain_db=gain, loudness_lufs=lufs)
        return audio, quality, spans

    @staticmethod
    def _run(
        loaded: Loaded, prepared: Prepared, params: SynthesisParams
    ) -> tuple[npt.NDArray[np.float32], list[PieceOutcome], list[PieceSpan]]:
        decode, seqs = _observed(loaded.scheduler.decode)
        spans: list[PieceSpan] = []
        audio = loaded.engine.synthesize(prepared.speech, prepared.voice, params, decode=decode, spans=spans)
        return audio, [PieceOutcome(len(q.codes), q.limit, q.stopped) for q in seqs], spans

    def _assess(
        self,
        loaded: Loaded,
        prepared: Prepared,
        audio: npt.NDArray[np.float32],
        pieces: list[PieceOutcome],
        params: SynthesisParams,
    ) -> Quality:
        t0 = time.perf_counter()
        engine, rate = loaded.engine, loaded.engine.sample_rate
        reference = prepared.voice.speaker_embedding

        def similarity(speech: npt.NDArray[np.float32]) -> float:
            return cosine_similarity(engine.embed_speaker(speech, rate), reference)

        policy = self.quality
        if prepared.longest_break:  # a break that was asked for is no fault
            policy = replace(policy, max_silence_s=policy.max_silence_s + prepared.longest_break)
        quality = assess(
            audio,
            rate,
            text=prepared.text,
            language=params.language,
            policy=policy,
            speed=params.speed,
            pieces=pieces,
            similarity=similarity,
            length_fixed=_length_fixed(params),
        )
        return replace(quality, check_ms=(time.perf_counter() - t0) * 1000)

    def stream(
        self, req: SpeechRequest, on_start: Callable[[Callable[[], None]], None] | None = None
    ) -> SpeechStream:
        """Start a streamed synthesis; returns once its first chunk is made. `on_start(cancel)` gets,
        before that wait, what stops this synthesis from another thread (SpeechStream.cancel)."""
        loaded = self.loaded()
        queue_ms = self._acquire()
        held_from = time.monotonic()

        def release() -> None:
            self.limiter.release(time.monotonic() - held_from)

        chunks: Iterator[AudioChunk] | None = None
        try:
            prepared = self._prepare(loaded, req, queue_ms)
            cancellable = _Cancellable(loaded.scheduler.decode)
            if on_start is not None:
                on_start(cancellable.cancel)
            decode, seqs = _observed(cancellable)
            chunks = loaded.engine.stream(prepared.speech, prepared.voice, prepared.params, decode=decode)
            first = next(chunks)
        except StopIteration:
            release()
            raise InvalidInput("the text produced no audio; send words to speak", code="empty_text") from None
        except _ENGINE_INPUT_ERRORS as exc:
            _close(chunks)
            release()
            raise engine_error(exc) from None
        except _CANNOT_DECODE as exc:
            _close(chunks)
            release()
            raise Unavailable(f"{exc}; retry shortly", retry_after=5) from None
        except BaseException:
            _close(chunks)
            release()
            raise

        def check(audio: npt.NDArray[np.float32]) -> Quality:
            pieces = [PieceOutcome(len(q.codes), q.limit, q.stopped) for q in seqs]
            return self._assess(loaded, prepared, audio, pieces, prepared.params)

        timer = StreamTimer(loaded.aligner, self._aligning) if req.timestamps else None
        return SpeechStream(
            first,
            chunks,
            prepared,
            release,
            check if self.quality.enabled else None,
            cancellable.cancel,
            timer,
            cancellable.decoded,
        )

    # ---- voices ------------------------------------------------------------------------------
    def create_voice(
        self, clip: bytes, name: str | None, owner: Owner, dictionaries: tuple[Locator, ...] = ()
    ) -> VoiceInfo:
        """A voice cloned from `clip` and stored; `dictionaries`: the owner's pronunciation
        dictionaries its speech is read with unless a request names them (checked first)."""
        loaded = self.loaded()
        self.pronunciation.check(owner, dictionaries)
        with self._slot():
            voice, seconds = self._voice_from_clip(loaded, clip)
        pairs = tuple((d.dictionary_id, d.version_id) for d in dictionaries)
        with _store_errors():
            try:
                return loaded.voices.add(
                    voice, name=name, reference_seconds=seconds, owner=owner.id, dictionaries=pairs
                )
            except VoiceNameTakenError:
                raise VoiceNameTaken(
                    f"a voice named {name!r} already exists: pick another name, or delete that voice first"
                ) from None

    def find_voice(self, name: str, owner: Owner) -> VoiceInfo:
        loaded = self.loaded()
        with _store_errors():
            try:
                return loaded.voices.find(name, owner)
            except VoiceNotFoundError:
                raise VoiceNotFound(
                    f"no voice named {name!r}: create one with POST /voices, list them with GET /voices"
                ) from None

    def resolve_voice(self, ref: str, aliases: Mapping[str, str], owner: Owner) -> str:
        """A voice id from what a client calls a voice: an id, an alias (TTS_VOICE_ALIASES), a name.
        Whether the owner may use that voice is checked when it is loaded."""
        if valid_voice_id(ref):
            return ref
        if ref in aliases:
            return aliases[ref]
        return self.find_voice(ref, owner).voice_id

    def voice_from_clip(self, clip: bytes) -> Voice:
        """A voice cloned from a reference clip, not stored (a caller that reuses one clip keeps it)."""
        voice, _ = self._voice_from_clip(self.loaded(), clip)
        return voice

    def list_voices(self, owner: Owner) -> list[VoiceInfo]:
        loaded = self.loaded()
        with _store_errors():
            return loaded.voices.list(owner)

    def voice_info(self, voice_id: str, owner: Owner) -> VoiceInfo:
        loaded = self.loaded()
        with _store_errors():
            try:
                return loaded.voices.info(voice_id, owner)
            except VoiceNotFoundError:
                raise _not_found(voice_id) from None

    def set_voice_dictionaries(
        self, voice_id: str, owner: Owner, dictionaries: tuple[Locator, ...]
    ) -> VoiceInfo:
        """Replace the voice's default pronunciation dictionaries (the caller's own, checked)."""
        loaded = self.loaded()
        self.pronunciation.check(owner, dictionaries)
        pairs = tuple((d.dictionary_id, d.version_id) for d in dictionaries)
        with _store_errors():
            try:
                return loaded.voices.set_dictionaries(voice_id, pairs, owner)
            except VoiceNotFoundError:
                raise _not_found(voice_id) from None

    def delete_voice(self, voice_id: str, owner: Owner) -> None:
        loaded = self.loaded()
        with _store_errors():
            try:
                loaded.voices.delete(voice_id, owner)
            except VoiceNotFoundError:
                raise _not_found(voice_id) from None

    # ---- the shared path ---------------------------------------------------------------------
    def _acquire(self) -> float:
        t0 = time.perf_counter()
        busy = self.limiter.acquire()
        if busy is not None:
            slots = f"all {self.limiter.max_running} synthesis slots are busy"
            why = (
                "and the wait queue is full"
                if busy.queue_full
                else f"and none freed within the {self.limiter.queue_timeout_s:g} s this request waited "
                "(TTS_QUEUE_TIMEOUT_SECONDS)"
            )
            raise Overloaded(f"{slots} {why}; retry in {busy.retry_after} s", retry_after=busy.retry_after)
        return (time.perf_counter() - t0) * 1000

    @contextmanager
    def _slot(self) -> Iterator[float]:
        queue_ms = self._acquire()
        t0 = time.monotonic()
        try:
            yield queue_ms
        finally:
            self.limiter.release(time.monotonic() - t0)

    def normalize(self, req: SpeechRequest) -> Reading:
        """What the engine would be given for `req` (no synthesis, no slot): the normalized text,
        the SSML script if any, and the pronunciation rules that applied."""
        loaded = self.loaded()
        return self._read(loaded, req, loaded.params(req.language, req.params).speed)

    def _read(
        self, loaded: Loaded, req: SpeechRequest, speed: float, defaults: tuple[Locator, ...] = ()
    ) -> Reading:
        """The text as the engine reads it, with the request's dictionaries, then the voice's
        (`defaults`) that the request does not name."""
        if len(req.dictionaries) > MAX_DICTIONARIES:
            raise InvalidInput(
                f"at most {MAX_DICTIONARIES} pronunciation dictionaries a request", code="invalid_dictionary"
            )
        named = {loc.dictionary_id for loc in req.dictionaries}
        locators = (*req.dictionaries, *(loc for loc in defaults if loc.dictionary_id not in named))
        reading = self.pronunciation.reading(req.owner, locators)
        read = _Reader(loaded, reading.lexicon)
        document = _ssml_document(req)
        script = None if document is None else self._script(read, document, req, speed)
        text = (
            read(req.text, req.language)
            if script is None
            else " ".join(seg.text for seg in script if seg.text)
        )
        read_word = None
        if script is None:
            alone = _Reader(loaded, reading.lexicon)  # its own: `read.matched` is this request's

            def read_word(word: str) -> str:
                return alone(word, req.language, allow_empty=True)

        return Reading(text, script, reading.matches(read.matched), read_word)

    def _prepare(self, loaded: Loaded, req: SpeechRequest, queue_ms: float) -> Prepared:
        t0 = time.perf_counter()
        params = loaded.params(req.language, req.params)
        defaults: tuple[Locator, ...] = ()
        if req.voice is not None:
            voice = req.voice
        elif req.voice_id is not None:
            voice, info = self._voice_by_id(loaded, req.voice_id, req.owner)
            defaults = tuple(Locator(d, v) for d, v in info.dictionaries)
        elif req.speaker_wav is not None:
            voice, _ = self._voice_from_clip(loaded, req.speaker_wav)
        else:
            raise InvalidInput("send a voice id or a reference clip", code="invalid_speaker")
        t1 = time.perf_counter()
        # The voice's owner chose its default dictionaries: they are read as the voice's owner's.
        reading = self._read(loaded, req, params.speed, defaults)
        t2 = time.perf_counter()
        if not _length_fixed(params):
            params = replace(params, token_budget=self.quality.token_budget(req.language))
        return Prepared(
            reading.text,
            voice,
            params,
            queue_ms,
            (t2 - t1) * 1000,
            (t1 - t0) * 1000,
            reading.script,
            reading.pronunciation,
            reading.read_word,
        )

    @staticmethod
    def _script(read: _Reader, document: str, req: SpeechRequest, speed: float) -> tuple[Segment, ...]:
        """SSML as engine segments: each part normalized in its language, at its share of `speed`."""
        try:
            parts = parse_ssml(document)
        except SsmlError as exc:
            raise InvalidInput(f"SSML: {exc}", code="invalid_ssml") from None
        script = []
        _, slowest, fastest = SAMPLING_RANGES["speed"]
        for part in parts:
            language = part.language or req.language
            if language not in read.loaded.languages:
                raise InvalidInput(
                    f"SSML: xml:lang {language!r} is not offered; "
                    f"use one of: {', '.join(read.loaded.languages)}",
                    code="unsupported_language",
                )
            if not slowest <= speed * part.rate <= fastest:
                raise InvalidInput(
                    f"SSML: <prosody rate> makes the speed {speed * part.rate:g} (the request's {speed:g} "
                    f"times {part.rate:g}); keep it within {slowest:g} to {fastest:g}",
                    code="invalid_text",
                )
            text = read(part.text, language, allow_empty=True) if part.text else ""
            if text or part.pause_after:
                script.append(
                    Segment(
                        text,
                        speed=None if part.rate == 1 else speed * part.rate,
                        language=part.language,
                        pause_after=part.pause_after,
                    )
                )
        if not any(seg.text for seg in script):
            raise InvalidInput(
                "the SSML has nothing to speak after normalization; put words in it", code="empty_text"
            )
        return tuple(script)

    @staticmethod
    def _voice_from_clip(loaded: Loaded, clip: bytes) -> tuple[Voice, float]:
        try:
            audio, rate = decode_reference(clip)
        except AudioDecodeError as exc:
            raise InvalidInput(str(exc), code="invalid_reference_audio") from None
        try:
            voice = loaded.engine.make_voice(audio, rate)
        except (ReferenceAudioError, ValueError) as exc:
            raise engine_error(exc) from None
        return voice, audio.shape[0] / rate

    @staticmethod
    def _voice_by_id(loaded: Loaded, voice_id: str, owner: Owner) -> tuple[Voice, VoiceInfo]:
        with _store_errors():
            try:
                return loaded.voices.get_with_info(voice_id, owner)
            except VoiceFormatError as exc:  # the stored payload is damaged, or from an older format
                raise VoiceUnusable(str(exc)) from None
            except VoiceNotFoundError:
                raise _not_found(voice_id) from None


class _Reader:
    """Text -> what the engine reads: the Bangla front-end with the request's lexicon (other
    languages are the engine's own to read), noting which lexicon entries applied."""

    def __init__(self, loaded: Loaded, lexicon: UserLexicon | None) -> None:
        self.loaded = loaded
        self.lexicon = lexicon
        self.matched: list[str] = []
        self.nukta: Literal["composed", "decomposed"] = (
            "composed" if loaded.engine.nukta_form == "composed" else "decomposed"
        )

    def __call__(self, text: str, language: str, *, allow_empty: bool = False) -> str:
        out = (
            normalize_bangla_text(text, nukta=self.nukta, lexicon=self.lexicon, matched=self.matched)
            if language == "bn"
            else text.strip()
        )
        if not out.strip() and not allow_empty:
            raise InvalidInput(
                "the text has nothing to speak after normalization; send words", code="empty_text"
            )
        return out


def _ssml_document(req: SpeechRequest) -> str | None:
    """The request's text as an SSML document, or None for plain text."""
    if req.ssml is False:
        return None
    if is_ssml(req.text):
        return req.text
    if req.ssml:
        return f"<speak>{req.text}</speak>"  # SSML's elements without the <speak> around them
    return inline_breaks(req.text)  # plain text, but a <break time="1s"/> in it is a pause


def _not_found(voice_id: str) -> VoiceNotFound:
    return VoiceNotFound(f"no voice {voice_id!r}: create one with POST /voices, list them with GET /voices")


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except StorageError as exc:
        raise StoreUnavailable(
            f"the voice store is unavailable ({exc}); retry shortly", retry_after=5
        ) from None


def _length_fixed(params: SynthesisParams) -> bool:
    """The caller set the token count (benchmarks do): reaching it is no runaway."""
    return params.min_new_tokens > 0 or params.max_new_tokens is not None


def _observed(decode: Decode) -> tuple[Decode, list[Sequence]]:
    """`decode` that also keeps each sequence it decodes, to read how its generation ended."""
    seqs: list[Sequence] = []

    def observe(seq: Sequence) -> Iterator[Latent]:
        seqs.append(seq)
        return decode(seq)

    return observe, seqs


class _Cancellable:
    """`decode`, stoppable from another thread: `cancel()` marks each sequence's latent stream
    closed (the scheduler drops its row before its next step and ends the stream), and any later
    sequence of the same text (its next sentence) gets no latents at all."""

    def __init__(self, decode: Decode) -> None:
        self._decode = decode
        self._lock = threading.Lock()
        self._streams: list[Iterator[Latent]] = []
        self._cancelled = False

    def __call__(self, seq: Sequence) -> Iterator[Latent]:
        with self._lock:
            if self._cancelled:
                return iter(())
            stream = self._decode(seq)
            self._streams.append(stream)
            return stream

    def decoded(self, timeout: float) -> bool:
        """Whether every sequence started so far is decoded (or stopped) within `timeout` seconds; a
        plain generator (no scheduler) decodes only as it is read, so it never runs ahead."""
        deadline = time.monotonic() + timeout
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            ended = getattr(stream, "ended", None)
            if ended is not None and not ended.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            streams = list(self._streams)
        for stream in streams:
            close = getattr(stream, "close", None)
            if close is not None:
                # The scheduler's LatentStream.close() only sets a flag; a plain generator (no
                # scheduler) cannot be closed while it runs, and stops at the next sentence instead.
                with suppress(ValueError):
                    close()


def _close(chunks: Iterator[AudioChunk] | None) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
