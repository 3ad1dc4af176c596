"""Bundle fetch from a real gcp-storage-emulator: chunked download, verify, publish, lock, retries."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from function.bundle_format import FORMAT_VERSION
from function.storage import (
    BundleFetchError,
    LocalStore,
    ObjectNotFoundError,
    fetch_bundle,
    open_store,
)
from function.storage.gcs import RETRY, GcsStore


def make_bundle(root: Path, variant: str = "int8", sizes: tuple[int, ...] = (1_100_000, 3000, 17)) -> Path:
    """A synthetic bundle: random files listed with sha256 and size in a manifest."""
    bundle = root / variant
    files: dict[str, Any] = {}
    for i, size in enumerate(sizes):
        name = f"part{i}.onnx" if i else "sub/dir/big.onnx"
        path = bundle / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size)
        path.write_bytes(data)
        files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": size}
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": {"name": "bn-xtts", "version": "v1"},
        "variant": variant,
        "runtime": {"sample_rate": 24000},
        "files": files,
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return root


def gcs(bucket: Any, prefix: str = "models", **kw: Any) -> GcsStore:
    return GcsStore(bucket.name, prefix, client=bucket.client, chunk_bytes=256 * 1024, workers=4, **kw)


def fast_retry() -> Any:
    return RETRY.with_delay(initial=0.05, maximum=0.2, multiplier=2.0).with_timeout(10.0)


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    store = open_store("gs://bkt/a/b")
    assert isinstance(store, GcsStore) and store.location == "gs://bkt/a/b"


def test_local_bundle_is_used_in_place(tmp_path: Path) -> None:
    root = make_bundle(tmp_path)
    report = fetch_bundle(LocalStore(root), "int8", tmp_path / "cache")
    assert report.bundle_dir == root / "int8"
    assert not report.verified  # nobody hashed it yet: the engine will, as it loads
    assert not (tmp_path / "cache").exists()
    # A directory that is itself the bundle (manifest at its top) is used as it is.
    assert fetch_bundle(LocalStore(root / "int8"), "fp16", tmp_path / "cache").bundle_dir == root / "int8"


def test_local_bundle_missing_variant_names_both_places(tmp_path: Path) -> None:
    root = make_bundle(tmp_path)
    with pytest.raises(BundleFetchError, match=r"fp16/manifest.json"):
        fetch_bundle(LocalStore(root), "fp16", tmp_path / "cache")


def test_cold_start_downloads_in_chunks_verifies_and_reuses(
    helpers: Any, bucket: Any, tmp_path: Path
) -> None:

    src = make_bundle(tmp_path / "src")
    helpers.upload_tree(bucket, src, "models")
    cache = tmp_path / "cache"
    first = fetch_bundle(gcs(bucket), "int8", cache)
    assert not first.cached and first.files == 3
    assert first.verified  # hashed on download: the engine loads it with verify=False
    assert first.bytes == 1_100_000 + 3000 + 17
    for name in ("sub/dir/big.onnx", "part1.onnx", "part2.onnx", "manifest.json"):
        assert (first.bundle_dir / name).read_bytes() == (src / "int8" / name).read_bytes()
    assert [p.name for p in (cache / "bundles").iterdir()] == [first.bundle_dir.name]  # no staging left

    second = fetch_bundle(gcs(bucket), "int8", cache)
    assert second.cached and second.bundle_dir == first.bundle_dir and second.bytes == 0
    assert second.verified  # published only after verification


def test_large_objects_are_fetched_as_parallel_ranged_reads(
    helpers: Any, emulator: Any, tmp_path: Path
) -> None:

    proxy = helpers.FaultProxy(emulator.port)
    # Uploaded through the proxy: the emulator builds each object's mediaLink from the upload's Host.
    bkt = emulator.client(proxy.url).create_bucket("ranged")
    helpers.upload_tree(bkt, make_bundle(tmp_path / "src"), "m")
    try:
        store = GcsStore("ranged", "m", client=emulator.client(proxy.url), chunk_bytes=256 * 1024, workers=4)
        fetch_bundle(store, "int8", tmp_path / "cache")
    finally:
        proxy.stop()
    ranges = [r for (_, path, r, _) in proxy.requests if "big.onnx" in path and r]
    assert len(ranges) == 5  # 1.1 MB in 256 KiB ranges
    assert "bytes=0-262143" in ranges


def test_corrupt_object_is_refused_and_nothing_is_published(
    helpers: Any, bucket: Any, tmp_path: Path
) -> None:

    src = make_bundle(tmp_path / "src")
    (src / "int8" / "part1.onnx").write_bytes(os.urandom(3000))  # same size, other bytes
    helpers.upload_tree(bucket, src, "models")
    cache = tmp_path / "cache"
    with pytest.raises(BundleFetchError, match=r"checksum mismatch for gs://.*/part1.onnx"):
        fetch_bundle(gcs(bucket), "int8", cache)
    assert list((cache / "bundles").iterdir()) == []


def test_truncated_object_is_refused(helpers: Any, bucket: Any, tmp_path: Path) -> None:

    src = make_bundle(tmp_path / "src")
    (src / "int8" / "part1.onnx").write_bytes(os.urandom(10))
    helpers.upload_tree(bucket, src, "models")
    with pytest.raises(BundleFetchError, match=r"part1.onnx has 10 bytes, the manifest says 3000"):
        fetch_bundle(gcs(bucket), "int8", tmp_path / "cache")


def test_missing_object_is_named(helpers: Any, bucket: Any, tmp_path: Path) -> None:

    src = make_bundle(tmp_path / "src")
    (src / "int8" / "part2.onnx").unlink()
    helpers.upload_tree(bucket, src, "models")
    with pytest.raises(BundleFetchError, match=r"missing: gs://.*/models/int8/part2.onnx does not exist"):
        fetch_bundle(gcs(bucket), "int8", tmp_path / "cache")


def _manifest(files: str) -> bytes:
    return f'{{"format_version": {FORMAT_VERSION}, "files": {files}}}'.encode()


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"format_version": 1, "files": {}}', f"format_version {FORMAT_VERSION}"),
        (_manifest('{"../x": {"sha256": "' + "0" * 64 + '", "size": 1}}'), "unsafe"),
        (_manifest('{"a.onnx": {"sha256": "xyz", "size": 1}}'), "sha256"),
    ],
)
def test_unreadable_manifest_is_refused(bucket: Any, tmp_path: Path, manifest: bytes, why: str) -> None:
    bucket.blob("models/int8/manifest.json").upload_from_string(manifest)
    with pytest.raises(BundleFetchError, match=f"unreadable manifest gs://.*manifest.json.*{why}"):
        fetch_bundle(gcs(bucket), "int8", tmp_path / "cache")


def test_changed_manifest_replaces_the_cached_bundle(helpers: Any, bucket: Any, tmp_path: Path) -> None:

    helpers.upload_tree(bucket, make_bundle(tmp_path / "a"), "models")
    cache = tmp_path / "cache"
    old = fetch_bundle(gcs(bucket), "int8", cache).bundle_dir
    helpers.upload_tree(bucket, make_bundle(tmp_path / "b"), "models")
    new = fetch_bundle(gcs(bucket), "int8", cache)
    assert not new.cached and new.bundle_dir != old and not old.exists()


def test_transient_errors_are_retried(helpers: Any, emulator: Any, tmp_path: Path) -> None:

    proxy = helpers.FaultProxy(emulator.port)
    bkt = emulator.client(proxy.url).create_bucket("flaky")
    src = make_bundle(tmp_path / "src")
    helpers.upload_tree(bkt, src, "m")
    proxy.requests.clear()
    # 503 on the first calls, a reset and a 429-free 5xx mix during the ranged chunks.
    proxy.plan = ["503", "503", "pass", "reset", "503", "pass", "pass", "503"] * 2
    try:
        store = GcsStore(
            "flaky",
            "m",
            client=emulator.client(proxy.url),
            chunk_bytes=256 * 1024,
            workers=2,
            retry=fast_retry(),
        )
        report = fetch_bundle(store, "int8", tmp_path / "cache")
    finally:
        proxy.stop()
    assert sum(1 for r in proxy.requests if r[3] != "pass") == 10
    assert (report.bundle_dir / "sub/dir/big.onnx").read_bytes() == (
        src / "int8/sub/dir/big.onnx"
    ).read_bytes()


def test_persistent_errors_stop_with_a_clear_message(helpers: Any, emulator: Any, tmp_path: Path) -> None:

    proxy = helpers.FaultProxy(emulator.port)
    proxy.plan = ["503"] * 1000
    retry = RETRY.with_delay(initial=0.05, maximum=0.1, multiplier=2.0).with_timeout(1.0)
    try:
        store = GcsStore("any", "m", client=emulator.client(proxy.url), retry=retry)
        with pytest.raises(BundleFetchError, match="still failing after retries"):
            fetch_bundle(store, "int8", tmp_path / "cache")
    finally:
        proxy.stop()


def _fetch_in_child(bucket_name: str, host: str, cache: str, out: Any) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="t", credentials=AnonymousCredentials(), client_options={"api_endpoint": host}
    )
    report = fetch_bundle(GcsStore(bucket_name, "models", client=client), "int8", Path(cache))
    out.put((report.cached, str(report.bundle_dir)))


def test_concurrent_starts_download_once(helpers: Any, bucket: Any, emulator: Any, tmp_path: Path) -> None:

    helpers.upload_tree(bucket, make_bundle(tmp_path / "src"), "models")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_fetch_in_child, args=(bucket.name, emulator.url, str(tmp_path / "c"), out))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    results = [out.get(timeout=5) for _ in procs]
    assert sorted(cached for cached, _ in results) == [False, True, True, True]
    assert len({d for _, d in results}) == 1


def test_a_folder_lists_the_same_with_or_without_its_slash_on_every_store(
    bucket: Any, tmp_path: Path
) -> None:
    """The voice store lists an owner's folder as "owners/<id>/": every backend takes that form (the
    bucket stores once refused it, and listing voices with several API keys failed with a 503)."""
    from function.storage.gcs import GcsStore

    for store in (LocalStore(tmp_path / "s"), GcsStore(bucket.name, "voices", client=bucket.client)):
        store.write_bytes("owners/key_a/voice_1", b"")
        store.write_bytes("owners/key_ab/voice_2", b"")  # a sibling folder whose name starts alike
        assert store.list_keys("owners/key_a/") == store.list_keys("owners/key_a") == ["owners/key_a/voice_1"]


def test_local_store_roundtrip(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    store.write_bytes("a/b.json", b"{}")
    assert store.read_bytes("a/b.json") == b"{}" and store.list_keys() == ["a/b.json"]
    assert store.delete("a/b.json") and not store.delete("a/b.json")
    with pytest.raises(ObjectNotFoundError):
        store.read_bytes("a/b.json")


def test_a_limited_read_takes_at_most_limit_plus_one_bytes_from_every_store(
    bucket: Any, tmp_path: Path
) -> None:
    """What the batch job's clip reads rely on (issue 23): a clip that grew past the limit after its
    size was checked is never read whole."""
    local = LocalStore(tmp_path / "s")
    for store in (local, gcs(bucket, "limited")):
        store.write_bytes("c.wav", b"x" * 1000)
        assert store.read_bytes("c.wav", limit=10) == b"x" * 11, store
        assert store.read_bytes("c.wav", limit=5000) == b"x" * 1000
        assert store.read_bytes("c.wav") == b"x" * 1000
    (tmp_path / "s" / "folder").mkdir()
    for not_a_file in ("folder",):
        with pytest.raises(ObjectNotFoundError, match="not a regular file"):
            local.stat(not_a_file)
        with pytest.raises(ObjectNotFoundError, match="not a regular file"):
            local.read_bytes(not_a_file)
