"""Continuous batching of GPT decode steps: one thread, one GPT call per step for every running row.

Every request's text pieces become `Sequence`s submitted here. Between steps the scheduler admits
waiting sequences in arrival order (prefill, then a row in the batch) up to `max_batch` rows; each
step advances every row by one token, so no admitted request waits on another, and a finished or
cancelled row leaves the batch before the next step. Latents go back to the submitting thread
through a queue; that thread runs the vocoder, so vocoding overlaps the next decode steps.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from function.engine.decoding import DecodeBatch, RowCache, Sequence

log = logging.getLogger(__name__)
Latent = npt.NDArray[np.float32]


class Decoder(Protocol):
    """What the scheduler needs of the engine's GPT (function.engine.decoding.GptDecoder)."""

    def prefill(self, seq: Sequence) -> tuple[Latent, RowCache]: ...

    def step(self, batch: DecodeBatch) -> Latent: ...


class SchedulerStoppedError(RuntimeError):
    """The scheduler was stopped (the process is shutting down) before this sequence finished."""


class SchedulerFailedError(RuntimeError):
    """The decode thread is gone, wedged, or every model call fails: this process cannot decode."""


class DecodeFailedError(RuntimeError):
    """A GPT call failed for this sequence. One instance per row, so that each request's traceback
    is its own (the model's exception is the cause)."""


# A decode thread that has work and has not finished a loop for this long is wedged (a CPU prefill
# of the longest prompt takes about a second; a GPT step, tens of milliseconds).
WEDGED_AFTER_S = 60.0
# This many model calls failing in a row, with no success between, means the model itself fails.
FAILING_AFTER = 5
# How often a request waiting for its next latent looks at the decode thread's health.
_POLL_S = 1.0


_END = object()


class LatentStream(Iterator[Latent]):
    """The latents of one submitted sequence, in order; `close()` frees its row at the next step.
    A wait for the next latent ends with SchedulerFailedError if the decode thread fails meanwhile."""

    def __init__(
        self,
        seq: Sequence,
        failure: Any = lambda: None,
        hold: Callable[[LatentStream, bool], None] = lambda stream, on: None,
    ) -> None:
        self.seq = seq
        self.cancelled = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._failure = failure  # () -> why the decode thread cannot serve, or None
        self._hold = hold
        self.delivered = 0  # latents handed over so far
        self.ended = threading.Event()  # the scheduler is done with it: decoded, failed or dropped
        self.first_audio_at = 0  # after this many latents the consumer makes its first audio (0: none)

    def __next__(self) -> Latent:
        while True:
            try:
                item = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                why = self._failure()
                if why is not None:
                    self._queue.put(_END)
                    raise SchedulerFailedError(why) from None
        if item is _END:
            self._queue.put(_END)  # later calls end too
            raise StopIteration
        if isinstance(item, BaseException):
            self._queue.put(_END)
            raise item
        latent: Latent = item
        return latent

    def close(self) -> None:
        self.cancelled = True

    def expect_first_audio(self, after: int) -> None:
        """The consumer will vocode its first audio once it has `after` latents (see first_audio)."""
        self.first_audio_at = after

    @contextlib.contextmanager
    def first_audio(self) -> Iterator[None]:
        """Around the consumer's making of a request's first audio. From the latent named by
        expect_first_audio until this block ends, a decode thread with this stream as its only row
        and nobody waiting makes no step: on a few cores the two would share them, and the step it
        runs ahead gains less than the first audio loses (a lone request then hears its first
        audio as soon as it would decoding alone). With other rows running, decoding goes on."""
        self._hold(self, True)
        try:
            yield
        finally:
            self._hold(self, False)

    def _put(self, item: Any) -> None:
        self._queue.put(item)
        if item is _END or isinstance(item, BaseException):
            self.ended.set()


@dataclass
class SchedulerStats:
    running: int
    waiting: int
    steps: int  # GPT calls for running rows
    tokens: int  # codes made, by steps and prefills
    max_batch: int
    prefills: int = 0  # GPT calls admitting a sequence (its first code)


class Scheduler:
    def __init__(self, decoder: Decoder, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._decoder = decoder
        self.max_batch = max_batch
        self._waiting: deque[LatentStream] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._steps = 0
        self._prefills = 0
        self._tokens = 0
        self._running = 0
        self._streams: dict[int, LatentStream] = {}  # id(sequence) -> its stream, while running
        self._holding: set[int] = set()  # id() of the streams vocoding their first audio
        # Liveness: when the loop last went round (or started waiting), and model calls failing in a row.
        self._beat = time.monotonic()
        self._idle = True
        self._failures = 0
        self._died: str | None = None
        self._thread = threading.Thread(target=self._run, name="decode-scheduler", daemon=True)
        self._thread.start()

    def decode(self, seq: Sequence) -> LatentStream:
        """Queue a sequence; iterate the result for its latents (one per audio code)."""
        stream = LatentStream(seq, self.failure, self._hold)
        with self._cond:
            if self._stopping:
                raise SchedulerStoppedError("the decode scheduler has stopped")
            why = self._failure_locked()
            if why is not None:
                raise SchedulerFailedError(why)
            self._waiting.append(stream)
            self._cond.notify_all()  # the loop may be waiting for work, or for a first audio
        return stream

    def failure(self) -> str | None:
        """Why this scheduler cannot decode (its thread died or is wedged, or every model call
        fails), or None while it can. The service turns /health red on it and exits."""
        with self._cond:
            return self._failure_locked()

    def _failure_locked(self) -> str | None:
        if self._stopping:
            return None  # a stop is not a failure
        if self._died is not None or not self._thread.is_alive():
            return f"the decode thread died ({self._died or 'no reason recorded'})"
        stalled = time.monotonic() - self._beat
        if not self._idle and stalled > WEDGED_AFTER_S:
            return f"the decode thread has made no progress for {stalled:.0f} s"
        if self._failures >= FAILING_AFTER:
            return f"the last {self._failures} model calls failed"
        return None

    def _hold(self, stream: LatentStream, on: bool) -> None:
        with self._cond:
            if on:
                self._holding.add(id(stream))
            else:
                self._holding.discard(id(stream))
                self._cond.notify()

    def _held_locked(self) -> bool:
        """Whether the next step waits: its only row's consumer is making its first audio."""
        streams = self._streams
        return (
            len(streams) == 1
            and not self._waiting
            and not self._stopping
            and id(next(iter(streams.values()))) in self._holding
        )

    def stats(self) -> SchedulerStats:
        with self._cond:
            return SchedulerStats(
                self._running,
                len(self._waiting),
                self._steps,
                self._tokens,
                self.max_batch,
                self._prefills,
            )

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    # ---- the decode thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # anything the loop's own handler let through ends the thread
            log.critical("the decode thread died: %s", exc, exc_info=exc)
            with self._cond:
                self._died = f"{type(exc).__name__}: {exc}"
                stranded = [*self._waiting, *self._streams.values()]
                self._waiting.clear()
            for stream in stranded:
                stream._put(SchedulerFailedError(f"the decode thread died ({type(exc).__name__})"))

    def _loop(self) -> None:
        batch = DecodeBatch()
        streams = self._streams
        while True:
            with self._cond:
                self._beat, self._idle = time.monotonic(), not self._waiting and not streams
                while not self._waiting and not streams and not self._stopping:
                    self._cond.wait()
                    self._beat = time.monotonic()
                self._idle = False
                if self._stopping:
                    leftover = [*self._waiting, *streams.values()]
                    self._waiting.clear()
                    break
                # Each prefill pauses every running stream: while rows are running, one new row
                # joins between two steps (a burst joins one step apart); an idle batch takes all.
                room = self.max_batch - len(streams)
                admitted = [
                    self._waiting.popleft()
                    for _ in range(min(len(self._waiting), room, 1 if streams else room))
                ]
            try:
                for stream in admitted:
                    self._admit(stream, batch, streams)
                self._drop(batch, streams, {key for key, s in streams.items() if s.cancelled})
                with self._cond:
                    self._running = len(streams)  # admitted rows count before their first step
                    while self._held_locked():
                        self._cond.wait(_POLL_S)
                        self._beat = time.monotonic()
                if streams:
                    self._step(batch, streams)
            except Exception as exc:  # a bug here must fail its requests, never strand every later one
                log.exception("decode scheduler iteration failed; failing its %d rows", len(streams))
                for stream in [*admitted, *streams.values()]:
                    stream._put(_row_error(exc))
                batch = DecodeBatch()
                streams.clear()
            with self._cond:
                self._running = len(streams)
        for stream in leftover:
            stream._put(SchedulerStoppedError("the service is shutting down"))

    def _admit(self, stream: LatentStream, batch: DecodeBatch, streams: dict[int, LatentStream]) -> None:
        if stream.cancelled:
            stream._put(_END)
            return
        try:
            latent, kv = self._decoder.prefill(stream.seq)
        except Exception as exc:  # delivered to the request that owns the sequence
            log.exception("prefill failed")
            self._failed_call()
            stream._put(_row_error(exc))
            return
        self._count(1, prefill=True)
        self._deliver(stream, latent)
        if stream.seq.finished:
            stream._put(_END)
        else:
            batch.add(stream.seq, kv)
            streams[id(stream.seq)] = stream

    def _step(self, batch: DecodeBatch, streams: dict[int, LatentStream]) -> None:
        t0 = time.perf_counter()
        try:
            latents = self._decoder.step(batch)
        except Exception as exc:
            log.exception("decode step failed for %d rows", len(batch))
            self._failed_call()
            for stream in streams.values():
                stream._put(_row_error(exc))
            self._drop(batch, streams, set(streams), ended=False)
            return
        done, failed = set(), set()
        for seq, latent in zip(batch.rows, latents, strict=True):
            stream = streams[id(seq)]
            if seq.error is not None:  # this row alone failed (function.engine.decoding)
                log.warning("a decode row failed: %s", seq.error)
                stream._put(_row_error(seq.error))
                failed.add(id(seq))
                continue
            self._deliver(stream, latent)
            if seq.finished:
                done.add(id(seq))
        self._count(len(batch) - len(failed))
        log.debug("decode step: %d rows in %.1f ms", len(batch), (time.perf_counter() - t0) * 1000)
        self._drop(batch, streams, done)
        self._drop(batch, streams, failed, ended=False)

    def _deliver(self, stream: LatentStream, latent: Latent) -> None:
        stream.delivered += 1
        if stream.delivered == stream.first_audio_at:  # held before the consumer can release it
            self._hold(stream, True)
        stream._put(latent)

    def _drop(
        self, batch: DecodeBatch, streams: dict[int, LatentStream], keys: set[int], *, ended: bool = True
    ) -> None:
        if not keys:
            return
        batch.remove(keys)
        for key in keys:
            stream = streams.pop(key)
            self._hold(stream, False)
            if ended:
                stream._put(_END)

    def _count(self, tokens: int, *, prefill: bool = False) -> None:
        with self._cond:
            if prefill:
                self._prefills += 1
            else:
                self._steps += 1
            self._tokens += tokens
            self._failures = 0

    def _failed_call(self) -> None:
        with self._cond:
            self._failures += 1


def _row_error(exc: Exception) -> Exception:
    """The error one row's request raises: its own instance, the model's exception as the cause."""
    if isinstance(exc, DecodeFailedError):
        return exc
    error = DecodeFailedError(f"decoding failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
