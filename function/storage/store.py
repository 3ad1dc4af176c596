"""One object-store interface with three implementations: a local directory (here), a gs:// prefix
(function.storage.gcs) and an s3:// prefix (function.storage.s3); `open_store` picks one.

Keys are relative paths with "/" separators. Transient bucket errors (429, 5xx, connection resets,
timeouts) are retried with exponential backoff by the client library's retry policy; anything
else surfaces as StorageError (ObjectNotFoundError for a missing object) with a readable message.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class StorageError(Exception):
    """The store could not complete an operation (after retries, where retrying made sense)."""


class ObjectNotFoundError(StorageError):
    """The key does not exist in the store."""


@dataclass(frozen=True)
class ObjectStat:
    size: int
    # Changes when the object's content does: crc32c and size in a bucket, mtime and size on disk.
    fingerprint: str


class ObjectStore(Protocol):
    @property
    def location(self) -> str: ...

    def url(self, key: str) -> str: ...

    def read_bytes(self, key: str, *, limit: int | None = None) -> bytes:
        """The object's bytes; with `limit`, at most limit + 1 of them (more than `limit`: too big)."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None: ...

    def create(self, key: str, data: bytes) -> bool: ...

    def download(self, key: str, dest: Path) -> int: ...

    def exists(self, key: str) -> bool: ...

    def stat(self, key: str) -> ObjectStat: ...

    def list_keys(self, prefix: str = "") -> list[str]: ...

    def delete(self, key: str) -> bool: ...


def check_key(key: str) -> str:
    """Reject keys that could escape the store's root (absolute, "..", empty parts)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise StorageError(f"invalid object key {key!r}: expected a relative path like 'dir/file'")
    return key


class LocalStore:
    """A directory on disk (a bundle baked into the image, or a Cloud Storage FUSE mount)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def url(self, key: str) -> str:
        return str(self.root / key)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def read_bytes(self, key: str, *, limit: int | None = None) -> bytes:
        # Only a regular file is an object: a FIFO would block the read for ever and /dev/zero
        # would fill the memory (both report size 0), a directory is no file. O_NONBLOCK lets the
        # open of a FIFO return, so the check runs on the opened file, never on a stale name.
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{self.url(key)} does not exist") from None
        except OSError as exc:
            raise StorageError(f"cannot read {self.url(key)}: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ObjectNotFoundError(f"{self.url(key)} is not a regular file")
        with os.fdopen(fd, "rb") as f:
            try:
                return f.read() if limit is None else f.read(limit + 1)
            except OSError as exc:
                raise StorageError(f"cannot read {self.url(key)}: {exc.strerror}") from None

    def _publish(self, key: str, data: bytes, exclusive: bool) -> bool:
        """Write the data to a temporary file beside the key, then give it the key's name in one
        step, so readers in other processes never see a partial file: a rename (replacing), or a
        hard link (exclusive: it fails when the name exists). False: it existed."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if not exclusive:
                os.replace(tmp, path)
                return True
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        except OSError as exc:
            raise StorageError(f"cannot write {self.url(key)}: {exc.strerror}") from None
        return True

    def write_bytes(self, key: str, data: bytes) -> None:
        self._publish(key, data, exclusive=False)

    def create(self, key: str, data: bytes) -> bool:
        """Write only if the key is absent."""
        return self._publish(key, data, exclusive=True)

    def download(self, key: str, dest: Path) -> int:
        data = self.read_bytes(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return len(data)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stat(self, key: str) -> ObjectStat:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{self.url(key)} does not exist") from None
        except OSError as exc:
            raise StorageError(f"cannot read {self.url(key)}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFoundError(f"{self.url(key)} is not a regular file")
        return ObjectStat(st.st_size, f"{st.st_mtime_ns}:{st.st_size}")

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {self.url(key)}: {exc.strerror}") from None
        return True


class BucketStore:
    """What the bucket-backed stores share: the bucket, the prefix every key lives under, and how a
    large object is split for parallel download (TTS_DOWNLOAD_CHUNK_BYTES, TTS_DOWNLOAD_WORKERS).
    Threads rather than processes download the parts: the work is network-bound, and forking a
    process pool inside a gunicorn worker that already runs threads is unsafe."""

    scheme = ""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        chunk_bytes: int = 32 * 2**20,
        workers: int = 8,
    ) -> None:
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self._client = client
        self.chunk_bytes = chunk_bytes
        self.workers = workers

    @property
    def location(self) -> str:
        return f"{self.scheme}://{self.bucket_name}/{self.prefix}".rstrip("/")

    def url(self, key: str) -> str:
        return f"{self.location}/{key}"

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key
