"""Resolve TTS_MODEL_PATH to a verified bundle directory on local disk.

A local directory is used in place (the engine verifies every file's sha256 as it loads). A
bucket's bundle (gs:// or s3://) is downloaded into TTS_CACHE_DIR under an exclusive file lock, so
gunicorn workers starting together download once; each file's size and sha256 are checked against the manifest
before the directory is published with one atomic rename, so a half-downloaded or corrupt bundle
is never used, and the next start reuses the published copy when the manifest is unchanged.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from function.bundle_format import FORMAT_VERSION, MANIFEST, sha256_file
from function.storage.store import LocalStore, ObjectNotFoundError, ObjectStore, StorageError, check_key

VERIFIED_MARK = ".verified"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BundleFetchError(Exception):
    """The bundle cannot be used: missing object, bad checksum, unreadable manifest, store failure."""


@dataclass(frozen=True)
class FetchReport:
    bundle_dir: Path
    source: str
    manifest: dict[str, Any]
    cached: bool
    files: int
    bytes: int
    download_s: float
    verify_s: float
    # True when this layer checked every sha256 (a download, or a copy it published verified): the
    # engine need not hash the files again. A local bundle used in place is left to the engine.
    verified: bool

    @property
    def throughput_mib_s(self) -> float:
        return self.bytes / 2**20 / self.download_s if self.download_s > 0 else 0.0


def read_manifest(data: bytes, where: str) -> dict[str, Any]:
    """Parse and check a manifest: the engine's format_version, a files table of safe paths, sha256, size."""
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleFetchError(f"unreadable manifest {where}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise BundleFetchError(
            f"unreadable manifest {where}: expected a JSON object with format_version {FORMAT_VERSION}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleFetchError(f"unreadable manifest {where}: 'files' must be a non-empty object")
    for name, entry in files.items():
        try:
            check_key(name)
        except StorageError:
            raise BundleFetchError(f"unreadable manifest {where}: unsafe file path {name!r}") from None
        if (
            name == MANIFEST
            or not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or not _SHA256.match(entry["sha256"])
            or not isinstance(entry.get("size"), int)
            or entry["size"] < 0
        ):
            raise BundleFetchError(
                f"unreadable manifest {where}: files[{name!r}] needs a lowercase hex 'sha256' and a 'size'"
            )
    return manifest


def _locate(store: ObjectStore, variant: str) -> str:
    """The key prefix of the bundle: the store root if it holds manifest.json, else <variant>/."""
    for prefix in ("", f"{variant}/"):
        if store.exists(prefix + MANIFEST):
            return prefix
    raise BundleFetchError(
        f"no bundle at {store.location}: neither {store.url(MANIFEST)} nor "
        f"{store.url(variant + '/' + MANIFEST)} exists (check TTS_MODEL_PATH and TTS_MODEL_VARIANT)"
    )


@contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on lock_path (created if missing) across processes."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _complete(bundle_dir: Path, manifest: dict[str, Any]) -> bool:
    """A published copy is reusable when it carries the verified mark and every file has its size."""
    if not (bundle_dir / VERIFIED_MARK).is_file():
        return False
    for name, entry in manifest["files"].items():
        path = bundle_dir / name
        if not path.is_file() or path.stat().st_size != entry["size"]:
            return False
    return True


def fetch_bundle(
    store: ObjectStore, variant: str, cache_dir: Path, *, log: logging.Logger | None = None
) -> FetchReport:
    """Return a local, verified copy of the bundle in `store` (see the module docstring)."""
    log = log or logging.getLogger(__name__)
    try:
        prefix = _locate(store, variant)
        manifest_bytes = store.read_bytes(prefix + MANIFEST)
    except StorageError as exc:
        raise BundleFetchError(str(exc)) from exc
    where = store.url(prefix + MANIFEST)
    manifest = read_manifest(manifest_bytes, where)
    files: dict[str, dict[str, Any]] = manifest["files"]
    total = sum(int(e["size"]) for e in files.values())

    if isinstance(store, LocalStore):
        root = store.root / prefix if prefix else store.root
        missing = [n for n in files if not (root / n).is_file()]
        if missing:
            raise BundleFetchError(f"bundle {root} is incomplete: missing {', '.join(sorted(missing))}")
        log.info(
            "bundle used in place: %s (%d files, %.1f MiB; the engine verifies sha256 as it loads)",
            root,
            len(files),
            total / 2**20,
            extra={"phase": "download", "cached": True, "bytes": 0, "files": len(files)},
        )
        return FetchReport(root, store.location, manifest, True, len(files), 0, 0.0, 0.0, verified=False)

    key = hashlib.sha256(manifest_bytes).hexdigest()[:16]
    bundles = cache_dir / "bundles"
    final = bundles / f"{manifest.get('variant', variant)}-{key}"
    with exclusive_lock(cache_dir / ".bundle.lock"):
        if _complete(final, manifest):
            log.info(
                "bundle cache hit: reusing %s for %s",
                final,
                where,
                extra={"phase": "download", "cached": True, "bytes": 0, "files": len(files)},
            )
            return FetchReport(final, store.location, manifest, True, len(files), 0, 0.0, 0.0, verified=True)
        # Only the lock holder writes here: leftovers are from a crashed start or an older bundle.
        if bundles.is_dir():
            for old in bundles.iterdir():
                if old != final:
                    shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        staging = bundles / f".staging-{key}-{os.getpid()}"
        staging.mkdir(parents=True)
        try:
            report = _download_and_verify(store, prefix, files, staging, log)
            (staging / MANIFEST).write_bytes(manifest_bytes)
            (staging / VERIFIED_MARK).write_text(key)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    download_s, verify_s = report
    return FetchReport(
        final, store.location, manifest, False, len(files), total, download_s, verify_s, verified=True
    )


def _download_and_verify(
    store: ObjectStore,
    prefix: str,
    files: dict[str, dict[str, Any]],
    staging: Path,
    log: logging.Logger,
) -> tuple[float, float]:
    t0 = time.perf_counter()
    total = 0
    for name in sorted(files):
        try:
            total += store.download(prefix + name, staging / name)
        except ObjectNotFoundError as exc:
            raise BundleFetchError(f"bundle object missing: {exc} (listed in the manifest)") from exc
        except StorageError as exc:
            raise BundleFetchError(str(exc)) from exc
    download_s = time.perf_counter() - t0
    log.info(
        "bundle downloaded: %d files, %.1f MiB in %.2f s (%.1f MiB/s) from %s",
        len(files),
        total / 2**20,
        download_s,
        total / 2**20 / download_s if download_s > 0 else 0.0,
        store.url(prefix).rstrip("/"),
        extra={
            "phase": "download",
            "cached": False,
            "bytes": total,
            "files": len(files),
            "duration_s": round(download_s, 3),
            "throughput_mib_s": round(total / 2**20 / download_s, 2) if download_s > 0 else None,
        },
    )
    t1 = time.perf_counter()
    for name, entry in sorted(files.items()):
        path = staging / name
        size = path.stat().st_size
        if size != entry["size"]:
            raise BundleFetchError(
                f"bundle object {store.url(prefix + name)} has {size} bytes, the manifest says "
                f"{entry['size']}: the upload is incomplete or the manifest is stale"
            )
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise BundleFetchError(
                f"checksum mismatch for {store.url(prefix + name)}: sha256 {actual}, manifest says "
                f"{entry['sha256']}: the object is corrupt or does not belong to this manifest"
            )
    verify_s = time.perf_counter() - t1
    log.info(
        "bundle verified: sha256 of %d files (%.1f MiB) in %.2f s",
        len(files),
        total / 2**20,
        verify_s,
        extra={"phase": "verify", "bytes": total, "files": len(files), "duration_s": round(verify_s, 3)},
    )
    return download_s, verify_s
