"""gunicorn worker that receives each request in its main loop, so that no thread waits on a client.

gunicorn's gthread worker gives a connection to a thread as soon as a byte arrives; the thread then
blocks in recv() until the client sends the rest. Ten clients that send half a request, or a head
and no body, hold every thread, and /health (Cloud Run's liveness probe) times out for as long as
they stay. This worker buffers the head and the body in its poller loop instead, without blocking,
under deadlines the loop sweeps itself, and hands a thread only a request that is all there:

- the head must arrive within TTS_REQUEST_HEADER_TIMEOUT_SECONDS of connecting (or of its first
  byte on a kept-alive connection) and fit in MAX_HEAD_BYTES: else 408, or 431;
- then the body (Content-Length or chunked) must keep arriving: each TTS_REQUEST_BODY_TIMEOUT_SECONDS
  must bring that many seconds' worth of TTS_REQUEST_BODY_MIN_BYTES_PER_SECOND: else 408;
- bodies being received share TTS_REQUEST_BUFFER_BYTES per process: else 429 with Retry-After;
- a body over TTS_MAX_REQUEST_BYTES is not waited for: the app answers 413 from what is here.

h11 frames the bytes as they arrive (function.request_framing: where the head and the body end,
and the framings refused from the head); they are then replayed to gunicorn's own parser, which
reads the request for the app.
As a safety net, anything a thread still has to read from the socket runs under the same body pace
(RequestReadTimeoutError, a TimeoutError: the app answers 408). Only receiving the request is timed:
sending the answer (a stream lasting minutes) is not.

Closing does not block the loop either: after a "Connection: close" answer gunicorn lingers up to
2 s in recv() for the client to close, in the main thread, so ten clients that never close stall
everyone for 20 s. Here that linger is one more poller registration.

gunicorn imports this module in its master process (worker_class): no Flask, no engine here.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import json
import math
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import gunicorn
from gunicorn import util
from gunicorn.workers.gthread import TConn, ThreadWorker

from function.config import Settings, load_settings
from function.jsonlog import request_id_var
from function.request_framing import FramingError, Head, RequestFramer

# This worker reaches into gunicorn internals (docs/decisions/0001-request-buffering-worker.md names
# each, and tests/function/test_server_worker_contract.py checks they exist): it runs only on the
# gunicorn release it was tested with, pinned in function/requirements*.txt.
TESTED_GUNICORN = "27.0.1"

_RECV_BYTES = 64 * 1024
# What gunicorn's close_graceful() allows a closing client: 2 s and 64 KiB of unread request.
_LINGER_S = 2.0
_LINGER_BYTES = 64 * 1024
_BUSY_RETRY_AFTER_S = 5


# gunicorn's own refusals (a request line over limit_request_line, a header over
# limit_request_field_size, a malformed head...) are written by util.write_error as an HTML page.
# Every answer of this service is the app's JSON error shape, so the worker process writes them
# through json_write_error instead; gunicorn keeps choosing the status (Worker.handle_error).
# A private hook: tests/function/test_gunicorn_conf.py names it among the gunicorn internals used.
_ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "request_line_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "internal_error",
    501: "unsupported_transfer_coding",
}


def json_write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    body = json.dumps(
        {"error": {"code": _ERROR_CODES.get(status_int, "bad_request"), "message": mesg or reason}},
        ensure_ascii=True,
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class RequestReadTimeoutError(TimeoutError):
    """A thread's read of the request fell behind the body pace: the app answers 408.

    A TimeoutError, so that gunicorn's drain of an unread body (Parser.finish_body) treats it as
    its own timeout and closes the connection.
    """


class BodyPace:
    """A body must keep arriving: each `window` seconds must bring at least window × rate bytes.

    Unlike a deadline extended by every byte received (mod_reqtimeout's MinRate), a fast start buys
    no time later: a client that sends most of a body at once and then trickles is still cut off.
    With rate 0 only a pause of `window` seconds ends the request.
    """

    def __init__(self, window: float, rate: int, now: float) -> None:
        self.window = window
        self.quota = window * rate
        self.deadline = now + window
        self._got = 0

    def advance(self, nbytes: int, now: float) -> None:
        self._got += nbytes
        if self._got >= self.quota:
            self._got = 0
            self.deadline = now + self.window


class PacedSocket:
    """The socket as gunicorn's parser reads it inside a thread: every recv() under a BodyPace."""

    def __init__(self, sock: socket.socket, pace: BodyPace) -> None:
        self._sock = sock
        self._pace = pace
        self._timeout: float | None = None

    # gunicorn's finish_body() bounds its drain through these; the tighter limit wins.
    def gettimeout(self) -> float | None:
        return self._timeout

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def recv(self, size: int) -> bytes:
        left = self._pace.deadline - time.monotonic()
        if left <= 0:
            raise RequestReadTimeoutError("the request body stopped arriving")
        writing = self._sock.gettimeout()
        self._sock.settimeout(left if self._timeout is None else min(left, self._timeout))
        try:
            data = self._sock.recv(size)
        except TimeoutError:
            raise RequestReadTimeoutError("the request body stopped arriving") from None
        finally:
            self._sock.settimeout(writing)  # the write deadline again, for sending the answer
        self._pace.advance(len(data), time.monotonic())
        return data


# A declared length this long is over any body limit; refused unread, like any other oversized body.
class _Phase(enum.Enum):
    HEAD = "head"
    BODY = "body"
    CLOSING = "closing"  # answered; draining what the client still sends before closing


@dataclass(eq=False)
class _Incoming:
    """A connection the main loop is reading: a request being received, or a lingering close."""

    phase: _Phase
    deadline: float
    buf: bytearray = field(default_factory=bytearray)  # as received: gunicorn's parser reads it again
    framer: RequestFramer = field(default_factory=RequestFramer)
    body_start: int = 0
    pace: BodyPace | None = None
    held: int = 0  # body bytes counted against TTS_REQUEST_BUFFER_BYTES (drained bytes when closing)
    started: float = field(default_factory=time.monotonic)


class _Conn(TConn):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's connection, whose graceful close lingers in the poller instead of blocking it."""

    def __init__(self, linger: Callable[[_Conn], None], *args: Any) -> None:
        super().__init__(*args)
        self._linger = linger
        # The request handed over has a body that will not be read to its end (over the limit, or
        # malformed): answer it and close (see handle_request).
        self.close_after_answer = False

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self._linger(self)
        else:
            super().close()


class RequestBufferingWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gthread, except that requests are received by the main loop (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Already validated by gunicorn.conf.py in this same environment.
        self.settings: Settings = load_settings()
        self._incoming: dict[_Conn, _Incoming] = {}
        self._held = 0
        self._next_deadline = math.inf
        # Requests in threads, for the line that names those a shutdown cuts off.
        self._in_flight: dict[int, tuple[str, str, str, str | None, float]] = {}
        self._in_flight_lock = threading.Lock()
        self._stopping_since: float | None = None
        self._sockets = 0  # WebSockets being served (each in its own thread); main loop only

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        if gunicorn.__version__ != TESTED_GUNICORN:
            raise RuntimeError(
                f"RequestBufferingWorker is tested with gunicorn {TESTED_GUNICORN}, not "
                f"{gunicorn.__version__}: install the pinned version (function/requirements.txt), or "
                "rerun tests/function/test_server_worker_contract.py and the slow-client tests and "
                "update TESTED_GUNICORN"
            )
        super().check_config(cfg, log)
        # Connections are set up (conn.init()) in the main loop: a TLS handshake there would block.
        if cfg.is_ssl or cfg.http2_cleartext != "off":
            raise RuntimeError(
                "RequestBufferingWorker serves plain HTTP/1.1: terminate TLS and HTTP/2 in front"
            )

    # ---- gunicorn's entry points ----------------------------------------------------------------

    def init_process(self) -> None:
        util.write_error = json_write_error  # in the worker process only (see json_write_error)
        super().init_process()

    def handle(self, conn: _Conn) -> Any:
        # A pool thread keeps the request id of the last request it served: gunicorn's own lines
        # about this connection (a refused head, a socket error) must not carry it.
        request_id_var.set(None)
        return super().handle(conn)

    def accept(self, listener: socket.socket) -> None:
        """gunicorn's accept(), with our connection class."""
        try:
            sock, addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self.enqueue_req(_Conn(self.linger, self.cfg, sock, addr, listener.getsockname()))

    def enqueue_req(self, conn: _Conn) -> None:
        """Every way gunicorn starts a request ends here: a new connection, a kept-alive one that
        became readable, or one whose previous request read ahead. Receive it in this loop first."""
        ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.sock.setblocking(False)
        deadline = time.monotonic() + self.settings.request_header_timeout_s
        incoming = _Incoming(_Phase.HEAD, deadline, bytearray(ahead))
        self._watch(conn, incoming, self._on_readable)
        if ahead:
            self._advance(conn, incoming, ahead)

    def linger(self, conn: _Conn) -> None:
        """Close as RFC 9112 9.6 asks (half-close, drain what the client still sends, then close),
        without blocking: gunicorn's close_graceful() waits in recv() for up to 2 s."""
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            util.close(conn.sock)
            return
        closing = _Incoming(_Phase.CLOSING, time.monotonic() + _LINGER_S)
        self._watch(conn, closing, self._on_closing_readable)

    def handle_request(self, req: Any, conn: _Conn) -> bool:
        if conn.close_after_answer:
            # Answer "Connection: close" and close, rather than announce keep-alive and then try to
            # drain the rest of the body in this thread (for up to 5 s, at the client's pace).
            req.force_close()
        # Sending is bounded too: a client that accepts nothing for this long (one that never reads
        # a stream) would otherwise hold this thread and the request's synthesis slot for ever.
        # gunicorn's handle() has just made the socket blocking without a timeout.
        conn.sock.settimeout(self.settings.response_write_timeout_s)
        given_id = next((v for k, v in req.headers if k == "X-REQUEST-ID"), None)
        client = conn.client[0] if isinstance(conn.client, tuple) else str(conn.client)
        with self._in_flight_lock:
            self._in_flight[id(req)] = (req.method, req.path, client, given_id, time.monotonic())
        try:
            return bool(super().handle_request(req, conn))
        except ConnectionAbortedError:
            # A stream the app cut short (StreamCutError in function.http.streaming: shutdown, or a
            # failure mid-stream), already logged with its outcome: close without the last chunk.
            return False
        except TimeoutError:
            # The app's stream already ended with outcome "client_stalled" (function.http.streaming).
            self.log.info(
                "the client accepted no byte of the answer for %g s (TTS_RESPONSE_WRITE_TIMEOUT_SECONDS): "
                "connection closed",
                self.settings.response_write_timeout_s,
                extra={"remote_ip": client},
            )
            return False
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(id(req), None)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        # Wake up for the next read deadline, not just once a second.
        super().wait_for_and_dispatch_events(min(timeout, max(0.0, self._next_deadline - time.monotonic())))
        self._sweep()
        if not self.alive:
            self._name_the_cut_off()

    def _name_the_cut_off(self) -> None:
        """Stopping: just before the arbiter's kill (graceful_timeout after its SIGTERM), log each
        request still running, so a request cut off at shutdown leaves a line (it gets no access
        line: its thread dies with the process)."""
        now = time.monotonic()
        if self._stopping_since is None:
            self._stopping_since = now
        if now < self._stopping_since + max(0.5, self.cfg.graceful_timeout - 1.0):
            return
        with self._in_flight_lock:
            cut, self._in_flight = self._in_flight, {}
        for method, path, client, given_id, started in cut.values():
            self.log.warning(
                "%s %s cut off at shutdown after %.1f s",
                method,
                path,
                now - started,
                extra={"event": "request_cut_off", "remote_ip": client, "request_id": given_id},
            )

    # ---- receiving ------------------------------------------------------------------------------

    def _watch(self, conn: _Conn, incoming: _Incoming, on_readable: Callable[[_Conn, Any], None]) -> None:
        self._incoming[conn] = incoming
        self._next_deadline = min(self._next_deadline, incoming.deadline)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(on_readable, conn))

    def _forget(self, conn: _Conn) -> _Incoming:
        incoming = self._incoming.pop(conn)
        self.poller.unregister(conn.sock)
        if incoming.phase is not _Phase.CLOSING:
            self._held -= incoming.held
        return incoming

    def _on_readable(self, conn: _Conn, _sock: Any) -> None:
        incoming = self._incoming[conn]
        data = _recv(conn, _RECV_BYTES)
        if data is None:
            return
        if not data:  # the client left before its request was complete: nobody to answer
            self._drop(conn)
            return
        incoming.buf += data
        if incoming.pace is not None:
            incoming.pace.advance(len(data), time.monotonic())
            incoming.deadline = incoming.pace.deadline  # only ever later: the sweep needs no update
        self._advance(conn, incoming, data)

    def _advance(self, conn: _Conn, incoming: _Incoming, data: bytes) -> None:
        """Act on the bytes that just arrived: start the body, hand the request over, or refuse it."""
        framer = incoming.framer
        had_head = framer.head is not None
        try:
            framer.feed(data)
        except FramingError as exc:
            # Refused here: gunicorn's parser takes some of these (chunk sizes of any length,
            # "Transfer-Encoding: identity, chunked") and would then read them in a thread at the
            # client's pace.
            self._refuse(conn, exc.status, exc.code, exc.message)
            return
        if framer.head is None:
            return  # still arriving
        if not had_head and not self._start_body(conn, incoming, framer.head):
            return
        held = len(incoming.buf) - incoming.body_start
        self._held += held - incoming.held
        incoming.held = held
        # A chunked body over the limit will not be read to its end: the app reads
        # TTS_MAX_REQUEST_BYTES + 1 bytes, all here, and answers 413.
        unfinished = framer.payload > self.settings.max_request_bytes
        if framer.complete or unfinished:
            self._hand_off(conn, incoming, unfinished=unfinished)
        elif self._held > self.settings.request_buffer_bytes:
            self._refuse_busy(conn)

    def _start_body(self, conn: _Conn, incoming: _Incoming, head: Head) -> bool:
        """The head is in: False once the request was handed over or answered, True to receive a body."""
        settings = self.settings
        has_body = head.chunked or head.length > 0
        # The app answers a declared body over the limit (413, after auth) without reading it, and
        # the connection closes after it: nothing more is needed from the client than the head.
        # Likewise a body sent with a method that takes none.
        oversized = head.length > settings.max_request_bytes
        if head.upgrade:
            self._start_socket(conn, incoming)
            return False
        if not has_body or oversized or head.unread:
            self._hand_off(conn, incoming, unfinished=has_body)
            return False
        if head.length > settings.request_buffer_bytes - self._held:
            self._refuse_busy(conn)
            return False
        if head.expect_continue:
            # The client waits for this before sending the body. gunicorn sends its own 100 later;
            # a client must accept any number of 1xx answers (RFC 9110 15.2).
            self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
        now = time.monotonic()
        incoming.phase = _Phase.BODY
        incoming.started = now
        incoming.body_start = incoming.framer.head_bytes
        incoming.pace = BodyPace(settings.request_body_timeout_s, settings.request_body_min_bytes_per_s, now)
        incoming.pace.advance(len(incoming.buf) - incoming.body_start, now)
        incoming.deadline = incoming.pace.deadline
        self._next_deadline = min(self._next_deadline, incoming.deadline)
        return True

    def _start_socket(self, conn: _Conn, incoming: _Incoming) -> None:
        """A WebSocket upgrade: the app serves the socket for its whole life, so it gets a thread of
        its own rather than one of the request pool's (a few voice agents must not take every
        thread /health needs), up to TTS_WS_MAX_SOCKETS per process (docs/decisions/0001)."""
        if self._sockets >= self.settings.ws.max_sockets:
            self._refuse(
                conn,
                503,
                "too_many_sockets",
                f"this instance has {self._sockets} open WebSockets, its limit (TTS_WS_MAX_SOCKETS); "
                "reconnect (another instance may answer)",
                f"Retry-After: {_BUSY_RETRY_AFTER_S}\r\n",
            )
            return
        self._prepare(conn, incoming, unfinished=False)
        self._sockets += 1
        threading.Thread(target=self._run_socket, args=(conn,), name="websocket", daemon=True).start()

    def _run_socket(self, conn: _Conn) -> None:
        try:
            self.handle(conn)
        finally:
            over: futures.Future[bool] = futures.Future()
            over.set_result(False)  # never kept alive: the connection was the socket's
            self.method_queue.defer(self._socket_over, conn, over)

    def _socket_over(self, conn: _Conn, over: futures.Future[bool]) -> None:
        self._sockets -= 1
        self.finish_request(conn, over)

    def _hand_off(self, conn: _Conn, incoming: _Incoming, *, unfinished: bool = False) -> None:
        """Give the request to a thread: gunicorn's parser reads it from what was received here."""
        self._prepare(conn, incoming, unfinished=unfinished)
        super().enqueue_req(conn)

    def _prepare(self, conn: _Conn, incoming: _Incoming, *, unfinished: bool) -> None:
        """Replay what was received here to gunicorn's parser, under the body pace."""
        self._forget(conn)
        conn.close_after_answer = unfinished
        conn.init()  # the HTTP/1.1 parser (no TLS: check_config), or the kept-alive one
        conn.parser.unreader.unread(incoming.buf)
        settings = self.settings
        pace = BodyPace(
            settings.request_body_timeout_s, settings.request_body_min_bytes_per_s, time.monotonic()
        )
        conn.parser.unreader.sock = PacedSocket(conn.sock, pace)

    # ---- ending ---------------------------------------------------------------------------------

    def _sweep(self) -> None:
        """Answer the requests that ran out of time; close lingering connections that are done."""
        now = time.monotonic()
        if now < self._next_deadline and self.alive:
            return
        self._next_deadline = math.inf
        for conn, incoming in list(self._incoming.items()):
            # A stopping worker does not wait for clients that have not started a request.
            idle = incoming.phase is _Phase.HEAD and not incoming.buf
            if incoming.deadline <= now or (idle and not self.alive):
                self._expire(conn, incoming)
            else:
                self._next_deadline = min(self._next_deadline, incoming.deadline)

    def _expire(self, conn: _Conn, incoming: _Incoming) -> None:
        settings = self.settings
        if incoming.phase is _Phase.CLOSING:
            self._forget(conn)
            util.close(conn.sock)
        elif not incoming.buf:  # connected and never sent anything: no request to answer
            self._drop(conn)
        elif incoming.phase is _Phase.HEAD:
            self._refuse(
                conn,
                408,
                "request_timeout",
                f"the request line and headers did not arrive within {settings.request_header_timeout_s:g} s "
                "(TTS_REQUEST_HEADER_TIMEOUT_SECONDS); send the whole request without pausing",
            )
        else:
            received = len(incoming.buf) - incoming.body_start
            self._refuse(
                conn,
                408,
                "request_timeout",
                f"the request body stopped arriving ({received} bytes in "
                f"{time.monotonic() - incoming.started:.1f} s): it must keep coming at "
                f"{settings.request_body_min_bytes_per_s} bytes/s or more, measured over "
                f"{settings.request_body_timeout_s:g} s "
                "(TTS_REQUEST_BODY_MIN_BYTES_PER_SECOND, TTS_REQUEST_BODY_TIMEOUT_SECONDS)",
            )

    def _refuse_busy(self, conn: _Conn) -> None:
        self._refuse(
            conn,
            429,
            "overloaded",
            "too many request bodies are arriving at once (over "
            f"{self.settings.request_buffer_bytes} bytes, TTS_REQUEST_BUFFER_BYTES); "
            "retry after Retry-After seconds",
            f"Retry-After: {_BUSY_RETRY_AFTER_S}\r\n",
        )

    def _refuse(self, conn: _Conn, status: int, code: str, message: str, headers: str = "") -> None:
        """Answer in the error shape of the app ({"error": {"code", "message"}}) and close."""
        incoming = self._forget(conn)
        client = conn.client[0] if isinstance(conn.client, tuple) else str(conn.client)
        # Back-pressure is a warning, as in the access log; a slow or broken client is not.
        level = self.log.warning if status in (429, 503) else self.log.info
        level(
            "%d %s: %s",
            status,
            code,
            message,
            extra={"status": status, "phase": incoming.phase.value, "remote_ip": client},
        )
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        reason = {
            400: "Bad Request",
            408: "Request Timeout",
            429: "Too Many Requests",
            431: "Request Header Fields Too Large",
            501: "Not Implemented",
            503: "Service Unavailable",
        }
        self._send(
            conn,
            f"HTTP/1.1 {status} {reason[status]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{headers}\r\n".encode()
            + body,
        )
        self.nr_conns -= 1
        self.linger(conn)

    def _send(self, conn: _Conn, data: bytes) -> None:
        # A short answer to a client that has been sending: it fits the empty socket buffer. A client
        # that does not read misses it; it is never waited for.
        with contextlib.suppress(OSError):
            conn.sock.send(data)

    def _drop(self, conn: _Conn) -> None:
        self._forget(conn)
        self.nr_conns -= 1
        util.close(conn.sock)

    def _on_closing_readable(self, conn: _Conn, _sock: Any) -> None:
        closing = self._incoming[conn]
        data = _recv(conn, _LINGER_BYTES)
        if data is None:
            return
        closing.held += len(data)
        if not data or closing.held >= _LINGER_BYTES:
            self._forget(conn)
            util.close(conn.sock)


def _recv(conn: _Conn, size: int) -> bytes | None:
    """A non-blocking read: None when nothing is there yet, b"" when the client is gone."""
    try:
        data: bytes = conn.sock.recv(size)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
    return data
