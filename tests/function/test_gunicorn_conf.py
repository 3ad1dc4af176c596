"""gunicorn.conf.py: the settings Cloud Run relies on, for a GPU and for a CPU instance."""

from __future__ import annotations

import logging
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CONF = Path(__file__).resolve().parents[2] / "function" / "gunicorn.conf.py"


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for key in (
        "TTS_WORKERS",
        "TTS_ENABLE_GPU",
        "TTS_MAX_CONCURRENT_REQUESTS",
        "TTS_QUEUE_SIZE",
        "PORT",
        "AWS_LAMBDA_FUNCTION_NAME",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TTS_MODEL_PATH", "gs://bucket/models")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(CONF))


def test_gpu_instance_runs_one_model_process(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load(monkeypatch, TTS_ENABLE_GPU="true", TTS_MAX_CONCURRENT_REQUESTS="4", PORT="9090")
    assert conf["workers"] == 1 and conf["worker_class"] == "function.server_worker.RequestBufferingWorker"
    assert conf["threads"] == 4 + 16 + 4  # running + queued (TTS_MAX_BATCH on GPU) + headroom for probes
    assert conf["bind"] == ["0.0.0.0:9090"] and conf["wsgi_app"] == "function.http.wsgi:app"
    assert conf["preload_app"] is False


def test_cloud_run_timing_and_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load(monkeypatch, TTS_WORKERS="3")
    assert conf["workers"] == 3
    assert conf["graceful_timeout"] < 10 <= conf["timeout"]  # inside Cloud Run's 10 s SIGTERM grace
    assert conf["accesslog"] is None  # our JSON access log replaces gunicorn's
    assert conf["logconfig_dict"]["formatters"]["json"]["()"] == "function.jsonlog.JsonFormatter"


def test_lambda_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS Lambda: one process, no heartbeat timeout or kept-alive connection to outlive a freeze,
    nothing written outside /tmp."""
    cloud_run = load(monkeypatch)
    assert cloud_run["max_requests"] == 0 and cloud_run["timeout"] == 300 and cloud_run["keepalive"] == 65
    assert "control_socket_disable" not in cloud_run
    conf = load(monkeypatch, AWS_LAMBDA_FUNCTION_NAME="bn-tts", TTS_MAX_BATCH="2")
    assert conf["workers"] == 1 and conf["threads"] == 2 + 2 + 4
    assert (conf["timeout"], conf["keepalive"], conf["max_requests"]) == (0, 0, 0)
    assert conf["graceful_timeout"] <= 2  # Lambda's shutdown phase with an external extension
    assert conf["worker_tmp_dir"] == "/tmp" and conf["control_socket_disable"] is True
    from gunicorn.config import Config

    cfg = Config()
    for name in ("timeout", "keepalive", "max_requests", "worker_tmp_dir", "control_socket_disable"):
        cfg.set(name, conf[name])  # every one is a real gunicorn setting, with a value it accepts
    assert cfg.timeout == 0 and cfg.control_socket_disable is True


def test_a_bad_value_exits_with_status_2(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with pytest.raises(SystemExit) as info:
            load(monkeypatch, TTS_MODEL_VARIANT="bf16")
    finally:  # the config file switched this process's logging to JSON on stdout
        root.handlers[:] = handlers
        root.setLevel(level)
    assert info.value.code == 2


def test_the_worker_class_is_light_for_the_master() -> None:
    """gunicorn's master imports worker_class: that must not load Flask or the engine."""
    code = (
        "import sys; from gunicorn.util import load_class; "
        "from gunicorn.workers.gthread import ThreadWorker; "
        "cls = load_class('function.server_worker.RequestBufferingWorker'); "
        "assert issubclass(cls, ThreadWorker); "
        "heavy = ('flask', 'werkzeug', 'onnxruntime', 'numpy', 'function.http', 'function.engine'); "
        "light = ('function.http', 'function.http.methods'); "  # import-free (a constant)
        "print(sorted(m for m in sys.modules if m.startswith(heavy) and m not in light))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=CONF.parents[1], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_worker_refuses_tls() -> None:
    """It sets connections up in its main loop, where a TLS handshake would block everyone."""
    from gunicorn.config import Config

    from function.server_worker import RequestBufferingWorker

    cfg = Config()
    cfg.set("certfile", "/etc/cert.pem")
    with pytest.raises(RuntimeError, match="TLS"):
        RequestBufferingWorker.check_config(cfg, logging.getLogger("test"))
