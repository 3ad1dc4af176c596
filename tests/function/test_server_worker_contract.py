"""The gunicorn internals function/server_worker.py relies on, named one by one.

The worker subclasses gunicorn's ThreadWorker and uses parts of it that are not public API
(docs/decisions/0001-request-buffering-worker.md). A gunicorn release that renames or reshapes one
of them fails here, in the fast suite, before the slow-client tests would notice; the worker also
refuses to start on any gunicorn but the one it was tested with.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import gunicorn
import pytest
from gunicorn import util
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.message import Message, Request
from gunicorn.http.parser import Parser, RequestParser
from gunicorn.http.unreader import SocketUnreader, Unreader
from gunicorn.workers.gthread import PollableMethodQueue, TConn, ThreadWorker

from function.server_worker import TESTED_GUNICORN, RequestBufferingWorker

# Methods the worker overrides or calls, with the parameters it passes.
METHODS: list[tuple[type, str, list[str]]] = [
    (ThreadWorker, "accept", ["self", "listener"]),
    (ThreadWorker, "enqueue_req", ["self", "conn"]),
    (ThreadWorker, "handle", ["self", "conn"]),
    (ThreadWorker, "handle_request", ["self", "req", "conn"]),
    (ThreadWorker, "wait_for_and_dispatch_events", ["self", "timeout"]),
    (ThreadWorker, "init_process", ["self"]),
    (ThreadWorker, "finish_request", ["self", "conn", "fs"]),  # ends a WebSocket's connection
    (PollableMethodQueue, "defer", ["self", "callback"]),  # ... run on the main loop's thread
    (ThreadWorker, "check_config", ["cls", "cfg", "log"]),
    (TConn, "__init__", ["self", "cfg", "sock", "client", "server"]),
    (TConn, "init", ["self"]),
    (TConn, "close", ["self"]),
    (Unreader, "take_buffered", ["self"]),
    (Unreader, "unread", ["self", "data"]),
    (Request, "force_close", ["self"]),
]
# Attributes it reads or sets, and the function whose source must assign them.
ATTRIBUTES: list[tuple[Callable[..., Any], list[str]]] = [
    (ThreadWorker.__init__, ["self.nr_conns", "self.method_queue"]),
    (ThreadWorker.init_process, ["self.poller"]),
    (TConn.__init__, ["self.sock", "self.client", "self.parser", "self.initialized", "self.data_ready"]),
    (Message.__init__, ["self.headers"]),
]
# Module functions: closing a socket, and the error page writer the worker replaces with JSON.
FUNCTIONS = [(util, "close", ["sock"]), (util, "write_error", ["sock", "status_int", "reason", "mesg"])]


def test_gunicorn_is_the_release_the_worker_was_tested_with() -> None:
    assert gunicorn.__version__ == TESTED_GUNICORN


@pytest.mark.parametrize(("owner", "name", "params"), METHODS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_each_method_used_exists_with_its_parameters(owner: type, name: str, params: list[str]) -> None:
    method = inspect.getattr_static(owner, name)
    function = method.__func__ if isinstance(method, classmethod) else method  # cls comes first
    assert [p for p in inspect.signature(function).parameters][: len(params)] == params


def test_each_attribute_used_is_set_where_expected() -> None:
    for function, names in ATTRIBUTES:
        source = inspect.getsource(function)
        for name in names:
            assert f"{name} =" in source, (function.__qualname__, name)
    # The worker's reader is swapped in as the parser's socket: the parser reads through it.
    assert "self.sock = sock" in inspect.getsource(SocketUnreader)
    assert "self.unreader = SocketUnreader" in inspect.getsource(Parser.__init__)
    assert issubclass(RequestParser, Parser) and issubclass(SocketUnreader, Unreader)
    # A WebSocket takes over the connection's socket from the WSGI environ, and ends its request
    # by raising StopIteration from the app (function.http.routes_elevenlabs_ws), which handle()
    # takes as "close the connection".
    assert '"gunicorn.socket": sock' in inspect.getsource(wsgi.default_environ)
    assert "default_environ(req, sock, cfg)" in inspect.getsource(wsgi.create)
    assert "except StopIteration" in inspect.getsource(ThreadWorker.handle)


def test_each_module_function_used_exists() -> None:
    for module, name, params in FUNCTIONS:
        assert list(inspect.signature(getattr(module, name)).parameters) == params, name
    assert callable(util.write_nonblock)


def test_the_worker_refuses_an_untested_gunicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gunicorn, "__version__", "99.0.0")
    with pytest.raises(RuntimeError, match=f"tested with gunicorn {TESTED_GUNICORN}, not 99.0.0"):
        RequestBufferingWorker.check_config(Config(), logging.getLogger("test"))
