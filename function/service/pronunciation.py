"""Pronunciation dictionaries as a service: create, version, list, download and delete an owner's
dictionaries, and the lexicon a request is read with (its dictionaries, then TTS_LEXICON_PATH).

Merged lexicons are cached by what they are made of (dictionary ids and versions): a pinned
version never changes, and "latest" is looked up per request, so a new version is used at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from function.service.errors import DictionaryNotFound, InvalidInput, ModelLoading, StoreUnavailable
from function.service.model import Loaded, ModelSource
from function.storage import StorageError
from function.text.pronunciation import (
    MAX_DICTIONARIES,
    AliasRule,
    DictionaryError,
    check_rules,
    lexicon_of,
    rules_from_json,
    rules_from_pls,
    stored_key,
    to_pls,
)
from function.text.user_lexicon import UserLexicon
from function.voices import Owner
from function.voices.dictionaries import (
    DictionaryInfo,
    DictionaryNotFoundError,
    DictionaryStore,
    parse_version,
    version_id,
)

MAX_NAME_CHARS = 200
_LEXICONS = 64  # merged lexicons kept


@dataclass(frozen=True)
class Locator:
    """A dictionary a request names: its id and a version ("v3"), or None for the latest."""

    dictionary_id: str
    version_id: str | None = None


@dataclass(frozen=True)
class RequestLexicon:
    """The lexicon a request is read with, and where each of its keys came from."""

    lexicon: UserLexicon | None
    origins: dict[str, tuple[str, str]]  # stored key -> (dictionary id, version id)

    def matches(self, keys: Sequence[str]) -> list[dict[str, Any]]:
        """The rules that matched (keys as `UserLexicon.protect` reports them), once each, in order."""
        out, seen = [], set()
        for key in keys:
            if key in seen or self.lexicon is None:
                continue
            seen.add(key)
            alias = self.lexicon.words.get(key)
            dictionary, version = self.origins.get(key, ("TTS_LEXICON_PATH", ""))
            out.append(
                {
                    "string_to_replace": key,
                    "alias": alias,
                    "dictionary_id": dictionary,
                    "version_id": version or None,
                }
            )
        return out


class PronunciationService:
    def __init__(self, model: ModelSource) -> None:
        self.model = model
        self._lexicons: OrderedDict[tuple[Any, ...], RequestLexicon] = OrderedDict()
        self._lock = threading.Lock()

    def _loaded(self) -> Loaded:
        loaded = self.model.loaded
        if loaded is None:
            raise ModelLoading("the model is still loading; retry in a few seconds", retry_after=5)
        return loaded

    def _store(self) -> DictionaryStore:
        store = self._loaded().dictionaries
        if store is None:
            raise StoreUnavailable("pronunciation dictionaries need TTS_VOICES_PATH (a directory or bucket)")
        return store

    # ---- the API ---------------------------------------------------------------------------------
    def create(
        self, owner: Owner, name: str, description: str | None, rules: Sequence[AliasRule]
    ) -> DictionaryInfo:
        name = _checked_name(name)
        with _errors():
            return self._store().create(
                owner.id, name, description, [r.to_json() for r in check_rules(rules)]
            )

    def create_from_rules(
        self, owner: Owner, name: str, description: str | None, items: Sequence[dict[str, Any]]
    ) -> DictionaryInfo:
        return self.create(owner, name, description, _rules(lambda: rules_from_json(items)))

    def create_from_pls(
        self, owner: Owner, name: str, description: str | None, data: bytes
    ) -> DictionaryInfo:
        return self.create(owner, name, description, _rules(lambda: rules_from_pls(data)))

    def list(self, owner: Owner) -> list[DictionaryInfo]:
        with _errors():
            return self._store().owned(owner.id)

    def info(self, owner: Owner, dictionary_id: str) -> DictionaryInfo:
        with _errors(dictionary_id):
            return self._store().info(self._owner(owner, dictionary_id), dictionary_id)

    def add_rules(self, owner: Owner, dictionary_id: str, items: Sequence[dict[str, Any]]) -> DictionaryInfo:
        """A new version with these rules added (a rule for a key already there replaces it)."""
        added = _rules(lambda: rules_from_json(items))

        def edit(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
            keys = {r.string_to_replace for r in added}
            kept = [r for r in rules if r["string_to_replace"] not in keys]
            return [r.to_json() for r in _rules(lambda: check_rules([*map(_rule, kept), *added]))]

        with _errors(dictionary_id):
            return self._store().change(self._owner(owner, dictionary_id), dictionary_id, edit)

    def set_rules(self, owner: Owner, dictionary_id: str, items: Sequence[dict[str, Any]]) -> DictionaryInfo:
        """A new version with exactly these rules."""
        rules = [r.to_json() for r in _rules(lambda: rules_from_json(items))]
        with _errors(dictionary_id):
            return self._store().change(self._owner(owner, dictionary_id), dictionary_id, lambda _: rules)

    def remove_rules(self, owner: Owner, dictionary_id: str, strings: Sequence[str]) -> DictionaryInfo:
        """A new version without the rules for these strings."""
        gone = {" ".join(s.split()) for s in strings}

        def edit(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [r for r in rules if r["string_to_replace"] not in gone]

        with _errors(dictionary_id):
            return self._store().change(self._owner(owner, dictionary_id), dictionary_id, edit)

    def download(self, owner: Owner, dictionary_id: str, version: str | None) -> tuple[str, bytes]:
        """A version (the latest for None) as a PLS file, and its version id."""
        with _errors(dictionary_id):
            number, rules = self._store().rules(
                self._owner(owner, dictionary_id), dictionary_id, self._version(dictionary_id, version)
            )
        return version_id(number), to_pls([_rule(r) for r in rules])

    def rename(self, owner: Owner, dictionary_id: str, name: str) -> DictionaryInfo:
        name = _checked_name(name)
        with _errors(dictionary_id):
            self._store().rename(self._owner(owner, dictionary_id), dictionary_id, name)
            return self._store().info(self._owner(owner, dictionary_id), dictionary_id)

    def check(self, owner: Owner, locators: Sequence[Locator]) -> None:
        """That `owner` may read with these dictionaries (they exist and are theirs), as a voice's
        defaults: at most MAX_DICTIONARIES, each named once."""
        if len(locators) > MAX_DICTIONARIES or len({loc.dictionary_id for loc in locators}) < len(locators):
            raise InvalidInput(
                f"a voice names at most {MAX_DICTIONARIES} pronunciation dictionaries, each once",
                code="invalid_dictionary",
            )
        self.reading(owner, locators)

    def delete(self, owner: Owner, dictionary_id: str) -> None:
        with _errors(dictionary_id):
            self._store().delete(self._owner(owner, dictionary_id), dictionary_id)

    # ---- requests --------------------------------------------------------------------------------
    def reading(self, owner: Owner, locators: Sequence[Locator]) -> RequestLexicon:
        """The lexicon for a request naming `locators` (in order: an earlier dictionary's rule wins
        a key; TTS_LEXICON_PATH's entries come last)."""
        loaded = self._loaded()
        if not locators:
            return RequestLexicon(loaded.lexicon, {})
        store = self._store()
        versions = []
        with _errors(*(loc.dictionary_id for loc in locators)):
            for loc in locators:
                number, rules = store.rules(
                    self._owner(owner, loc.dictionary_id),
                    loc.dictionary_id,
                    self._version(loc.dictionary_id, loc.version_id),
                )
                versions.append((loc.dictionary_id, number, rules))
        key = (id(loaded.lexicon), *((d, n) for d, n, _ in versions))
        with self._lock:
            cached = self._lexicons.get(key)
            if cached is not None:
                self._lexicons.move_to_end(key)
                return cached
        parsed = [[_rule(r) for r in rules] for _, _, rules in versions]
        try:
            lexicon = lexicon_of(parsed, loaded.lexicon, source="the request's pronunciation dictionaries")
        except DictionaryError as exc:
            raise InvalidInput(
                f"these dictionaries cannot be used together: {exc}", code="invalid_dictionary"
            ) from None
        origins: dict[str, tuple[str, str]] = {}
        for (dictionary_id, number, _), parsed_rules in zip(versions, parsed, strict=True):
            for rule in parsed_rules:
                origins.setdefault(stored_key(rule), (dictionary_id, version_id(number)))
        reading = RequestLexicon(lexicon, origins)
        with self._lock:
            self._lexicons[key] = reading
            while len(self._lexicons) > _LEXICONS:
                self._lexicons.popitem(last=False)
        return reading

    def _owner(self, owner: Owner, dictionary_id: str) -> str:
        """The owner id the dictionary is kept under: the caller's own, or for an admin (and the
        batch job) whoever made it."""
        return self._store().owner_of(dictionary_id) if owner.admin else owner.id

    @staticmethod
    def _version(dictionary_id: str, version: str | None) -> int | None:
        if version is None:
            return None
        number = parse_version(version)
        if number is None:
            raise DictionaryNotFound(
                f"no version {version!r} of dictionary {dictionary_id!r}: versions are v1, v2, …"
            )
        return number


def _rule(doc: dict[str, Any]) -> AliasRule:
    return AliasRule(doc["string_to_replace"], doc["alias"], doc.get("case_sensitive"))


def _rules(parse: Callable[[], list[AliasRule]]) -> list[AliasRule]:
    try:
        return parse()
    except DictionaryError as exc:
        raise InvalidInput(str(exc), code="invalid_dictionary") from None


def _checked_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidInput(
            f"a dictionary needs a name of 1 to {MAX_NAME_CHARS} characters", code="invalid_name"
        )
    return name


@contextmanager
def _errors(*dictionary_ids: str) -> Iterator[None]:
    try:
        yield
    except DictionaryNotFoundError as exc:
        missing = exc.args[0] if exc.args else ", ".join(dictionary_ids)
        raise DictionaryNotFound(
            f"no pronunciation dictionary {missing!r} of yours: "
            "list them with GET /v1/pronunciation-dictionaries"
        ) from None
    except StorageError as exc:
        raise StoreUnavailable(
            f"the dictionary store is unavailable ({exc}); retry shortly", retry_after=5
        ) from None
