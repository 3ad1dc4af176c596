"""Pronunciation dictionaries, kept per owner under TTS_VOICES_PATH like voices, in versions.

A dictionary is `<owner>/<id>/meta.json` and one object per version, `<owner>/<id>/v000001.json`
holding that version's rules. A version is never changed once written: a change writes the next
version with a create-only write (another instance writing the same version first makes this one
read again and retry), so a request may pin a version and get the same rules for ever. Rules are
JSON here; what makes a rule valid is the text front-end's business (function.text.pronunciation).
The owner is part of every object name: another owner's dictionary cannot even be named.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from function.storage import ObjectNotFoundError, ObjectStore
from function.voices.ids import owner_folder

DICTIONARY_ID = re.compile(r"^pd_[0-9a-f]{20}$")
_VERSION = re.compile(r"^v(\d{1,9})$")
_VERSION_OBJECT = re.compile(r"/v(\d{6,9})\.json$")
_RETRIES = 8  # writers racing for the same next version


class DictionaryNotFoundError(KeyError):
    """No such dictionary (or version) of this owner."""


@dataclass(frozen=True)
class DictionaryInfo:
    dictionary_id: str
    name: str
    description: str | None
    owner: str
    created_at: float
    version: int  # the latest
    rules: list[dict[str, Any]]  # the latest version's

    @property
    def version_id(self) -> str:
        return version_id(self.version)


def version_id(version: int) -> str:
    return f"v{version}"


def parse_version(text: str) -> int | None:
    """A version id ("v3") -> 3; None if it is not one."""
    m = _VERSION.match(text)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None


class DictionaryStore:
    def __init__(self, store: ObjectStore, cache_versions: int = 256) -> None:
        self._store = store
        self._versions: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()  # immutable: cached
        self._capacity = cache_versions
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return self._store.location

    # ---- names ---------------------------------------------------------------------------------
    @staticmethod
    def _folder(owner: str, dictionary_id: str) -> str:
        if not DICTIONARY_ID.match(dictionary_id):
            raise DictionaryNotFoundError(dictionary_id)
        return f"{owner_folder(owner)}/{dictionary_id}"

    # ---- reading -------------------------------------------------------------------------------
    def _meta(self, owner: str, dictionary_id: str) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(
                self._store.read_bytes(f"{self._folder(owner, dictionary_id)}/meta.json")
            )
        except ObjectNotFoundError:
            raise DictionaryNotFoundError(dictionary_id) from None
        return meta

    def _latest(self, owner: str, dictionary_id: str) -> int:
        folder = self._folder(owner, dictionary_id)
        versions = [
            int(m.group(1)) for k in self._store.list_keys(folder + "/") if (m := _VERSION_OBJECT.search(k))
        ]
        if not versions:
            raise DictionaryNotFoundError(dictionary_id)
        return max(versions)

    def rules(
        self, owner: str, dictionary_id: str, version: int | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """A version's rules (the latest when `version` is None). A deleted dictionary is not found,
        whatever this instance has cached."""
        self._meta(owner, dictionary_id)
        return self._version(owner, dictionary_id, version)

    def _version(
        self, owner: str, dictionary_id: str, version: int | None
    ) -> tuple[int, list[dict[str, Any]]]:
        """`rules` once the dictionary's meta has been read."""
        number = self._latest(owner, dictionary_id) if version is None else version
        key = f"{self._folder(owner, dictionary_id)}/v{number:06d}.json"
        with self._lock:
            cached = self._versions.get(key)
            if cached is not None:
                self._versions.move_to_end(key)
                return number, cached
        try:
            rules: list[dict[str, Any]] = json.loads(self._store.read_bytes(key))["rules"]
        except ObjectNotFoundError:
            raise DictionaryNotFoundError(f"{dictionary_id} {version_id(number)}") from None
        with self._lock:
            self._versions[key] = rules
            while len(self._versions) > self._capacity:
                self._versions.popitem(last=False)
        return number, rules

    def info(self, owner: str, dictionary_id: str) -> DictionaryInfo:
        meta = self._meta(owner, dictionary_id)
        return _info(meta, *self._version(owner, dictionary_id, None))

    def owned(self, owner: str) -> list[DictionaryInfo]:
        """The owner's dictionaries, newest first."""
        ids = {
            k.split("/")[1]
            for k in self._store.list_keys(owner_folder(owner) + "/")
            if k.endswith("/meta.json")
        }
        found = []
        for dictionary_id in ids:
            try:
                found.append(self.info(owner, dictionary_id))
            except DictionaryNotFoundError:
                continue  # deleted meanwhile
        return sorted(found, key=lambda d: d.created_at, reverse=True)

    # ---- writing -------------------------------------------------------------------------------
    def create(
        self, owner: str, name: str, description: str | None, rules: list[dict[str, Any]]
    ) -> DictionaryInfo:
        dictionary_id = "pd_" + secrets.token_hex(10)
        folder = self._folder(owner, dictionary_id)
        now = time.time()
        # The first version before the meta: a listed dictionary always has rules.
        self._store.create(f"{folder}/v{1:06d}.json", _version_doc(1, rules))
        meta = {
            "dictionary_id": dictionary_id,
            "name": name,
            "description": description,
            "owner": owner,
            "created_at": now,
        }
        self._store.write_bytes(f"{folder}/meta.json", json.dumps(meta, ensure_ascii=False).encode())
        self._store.write_bytes(_index(dictionary_id), json.dumps({"owner": owner}).encode())
        return _info(meta, 1, rules)

    def change(
        self, owner: str, dictionary_id: str, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    ) -> DictionaryInfo:
        """Write the next version: `edit` of the latest rules (it may raise to refuse the change)."""
        folder = self._folder(owner, dictionary_id)
        for _ in range(_RETRIES):
            meta = self._meta(owner, dictionary_id)
            number, rules = self._version(owner, dictionary_id, None)
            new = edit(list(rules))
            if self._store.create(f"{folder}/v{number + 1:06d}.json", _version_doc(number + 1, new)):
                return _info(meta, number + 1, new)
        raise RuntimeError(f"dictionary {dictionary_id}: {_RETRIES} writers raced for its next version")

    def rename(self, owner: str, dictionary_id: str, name: str) -> None:
        meta = {**self._meta(owner, dictionary_id), "name": name}
        key = f"{self._folder(owner, dictionary_id)}/meta.json"
        self._store.write_bytes(key, json.dumps(meta, ensure_ascii=False).encode())

    def delete(self, owner: str, dictionary_id: str) -> None:
        folder = self._folder(owner, dictionary_id)
        if not self._store.delete(f"{folder}/meta.json"):  # first: from here on it is not found
            raise DictionaryNotFoundError(dictionary_id)
        for key in self._store.list_keys(folder + "/"):
            self._store.delete(key)
        self._store.delete(_index(dictionary_id))

    def owner_of(self, dictionary_id: str) -> str:
        """Whose the dictionary is: for callers that may use any (the batch job, admin keys)."""
        if not DICTIONARY_ID.match(dictionary_id):
            raise DictionaryNotFoundError(dictionary_id)
        try:
            owner: str = json.loads(self._store.read_bytes(_index(dictionary_id)))["owner"]
        except ObjectNotFoundError:
            raise DictionaryNotFoundError(dictionary_id) from None
        return owner


def _index(dictionary_id: str) -> str:
    """One object per dictionary id naming its owner (owner folders hold the dictionaries)."""
    return f"ids/{dictionary_id}.json"


def _version_doc(number: int, rules: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {"version": number, "created_at": time.time(), "rules": rules}, ensure_ascii=False
    ).encode()


def _info(meta: dict[str, Any], version: int, rules: list[dict[str, Any]]) -> DictionaryInfo:
    return DictionaryInfo(
        meta["dictionary_id"],
        meta["name"],
        meta.get("description"),
        meta["owner"],
        meta["created_at"],
        version,
        rules,
    )
