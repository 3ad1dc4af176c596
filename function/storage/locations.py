"""Which store a location names: gs://bucket/prefix, s3://bucket/prefix, or a local directory.

Each bucket backend is imported only when its scheme is opened: a process serving from gs:// never
imports boto3, one on Lambda (s3://) never imports google-cloud-storage, a local bundle neither.
"""

from __future__ import annotations

from pathlib import Path

from function.storage.store import LocalStore, ObjectStore


def open_store(location: str, *, chunk_bytes: int = 32 * 2**20, workers: int = 8) -> ObjectStore:
    """A GcsStore for gs://bucket/prefix, an S3Store for s3://bucket/prefix, else a LocalStore."""
    if location.startswith("gs://"):
        from function.storage.gcs import GcsStore

        bucket, _, prefix = location[len("gs://") :].partition("/")
        return GcsStore(bucket, prefix, chunk_bytes=chunk_bytes, workers=workers)
    if location.startswith("s3://"):
        from function.storage.s3 import S3Store

        bucket, _, prefix = location[len("s3://") :].partition("/")
        return S3Store(bucket, prefix, chunk_bytes=chunk_bytes, workers=workers)
    return LocalStore(Path(location))
