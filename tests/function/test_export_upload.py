"""`python -m export build --upload` into a bucket, then the serving cold start pulls it: one round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from export.upload import parse_gs_url, upload_bundle
from function.engine import Engine
from function.storage import fetch_bundle, open_store

pytestmark = pytest.mark.slow


def test_uploaded_bundle_is_fetched_verified_and_loads(
    demo_bundle: Path, emulator: Any, bucket: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"gs://{bucket.name}/models/bn-xtts/demo/"
    sent = upload_bundle(demo_bundle, url, client=emulator.client())
    assert sent == sum(p.stat().st_size for p in demo_bundle.rglob("*") if p.is_file())
    names = {b.name for b in bucket.list_blobs(prefix="models/bn-xtts/demo/")}
    assert {"models/bn-xtts/demo/int8/manifest.json", "models/bn-xtts/demo/fp32/gpt.onnx"} <= names

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
    report = fetch_bundle(open_store(url.rstrip("/")), "int8", tmp_path / "cache")
    engine = Engine.load(report.bundle_dir)
    assert engine.manifest["variant"] == "int8"
    assert report.files == len(engine.manifest["files"])


@pytest.mark.parametrize("bad", ["bucket/prefix", "gs://", "s3://b/p"])
def test_upload_target_must_be_a_gs_url(bad: str) -> None:
    with pytest.raises(ValueError, match="gs://BUCKET/PREFIX/"):
        parse_gs_url(bad)
