# ruff: noqa: N999  (gunicorn.conf.py is the conventional name, not an importable module)
"""gunicorn settings for the speech service; run from the directory that holds `function/`:

    gunicorn --config function/gunicorn.conf.py

Every value comes from function.config (validated there): a bad variable stops the start with one
line naming it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from function.config import ConfigError, load_settings
from function.jsonlog import configure_logging

try:
    _settings = load_settings()
except ConfigError as _exc:
    configure_logging("INFO")
    logging.getLogger("function.config").critical("invalid configuration: %s", _exc)
    raise SystemExit(2) from None

wsgi_app = "function.http.wsgi:app"
bind = [f"0.0.0.0:{_settings.port}"]

# One model per process. gthread: synthesis runs in ONNX Runtime, which releases the GIL, so
# threads give real concurrency inside one process without a second copy of the model.
#  - GPU: one worker owns the device (a second process would load the model twice into GPU
#    memory and fight over it); concurrent requests share the sessions through threads.
#  - CPU: TTS_WORKERS processes (default cores/4), each with its share of the cores for ONNX
#    Runtime's intra-op pool; autoregressive decoding stops scaling at about 4 threads.
# gthread, except that the main loop receives each request before a thread gets it, under the
# TTS_REQUEST_* read timeouts: a client that stalls mid-request holds no thread (server_worker.py).
worker_class = "function.server_worker.RequestBufferingWorker"
workers = _settings.workers
# Enough threads for every running and queued synthesis plus headroom, so /health, voice
# listings and fast 429 answers never wait behind long syntheses.
threads = _settings.max_concurrent_requests + _settings.queue_size + 4
# Each worker loads its own model after the fork (ONNX Runtime sessions and the loader thread do
# not survive a fork), in the background, so /health answers 503 while loading.
preload_app = False

# gthread workers heartbeat from their main loop, so a long synthesis never trips this; it only
# catches a wedged process. Long texts take minutes on CPU.
timeout = 300
# Cloud Run sends SIGTERM and kills 10 s later: finish in-flight requests within 8 s; open streams
# end cleanly at their next chunk (post_worker_init below).
graceful_timeout = 8
# Longer than the idle timeout of the proxy in front, so the proxy closes idle connections first.
keepalive = 65
# The heartbeat file on tmpfs: Cloud Run's disk is in memory anyway, and /tmp may be slow elsewhere.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Never restart a worker after some number of requests: a restart reloads the model.
max_requests = 0

if _settings.lambda_function:
    # AWS Lambda (docs/deploy-aws.md): the Lambda Web Adapter sends one request at a
    # time, and the environment is frozen between invocations, for minutes or hours.
    #  - The worker's heartbeat is judged by the clock, which runs on while frozen: the master
    #    would kill a healthy worker (and the model with it) right after a thaw. Lambda enforces
    #    the invocation's own timeout, so gunicorn's is off.
    timeout = 0
    #  - A kept-alive connection would expire during a freeze, and the adapter could reuse it in
    #    the instant gunicorn closes it after the thaw: one connection per request instead
    #    (loopback, so it costs nothing).
    keepalive = 0
    #  - Lambda shuts down only idle environments, and gives the runtime about 2 s after SIGTERM.
    graceful_timeout = 1
    #  - Only /tmp is writable: the heartbeat file goes there (Lambda has no /dev/shm), and no
    #    control socket (by default under $HOME; nobody could reach it on Lambda anyway).
    worker_tmp_dir = "/tmp"
    control_socket_disable = True
# Cloud Run's front end terminates TLS and sets X-Forwarded-*.
forwarded_allow_ips = "*"

# Our own JSON access log (function.http.access) replaces gunicorn's; gunicorn's own messages go
# through the same JSON formatter so Cloud Logging parses every line.
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "function.jsonlog.JsonFormatter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    },
    "root": {"level": _settings.log_level, "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": _settings.log_level, "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}


def post_worker_init(worker: Any) -> None:
    """Chain SIGTERM: mark the process as shutting down (streams end), then gunicorn's graceful stop."""
    # Imported in the worker only: the master never loads Flask or the engine.
    from function.http.context import SHUTTING_DOWN

    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        SHUTTING_DOWN.set()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
