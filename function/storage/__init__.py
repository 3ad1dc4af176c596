"""Where model bundles and voices live: a local directory, a gs:// or s3:// bucket, behind one
interface. The bucket backends (function.storage.gcs, function.storage.s3) load with their scheme."""

from function.storage.bundle import BundleFetchError, FetchReport, fetch_bundle, read_manifest
from function.storage.locations import open_store
from function.storage.store import (
    LocalStore,
    ObjectNotFoundError,
    ObjectStat,
    ObjectStore,
    StorageError,
    check_key,
)

__all__ = [
    "BundleFetchError",
    "FetchReport",
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
