"""gs:// objects behind the store interface, with google-cloud-storage (imported only by a process
that opens a gs:// location: function.storage.locations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import storage
from google.cloud.storage import transfer_manager
from google.cloud.storage.retry import DEFAULT_RETRY

from function.storage.store import BucketStore, ObjectNotFoundError, ObjectStat, StorageError

# Backoff 0.5 s doubling to 10 s, giving up after 120 s: long enough to ride out a bucket's
# brief 503 storm, short enough that Cloud Run's startup probe sees a clear failure.
RETRY = DEFAULT_RETRY.with_delay(initial=0.5, maximum=10.0, multiplier=2.0).with_timeout(120.0)


class GcsStore(BucketStore):
    """Objects under gs://bucket/prefix/, read with google-cloud-storage; objects larger than
    `chunk_bytes` are fetched as parallel ranged reads with
    transfer_manager.download_chunks_concurrently (the HTTP read and crc32c release the GIL)."""

    scheme = "gs"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        chunk_bytes: int = 32 * 2**20,
        workers: int = 8,
        retry: Any = RETRY,
    ) -> None:
        super().__init__(bucket, prefix, client=client, chunk_bytes=chunk_bytes, workers=workers)
        self.retry = retry

    def _bucket(self) -> Any:
        if self._client is None:
            # With STORAGE_EMULATOR_HOST set the client talks to the emulator anonymously.
            self._client = storage.Client()
        return self._client.bucket(self.bucket_name)

    def _fail(self, op: str, key: str, exc: Exception) -> StorageError:
        if isinstance(exc, gexc.NotFound):
            return ObjectNotFoundError(f"{self.url(key)} does not exist (bucket or object not found)")
        if isinstance(exc, gexc.Forbidden):
            return StorageError(
                f"cannot {op} {self.url(key)}: permission denied; grant the service account "
                "roles/storage.objectViewer (objectAdmin for voices)"
            )
        if isinstance(exc, gexc.RetryError):
            cause = exc.cause or exc
            return StorageError(f"cannot {op} {self.url(key)}: still failing after retries ({cause})")
        return StorageError(f"cannot {op} {self.url(key)}: {type(exc).__name__}: {exc}")

    def read_bytes(self, key: str, *, limit: int | None = None) -> bytes:
        try:
            blob = self._bucket().blob(self._name(key))
            # `end` is inclusive: limit + 1 bytes at most.
            data: bytes = blob.download_as_bytes(
                retry=self.retry, start=0 if limit is not None else None, end=limit
            )
        except StorageError:
            raise
        except Exception as exc:
            raise self._fail("read", key, exc) from exc
        return data

    def write_bytes(self, key: str, data: bytes) -> None:
        try:
            # Only create-or-overwrite semantics are needed; a single-request upload is atomic.
            self._bucket().blob(self._name(key)).upload_from_string(data, retry=self.retry)
        except StorageError:
            raise
        except Exception as exc:
            raise self._fail("write", key, exc) from exc

    def create(self, key: str, data: bytes) -> bool:
        """Write only if the object does not exist: generation-match 0 is Cloud Storage's
        create-if-absent precondition, decided by the service, so two writers cannot both win."""
        try:
            self._bucket().blob(self._name(key)).upload_from_string(
                data, if_generation_match=0, retry=self.retry
            )
        except gexc.PreconditionFailed:
            return False
        except StorageError:
            raise
        except Exception as exc:
            raise self._fail("write", key, exc) from exc
        return True

    def download(self, key: str, dest: Path) -> int:
        try:
            blob = self._bucket().get_blob(self._name(key), retry=self.retry)
            if blob is None:
                raise ObjectNotFoundError(f"{self.url(key)} does not exist")
            size = int(blob.size or 0)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if size > self.chunk_bytes:
                transfer_manager.download_chunks_concurrently(
                    blob,
                    str(dest),
                    chunk_size=self.chunk_bytes,
                    download_kwargs={"retry": self.retry},
                    worker_type=transfer_manager.THREAD,
                    max_workers=self.workers,
                )
            else:
                blob.download_to_filename(str(dest), retry=self.retry)
        except StorageError:
            raise
        except Exception as exc:
            raise self._fail("download", key, exc) from exc
        return size

    def exists(self, key: str) -> bool:
        try:
            return bool(self._bucket().blob(self._name(key)).exists(retry=self.retry))
        except Exception as exc:
            raise self._fail("check", key, exc) from exc

    def stat(self, key: str) -> ObjectStat:
        try:
            blob = self._bucket().get_blob(self._name(key), retry=self.retry)
        except Exception as exc:
            raise self._fail("check", key, exc) from exc
        if blob is None:
            raise ObjectNotFoundError(f"{self.url(key)} does not exist")
        size = int(blob.size or 0)
        return ObjectStat(size, f"crc32c:{blob.crc32c or blob.generation}:{size}")

    def list_keys(self, prefix: str = "") -> list[str]:
        prefix = prefix.rstrip("/")  # "owners/x/" names the folder as "owners/x" does
        full = self._name(prefix) if prefix else self.prefix
        if full:
            full += "/"
        try:
            blobs = self._bucket().client.list_blobs(self.bucket_name, prefix=full or None, retry=self.retry)
            names = [str(b.name) for b in blobs]
        except Exception as exc:
            raise self._fail("list", prefix or "", exc) from exc
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(n[strip:] for n in names)

    def delete(self, key: str) -> bool:
        try:
            self._bucket().blob(self._name(key)).delete(retry=self.retry)
        except gexc.NotFound:
            return False
        except Exception as exc:
            raise self._fail("delete", key, exc) from exc
        return True
