"""Where model bundles and voices live: a local directory, a gs:// or s3:// bucket, behind one interface."""

from function.storage.bundle import BundleFetchError, FetchReport, fetch_bundle, read_manifest
from function.storage.s3 import S3Store
from function.storage.store import (
    GcsStore,
    LocalStore,
    ObjectNotFoundError,
    ObjectStat,
    ObjectStore,
    StorageError,
    check_key,
    open_store,
)

__all__ = [
    "BundleFetchError",
    "FetchReport",
    "GcsStore",
    "LocalStore",
    "ObjectNotFoundError",
    "ObjectStat",
    "ObjectStore",
    "S3Store",
    "StorageError",
    "check_key",
    "fetch_bundle",
    "open_store",
    "read_manifest",
]
