"""A server WebSocket on the connection gunicorn hands the app (environ["gunicorn.socket"]).

wsproto (python-hyper's sans-I/O WebSocket library) does the handshake and all the framing: what
this module keeps is the socket I/O around it, because the small libraries that wrap wsproto for
WSGI servers (simple-websocket, used by flask-sock) fit a long-lived socket badly here: they read in
a thread of their own that dies on the first socket timeout, and their send ignores a partial
write, which a send deadline (a client that stops reading) causes. Here:

- `receive(timeout)` reads in the caller's thread, only when the socket is readable, so a read
  never blocks past `timeout`; it answers pings and the peer's close itself;
- `send_text()` may be called from any thread (a lock keeps frames whole and in order) and sends
  all or raises: a client that accepts nothing for `send_timeout_s` gets TimeoutError, and the
  session ends;
- a message over `max_message_bytes` closes the socket with 1009, a binary one with 1003.

No per-message compression is offered: the payload is base64 audio, which deflate barely shrinks,
and an uncompressed frame costs no shared state between the threads that send.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections import deque
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

_RECV_BYTES = 64 * 1024
_CLOSE_WAIT_S = 1.0  # how long close() waits for the peer's answering close frame

NORMAL = 1000
GOING_AWAY = 1001
UNSUPPORTED_DATA = 1003
INVALID_PAYLOAD = 1007
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013


class WebSocketClosed(Exception):  # noqa: N818  (a state, like ConnectionResetError)
    """The socket is closed: by the peer (`code` it sent), by us, or by a broken connection (1006)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"websocket closed ({code}) {reason}".strip())
        self.code = code
        self.reason = reason


def is_upgrade(environ: dict[str, Any]) -> bool:
    """Whether a request asks to become a WebSocket (RFC 6455 4.1)."""
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and environ.get("HTTP_UPGRADE", "").lower() == "websocket"
        and "upgrade" in environ.get("HTTP_CONNECTION", "").lower()
    )


def handshake_problem(environ: dict[str, Any]) -> str | None:
    """What makes an upgrade request unacceptable, or None."""
    if environ.get("HTTP_SEC_WEBSOCKET_VERSION") != "13":
        return "Sec-WebSocket-Version must be 13"
    if not environ.get("HTTP_SEC_WEBSOCKET_KEY"):
        return "the Sec-WebSocket-Key header is missing"
    if "gunicorn.socket" not in environ:
        return "this server cannot take over the connection"
    return None


class ServerWebSocket:
    def __init__(self, environ: dict[str, Any], *, max_message_bytes: int, send_timeout_s: float) -> None:
        self._sock: socket.socket = environ["gunicorn.socket"]
        self._max = max_message_bytes
        self._lock = threading.Lock()
        self._ws = WSConnection(ConnectionType.SERVER)
        self._events: deque[Any] = deque()  # received, not handled yet
        self._partial: list[str] = []
        self._partial_bytes = 0
        self.close_code: int | None = None
        self._closed = False
        headers = [
            (key[5:].replace("_", "-").lower().encode("latin-1"), value.encode("latin-1"))
            for key, value in environ.items()
            if key.startswith("HTTP_") and isinstance(value, str)
        ]
        path = environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        self._ws.initiate_upgrade_connection(headers, path)
        for event in self._ws.events():
            if isinstance(event, Request):
                break
        self._sock.settimeout(send_timeout_s)  # bounds every send; reads wait on the selector
        self._sock.sendall(self._ws.send(AcceptConnection()))
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._sock, selectors.EVENT_READ)

    @property
    def open(self) -> bool:
        return self._ws.state is ConnectionState.OPEN

    def receive(self, timeout: float) -> str | None:
        """The next text message, or None when none arrived within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            message = self._next_message()
            if message is not None:
                return message
            if not self.open:
                raise WebSocketClosed(self.close_code or 1006)
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                return None
            try:
                data = self._sock.recv(_RECV_BYTES)
            except OSError:
                data = b""
            if not data:
                self._lost()
            with self._lock:
                try:
                    self._ws.receive_data(data)
                except RemoteProtocolError as exc:
                    self._lost(str(exc))

    def _next_message(self) -> str | None:
        with self._lock:
            try:
                self._events.extend(self._ws.events())
            except RemoteProtocolError as exc:
                self._lost(str(exc))
        while self._events:
            event = self._events.popleft()
            if isinstance(event, TextMessage):
                self._partial.append(event.data)
                self._partial_bytes += len(event.data.encode())
                if self._partial_bytes > self._max:
                    self.close(MESSAGE_TOO_BIG, f"a message may have at most {self._max} bytes")
                    raise WebSocketClosed(MESSAGE_TOO_BIG, "message too big")
                if event.message_finished:
                    message = "".join(self._partial)
                    self._partial, self._partial_bytes = [], 0
                    return message
            elif isinstance(event, BytesMessage):
                self.close(UNSUPPORTED_DATA, "send text (JSON) messages")
                raise WebSocketClosed(UNSUPPORTED_DATA, "binary message")
            elif isinstance(event, Ping):
                self._send_raw(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code = event.code
                if self._ws.state is ConnectionState.REMOTE_CLOSING:
                    self._send_raw(self._ws.send(event.response()))
                self._shutdown()
                raise WebSocketClosed(event.code, event.reason or "")
        return None

    def send_text(self, text: str) -> None:
        """Send one text message; TimeoutError when the client accepted nothing for too long,
        WebSocketClosed when the socket is closed."""
        with self._lock:
            if self._ws.state is not ConnectionState.OPEN:
                raise WebSocketClosed(self.close_code or 1006)
            data = self._ws.send(TextMessage(data=text))
            try:
                self._sock.sendall(data)
            except OSError:
                self._shutdown()
                raise

    def close(self, code: int = NORMAL, reason: str = "") -> None:
        """Send a close frame (if still open), wait briefly for the peer's, and close the socket."""
        if self._closed:
            return
        with self._lock:
            if self._ws.state is ConnectionState.OPEN:
                self.close_code = code
                with contextlib.suppress(OSError):
                    self._sock.sendall(self._ws.send(CloseConnection(code=code, reason=reason[:120])))
        deadline = time.monotonic() + _CLOSE_WAIT_S
        while self._ws.state is ConnectionState.LOCAL_CLOSING and time.monotonic() < deadline:
            if not self._selector.select(deadline - time.monotonic()):
                break
            try:
                data = self._sock.recv(_RECV_BYTES)
            except OSError:
                break
            if not data:
                break
            with self._lock:
                try:
                    self._ws.receive_data(data)
                    list(self._ws.events())
                except RemoteProtocolError:
                    break
        self._shutdown()

    def _send_raw(self, data: bytes) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._sock.sendall(data)

    def _lost(self, why: str = "the connection was lost") -> None:
        self._shutdown()
        raise WebSocketClosed(1006, why)

    def _shutdown(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError, KeyError, ValueError):
            self._selector.close()
        with contextlib.suppress(OSError):
            self._sock.close()
