"""A batch manifest: one JSON object a line, parsed into work items or line failures.

Parsing is pure (bytes in, entries out) so every rule of the contract is tested without a model:
ids, duplicates, required fields, ranges, formats. Each entry knows the name of its result file
(`<id>` or `_line-<n>`), the task that owns it, and the sha256 that says whether an earlier
result still stands.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from function.audio import FORMATS
from function.synthesis_params import SAMPLING_RANGES
from function.validation import ParamError, check_sampling, shown

ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
VOICE_FIELDS = ("voice_id", "speaker_wav_uri")
DICTIONARIES = "pronunciation_dictionary_locators"
FIELDS = frozenset(
    {"id", "text", "language", *VOICE_FIELDS, "format", "metadata", DICTIONARIES, *SAMPLING_RANGES}
)
MAX_DICTIONARIES = 3


@dataclass(frozen=True)
class Item:
    """One line to synthesize."""

    line: int  # 1-based line number in the manifest
    id: str
    text: str
    language: str
    format: str
    params: dict[str, float | int]
    input_sha256: str
    voice_id: str | None = None
    speaker_wav_uri: str | None = None
    metadata: dict[str, Any] | None = None
    dictionaries: tuple[tuple[str, str | None], ...] = ()  # (dictionary id, version id or None)

    @property
    def name(self) -> str:
        return self.id


@dataclass(frozen=True)
class LineFailure:
    """A line that cannot be synthesized as written: its result says why."""

    line: int
    id: str | None  # the line's id when it had a usable one
    code: str
    message: str
    input_sha256: str
    own_name: bool = field(default=True)  # False: the id is missing, unusable or a duplicate

    @property
    def name(self) -> str:
        return self.id if self.own_name and self.id is not None else f"_line-{self.line}"


Entry = Item | LineFailure


def shard_of(name: str, task_count: int) -> int:
    """The task that owns a result name: a stable hash, the same in every task and every run."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % task_count


def input_sha256(payload: bytes, model_key: str) -> str:
    """What a result was made from: the line (canonical JSON, or its raw bytes) and the model."""
    return hashlib.sha256(model_key.encode("utf-8") + b"\n" + payload).hexdigest()


def canonical(obj: dict[str, Any]) -> bytes:
    # ASCII escapes keep any string (even a lone surrogate) hashable, and key order is fixed.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def parse_manifest(
    data: bytes, *, model_key: str, languages: Iterable[str], max_text_chars: int
) -> list[Entry]:
    """Every non-blank line of a manifest, in order; a repeated id fails on its later lines."""
    return list(iter_manifest(data, model_key=model_key, languages=languages, max_text_chars=max_text_chars))


def iter_manifest(
    data: bytes, *, model_key: str, languages: Iterable[str], max_text_chars: int
) -> Iterator[Entry]:
    """`parse_manifest` one line at a time: only the ids seen so far are kept."""
    langs = tuple(languages)
    seen: set[str] = set()
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # a UTF-8 byte-order mark some editors write
    number = 0
    while start <= len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        raw, start, number = data[start:end], end + 1, number + 1
        if not raw.strip():
            continue
        entry = parse_line(raw, number, model_key=model_key, languages=langs, max_text_chars=max_text_chars)
        item_id = entry.id
        if item_id is not None and (isinstance(entry, Item) or entry.own_name):
            if item_id in seen:
                entry = LineFailure(
                    number,
                    item_id,
                    "duplicate_id",
                    f"id {item_id!r} is already used on an earlier line; every id must be unique "
                    "in its manifest",
                    entry.input_sha256,
                    own_name=False,
                )
            seen.add(item_id)
        yield entry


def parse_line(
    raw: bytes, number: int, *, model_key: str, languages: tuple[str, ...], max_text_chars: int
) -> Entry:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return LineFailure(
            number, None, "invalid_json", "the line is not UTF-8 text", input_sha256(raw, model_key), False
        )
    except (ValueError, RecursionError) as exc:
        message = (
            f"the line is not valid JSON ({exc})"
            if isinstance(exc, json.JSONDecodeError)
            else ("the line is not valid JSON (too deeply nested, or a number too long)")
        )
        return LineFailure(number, None, "invalid_json", message, input_sha256(raw, model_key), False)
    if not isinstance(obj, dict):
        return LineFailure(
            number,
            None,
            "invalid_json",
            'each line must be one JSON object, like {"id": "a1", "text": "..."}',
            input_sha256(raw, model_key),
            False,
        )
    sha = input_sha256(canonical(obj), model_key)
    item_id = obj.get("id")
    if not isinstance(item_id, str) or not ID.match(item_id):
        why = "is missing" if item_id is None else f"is {shown(item_id)}"
        return LineFailure(
            number,
            None,
            "invalid_id",
            f"'id' {why}: use 1-128 characters from A-Z a-z 0-9 . _ -, unique in the manifest",
            sha,
            False,
        )
    try:
        return _item(obj, number, item_id, sha, languages, max_text_chars)
    except ParamError as exc:
        return LineFailure(number, item_id, exc.code, str(exc), sha)


def _item(
    obj: dict[str, Any],
    number: int,
    item_id: str,
    sha: str,
    languages: tuple[str, ...],
    max_text_chars: int,
) -> Item:
    unknown = sorted(set(obj) - FIELDS)
    if unknown:
        names = ", ".join(shown(k) for k in unknown[:5])
        raise ParamError("unknown_field", f"unknown field(s) {names}; accepted: {', '.join(sorted(FIELDS))}")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ParamError("missing_text", "'text' is required: a non-empty string to speak")
    if len(text) > max_text_chars:
        raise ParamError(
            "text_too_long",
            f"'text' has {len(text)} characters; the batch limit is {max_text_chars} "
            "(TTS_BATCH_MAX_TEXT_CHARS): split it into several items",
        )
    language = obj.get("language", "bn")
    if not isinstance(language, str) or language not in languages:
        raise ParamError(
            "unsupported_language",
            f"language {shown(language)} is not supported by this model; use one of: {', '.join(languages)}",
        )
    given = [name for name in VOICE_FIELDS if obj.get(name) is not None]
    if len(given) != 1:
        raise ParamError(
            "invalid_speaker",
            "give exactly one of 'voice_id' (saved with POST /voices) or 'speaker_wav_uri' "
            "(gs://BUCKET/clip.wav, s3://BUCKET/clip.wav, or a path beside the manifest)",
        )
    value = obj[given[0]]
    if not isinstance(value, str) or not value.strip():
        raise ParamError("invalid_speaker", f"'{given[0]}' must be a non-empty string")
    fmt = obj.get("format", "wav")
    if fmt not in FORMATS:
        raise ParamError("invalid_format", f"'format' is {shown(fmt)}: use one of {', '.join(FORMATS)}")
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ParamError("invalid_metadata", "'metadata' must be a JSON object; it is copied into the result")
    params = {name: check_sampling(name, obj[name]) for name in SAMPLING_RANGES if obj.get(name) is not None}
    dictionaries = _dictionaries(obj.get(DICTIONARIES))
    return Item(
        line=number,
        id=item_id,
        text=text,
        language=language,
        format=fmt,
        params=params,
        input_sha256=sha,
        voice_id=value if given[0] == "voice_id" else None,
        speaker_wav_uri=value if given[0] == "speaker_wav_uri" else None,
        metadata=metadata,
        dictionaries=dictionaries,
    )


def _dictionaries(given: Any) -> tuple[tuple[str, str | None], ...]:
    """`pronunciation_dictionary_locators` as on the API: up to 3 dictionary ids, each maybe a version."""
    if given is None:
        return ()
    shape = (
        f"'{DICTIONARIES}' must be a list of up to {MAX_DICTIONARIES} objects "
        '{"pronunciation_dictionary_id": "pd_…", "version_id": "v1" (optional)}'
    )
    if not isinstance(given, list) or len(given) > MAX_DICTIONARIES:
        raise ParamError("invalid_dictionary", shape)
    out = []
    for loc in given:
        if not isinstance(loc, dict) or set(loc) - {"pronunciation_dictionary_id", "version_id"}:
            raise ParamError("invalid_dictionary", shape)
        dictionary, version = loc.get("pronunciation_dictionary_id"), loc.get("version_id")
        if not isinstance(dictionary, str) or not (version is None or isinstance(version, str)):
            raise ParamError("invalid_dictionary", shape)
        out.append((dictionary, version))
    return tuple(out)
