"""Where model bundles and voices live: a local directory or a gs:// bucket, behind one small interface."""

from function.storage.bundle import BundleFetchError, FetchReport, fetch_bundle, read_manifest
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
    "StorageError",
    "check_key",
    "fetch_bundle",
    "open_store",
    "read_manifest",
]
