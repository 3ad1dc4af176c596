"""Voice store: an in-memory LRU in front of an ObjectStore shared by every instance.

Each voice is two objects, `<id>.voice` (the engine's serialized conditioning) and `<id>.json`
(metadata). The payload is written first, so a listed voice is always loadable. A voice created on
one instance is found by any other on first use (LRU miss -> store read); a voice deleted on one
instance stops working on the others (an LRU hit checks that the metadata still exists). The store holds bytes
and callables; it knows nothing of the engine's Voice type beyond them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Generic, TypeGuard, TypeVar

from function.storage import ObjectNotFoundError, ObjectStore, StorageError
from function.voices.ids import VOICE_ID, owner_folder

V = TypeVar("V")
log = logging.getLogger(__name__)


# A name claimed this recently is not taken over even if its voice is not there yet: writing the
# voice's two objects takes well under this.
_CLAIM_GRACE_S = 60.0


class VoiceNotFoundError(KeyError):
    """No voice with this id on this instance or in the shared store."""


class VoiceNameTakenError(ValueError):
    """Another voice already has this name."""


def _name_key(owner: str, name: str) -> str:
    """Where a name's claim lives: one object per owner and name (hashed: any Unicode name makes a
    safe key). Names are unique per owner."""
    text = f"{owner}\0{unicodedata.normalize('NFC', name)}"
    return f"names/{hashlib.sha256(text.encode('utf-8')).hexdigest()[:40]}.json"


# One empty object per voice under its owner's prefix: listing a caller's voices reads only these
# and those voices' records, so another owner's 10,000 voices cost the caller nothing.
_OWNERS = "owners"
# Written once every voice stored before the index existed has its entry (the backfill).
_INDEXED = f"{_OWNERS}/indexed.json"


def _owner_prefix(owner: str) -> str:
    return f"{_OWNERS}/{owner_folder(owner)}/"


@dataclass(frozen=True)
class VoiceInfo:
    voice_id: str
    name: str | None
    created_at: float
    reference_seconds: float
    model: str
    # Who made it: a stable, non-reversible id of an API key ("local" without keys); None for a
    # voice saved before voices had owners.
    owner: str | None = None
    # Pronunciation dictionaries the voice is read with by default: (dictionary id, version or None).
    dictionaries: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Owner:
    """Who is asking: `id` owns what it creates; `admin` sees every voice; `legacy` also sees the
    voices saved before owners existed (the migration: TTS_LEGACY_VOICES_OWNER)."""

    id: str
    admin: bool = False
    legacy: bool = False

    def sees(self, info: VoiceInfo) -> bool:
        return self.may_use(info.owner)

    def may_use(self, owner: str | None) -> bool:
        """Whether a voice owned by `owner` (None: saved before owners) is this caller's to use."""
        if self.admin:
            return True
        return self.legacy if owner is None else owner == self.id


# Trusted callers inside the process (the batch job, tools): every voice.
EVERYONE = Owner("admin", admin=True, legacy=True)


def new_voice_id() -> str:
    return "voice_" + "".join(secrets.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(20))


def valid_voice_id(voice_id: str) -> bool:
    return bool(VOICE_ID.match(voice_id))


class VoiceStore(Generic[V]):
    def __init__(
        self,
        store: ObjectStore,
        *,
        capacity: int,
        loads: Callable[[bytes], V],
        dumps: Callable[[V], bytes],
        model: str,
    ) -> None:
        self._store = store
        self._capacity = capacity
        self._loads = loads
        self._dumps = dumps
        self._model = model
        self._lru: OrderedDict[str, tuple[V, VoiceInfo]] = OrderedDict()
        self._lock = threading.Lock()
        self._indexed = False

    @property
    def location(self) -> str:
        return self._store.location

    def cached_ids(self) -> list[str]:
        with self._lock:
            return list(self._lru)

    def _remember(self, voice_id: str, voice: V, info: VoiceInfo) -> None:
        with self._lock:
            self._lru[voice_id] = (voice, info)
            self._lru.move_to_end(voice_id)
            while len(self._lru) > self._capacity:
                self._lru.popitem(last=False)

    def add(
        self,
        voice: V,
        *,
        name: str | None,
        reference_seconds: float,
        owner: str = "local",
        dictionaries: tuple[tuple[str, str | None], ...] = (),
    ) -> VoiceInfo:
        created = round(time.time(), 3)
        info = VoiceInfo(
            new_voice_id(), name, created, round(reference_seconds, 3), self._model, owner, dictionaries
        )
        # Both objects are serialized before either is written, and the record is checked the way
        # readers check it: a voice that could not be listed is never stored.
        meta = json.dumps(asdict(info)).encode()
        if _parse_info(info.voice_id, meta) != info:
            raise ValueError(f"voice metadata does not round-trip: {info!r}")
        payload = self._dumps(voice)
        # A name is claimed first, with a create-if-absent write: of two instances creating the same
        # name at once exactly one wins. A claim whose voice is gone (a crash) is taken over.
        if name is not None and not self._claim(owner, name, info.voice_id):
            raise VoiceNameTakenError(name)
        entry = _owner_prefix(owner) + info.voice_id
        try:
            self._store.write_bytes(f"{info.voice_id}.voice", payload)
            try:
                # The owner's index entry before the metadata: a listed voice is always indexed (an
                # entry whose voice never got its metadata is skipped when listing).
                self._store.write_bytes(entry, b"")
                self._store.write_bytes(f"{info.voice_id}.json", meta)
            except BaseException:
                # All or nothing: without its metadata the payload is an orphan nobody can list or delete.
                for orphan in (f"{info.voice_id}.voice", entry):
                    with contextlib.suppress(StorageError):
                        self._store.delete(orphan)
                raise
        except BaseException:
            if name is not None:
                with contextlib.suppress(StorageError):
                    self._store.delete(_name_key(owner, name))
            raise
        self._remember(info.voice_id, voice, info)
        return info

    def _claim(self, owner: str, name: str, voice_id: str) -> bool:
        record = json.dumps({"name": name, "voice_id": voice_id, "claimed_at": time.time()}).encode()
        if self._store.create(_name_key(owner, name), record):
            return True
        holder, claimed_at = self._claim_of(owner, name)
        if holder is not None and self._store.exists(f"{holder}.json"):
            return False
        if time.time() - claimed_at < _CLAIM_GRACE_S:
            return False  # its voice is being written right now
        self._store.write_bytes(_name_key(owner, name), record)  # stale: its voice was never finished
        return True

    def _claim_of(self, owner: str, name: str) -> tuple[str | None, float]:
        """Who claimed the name, and when (0 when unknown: an old or unreadable claim)."""
        try:
            doc = json.loads(self._store.read_bytes(_name_key(owner, name)))
        except ObjectNotFoundError:
            return None, 0.0
        except (ValueError, RecursionError):
            return None, 0.0
        if not isinstance(doc, dict):
            return None, 0.0
        voice_id, claimed_at = doc.get("voice_id"), doc.get("claimed_at")
        when = float(claimed_at) if _is_number(claimed_at) else 0.0
        return (voice_id if isinstance(voice_id, str) and valid_voice_id(voice_id) else None), when

    def find(self, name: str, viewer: Owner = EVERYONE) -> VoiceInfo:
        """The viewer's voice with this name (voices saved before names were claimed: a scan)."""
        voice_id = self._claim_of(viewer.id, name)[0]
        if voice_id is not None:
            with contextlib.suppress(VoiceNotFoundError):
                return self.info(voice_id, viewer)
        wanted = unicodedata.normalize("NFC", name)
        for info in self.list(viewer):
            if info.name is not None and unicodedata.normalize("NFC", info.name) == wanted:
                return info
        raise VoiceNotFoundError(name)

    def get(self, voice_id: str, viewer: Owner = EVERYONE) -> V:
        """The voice, if the viewer may use it; another owner's voice is not found, like a missing one."""
        return self.get_with_info(voice_id, viewer)[0]

    def get_with_info(self, voice_id: str, viewer: Owner = EVERYONE) -> tuple[V, VoiceInfo]:
        """The voice and its current metadata (its default dictionaries may have changed)."""
        if not valid_voice_id(voice_id):
            raise VoiceNotFoundError(voice_id)
        with self._lock:
            cached = self._lru.get(voice_id)
            if cached is not None:
                self._lru.move_to_end(voice_id)
        if cached is not None:
            voice, known = cached
            if not viewer.may_use(known.owner):
                raise VoiceNotFoundError(voice_id)
            # A voice deleted (or changed) by another instance: one metadata read (milliseconds,
            # next to seconds of synthesis). If the store is down, the cached copy serves.
            try:
                info = self.info(voice_id, viewer)
            except StorageError:
                log.warning("voice store unreachable; using the cached voice %s", voice_id)
                return voice, known
            except VoiceNotFoundError:
                with self._lock:
                    self._lru.pop(voice_id, None)
                raise
            self._remember(voice_id, voice, info)
            return voice, info
        info = self.info(voice_id, viewer)
        try:
            voice = self._loads(self._store.read_bytes(f"{voice_id}.voice"))
        except ObjectNotFoundError:
            raise VoiceNotFoundError(voice_id) from None
        self._remember(voice_id, voice, info)
        return voice, info

    def set_dictionaries(
        self, voice_id: str, dictionaries: tuple[tuple[str, str | None], ...], viewer: Owner = EVERYONE
    ) -> VoiceInfo:
        """Replace the voice's default pronunciation dictionaries (its metadata record is rewritten)."""
        info = replace(self.info(voice_id, viewer), dictionaries=dictionaries)
        self._store.write_bytes(f"{voice_id}.json", json.dumps(asdict(info)).encode())
        return info

    def info(self, voice_id: str, viewer: Owner = EVERYONE) -> VoiceInfo:
        """The voice's metadata; a record that cannot be read, or that the viewer may not see, is
        reported as not found (the unreadable one is logged)."""
        if not valid_voice_id(voice_id):
            raise VoiceNotFoundError(voice_id)
        try:
            raw = self._store.read_bytes(f"{voice_id}.json")
        except ObjectNotFoundError:
            raise VoiceNotFoundError(voice_id) from None
        info = _parse_info(voice_id, raw)
        if info is None:
            log.warning("skipping the unreadable voice record %s.json in %s", voice_id, self.location)
            raise VoiceNotFoundError(voice_id)
        if not viewer.sees(info):
            raise VoiceNotFoundError(voice_id)
        return info

    def list(self, viewer: Owner = EVERYONE) -> list[VoiceInfo]:
        """The viewer's voices, oldest first. An owner's listing reads its index and its own records
        only; an admin, or the legacy owner (voices saved before owners existed have no index
        entry), reads every record."""
        if viewer.admin or viewer.legacy:
            ids = self._all_ids()
        else:
            self._backfill_index()
            prefix = _owner_prefix(viewer.id)
            ids = [k[len(prefix) :] for k in self._store.list_keys(prefix)]
        return [*self._infos(ids, viewer)]

    def _all_ids(self) -> Sequence[str]:
        return [k[: -len(".json")] for k in self._store.list_keys() if k.endswith(".json") and "/" not in k]

    def _infos(self, ids: Sequence[str], viewer: Owner) -> Sequence[VoiceInfo]:
        def read(voice_id: str) -> VoiceInfo | None:
            try:
                return self.info(voice_id, viewer)
            except VoiceNotFoundError:
                return None  # deleted since the listing, unreadable (logged), or another owner's

        # Metadata reads are round trips to the bucket: overlap them.
        with ThreadPoolExecutor(max_workers=16) as pool:
            found = pool.map(read, sorted(v for v in ids if valid_voice_id(v)))
            out = [info for info in found if info is not None]
        return sorted(out, key=lambda i: i.created_at)

    def _backfill_index(self) -> None:
        """Once per store: index entries for the voices stored before the index existed (a full
        scan, the last one). Instances that race both write the same empty objects."""
        if self._indexed or self._store.exists(_INDEXED):
            self._indexed = True
            return
        for info in self._infos(self._all_ids(), EVERYONE):
            if info.owner is not None:
                self._store.write_bytes(_owner_prefix(info.owner) + info.voice_id, b"")
        self._store.write_bytes(_INDEXED, json.dumps({"indexed_at": time.time()}).encode())
        self._indexed = True

    def delete(self, voice_id: str, viewer: Owner = EVERYONE) -> None:
        if not valid_voice_id(voice_id):
            raise VoiceNotFoundError(voice_id)
        try:
            info = self.info(voice_id, viewer)
        except VoiceNotFoundError:
            if self._store.exists(f"{voice_id}.json"):
                raise  # another owner's voice: not found, exactly like a missing one
            info = None  # a half-deleted voice: clean up what is left
        with self._lock:
            self._lru.pop(voice_id, None)
        if info is not None and info.name is not None:
            owner = info.owner or "local"
            if self._claim_of(owner, info.name)[0] == voice_id:
                self._store.delete(_name_key(owner, info.name))  # the name is free again
        # Metadata first, so a voice half-deleted by a crash is no longer listed.
        found = self._store.delete(f"{voice_id}.json")
        found = self._store.delete(f"{voice_id}.voice") or found
        if info is not None and info.owner is not None:
            self._store.delete(_owner_prefix(info.owner) + voice_id)
        if not found:
            raise VoiceNotFoundError(voice_id)


def _parse_info(voice_id: str, raw: bytes) -> VoiceInfo | None:
    """A metadata record as `add` writes it, or None when it is not one (hand-edited, truncated,
    written by a buggy release): every field has its type and every string is valid Unicode."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # also undecodable bytes and absurd numbers
        return None
    if not isinstance(doc, dict):
        return None
    name, model = doc.get("name"), doc.get("model", "")
    created, seconds = doc.get("created_at"), doc.get("reference_seconds")
    if doc.get("voice_id") != voice_id or not isinstance(model, str) or not _is_text(name, optional=True):
        return None
    if not _is_text(model) or not _is_number(created) or not _is_number(seconds):
        return None
    owner = doc.get("owner")
    if not _is_text(owner, optional=True):
        return None
    dictionaries = doc.get("dictionaries", [])
    if not isinstance(dictionaries, list) or not all(
        isinstance(d, list) and len(d) == 2 and _is_text(d[0]) and _is_text(d[1], optional=True)
        for d in dictionaries
    ):
        return None
    pairs = tuple((str(d[0]), d[1]) for d in dictionaries)
    return VoiceInfo(voice_id, name, float(created), float(seconds), model, owner, pairs)


def _is_text(value: object, *, optional: bool = False) -> bool:
    if value is None:
        return optional
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")  # a lone surrogate does not encode: no response could carry it
    except UnicodeEncodeError:
        return False
    return True


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
