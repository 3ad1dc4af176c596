"""Where a request's head and body end, as its bytes arrive: h11 frames them (RFC 9112).

The request-buffering worker (function.server_worker) feeds each request's bytes here as they come,
in its main loop, to learn when the whole request is in; gunicorn's parser then reads those same
bytes again in a thread. h11 (python-hyper's sans-I/O HTTP/1.1 library) does the framing, the
header validation and the chunked decoding, so none of it is written here; what this adds is the
policy of the worker: which framings are refused from the head, before any thread or body is
involved (docs/decisions/0001-request-buffering-worker.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import h11

from function.http.methods import BODYLESS_METHODS

# Request line plus headers, and any one chunk-size line: h11 refuses a head (431) or a chunk line
# (400) that grows past this without ending. gunicorn alone would buffer up to 100 fields of 8 KiB
# each per connection; real heads are a few KiB (nginx's default limit is 32 KiB).
MAX_HEAD_BYTES = 64 * 1024

# Framing a chunk costs this loop about 4 us, whatever its size: a body of 1-byte chunks (6 wire bytes
# each) would hold the loop that serves every connection for seconds per MiB. Past the first
# _FREE_CHUNKS, chunks must average MIN_CHUNK_BYTES of payload (real clients send KiBs per chunk).
_FREE_CHUNKS = 64
MIN_CHUNK_BYTES = 64

_BODYLESS_METHODS = frozenset(m.encode() for m in BODYLESS_METHODS)


class FramingError(Exception):
    """A request answered from what arrived so far, in the app's error shape, and closed."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Head:
    """What the worker needs from a request's head to receive the rest."""

    length: int = 0  # Content-Length; 0: no body
    chunked: bool = False
    expect_continue: bool = False
    # A method whose routes here take no body (GET, HEAD, DELETE, OPTIONS): answered from the head
    # and closed, its body never read.
    unread: bool = False
    # A GET asking to become a WebSocket (Upgrade: websocket): served in a thread of its own.
    upgrade: bool = False


class RequestFramer:
    """One request's bytes as they arrive: `head` once the head is in (and `head_bytes`, its length),
    then the body's decoded `payload` count until `complete`."""

    def __init__(self) -> None:
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._fed = 0
        self.head: Head | None = None
        self.head_bytes = 0
        self.payload = 0
        self.chunks = 0
        self.complete = False

    def feed(self, data: bytes) -> None:
        """Take the bytes that arrived next. FramingError: refuse the request and close."""
        if not self._fed and data.startswith(b"\r\n"):
            # RFC 9112 2.2: one empty line before the request line is ignored (by gunicorn's parser
            # too, which reads these bytes next); h11 would refuse it.
            self._fed, data = 2, data[2:]
        self._h11.receive_data(data)
        self._fed += len(data)
        while not self.complete:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._refusal(exc) from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.head_bytes = self._fed - len(self._h11.trailing_data[0])
                self.head = _head(event, self._h11.they_are_waiting_for_100_continue)
                if self.head_bytes > MAX_HEAD_BYTES:  # arrived whole, past the limit h11 checks as it grows
                    raise _too_large()
                if self.head.unread or self.head.upgrade:
                    return  # nothing more to frame: the worker hands the request over now
            elif isinstance(event, h11.Data):
                self.payload += len(event.data)
                self.chunks += event.chunk_start
                if self.chunks > _FREE_CHUNKS and self.payload < self.chunks * MIN_CHUNK_BYTES:
                    raise FramingError(
                        400,
                        "bad_framing",
                        f"{self.chunks} chunks carry {self.payload} bytes: chunks must average at "
                        f"least {MIN_CHUNK_BYTES} bytes; send larger chunks, or use Content-Length",
                    )
            elif isinstance(event, h11.EndOfMessage):
                self.complete = True

    def _refusal(self, exc: h11.RemoteProtocolError) -> FramingError:
        if self.head is not None:
            return FramingError(400, "bad_framing", f"malformed chunked body: {exc}")
        if exc.error_status_hint == 431:
            return _too_large()
        if exc.error_status_hint == 501:
            return FramingError(
                501,
                "unsupported_transfer_coding",
                f"{exc}: send the body with Content-Length, or with Transfer-Encoding: chunked alone",
            )
        return FramingError(400, "bad_request", f"malformed request head: {exc}")


def _too_large() -> FramingError:
    return FramingError(
        431,
        "headers_too_large",
        f"the request line and headers are over {MAX_HEAD_BYTES} bytes; send fewer headers",
    )


def _head(request: h11.Request, waiting_for_100: bool) -> Head:
    """The framing h11 found, with the worker's own refusals (RFC 9112 6.1 and 6.3)."""
    names = {name for name, _ in request.headers}
    unread = request.method in _BODYLESS_METHODS
    if b"transfer-encoding" in names:  # h11 takes only "chunked" (501 for any other coding)
        if b"content-length" in names:
            # h11 lets Transfer-Encoding win, as RFC 9112 6.3 allows; refusing closes the smuggling
            # routes where a proxy in front took the Content-Length instead.
            raise FramingError(
                400, "bad_framing", "a request may not have both Transfer-Encoding and Content-Length"
            )
        return Head(chunked=True, expect_continue=waiting_for_100 and not unread, unread=unread)
    # h11 merged identical repeated Content-Length values (RFC 9110 8.6) and refused others.
    length = next((int(value) for name, value in request.headers if name == b"content-length"), 0)
    if length == 0:
        upgrade = request.method == b"GET" and any(
            name == b"upgrade" and value.lower() == b"websocket" for name, value in request.headers
        )
        return Head(upgrade=upgrade)
    return Head(length=length, expect_continue=waiting_for_100 and not unread, unread=unread)
