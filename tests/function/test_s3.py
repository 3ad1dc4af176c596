"""s3:// behind the storage interface: S3Store against a real moto S3 server, and the real gunicorn
starting from it (cold start, cache reuse, a corrupt object refused, voices shared between servers).

The batch job over s3:// is test_batch_job.py's scenario on an S3 place.
"""

from __future__ import annotations

import base64
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from function.storage import (
    BundleFetchError,
    ObjectNotFoundError,
    StorageError,
    fetch_bundle,
    open_store,
)
from function.storage.s3 import S3Store


# ---- the store ---------------------------------------------------------------------------------
def test_open_store_dispatches_s3_urls() -> None:
    store = open_store("s3://bkt/models/bn", chunk_bytes=2**20, workers=3)
    assert isinstance(store, S3Store)
    assert (store.bucket_name, store.prefix, store.chunk_bytes, store.workers) == (
        "bkt",
        "models/bn",
        2**20,
        3,
    )
    assert store.url("int8/manifest.json") == "s3://bkt/models/bn/int8/manifest.json"


def test_the_store_interface_on_a_real_s3_server(moto_s3: Any) -> None:
    bucket = moto_s3.create_bucket()
    store = moto_s3.store(bucket, "voices/m-1")
    assert store.location == f"s3://{bucket}/voices/m-1"
    assert store.list_keys() == [] and not store.exists("a.json")

    store.write_bytes("a.json", b'{"v": 1}')
    store.write_bytes("names/x/y.json", b"{}")
    moto_s3.store(bucket).write_bytes("voices/m-10/outside.json", b"{}")  # a sibling prefix, not ours
    assert store.read_bytes("a.json") == b'{"v": 1}' and store.exists("a.json")
    assert store.read_bytes("a.json", limit=3) == b'{"v"'  # limit + 1 bytes at most
    assert store.list_keys() == ["a.json", "names/x/y.json"]
    assert store.list_keys("names") == store.list_keys("names/") == ["names/x/y.json"]

    first = store.stat("a.json")
    assert first.size == 8
    store.write_bytes("a.json", b'{"v": 2}')  # same size, new content: a new fingerprint
    assert store.stat("a.json").size == 8 and store.stat("a.json").fingerprint != first.fingerprint

    # Create-if-absent is decided by S3 (If-None-Match: *): exactly one of many racing writers wins.
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(store.create("names/n.json", b"%d" % i)))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
    assert not store.create("a.json", b"other") and store.read_bytes("a.json") == b'{"v": 2}'

    assert store.delete("a.json") is True and store.delete("a.json") is False
    with pytest.raises(ObjectNotFoundError, match=rf"s3://{bucket}/voices/m-1/a\.json does not exist"):
        store.read_bytes("a.json")
    with pytest.raises(ObjectNotFoundError):
        store.stat("a.json")
    with pytest.raises(StorageError, match="invalid object key"):
        store.read_bytes("../escape")
    with pytest.raises(ObjectNotFoundError, match="does not exist"):
        moto_s3.store("no-such-bucket-here").read_bytes("x")


def test_large_objects_download_as_parallel_ranges_through_transient_failures(
    moto_s3: Any, helpers: Any, tmp_path: Path
) -> None:
    """TTS_DOWNLOAD_CHUNK_BYTES and TTS_DOWNLOAD_WORKERS drive boto3's transfer manager; 503s and
    connection resets on the way are retried (botocore's standard mode)."""
    bucket = moto_s3.create_bucket()
    data = os.urandom(3 * 2**20 + 123)
    moto_s3.store(bucket).write_bytes("m/gpt.onnx", data)
    proxy = helpers.FaultProxy(moto_s3.port)
    try:
        store = moto_s3.store(
            bucket, "m", client=moto_s3.client(proxy.url, workers=4), chunk_bytes=2**20, workers=4
        )
        proxy.plan = ["503", "pass", "reset"]  # the size lookup fails once, then one range is reset
        assert store.download("gpt.onnx", tmp_path / "x" / "gpt.onnx") == len(data)
        assert (tmp_path / "x" / "gpt.onnx").read_bytes() == data
        ranges = sorted(r[2] for r in proxy.requests if r[0] == "GET" and r[2] and r[3] == "pass")
        assert len(set(ranges)) == 4  # 3 MiB + 123 bytes in 1 MiB ranges
        assert [r[3] for r in proxy.requests if r[3] != "pass"] == ["503", "reset"]
        proxy.requests.clear()
        proxy.plan = ["503", "503"]
        assert store.read_bytes("gpt.onnx") == data  # small reads are retried too
        assert [r[3] for r in proxy.requests] == ["503", "503", "pass"]
        with pytest.raises(ObjectNotFoundError, match=rf"s3://{bucket}/m/missing\.onnx does not exist"):
            store.download("missing.onnx", tmp_path / "missing.onnx")
    finally:
        proxy.stop()


def test_a_403_is_a_missing_object_when_the_prefix_listing_says_so(moto_s3: Any, helpers: Any) -> None:
    """S3 answers 403, not 404, for a missing object unless the role may list the whole bucket
    (a ListBucket grant limited to prefixes does not count): the store asks the listing."""
    bucket = moto_s3.create_bucket()
    moto_s3.store(bucket, "voices").write_bytes("there.json", b"{}")
    moto_s3.store(bucket, "voices").write_bytes("missing.json.old", b"{}")  # a longer key, listed
    proxy = helpers.FaultProxy(moto_s3.port)
    try:
        store = moto_s3.store(bucket, "voices", client=moto_s3.client(proxy.url))
        proxy.plan = ["403"]
        assert store.exists("missing.json") is False
        proxy.plan = ["403"]
        with pytest.raises(ObjectNotFoundError, match=r"voices/missing\.json does not exist"):
            store.read_bytes("missing.json")
        proxy.plan = ["403"]
        with pytest.raises(StorageError, match=r"voices/there\.json: permission denied") as denied:
            store.read_bytes("there.json")
        assert not isinstance(denied.value, ObjectNotFoundError)
        proxy.plan = ["403", "403"]  # the listing is denied too: a permission problem, said so
        with pytest.raises(StorageError, match="permission denied") as denied:
            store.stat("missing.json")
        assert not isinstance(denied.value, ObjectNotFoundError)
        proxy.plan = ["403"]
        with pytest.raises(StorageError, match="permission denied"):
            store.write_bytes("new.json", b"{}")  # a write is never taken for a missing object
    finally:
        proxy.stop()


def test_fetch_bundle_verifies_and_reuses_the_cache(
    moto_s3: Any, demo_bundle: Path, helpers: Any, tmp_path: Path
) -> None:
    bucket = moto_s3.create_bucket()
    helpers.upload_tree_s3(moto_s3.store(bucket, "models/int8"), demo_bundle / "int8")
    store = moto_s3.store(bucket, "models", chunk_bytes=4 * 2**20)
    first = fetch_bundle(store, "int8", tmp_path / "cache")
    assert not first.cached and first.verified and first.bytes > 0 and first.source == f"s3://{bucket}/models"
    assert (first.bundle_dir / "manifest.json").read_bytes() == (
        demo_bundle / "int8/manifest.json"
    ).read_bytes()
    again = fetch_bundle(store, "int8", tmp_path / "cache")
    assert again.cached and again.bundle_dir == first.bundle_dir and again.bytes == 0

    victim = sorted((demo_bundle / "int8").glob("*.onnx"))[0].name
    data = bytearray((demo_bundle / "int8" / victim).read_bytes())
    data[len(data) // 2] ^= 0xFF
    moto_s3.store(bucket, "bad/int8").write_bytes(victim, bytes(data))
    for other in (demo_bundle / "int8").iterdir():
        if other.name != victim:
            moto_s3.store(bucket, "bad/int8").write_bytes(other.name, other.read_bytes())
    with pytest.raises(BundleFetchError, match=rf"checksum mismatch for s3://{bucket}/bad/int8/{victim}"):
        fetch_bundle(moto_s3.store(bucket, "bad"), "int8", tmp_path / "cache2")
    assert not any(p.name.startswith("int8-") for p in (tmp_path / "cache2" / "bundles").iterdir())


# ---- the real server -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle_bucket(moto_s3: Any, demo_bundle: Path, helpers: Any) -> str:
    """A bucket with the demo bundle's int8 variant under models/ (the layout export uploads)."""
    bucket = moto_s3.create_bucket("bundles")
    helpers.upload_tree_s3(moto_s3.store(bucket, "models/int8"), demo_bundle / "int8")
    return str(bucket)


@pytest.fixture
def server_env(moto_s3: Any, helpers: Any) -> Callable[..., dict[str, str]]:
    return helpers.bucket_server_env(moto_s3.env())


@pytest.mark.slow
def test_cold_start_from_s3_then_cache_reuse(
    start_server: Callable[..., Any],
    server_env: Callable[..., dict[str, str]],
    bundle_bucket: str,
    helpers: Any,
    tmp_path: Path,
) -> None:
    env = server_env(tmp_path, f"s3://{bundle_bucket}/models/")
    _, _, logged, again = helpers.cold_start_then_reuse(start_server, env)
    assert f"from s3://{bundle_bucket}/models/int8" in logged["download"][0]["message"]
    assert logged["ready"][0]["cache_hit"] is False
    assert again["ready"][0]["cache_hit"] is True


@pytest.mark.slow
def test_a_corrupt_object_in_s3_stops_the_start(
    start_server: Callable[..., Any],
    server_env: Callable[..., dict[str, str]],
    moto_s3: Any,
    demo_bundle: Path,
    helpers: Any,
    tmp_path: Path,
) -> None:
    src = tmp_path / "bundle"
    shutil.copytree(demo_bundle / "int8", src)
    victim = sorted(src.glob("*.onnx"))[-1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 3] ^= 0x01
    victim.write_bytes(bytes(data))
    bucket = moto_s3.create_bucket("broken")
    helpers.upload_tree_s3(moto_s3.store(bucket, "m"), src)
    server = start_server(server_env(tmp_path, f"s3://{bucket}/m"))
    assert server.wait_exit(120) == 3  # gunicorn halts: "Worker failed to boot"
    critical = [r for r in server.log_records() if r["severity"] == "CRITICAL"]
    assert len(critical) == 1
    assert f"checksum mismatch for s3://{bucket}/m/{victim.name}" in critical[0]["message"]
    assert not any(p.name.startswith("int8-") for p in (tmp_path / "cache" / "bundles").iterdir())


@pytest.mark.slow
def test_a_voice_made_on_one_server_is_used_by_another(
    start_server: Callable[..., Any],
    server_env: Callable[..., dict[str, str]],
    bundle_bucket: str,
    moto_s3: Any,
    tmp_path: Path,
    make_clip: Callable[..., bytes],
) -> None:
    shared = {"TTS_VOICES_PATH": f"s3://{bundle_bucket}/voices"}
    one = start_server(server_env(tmp_path / "one", f"s3://{bundle_bucket}/models", **shared))
    two = start_server(server_env(tmp_path / "two", f"s3://{bundle_bucket}/models", **shared))
    one.wait_ready()
    two.wait_ready()
    clip = base64.b64encode(make_clip(4.0)).decode()
    made = requests.post(one.url + "/voices", json={"audio": clip, "name": "shared"}, timeout=120)
    assert made.status_code == 201, made.text
    vid = made.json()["voice_id"]
    # The name is claimed with S3's create-if-absent: the other server cannot take it again.
    taken = requests.post(two.url + "/voices", json={"audio": clip, "name": "shared"}, timeout=120)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "voice_name_taken"
    assert vid in [v["voice_id"] for v in requests.get(two.url + "/voices", timeout=30).json()["voices"]]
    keys = moto_s3.store(bundle_bucket, "voices").list_keys()
    assert any(k.endswith(f"/{vid}.voice") for k in keys) and any(k.endswith(f"/{vid}.json") for k in keys)
    spoken = requests.post(
        two.url + "/synthesize", json={"text": "আমি", "voice_id": vid, "seed": 1}, timeout=300
    )
    assert spoken.status_code == 200 and spoken.headers["Content-Type"] == "audio/wav"
    assert requests.delete(two.url + f"/voices/{vid}", timeout=30).status_code == 204
    assert requests.get(one.url + f"/voices/{vid}", timeout=30).status_code == 404
    assert not any(vid in k for k in moto_s3.store(bundle_bucket, "voices").list_keys())
