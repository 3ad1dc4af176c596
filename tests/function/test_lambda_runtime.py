"""The AWS Lambda Web Adapter's contract, exercised without AWS.

The real gunicorn starts as the Dockerfile's `lambda` target starts it: the image's environment (its
ENV lines, read from the Dockerfile), the variables Lambda sets in every execution environment, the
model and voices in S3 (a moto server). Where this machine can make a private mount namespace, the
code, the virtual environment, the interpreter and HOME are read-only to the server (as on Lambda,
where only /tmp is writable). A stand-in for the adapter then does what the adapter does
(https://awslabs.github.io/aws-lambda-web-adapter/): polls the readiness path until the status is
below 500, forwards Function URL requests with their request context in `x-amzn-request-context`,
and posts a non-HTTP event (the batch schedule's) to the pass-through path with no request context
(`null`) and the invocation's deadline in `x-amzn-lambda-context`.
"""

from __future__ import annotations

import base64
import http.client
import json
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.infra.test_container import stages
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
KEY = "lambda-key-0123456789abcdef"
BN = "আমাদের গ্রামের নাম সোনাপুর।"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# What Lambda sets in every execution environment (the adapter itself reads AWS_LAMBDA_RUNTIME_API).
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bn-tts",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "10240",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bn-tts",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/01/[$LATEST]0123456789abcdef",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_REGION": "us-east-1",
    "LAMBDA_TASK_ROOT": "/var/task",
    "TZ": ":UTC",
}


def image_env() -> dict[str, str]:
    """The ENV of the Dockerfile's runtime and lambda stages, as the container would see them."""
    env: dict[str, str] = {}
    for stage in ("runtime", "lambda"):
        for op, args in stages()[stage]:
            if op == "ENV":
                env.update(dict(word.split("=", 1) for word in shlex.split(args)))
    # Paths into the image's own layout: the test runs from the checkout and its virtual environment.
    for name in ("PATH", "LD_LIBRARY_PATH", "NVIDIA_LIBS"):
        env.pop(name, None)
    return env


def readonly_launcher(paths: list[Path]) -> list[str] | None:
    """A command prefix that runs a command in a private mount namespace where `paths` are
    read-only, or None where this machine cannot make one (it needs root, or user namespaces)."""
    binds = " && ".join(
        f"mount --bind {shlex.quote(str(p))} {shlex.quote(str(p))}"
        f" && mount -o remount,bind,ro {shlex.quote(str(p))} {shlex.quote(str(p))}"
        for p in paths
    )
    probe = f"! touch {shlex.quote(str(paths[-1] / '.ro-probe'))} 2>/dev/null"
    for unshare in (
        ["unshare", "--mount", "--propagation", "private"],
        ["unshare", "--map-root-user", "--mount", "--propagation", "private"],
    ):
        launcher = [*unshare, "sh", "-c", f'{binds} && exec "$@"', "sh"]
        try:
            ok = (
                subprocess.run(
                    [*launcher, "sh", "-c", probe], check=False, capture_output=True, timeout=30
                ).returncode
                == 0
            )
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return launcher
    return None


@dataclass
class AdapterStandIn:
    """What the Lambda Web Adapter sends to the app, configured from the image's AWS_LWA_* ENV."""

    port: int
    env: dict[str, str]
    readiness: list[int] = field(default_factory=list)

    def wait_ready(self, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
        """Poll the readiness path (every 10 ms, as the adapter does) until the status is < 500."""
        assert self.env.get("AWS_LWA_READINESS_CHECK_PROTOCOL", "http") == "http"

        def ready() -> bool:
            try:
                status = self._send("GET", self.env["AWS_LWA_READINESS_CHECK_PATH"], b"", {}).status
            except OSError:
                return False
            self.readiness.append(status)
            return 100 <= status < 500

        wait_until(
            ready,
            timeout=timeout,
            what="the readiness check",
            interval=0.01,
            alive=lambda: proc.poll() is None,
        )

    def _context(self, seconds_left: float) -> str:
        return json.dumps(
            {
                "request_id": str(uuid.uuid4()),
                "deadline": int((time.time() + seconds_left) * 1000),
                "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:bn-tts",
                "xray_trace_id": None,
                "client_context": None,
                "identity": None,
                "env_config": {"function_name": "bn-tts", "memory": 10240, "version": "$LATEST"},
            }
        )

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request(method, path, body=body, headers=headers)
        return conn.getresponse()

    def function_url(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        """A request through the Function URL: the adapter sets its request context (over anything
        the client sent under that name)."""
        request_context = {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": str(uuid.uuid4()),
            "stage": "$default",
        }
        sent = {
            **(headers or {}),
            "Content-Type": "application/json",
            "x-amzn-request-context": json.dumps(request_context),
            "x-amzn-lambda-context": self._context(900),
        }
        return self._send(method, path, json.dumps(body).encode() if body is not None else b"", sent)

    def scheduled_event(self, event: dict[str, Any], seconds_left: float) -> http.client.HTTPResponse:
        """A non-HTTP invocation: the raw event posted to the pass-through path."""
        headers = {
            "Content-Type": "application/json",
            "x-amzn-request-context": "null",
            "x-amzn-lambda-context": self._context(seconds_left),
        }
        return self._send("POST", self.env["AWS_LWA_PASS_THROUGH_PATH"], json.dumps(event).encode(), headers)


@dataclass
class LambdaApp:
    server: Any
    adapter: AdapterStandIn
    bucket: str
    home: Path
    readonly: bool


def read_chunks(resp: http.client.HTTPResponse) -> tuple[bytes, list[float]]:
    data, arrivals = b"", []
    while chunk := resp.read1(65536):
        data += chunk
        arrivals.append(time.monotonic())
    return data, arrivals


@pytest.fixture(scope="module")
def app(
    start_server: Callable[..., Any],
    moto_s3: Any,
    demo_bundle: Path,
    helpers: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LambdaApp]:
    bucket = moto_s3.create_bucket("lambda")
    helpers.upload_tree_s3(moto_s3.store(bucket, "models/int8"), demo_bundle / "int8")
    tmp = tmp_path_factory.mktemp("lambda")
    home = tmp / "home"
    home.mkdir()
    image = image_env()
    assert image["HOME"] == "/tmp" and image["TTS_CACHE_DIR"].startswith("/tmp/")
    env = {
        **image,
        **LAMBDA_ENV,
        **moto_s3.env(),
        # Stricter than the image (HOME=/tmp): HOME is read-only here, so nothing may need it.
        "HOME": str(home),
        "TTS_CACHE_DIR": str(tmp / "tmp-tts-cache"),  # the image's /tmp/tts-cache, one per test run
        "TTS_MODEL_PATH": f"s3://{bucket}/models",
        "TTS_VOICES_PATH": f"s3://{bucket}/voices",
        "TTS_API_KEYS": KEY,
        # One item at a time and no quality retry: a batch item takes one piece's time (about 1.4 s
        # on the 2-core development VM), so the deadline test knows what runs when.
        "TTS_MAX_BATCH": "1",
        "TTS_QUALITY_RETRIES": "0",
        "TTS_INTRA_OP_THREADS": "1",
        "TTS_BATCH_DEADLINE_MARGIN_SECONDS": "1",
    }
    launcher = readonly_launcher([ROOT, Path(sys.base_prefix), home])
    server = start_server(env, launcher)
    adapter = AdapterStandIn(server.port, env)
    adapter.wait_ready(server.proc)
    yield LambdaApp(server, adapter, bucket, home, launcher is not None)
    assert server.stop() == 0


def test_readiness_is_the_health_path_and_503_means_not_yet(app: LambdaApp) -> None:
    statuses = app.adapter.readiness
    assert statuses[-1] == 200 and set(statuses[:-1]) <= {503}
    ready = [r for r in app.server.log_records() if r.get("phase") == "ready"]
    assert len(ready) == 1 and ready[0]["voices_path"].startswith(f"s3://{app.bucket}/voices/")
    download = next(r for r in app.server.log_records() if r.get("phase") == "download")
    assert download["cached"] is False and download["bytes"] > 0  # from S3 into TTS_CACHE_DIR


def test_the_function_url_streams_audio_as_it_is_made(
    app: LambdaApp, make_clip: Callable[..., bytes]
) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    refused = app.adapter.function_url("POST", "/synthesize/stream", {"text": BN})
    assert refused.status == 401  # the API key still guards the Function URL
    refused.read()
    clip = base64.b64encode(make_clip(4.0)).decode()
    made = app.adapter.function_url("POST", "/voices", {"speaker_wav": clip, "name": "anchor"}, auth)
    assert made.status == 201
    voice_id = json.loads(made.read())["voice_id"]
    for path, body in (
        ("/synthesize/stream", {"text": BN, "voice_id": voice_id, "seed": 1}),
        # seeded as above: an unseeded random-weight model may stop after a few codes
        (
            "/v1/audio/speech",
            {"model": "tts-1", "input": BN, "voice": voice_id, "response_format": "pcm", "seed": 1},
        ),
    ):
        resp = app.adapter.function_url("POST", path, body, auth)
        assert resp.status == 200, resp.read()[:300]
        # Chunked: the adapter (AWS_LWA_INVOKE_MODE=response_stream) passes each chunk on as it comes.
        assert resp.getheader("Transfer-Encoding") == "chunked"
        data, arrivals = read_chunks(resp)
        assert len(data) > 24000 and len(arrivals) >= 2 and arrivals[-1] - arrivals[0] > 0.2, path


def test_the_events_path_refuses_requests_that_came_over_http(app: LambdaApp) -> None:
    event = {"batch": {}}
    auth = {"Authorization": f"Bearer {KEY}"}
    # Through the Function URL, with a valid key and a forged "no request context" header: the
    # adapter replaces that header with the real request context.
    over_url = app.adapter.function_url("POST", "/events", event, {**auth, "x-amzn-request-context": "null"})
    assert over_url.status == 403 and json.loads(over_url.read())["error"]["code"] == "forbidden"
    bare = app.adapter._send("POST", "/events", b'{"batch": {}}', {"Content-Type": "application/json"})
    assert bare.status == 403
    bare.read()
    bad = app.adapter.scheduled_event({"batch": {"tasks": 2}}, 600)
    assert (
        bad.status == 400 and "batch.tasks is not a batch field" in json.loads(bad.read())["error"]["message"]
    )


def test_a_scheduled_event_runs_the_batch_until_its_deadline_and_the_next_resumes(
    app: LambdaApp, moto_s3: Any, make_clip: Callable[..., bytes]
) -> None:
    inputs = moto_s3.store(app.bucket, "batch/in")
    outputs = moto_s3.store(app.bucket, "batch/out")
    inputs.write_bytes("daily/clips/anchor.wav", make_clip(4.0))
    ids = [f"item-{i}" for i in range(5)]
    lines = [
        {"id": i, "text": BN, "speaker_wav_uri": "clips/anchor.wav", "seed": n} for n, i in enumerate(ids)
    ]
    inputs.write_bytes(
        "daily/news.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode()
    )

    # 1.5 s before the margin: the first item starts at once, the last of five items (one at a
    # time, about 1.4 s each here; even three times faster, 2.4 s in all) cannot.
    first = app.adapter.scheduled_event({"batch": {}}, seconds_left=1 + 1.5)
    assert first.status == 200
    one = json.loads(first.read())
    report = one["report"]
    assert one["complete"] is False and one["run"].startswith("lambda-")
    assert report["synthesized"] >= 1 and report["deferred"] >= 1
    assert report["synthesized"] + report["deferred"] == len(ids) and report["failed"] == 0
    assert (one["input"], one["output"]) == (f"s3://{app.bucket}/batch/in", f"s3://{app.bucket}/batch/out")
    done_first = {k for k in outputs.list_keys("daily/news") if k.endswith(".json")}
    assert len(done_first) == report["synthesized"] and "daily/news/_SUMMARY.json" not in done_first

    # The next scheduled run resumes: only what was left is synthesized, and the manifest is done.
    second = app.adapter.scheduled_event({"batch": {"run_id": "sched-2", "attempt": 0}}, seconds_left=600)
    assert second.status == 200
    two = json.loads(second.read())
    assert two["complete"] is True and two["run"] == "sched-2"
    assert (
        two["report"]["synthesized"] == report["deferred"]
        and two["report"]["skipped"] == report["synthesized"]
    )
    summary = json.loads(outputs.read_bytes("daily/news/_SUMMARY.json"))
    assert (summary["items"], summary["ok"], summary["failed"]) == (len(ids), len(ids), 0)
    for item in ids:
        assert json.loads(outputs.read_bytes(f"daily/news/{item}.json"))["status"] == "ok"
    done = [r for r in app.server.log_records() if r.get("event") == "batch_done"]
    assert [r["deferred"] for r in done] == [report["deferred"], 0]


def test_nothing_is_written_outside_tmp(app: LambdaApp) -> None:
    if not app.readonly:
        pytest.skip("no private mount namespace here (needs root or user namespaces): not enforced")
    # The server came up, streamed and ran a batch with its code, interpreter and HOME read-only.
    assert list(app.home.iterdir()) == []
    assert app.server.health()[0] == 200
