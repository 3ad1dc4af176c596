"""Cold start of the real gunicorn from a real gcp-storage-emulator bucket holding the demo bundle."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle_bucket(emulator: Any, demo_bundle: Path, helpers: Any) -> Any:
    """A bucket with the demo bundle's int8 variant under models/ (the layout export uploads)."""
    bucket = emulator.client().create_bucket("bundles")
    helpers.upload_tree(bucket, demo_bundle / "int8", "models/int8")
    return bucket


@pytest.fixture
def server_env(emulator: Any, helpers: Any) -> Callable[..., dict[str, str]]:
    return helpers.bucket_server_env({"STORAGE_EMULATOR_HOST": emulator.url})


def test_cold_start_from_bucket_then_cache_reuse(
    start_server: Callable[..., Any],
    server_env: Callable[..., dict[str, str]],
    bundle_bucket: Any,
    helpers: Any,
    tmp_path: Path,
) -> None:
    env = server_env(tmp_path, "gs://bundles/models/")
    first, health, logged, _ = helpers.cold_start_then_reuse(start_server, env)
    assert health["provider"] == "CPUExecutionProvider" and health["model"]["name"]
    assert logged["verify"][0]["duration_s"] >= 0
    assert all(rec["severity"] in ("INFO", "DEBUG") for rec in first.log_records() if "phase" in rec)


def test_workers_starting_together_download_once(
    start_server: Callable[..., Any],
    server_env: Callable[..., dict[str, str]],
    bundle_bucket: Any,
    tmp_path: Path,
) -> None:
    server = start_server(server_env(tmp_path, "gs://bundles/models", TTS_WORKERS="3"))
    server.wait_ready()
    # Every worker must be up, not only the first: wait for three "model ready" lines.
    wait_until(
        lambda: len(server.phases().get("ready", [])) >= 3,
        timeout=120,
        what="three workers ready",
        interval=0.3,
    )
    downloads = server.phases()["download"]
    assert sorted(d["cached"] for d in downloads) == [False, True, True]


@pytest.mark.parametrize("damage", ["corrupt", "missing", "manifest"])
def test_a_broken_bundle_stops_the_start(
    start_server: Callable[..., Any],
    server_env: Callable[..., dict[str, str]],
    emulator: Any,
    demo_bundle: Path,
    helpers: Any,
    tmp_path: Path,
    damage: str,
) -> None:
    src = tmp_path / "bundle"
    shutil.copytree(demo_bundle / "int8", src)
    victim = next(p for p in sorted(src.glob("*.onnx")))
    if damage == "corrupt":
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
    elif damage == "missing":
        victim.unlink()
    else:
        (src / "manifest.json").write_text('{"format_version": 1, "files": ')
    bucket = emulator.client().create_bucket(f"broken-{damage}")
    helpers.upload_tree(bucket, src, "m")
    server = start_server(server_env(tmp_path, f"gs://broken-{damage}/m"))
    assert server.wait_exit(120) == 3  # gunicorn halts: "Worker failed to boot"
    critical = [r for r in server.log_records() if r["severity"] == "CRITICAL"]
    assert len(critical) == 1
    expected = {
        "corrupt": f"checksum mismatch for gs://broken-corrupt/m/{victim.name}",
        "missing": f"gs://broken-missing/m/{victim.name} does not exist",
        "manifest": "unreadable manifest gs://broken-manifest/m/manifest.json: not valid JSON",
    }[damage]
    assert expected in critical[0]["message"]
    assert not (tmp_path / "cache" / "bundles").exists() or not any(
        p.name.startswith("int8-") for p in (tmp_path / "cache" / "bundles").iterdir()
    )


def test_transient_bucket_errors_are_survived(
    start_server: Callable[..., Any],
    server_env: Callable[..., dict[str, str]],
    emulator: Any,
    demo_bundle: Path,
    helpers: Any,
    tmp_path: Path,
) -> None:
    proxy = helpers.FaultProxy(emulator.port)
    try:
        bucket = emulator.client(proxy.url).create_bucket("flaky-bundles")
        helpers.upload_tree(bucket, demo_bundle / "int8", "m/int8")
        proxy.requests.clear()
        proxy.plan = ["slow", "503", "pass", "429", "reset", "pass", "503", "503", "pass", "reset"]
        server = start_server(
            {**server_env(tmp_path, "gs://flaky-bundles/m"), "STORAGE_EMULATOR_HOST": proxy.url}
        )
        # While the bundle is still coming, the service says so: 503 with Retry-After everywhere.
        health = synth = None
        deadline = time.monotonic() + 60
        while (health is None or synth is None) and time.monotonic() < deadline:
            try:
                health = health or requests.get(server.url + "/health", timeout=5)
                synth = synth or requests.post(server.url + "/synthesize", json={"text": "x"}, timeout=5)
            except requests.ConnectionError:
                time.sleep(0.05)  # not listening yet
        assert health is not None and health.status_code == 503 and health.json()["status"] == "loading"
        assert (
            synth is not None
            and synth.status_code == 503
            and synth.json()["error"]["code"] == "model_loading"
        )
        assert int(synth.headers["Retry-After"]) > 0
        server.wait_ready()
        injected = [r for r in proxy.requests if r[3] not in ("pass", "slow")]
        assert [r[3] for r in injected] == ["503", "429", "reset", "503", "503", "reset"]
    finally:
        proxy.stop()


def test_a_voice_and_a_dictionary_made_on_one_server_are_used_by_another(
    start_server: Callable[..., Any],
    server_env: Callable[..., dict[str, str]],
    bundle_bucket: Any,
    tmp_path: Path,
    make_clip: Callable[..., bytes],
) -> None:
    """Two instances on one bucket (the storage emulator): a voice and a pronunciation dictionary
    made on one are found, versioned, used and deleted on the other; another key sees neither."""
    keys = ("key-one-0123456789abcdef", "key-two-0123456789abcdef")
    shared = {"TTS_VOICES_PATH": "gs://bundles/voices", "TTS_API_KEYS": ",".join(keys)}
    one = start_server(server_env(tmp_path / "one", "gs://bundles/models", **shared))
    two = start_server(server_env(tmp_path / "two", "gs://bundles/models", **shared))
    one.wait_ready()
    two.wait_ready()

    def call(server: Any, method: str, path: str, key: str = keys[0], **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}"}
        return requests.request(method, server.url + path, headers=headers, timeout=300, **kw)

    made = call(
        one, "POST", "/voices", json={"audio": base64.b64encode(make_clip(4.0)).decode(), "name": "shared"}
    )
    assert made.status_code == 201, made.text
    vid = made.json()["voice_id"]
    listed = call(two, "GET", "/voices")
    assert listed.status_code == 200, listed.text
    assert vid in [v["voice_id"] for v in listed.json()["voices"]]
    rules = {"name": "names", "rules": [{"string_to_replace": "Zorp", "type": "alias", "alias": "জর্প"}]}
    dictionary = call(one, "POST", "/v1/pronunciation-dictionaries/add-from-rules", json=rules).json()["id"]
    changed = call(
        two,
        "POST",
        f"/v1/pronunciation-dictionaries/{dictionary}/add-rules",
        json={"rules": [{"string_to_replace": "Zorp", "type": "alias", "alias": "জোর্প"}]},
    )
    assert changed.json()["version_id"] == "v2"

    def normalized(server: Any, version: str | None, key: str = keys[0]) -> requests.Response:
        locator = {"pronunciation_dictionary_id": dictionary, **({"version_id": version} if version else {})}
        body = {"text": "Zorp", "voice_id": vid, "seed": 1, "response_format": "json",
                "pronunciation_dictionary_locators": [locator]}  # fmt: skip
        return call(server, "POST", "/synthesize", key, json=body)

    assert normalized(two, "v1").json()["normalized_text"] == "জর্প"
    assert normalized(one, None).json()["normalized_text"] == "জোর্প"  # the latest, made on the other
    assert normalized(one, None, keys[1]).status_code == 404  # another key's: not found
    assert call(one, "GET", f"/v1/pronunciation-dictionaries/{dictionary}", keys[1]).status_code == 404
    assert call(two, "DELETE", f"/pronunciation-dictionaries/{dictionary}").status_code == 204
    assert normalized(one, "v1").status_code == 404
    assert call(two, "DELETE", f"/voices/{vid}").status_code == 204
    assert call(one, "GET", f"/voices/{vid}").status_code == 404


@pytest.mark.parametrize(
    ("name", "value"), [("TTS_MODEL_VARIANT", "int4"), ("TTS_MAX_CONCURRENT_REQUESTS", "many")]
)
def test_a_bad_variable_stops_the_start_naming_it(
    start_server: Callable[..., Any],
    server_env: Callable[..., dict[str, str]],
    tmp_path: Path,
    name: str,
    value: str,
) -> None:
    server = start_server(server_env(tmp_path, str(tmp_path / "none"), **{name: value}))
    assert server.wait_exit(60) == 2
    lines = [r for r in server.log_records() if r["severity"] == "CRITICAL"]
    assert len(lines) == 1 and name in lines[0]["message"] and value in lines[0]["message"]


@pytest.mark.slow
def test_a_gpu_server_without_cuda_fails_to_start(
    start_server: Callable[..., Any], demo_bundle: Path, tmp_path: Path
) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA: the failure under test cannot happen here")
    env = {
        "TTS_MODEL_PATH": str(demo_bundle),
        "TTS_MODEL_VARIANT": "int8",
        "TTS_ENABLE_GPU": "true",
        "TTS_CACHE_DIR": str(tmp_path / "cache"),
    }
    server = start_server(env)
    assert server.wait_exit(120) == 3  # never a CPU fallback that answers /health
    critical = [r for r in server.log_records() if r["severity"] == "CRITICAL"]
    assert len(critical) == 1 and "TTS_ENABLE_GPU=true" in critical[0]["message"], critical
