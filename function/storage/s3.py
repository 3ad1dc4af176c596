"""Objects under s3://bucket/prefix/, read and written with boto3: the ObjectStore of function.storage.store.

Only the client's own configuration chain is used: credentials (on Lambda the execution role's,
from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN), the region (AWS_DEFAULT_REGION,
which Lambda sets with AWS_REGION), and an endpoint override (AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL, which the tests point at a moto server):
https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html

Transient failures (throttling, 5xx, connection resets, timeouts) are retried by botocore's
"standard" retry mode: exponential backoff with full jitter (base 2, at most 20 s a wait), here
at most MAX_ATTEMPTS calls in all, so a bucket's brief 503 storm is ridden out and a dead one
fails the start within about two minutes, as the gs:// store does:
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from function.storage.store import BucketStore, ObjectNotFoundError, ObjectStat, StorageError

MAX_ATTEMPTS = 8
_READS = {"read", "check", "download"}
_MISSING = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
_DENIED = {"403", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
# S3 answers 409 when another conditional write to the same key is in flight; once it lands, a
# retry gets the plain 412 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
_CREATE_CONFLICT_ATTEMPTS = 5


def client_config(workers: int) -> Config:
    """The client's retries and pool: every parallel range download holds one connection."""
    return Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=max(10, workers + 2),
    )


class S3Store(BucketStore):
    """Objects under s3://bucket/prefix/ (see the module docstring). Objects larger than
    `chunk_bytes` are downloaded as parallel ranged GETs of that size by boto3's transfer manager
    (`workers` threads)."""

    scheme = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        chunk_bytes: int = 32 * 2**20,
        workers: int = 8,
    ) -> None:
        super().__init__(bucket, prefix, client=client, chunk_bytes=chunk_bytes, workers=workers)
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        # Made on first use, once: boto3 clients are thread-safe, sessions are not.
        with self._lock:
            if self._client is None:
                self._client = boto3.session.Session().client("s3", config=client_config(self.workers))
            return self._client

    def _fail(self, op: str, key: str, exc: Exception) -> StorageError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in _MISSING:
                return ObjectNotFoundError(f"{self.url(key)} does not exist (bucket or object not found)")
            if code in _DENIED:
                if op in _READS and not self._listed(key):
                    return ObjectNotFoundError(f"{self.url(key)} does not exist (not listed)")
                return StorageError(
                    f"cannot {op} {self.url(key)}: permission denied ({code}); the role needs "
                    "s3:GetObject (and s3:PutObject, s3:DeleteObject for voices and batch results) "
                    "and s3:ListBucket for the prefix"
                )
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            return StorageError(
                f"cannot {op} {self.url(key)}: {code or 'error'}: {error.get('Message', exc)}"
                + (f" (still failing after {attempts} retries)" if attempts else "")
            )
        return StorageError(f"cannot {op} {self.url(key)}: {type(exc).__name__}: {exc}")

    def _listed(self, key: str) -> bool:
        """Whether the key is listed. S3 answers a read of a missing object with 403 instead of 404
        unless the caller may list the whole bucket: a ListBucket grant limited to prefixes (by an
        s3:prefix condition) does not count, as GetObject/HeadObject carry no prefix
        (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html). One listing of
        the key's own prefix tells a missing object from a denied one; True when the listing is
        denied too (then it is a permission problem)."""
        name = self._name(key)
        try:
            page = self.client.list_objects_v2(Bucket=self.bucket_name, Prefix=name, MaxKeys=1)
        except (ClientError, BotoCoreError):
            return True
        return any(obj.get("Key") == name for obj in page.get("Contents", []))

    def read_bytes(self, key: str, *, limit: int | None = None) -> bytes:
        try:
            body = self.client.get_object(Bucket=self.bucket_name, Key=self._name(key))["Body"]
            with body:  # closing early drops the rest of a larger object unread
                data: bytes = body.read() if limit is None else body.read(limit + 1)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("read", key, exc) from exc
        return data

    def write_bytes(self, key: str, data: bytes) -> None:
        """Create or replace: one PutObject is atomic, readers see the old object or the new one."""
        try:
            self.client.put_object(Bucket=self.bucket_name, Key=self._name(key), Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write", key, exc) from exc

    def create(self, key: str, data: bytes) -> bool:
        """Write only if the object does not exist: `If-None-Match: *` is S3's create-if-absent
        precondition, decided by the service, so two writers cannot both win (412 for the loser)."""
        name = self._name(key)
        for attempt in range(_CREATE_CONFLICT_ATTEMPTS):
            try:
                self.client.put_object(Bucket=self.bucket_name, Key=name, Body=data, IfNoneMatch="*")
                return True
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code == "PreconditionFailed" or status == 412:
                    return False
                if code == "ConditionalRequestConflict" and attempt + 1 < _CREATE_CONFLICT_ATTEMPTS:
                    continue
                raise self._fail("write", key, exc) from exc
            except BotoCoreError as exc:
                raise self._fail("write", key, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def download(self, key: str, dest: Path) -> int:
        config = TransferConfig(
            multipart_threshold=self.chunk_bytes,
            multipart_chunksize=self.chunk_bytes,
            max_concurrency=self.workers,
            use_threads=True,
        )
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            # The transfer manager writes to a temporary name beside dest and renames it when done.
            self.client.download_file(self.bucket_name, self._name(key), str(dest), Config=config)
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            raise self._fail("download", key, exc) from exc
        except OSError as exc:
            raise StorageError(f"cannot download {self.url(key)} to {dest}: {exc.strerror}") from exc
        return dest.stat().st_size

    def _head(self, key: str) -> dict[str, Any]:
        head: dict[str, Any] = self.client.head_object(Bucket=self.bucket_name, Key=self._name(key))
        return head

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except (ClientError, BotoCoreError) as exc:
            failure = self._fail("check", key, exc)
            if isinstance(failure, ObjectNotFoundError):
                return False
            raise failure from exc
        return True

    def stat(self, key: str) -> ObjectStat:
        try:
            head = self._head(key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("check", key, exc) from exc
        size = int(head.get("ContentLength", 0))
        # The ETag changes with the content (an MD5, or a hash of the parts' MD5s for multipart).
        return ObjectStat(size, f"etag:{str(head.get('ETag', '')).strip(chr(34))}:{size}")

    def list_keys(self, prefix: str = "") -> list[str]:
        prefix = prefix.rstrip("/")  # "owners/x/" names the folder as "owners/x" does
        full = self._name(prefix) if prefix else self.prefix
        if full:
            full += "/"
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket_name, Prefix=full
            )
            names = [str(obj["Key"]) for page in pages for obj in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("list", prefix or "", exc) from exc
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(n[strip:] for n in names)

    def delete(self, key: str) -> bool:
        """True when the object was there. S3's DeleteObject answers 204 either way, so a HEAD asks
        first (a delete racing another can report True twice; both callers wanted it gone)."""
        if not self.exists(key):
            return False
        try:
            self.client.delete_object(Bucket=self.bucket_name, Key=self._name(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("delete", key, exc) from exc
        return True
