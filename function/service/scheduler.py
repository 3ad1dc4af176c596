"""Continuous batching of GPT decode steps: one thread, one GPT call per step for every running row.

Every request's text pieces become `Sequence`s submitted here. Between steps the scheduler admits
waiting sequences in arrival order (prefill, then a row in the batch) up to `max_batch` rows; each
step advances every row by one token, so no admitted request waits on another, and a finished or
cancelled row leaves the batch before the next step. Latents go back to the submitting thread
through a queue; that thread runs the vocoder, so vocoding overlaps the next decode steps.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from function.engine.decoding import DecodeBatch, Sequence

log = logging.getLogger(__name__)
Latent = npt.NDArray[np.float32]


class Decoder(Protocol):
    """What the scheduler needs of the engine's GPT (function.engine.decoding.GptDecoder)."""

    def prefill(self, seq: Sequence) -> tuple[Latent, list[Any]]: ...

    def step(self, batch: DecodeBatch) -> Latent: ...


class SchedulerStoppedError(RuntimeError):
    """The scheduler was stopped (the process is shutting down) before this sequence finished."""


_END = object()


class LatentStream(Iterator[Latent]):
    """The latents of one submitted sequence, in order; `close()` frees its row at the next step."""

    def __init__(self, seq: Sequence) -> None:
        self.seq = seq
        self.cancelled = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def __next__(self) -> Latent:
        item = self._queue.get()
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

    def _put(self, item: Any) -> None:
        self._queue.put(item)


@dataclass
class SchedulerStats:
    running: int
    waiting: int
    steps: int
    tokens: int
    max_batch: int


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
        self._tokens = 0
        self._running = 0
        self._thread = threading.Thread(target=self._loop, name="decode-scheduler", daemon=True)
        self._thread.start()

    def decode(self, seq: Sequence) -> LatentStream:
        """Queue a sequence; iterate the result for its latents (one per audio code)."""
        stream = LatentStream(seq)
        with self._cond:
            if self._stopping:
                raise SchedulerStoppedError("the decode scheduler has stopped")
            self._waiting.append(stream)
            self._cond.notify()
        return stream

    def stats(self) -> SchedulerStats:
        with self._cond:
            return SchedulerStats(
                self._running, len(self._waiting), self._steps, self._tokens, self.max_batch
            )

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    # ---- the decode thread -------------------------------------------------------------------
    def _loop(self) -> None:
        batch = DecodeBatch()
        streams: dict[int, LatentStream] = {}  # id(sequence) -> its stream
        while True:
            with self._cond:
                while not self._waiting and not streams and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    leftover = [*self._waiting, *streams.values()]
                    self._waiting.clear()
                    break
                admitted = [
                    self._waiting.popleft()
                    for _ in range(min(len(self._waiting), self.max_batch - len(streams)))
                ]
            try:
                for stream in admitted:
                    self._admit(stream, batch, streams)
                self._drop(batch, streams, {key for key, s in streams.items() if s.cancelled})
                with self._cond:
                    self._running = len(streams)  # admitted rows count before their first step
                if streams:
                    self._step(batch, streams)
            except Exception as exc:  # a bug here must fail its requests, never strand every later one
                log.exception("decode scheduler iteration failed; failing its %d rows", len(streams))
                for stream in [*admitted, *streams.values()]:
                    stream._put(exc)
                batch, streams = DecodeBatch(), {}
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
            stream._put(exc)
            return
        self._count(1)
        stream._put(latent)
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
            for stream in streams.values():
                stream._put(exc)
            self._drop(batch, streams, set(streams), ended=False)
            return
        done = set()
        for seq, latent in zip(batch.rows, latents, strict=True):
            stream = streams[id(seq)]
            stream._put(latent)
            if seq.finished:
                done.add(id(seq))
        self._count(len(batch))
        log.debug("decode step: %d rows in %.1f ms", len(batch), (time.perf_counter() - t0) * 1000)
        self._drop(batch, streams, done)

    def _drop(
        self, batch: DecodeBatch, streams: dict[int, LatentStream], keys: set[int], *, ended: bool = True
    ) -> None:
        if not keys:
            return
        batch.remove(keys)
        for key in keys:
            stream = streams.pop(key)
            if ended:
                stream._put(_END)

    def _count(self, tokens: int) -> None:
        with self._cond:
            self._steps += 1
            self._tokens += tokens
