"""A streamed body: the first chunk's bytes at once, then each chunk's as the engine yields them.

The WSGI server calls close() when the response ends for any reason; when that happens before
the engine finished, the client went away, so the engine's generator is closed (generation
stops) and the synthesis slot is released. On SIGTERM, or when synthesis or encoding fails
mid-stream, the stream is cut at its next chunk (StreamCutError): the client sees a truncated body.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from flask import Response, g

from function.audio.stream_encode import AudioEncoder, ResampledEncoder
from function.http import access
from function.http.context import SHUTTING_DOWN
from function.quality.assess import Quality
from function.service import AudioChunk
from function.service.speech import SpeechStream
from function.service.timestamps import StreamTimer

log = logging.getLogger("function.stream")


class Render(Protocol):
    """Turns audio chunks into body bytes (an encoder, or SSE events around one)."""

    def chunk(self, chunk: AudioChunk) -> bytes: ...

    def end(self) -> bytes: ...

    def abort(self) -> None: ...


class AudioRender:
    """The audio itself, in `encoder`'s format."""

    def __init__(self, encoder: AudioEncoder | ResampledEncoder) -> None:
        self.encoder = encoder

    def chunk(self, chunk: AudioChunk) -> bytes:
        return self.encoder.encode(chunk.samples)

    def end(self) -> bytes:
        return self.encoder.finish()

    def abort(self) -> None:
        self.encoder.close()


class StreamCutError(ConnectionAbortedError):
    """Ends a stream that did not finish (shutdown, a failure mid-stream) the way a client can tell:
    the server closes the connection without the chunked body's last chunk, so an HTTP client
    reports an incomplete body instead of a complete short file (a WAV header with an open length,
    or an MP3, would otherwise look whole). An OSError, so that gunicorn passes it to the worker
    (function.server_worker), which closes the connection without a traceback."""


class StreamBody:
    def __init__(
        self,
        first: AudioChunk,
        chunks: Iterator[AudioChunk],
        render: Render,
        *,
        shutting_down: threading.Event,
        on_finish: Callable[[str, int, int], None],
    ) -> None:
        self._pending: bytes | None = render.chunk(first)
        self._chunks = chunks
        self._render = render
        self._shutting_down = shutting_down
        self._on_finish = on_finish
        self._done = False
        self.samples = int(first.samples.shape[0])
        self.chunks_sent = 0

    def __iter__(self) -> StreamBody:
        return self

    def __next__(self) -> bytes:
        if self._pending is not None:
            data, self._pending = self._pending, None
            self.chunks_sent += 1
            return data
        if self._done:
            raise StopIteration
        if self._shutting_down.is_set():
            self._finish("shutdown")
            raise StreamCutError("the stream was cut short: the server is shutting down")
        try:
            chunk = next(self._chunks)
        except StopIteration:
            tail = self._encoded(self._render.end)  # the encoder's last frames and the container's end
            self._finish("completed")
            if tail:
                return tail
            raise
        except Exception:
            # Headers are sent: the status cannot change. End the stream so the client can tell.
            log.exception("engine failed mid-stream")
            self._finish("engine_error")
            raise StreamCutError("the stream was cut short: synthesis failed") from None
        self.samples += int(chunk.samples.shape[0])
        self.chunks_sent += 1
        return self._encoded(lambda: self._render.chunk(chunk))

    def _encoded(self, encode: Callable[[], bytes]) -> bytes:
        try:
            return encode()
        except Exception:
            log.exception("audio encoding failed mid-stream")
            self._finish("encoder_error")
            raise StreamCutError("the stream was cut short: encoding failed") from None

    def close(self) -> None:
        if not self._done:
            # The server calls close() in a `finally` while its write error propagates: a
            # TimeoutError is the worker's write deadline (TTS_RESPONSE_WRITE_TIMEOUT_SECONDS), a
            # client that stopped reading; anything else, a client that went away.
            stalled = isinstance(sys.exc_info()[1], TimeoutError)
            self._finish("client_stalled" if stalled else "client_disconnected")

    def _finish(self, outcome: str) -> None:
        if self._done:
            return
        self._done = True
        t0 = time.perf_counter()
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()  # stops the engine's generation loop
        if outcome != "completed":
            self._render.abort()
        if outcome in ("client_disconnected", "client_stalled"):
            log.info(
                "%s: generation stopped",
                outcome.replace("_", " "),
                extra={
                    "chunks_sent": self.chunks_sent,
                    "stop_ms": round((time.perf_counter() - t0) * 1000, 2),
                },
            )
        self._on_finish(outcome, self.samples, self.chunks_sent)


def stream_response(
    stream: SpeechStream, t_first: float, render: Callable[[AudioChunk], tuple[Render, str]]
) -> Response:
    """The streamed response of a started synthesis: the first chunk made (errors came out before
    any byte), its timings in the access line, and that line written when the stream ends.
    `render(first)` picks the body's renderer and media type (it may depend on the sample rate).

    This owns `stream` from the call on: until the Response's body holds it, any failure (an
    encoder that cannot start, the first encode) closes it, so its synthesis slot is never leaked."""
    try:
        return _respond(stream, t_first, render)
    except BaseException:
        stream.close()
        raise


def _respond(
    stream: SpeechStream, t_first: float, render: Callable[[AudioChunk], tuple[Render, str]]
) -> Response:
    first = next(stream)
    # ttfc_ms: request arrival to the first audio chunk (queueing, voice, first tokens, vocoder);
    # engine_first_chunk_ms: from the service call on.
    access.metric(
        queue_ms=round(stream.prepared.queue_ms, 1),
        ttfc_ms=round((time.perf_counter() - g.start) * 1000, 1),
        engine_first_chunk_ms=round((time.perf_counter() - t_first) * 1000, 1),
    )
    snap = access.snapshot()
    rate = first.sample_rate
    renderer, mimetype = render(first)

    def finish(outcome: str, samples: int, chunks_sent: int) -> None:
        quality = stream.quality  # set when the stream ran to its end
        access.write(
            snap,
            200,
            None,
            outcome=outcome,
            audio_seconds=round(samples / rate, 3),
            chunks_sent=chunks_sent,
            **(quality.log_fields() if quality else {}),
        )

    try:
        body = StreamBody(first, stream, renderer, shutting_down=SHUTTING_DOWN, on_finish=finish)
    except BaseException:
        renderer.abort()
        raise
    g.deferred_access_log = True
    response = Response(body, mimetype=mimetype, direct_passthrough=True)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # proxies must not buffer the stream
    return response


class SseRender:
    """OpenAI's speech SSE: `speech.audio.delta` events carrying base64 audio, then
    `speech.audio.done` with token usage (text tokens in, audio codes out) and, beyond OpenAI's
    fields (clients ignore unknown ones), the quality verdict of the whole stream."""

    def __init__(
        self,
        encoder: AudioEncoder,
        input_tokens: int,
        output_tokens: Callable[[float], int],
        quality: Callable[[], Quality | None],
        timer: StreamTimer | None = None,
    ) -> None:
        self.encoder = encoder
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens  # of the seconds of audio sent
        self.quality = quality
        self.timer = timer
        self.samples = 0

    def _timestamps(self, *, wait: bool = False) -> bytes:
        """Not OpenAI's: a speech.audio.timestamps event for each text piece placed since the last."""
        if self.timer is None:
            return b""
        return b"".join(
            self._event(
                {
                    "type": "speech.audio.timestamps",
                    "alignment": t.alignment,
                    "words": [{"word": w.word, "start": w.start, "end": w.end} for w in t.words],
                }
            )
            for t in self.timer.take(wait=wait)
        )

    @staticmethod
    def _event(doc: dict[str, object]) -> bytes:
        return f"data: {json.dumps(doc, separators=(',', ':'))}\n\n".encode()

    def _delta(self, data: bytes) -> bytes:
        if not data:
            return b""
        return self._event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})

    def chunk(self, chunk: AudioChunk) -> bytes:
        self.samples += int(chunk.samples.shape[0])
        return self._delta(self.encoder.encode(chunk.samples)) + self._timestamps()

    def end(self) -> bytes:
        output_tokens = self.output_tokens(self.samples / self.encoder.sample_rate)
        usage = {
            "input_tokens": self.input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": self.input_tokens + output_tokens,
        }
        done: dict[str, object] = {"type": "speech.audio.done", "usage": usage}
        quality = self.quality()
        if quality is not None:
            done["quality"] = quality.to_json()
        return self._delta(self.encoder.finish()) + self._timestamps(wait=True) + self._event(done)

    def abort(self) -> None:
        self.encoder.close()
