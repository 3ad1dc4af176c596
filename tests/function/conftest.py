"""Real servers for the serving tests: a gcp-storage-emulator, a moto S3 server, a fault-injecting
proxy, gunicorn."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from export.upload import upload_bundle
from function.engine import Voice
from function.engine.scheduler import Scheduler
from function.service.model import Loaded
from function.storage import LocalStore
from function.voices import VoiceStore
from tests.function.fakes import FakeEngine
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
        except OSError:
            return False
        return True

    wait_until(listening, timeout=timeout, what=f"something listening on 127.0.0.1:{port}", interval=0.05)


class Emulator:
    """A gcp-storage-emulator subprocess on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [str(VENV_BIN / "gcp-storage-emulator"), "start", "--in-memory", "-q"]
        self.proc = subprocess.Popen(
            [*cmd, "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def client(self, host: str | None = None) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": host or self.url},
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    # Clients get the emulator's address explicitly (servers through their environment), so
    # nothing else in the test session is pointed at it.
    emu = Emulator()
    yield emu
    emu.stop()


_bucket_seq = iter(range(10**6))


class MotoS3:
    """A moto S3 server subprocess (real HTTP, in memory) on a free loopback port.

    Servers and jobs reach it through boto3's own variables (`env`); the test process gets clients
    and stores explicitly (`client`, `store`), so nothing else in the session is pointed at it.
    """

    REGION = "us-east-1"

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL_S3": endpoint or self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.REGION,
        }

    def client(self, endpoint: str | None = None, workers: int = 8) -> Any:
        """A client configured as S3Store makes its own (retries, pool), but pointed here explicitly."""
        import boto3

        from function.storage.s3 import client_config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=self.REGION,
            config=client_config(workers),
        )

    def store(self, bucket: str, prefix: str = "", **kwargs: Any) -> Any:
        from function.storage.s3 import S3Store

        kwargs.setdefault("client", self.client())
        return S3Store(bucket, prefix, **kwargs)

    def create_bucket(self, prefix: str = "b") -> str:
        name = f"{prefix}-{os.getpid()}-{next(_bucket_seq)}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    server = MotoS3()
    yield server
    server.stop()


def upload_tree_s3(store: Any, local: Path) -> None:
    """Upload a local bundle into an S3Store the way export uploads to a bucket: manifests last."""
    files = sorted(p for p in local.rglob("*") if p.is_file())
    for path in sorted(files, key=lambda p: p.name == "manifest.json"):
        store.write_bytes(path.relative_to(local).as_posix(), path.read_bytes())


@pytest.fixture
def bucket(emulator: Emulator) -> Any:
    """A fresh, empty bucket for one test."""
    return emulator.client().create_bucket(f"b{os.getpid()}-{next(_bucket_seq)}")


def upload_tree(bucket: Any, local: Path, prefix: str) -> None:
    """Upload a local tree the way `python -m export build --upload` does (manifests last)."""
    upload_bundle(local, f"gs://{bucket.name}/{prefix}", client=bucket.client)


class FaultProxy:
    """HTTP proxy in front of the emulator that answers 503 or resets the connection on cue.

    `plan` is consumed one entry per request: "503", "429", "403", "reset", "slow" (pass after 2 s)
    or "pass"; when it is empty every
    request passes. `requests` records (method, path, range header, outcome).
    """

    def __init__(self, upstream_port: int) -> None:
        self.plan: list[str] = []
        self.requests: list[tuple[str, str, str | None, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                with proxy._lock:
                    action = proxy.plan.pop(0) if proxy.plan else "pass"
                    proxy.requests.append((self.command, self.path, self.headers.get("Range"), action))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if action == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if action == "slow":
                    time.sleep(2.0)  # a slow bucket: the server stays in its loading state meanwhile
                elif action in ("503", "429", "403"):
                    payload = b'{"error": {"code": %d, "message": "injected"}}' % int(action)
                    self.send_response(int(action))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":  # a HEAD answer has no body, whatever its length says
                        self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                head = self.command == "HEAD"  # no body, but the object's own Content-Length
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection") and (
                        head or k.lower() != "content-length"
                    ):
                        self.send_header(k, v)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle  # noqa: N815

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # the injected resets are expected

        self.server = Quiet(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fault_proxy(emulator: Emulator) -> Iterator[FaultProxy]:
    proxy = FaultProxy(emulator.port)
    yield proxy
    proxy.stop()


class Server:
    """The real gunicorn, started with the real config from the repository root."""

    def __init__(self, env: dict[str, str], log_path: Path, wrap: list[str] | None = None) -> None:
        self.port = int(env.get("PORT") or free_port())
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
        full_env.update(env)
        full_env["PORT"] = str(self.port)
        self._log = log_path.open("ab")
        # `wrap`: a launcher that execs the command it is given (e.g. into a read-only mount namespace).
        self.proc = subprocess.Popen(
            [*(wrap or []), str(VENV_BIN / "gunicorn"), "--config", "function/gunicorn.conf.py"],
            cwd=ROOT,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def health(self) -> tuple[int, dict[str, Any]]:
        import requests

        r = requests.get(self.url + "/health", timeout=5)
        return r.status_code, r.json()

    def wait_ready(self, timeout: float = 180.0) -> dict[str, Any]:
        import requests

        def ready() -> dict[str, Any] | None:
            with contextlib.suppress(requests.RequestException):
                status, body = self.health()
                if status == 200:
                    return body
            return None

        try:
            return wait_until(
                ready,
                timeout=timeout,
                what="/health answering 200",
                interval=0.2,
                alive=lambda: self.proc.poll() is None,
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc} (gunicorn: {self.proc.poll()}):\n{self.log_text()[-4000:]}"
            ) from None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    def phases(self) -> dict[str, list[dict[str, Any]]]:
        """The start-up log records (download, verify, session_creation, ...) by phase."""
        out: dict[str, list[dict[str, Any]]] = {}
        for rec in self.log_records():
            if "phase" in rec:
                out.setdefault(rec["phase"], []).append(rec)
        return out

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Factory: start_server(env) -> a running (not necessarily ready) gunicorn; stopped at module end."""
    servers: list[Server] = []

    def start(env: dict[str, str], wrap: list[str] | None = None) -> Server:
        log = tmp_path_factory.mktemp("gunicorn") / "server.log"
        server = Server(env, log, wrap)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def tone_clip(seconds: float, rate: int = 22050, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    """A voiced-like test clip: a harmonic tone with a syllable-rate envelope and a little noise."""
    import io

    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(7)
    voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2
    audio = (0.25 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    audio = np.clip(audio, -1, 1)
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def bucket_server_env(storage: dict[str, str]) -> Callable[..., dict[str, str]]:
    """A server's environment for a bundle in a bucket (`storage`: how to reach it): one worker,
    one thread, int8, its own cache and voices under `tmp`."""

    def make(tmp: Path, model_path: str, **extra: str) -> dict[str, str]:
        return {
            "TTS_MODEL_PATH": model_path,
            "TTS_CACHE_DIR": str(tmp / "cache"),
            "TTS_VOICES_PATH": str(tmp / "voices"),
            "TTS_MODEL_VARIANT": "int8",
            "TTS_WORKERS": "1",
            "TTS_INTRA_OP_THREADS": "1",
            **storage,
            **extra,
        }

    return make


def cold_start_then_reuse(
    start_server: Callable[..., Server], env: dict[str, str]
) -> tuple[Server, dict[str, Any], dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Start a server from a bucket, stop it, start another on the same cache: what every store
    must give (a download verified once, then the cache). Returns the first server, its health,
    and both servers' start-up phases."""
    first = start_server(env)
    health = first.wait_ready()
    assert health["status"] == "ok" and health["variant"] == "int8"
    assert first.stop() == 0
    logged = first.phases()
    download = logged["download"][0]
    assert download["cached"] is False and download["bytes"] > 0 and download["throughput_mib_s"] > 0
    assert logged["verify"][0]["bytes"] == download["bytes"]
    assert logged["session_creation"][0]["provider"] == "CPUExecutionProvider"
    assert logged["warm_up"][0]["duration_s"] > 0

    second = start_server(env)
    second.wait_ready()
    again = second.phases()
    assert again["download"][0]["cached"] is True and again["download"][0]["bytes"] == 0
    assert "verify" not in again
    return first, health, logged, again


@pytest.fixture(scope="session")
def make_clip() -> Callable[..., bytes]:
    return tone_clip


@pytest.fixture(scope="session")
def helpers() -> Any:
    """The helpers above for test modules (conftest is not importable under --import-mode=importlib)."""
    import types

    return types.SimpleNamespace(
        upload_tree=upload_tree,
        upload_tree_s3=upload_tree_s3,
        bucket_server_env=bucket_server_env,
        cold_start_then_reuse=cold_start_then_reuse,
        FaultProxy=FaultProxy,
        free_port=free_port,
        tone_clip=tone_clip,
        Server=Server,
    )


# ---- the fake engine of tests/function/fakes.py, for the service layer's tests ------------------
@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def loaded(engine: FakeEngine, tmp_path: Any) -> Iterator[Loaded]:
    voices: VoiceStore[Voice] = VoiceStore(
        LocalStore(tmp_path), capacity=8, loads=Voice.from_bytes, dumps=lambda v: v.to_bytes(), model="fake/1"
    )
    scheduler = Scheduler(engine.decoder, max_batch=4)
    yield Loaded(engine, voices, scheduler, engine.manifest, ["bn", "en"])  # type: ignore[arg-type]
    scheduler.stop()
