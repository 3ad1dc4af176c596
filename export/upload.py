"""Upload a bundle to gs://BUCKET/PREFIX/, manifests last, so a half-uploaded bundle is never seen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from function.bundle_format import MANIFEST


def parse_gs_url(url: str) -> tuple[str, str]:
    if not url.startswith("gs://") or len(url) <= 5:
        raise ValueError(f"--upload expects gs://BUCKET/PREFIX/, got {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise ValueError(f"--upload expects gs://BUCKET/PREFIX/, got {url!r}")
    return bucket, prefix.strip("/")


def upload_bundle(bundle_dir: Path, url: str, client: Any = None) -> int:
    """Upload every file under bundle_dir, each manifest.json after the files; return bytes sent."""
    from google.cloud import storage

    bucket_name, prefix = parse_gs_url(url)
    bucket = (client or storage.Client()).bucket(bucket_name)
    files = sorted(p for p in bundle_dir.rglob("*") if p.is_file())
    ordered = [p for p in files if p.name != MANIFEST] + [p for p in files if p.name == MANIFEST]
    sent, t0 = 0, time.perf_counter()
    for path in ordered:
        rel = path.relative_to(bundle_dir).as_posix()
        name = f"{prefix}/{rel}" if prefix else rel
        blob = bucket.blob(name)
        # Resumable uploads for large graphs; crc32c lets the server reject a corrupted transfer.
        blob.upload_from_filename(str(path), checksum="crc32c")
        sent += path.stat().st_size
        print(f"[upload] gs://{bucket_name}/{name} ({path.stat().st_size / 2**20:.1f} MiB)", flush=True)
    seconds = time.perf_counter() - t0
    print(
        f"[upload] {sent / 2**20:.1f} MiB in {seconds:.1f} s ({sent / 2**20 / max(seconds, 1e-9):.1f} MiB/s)"
    )
    return sent
