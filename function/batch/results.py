"""What the batch job's outputs say: a result or summary read back, and whether a manifest still has
work (its summary made from this very manifest object, or not)."""

from __future__ import annotations

import json
from typing import Any

from function.batch.summary import SUMMARY
from function.storage import ObjectNotFoundError, ObjectStore, StorageError

MANIFEST_SUFFIX = ".jsonl"


class RetryableError(Exception):
    """The task could not finish for a reason a retry can fix (store unreachable, model not loaded)."""


def read_json(store: ObjectStore, key: str) -> dict[str, Any]:
    """A result or summary; {} when it is gone or is not a JSON object (then it is redone)."""
    try:
        record = json.loads(store.read_bytes(key))
    except (ObjectNotFoundError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def summarized(outputs: ObjectStore, stem: str, fingerprint: str, existing: set[str]) -> bool:
    """Whether the manifest's summary was made from this very object (same fingerprint)."""
    key = f"{stem}/{SUMMARY}"
    return key in existing and read_json(outputs, key).get("manifest_fingerprint") == fingerprint


def pending_manifests(inputs: ObjectStore, outputs: ObjectStore) -> tuple[int, int]:
    """(manifests found, manifests with work left): what a task checks before it loads the model, so
    a scheduled run with nothing to do costs a listing, not a model load on a GPU. A store it cannot
    read is RetryableError; a manifest it cannot judge counts as pending (the run will tell)."""
    try:
        keys = [k for k in inputs.list_keys() if k.endswith(MANIFEST_SUFFIX)]
        pending = 0
        for key in keys:
            stem = key[: -len(MANIFEST_SUFFIX)]
            try:
                fingerprint = inputs.stat(key).fingerprint
            except ObjectNotFoundError:
                continue  # deleted since the listing
            pending += not summarized(outputs, stem, fingerprint, set(outputs.list_keys(stem)))
    except StorageError as exc:
        raise RetryableError(f"cannot list manifests under {inputs.location}: {exc}") from exc
    return len(keys), pending
