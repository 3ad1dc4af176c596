"""A live utterance: its text arrives in segments over time (a voice agent's LLM answer, cut by
function.text.incremental), and each is spoken, in order, the moment it is final.

Each segment goes through the same path as a streamed request (`SpeechService.stream`: the same
front-end, voice, admission and batching scheduler), so a segment takes a synthesis slot while it
is made. Two threads per utterance: a starter, which starts the next segment's synthesis while the
current one is still being heard, and a player, which takes the started segments in order and
hands their audio to `emit`. At most `ahead` segments are started beyond the one playing, and each
once the one before it is all decoded: one row per utterance in the batch, so the segment being
heard is decoded as fast as the batch allows (a second row of the same utterance would slow the
one the listener waits for, to make audio nobody hears yet), and the next one's decoding still
overlaps the current one's audio (the scheduler batches it beside every other utterance's row).

`cancel()` is barge-in: nothing more starts, the segment playing stops at its next chunk (its row
leaves the batch at the decoder's next step), those started ahead are closed, and it returns once
every slot the utterance held is free.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from function.engine import AudioChunk
from function.service.errors import InvalidInput, ServiceError, Unavailable
from function.service.speech import SpeechRequest, SpeechService, SpeechStream
from function.service.timestamps import Timing, joined, with_input_words

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentAudio:
    """A chunk of segment `segment`'s audio."""

    segment: int
    chunk: AudioChunk


@dataclass(frozen=True)
class SegmentEnd:
    """Segment `segment` is all heard: `text` as it came, `spoken` as the front-end read it ("" when
    it had nothing to speak, e.g. only punctuation), `samples` of audio."""

    segment: int
    text: str
    spoken: str
    samples: int
    # Its words' times from the segment's start (forced with an aligner, else estimated); None when
    # it had nothing to speak.
    timing: Timing | None = None


@dataclass(frozen=True)
class LiveEnd:
    """The utterance is over: every segment heard (finished), cut short (cancelled), or stopped by
    an error (failed: `error` says what)."""

    outcome: Literal["finished", "cancelled", "failed"]
    error: ServiceError | None = None


LiveEvent = SegmentAudio | SegmentEnd | LiveEnd

_END = object()  # no more segments


@dataclass
class _Started:
    index: int
    text: str
    stream: SpeechStream | None  # None: the segment had nothing to speak


class LiveSpeech:
    def __init__(
        self,
        service: SpeechService,
        template: SpeechRequest,
        emit: Callable[[LiveEvent], None],
        *,
        ahead: int = 1,
        name: str = "live",
    ) -> None:
        self._service = service
        self._template = template
        self._emit = emit
        self._segments: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._started: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._room = threading.Semaphore(ahead + 1)  # started and not yet heard
        self._cancelled = threading.Event()
        self._ended = False
        # What cancel() stops from its own thread: the segment playing, and the one starting.
        self._stoppers: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._starter = threading.Thread(target=self._start_segments, name=f"{name}-start", daemon=True)
        self._player = threading.Thread(target=self._play_segments, name=f"{name}-play", daemon=True)
        self._starter.start()
        self._player.start()

    # ---- what the adapter calls --------------------------------------------------------------
    def say(self, text: str) -> None:
        """Speak `text` after what was said before (ignored once ended or cancelled)."""
        if not self._ended and not self._cancelled.is_set():
            self._segments.put(text)

    def end(self) -> None:
        """No more text: LiveEnd("finished") follows the last segment's audio."""
        if not self._ended:
            self._ended = True
            self._segments.put(_END)

    def cancel(self, timeout: float = 30.0) -> float:
        """Barge-in: stop now. Returns the seconds until the slots of the segments playing and
        started ahead are free (a segment still waiting in the service's queue holds none, and
        gives back at once the slot it gets)."""
        t0 = time.perf_counter()
        with self._lock:
            self._cancelled.set()
            stoppers = list(self._stoppers.values())
        for stop in stoppers:
            stop()  # their rows leave the batch before the decoder's next step
        self._segments.put(_END)
        self._started.put(_END)  # the player may be waiting for a segment that will not come
        self._player.join(timeout)
        return time.perf_counter() - t0

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the utterance is over (its LiveEnd emitted) within `timeout`."""
        self._player.join(timeout)
        return not self._player.is_alive()

    # ---- the two threads ---------------------------------------------------------------------
    def _start_segments(self) -> None:
        index = 0
        before: SpeechStream | None = None  # the segment started last
        while True:
            text = self._segments.get()
            if text is _END or self._cancelled.is_set():
                self._started.put(_END)
                return
            assert isinstance(text, str)
            while not self._room.acquire(timeout=0.1):
                if self._cancelled.is_set():
                    return
            while before is not None and not before.decoded(0.1):
                if self._cancelled.is_set():
                    self._room.release()
                    return
            try:
                stream = self._start(text)
            except ServiceError as exc:
                self._room.release()
                self._started.put(exc)
                return
            with self._lock:
                keep = not self._cancelled.is_set()
                if keep:
                    self._started.put(_Started(index, text, stream))
            if not keep:
                # Cancelled meanwhile (the player has drained the queue, or will not look again).
                if stream is not None:
                    stream.close()
                self._room.release()
                return
            index += 1
            before = stream

    def _start(self, text: str) -> SpeechStream | None:
        """Start one segment's synthesis (None: it has nothing to speak); ServiceError if it cannot."""
        try:
            return self._service.stream(
                replace(self._template, text=text), on_start=lambda stop: self._stoppable("starting", stop)
            )
        except InvalidInput as exc:
            if exc.code != "empty_text":
                raise
            return None  # only punctuation or space (or cancelled before its first audio)
        except ServiceError:
            raise
        except Exception:
            log.exception("a live segment could not start")
            raise Unavailable("synthesis failed; retry shortly", retry_after=5) from None
        finally:
            with self._lock:
                self._stoppers.pop("starting", None)

    def _play_segments(self) -> None:
        outcome: LiveEnd = LiveEnd("finished")
        try:
            while True:
                item = self._started.get()
                if item is _END:
                    break
                if isinstance(item, ServiceError):
                    outcome = LiveEnd("failed", item)
                    break
                assert isinstance(item, _Started)
                if not self._play(item):
                    outcome = LiveEnd("cancelled")
                    break
            if self._cancelled.is_set():
                outcome = LiveEnd("cancelled")
        except ServiceError as exc:
            outcome = LiveEnd("failed", exc)
        except ConnectionError:
            outcome = LiveEnd("cancelled")  # `emit` says the listener is gone
        except Exception:
            log.exception("a live utterance failed")
            outcome = LiveEnd("failed", Unavailable("synthesis failed; retry shortly", retry_after=5))
        finally:
            with self._lock:
                self._cancelled.set()  # whatever ended this, nothing more may start
            self._segments.put(_END)
            self._drain()
        try:
            self._emit(outcome)
        except Exception:  # the listener is gone: nobody to tell
            log.debug("the utterance's end could not be delivered", exc_info=True)

    def _play(self, item: _Started) -> bool:
        """Hand one segment's audio to `emit`; False when cancelled meanwhile."""
        stream, samples = item.stream, 0
        if stream is not None:
            self._stoppable("playing", stream.cancel)
        try:
            if stream is not None:
                for chunk in stream:
                    if self._cancelled.is_set():
                        return False
                    self._emit(SegmentAudio(item.index, chunk))
                    samples += int(chunk.samples.shape[0])
        finally:
            with self._lock:
                self._stoppers.pop("playing", None)
            if stream is not None:
                stream.close()
            self._room.release()
        if self._cancelled.is_set():
            return False
        spoken = stream.prepared.text if stream is not None else ""
        self._emit(SegmentEnd(item.index, item.text, spoken, samples, _timing(stream, item.text)))
        return True

    def _stoppable(self, role: str, stop: Callable[[], None]) -> None:
        with self._lock:
            self._stoppers[role] = stop
            cancelled = self._cancelled.is_set()
        if cancelled:
            stop()

    def _drain(self) -> None:
        """Close what was started ahead and will not be heard (the starter, seeing the cancel,
        closes anything it starts later itself)."""
        while True:
            try:
                item = self._started.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Started) and item.stream is not None:
                item.stream.close()
                self._room.release()


def _timing(stream: SpeechStream | None, text: str) -> Timing | None:
    """A heard segment's word times: waited for here, so its alignment is sent before the next
    segment's audio (with an aligner, ~6% of the segment's synthesis time; the estimate, ~1 ms)."""
    if stream is None or stream.timer is None:
        return None
    timing = joined(stream.timer.take(wait=True))
    read_word = stream.prepared.read_word
    return timing if read_word is None else with_input_words(timing, text, read_word)
