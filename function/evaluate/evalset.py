"""The evaluation set: a UTF-8 TSV with a header, one item a line.

Columns: `text` and `voice` (required); `id`, `language` (default bn) and `transcript` (optional).
`voice` is a stored voice id (`voice_...`) or the path of a reference clip, relative to the TSV's
folder or absolute. Fields are taken verbatim (no quoting), so text may hold quotes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from function.batch.manifest import ID
from function.voices.store import valid_voice_id

REQUIRED = ("text", "voice")
COLUMNS = frozenset({*REQUIRED, "id", "language", "transcript"})
DEFAULT_LANGUAGE = "bn"


class EvalSetError(ValueError):
    """The evaluation set cannot be used as written; the message names the file and line."""


@dataclass(frozen=True)
class EvalItem:
    line: int  # 1-based line in the TSV, for messages
    id: str
    text: str
    voice: str  # as written: what the report groups by
    clip: Path | None  # the resolved clip; None when `voice` is a voice id
    language: str
    transcript: str | None  # the reference for CER; None: the normalized input text


def read_evalset(path: Path) -> list[EvalItem]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvalSetError(f"cannot read the evaluation set {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvalSetError(f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    rows = csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(rows, None)
    if header is None:
        raise EvalSetError(f"{path} is empty: write a header line (text, voice, ...) and one item a line")
    names = [h.strip().lower() for h in header]
    unknown = sorted(set(names) - COLUMNS)
    missing = [c for c in REQUIRED if c not in names]
    if unknown or missing or len(set(names)) != len(names):
        raise EvalSetError(
            f"{path}: the header must name the tab-separated columns text and voice, optionally id, "
            f"language and transcript, each once; it has {', '.join(map(repr, names))}"
        )
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for line, fields in enumerate(rows, start=2):
        if not any(f.strip() for f in fields):
            continue
        where = f"{path}:{line}"
        if len(fields) != len(names):
            raise EvalSetError(
                f"{where}: {len(fields)} tab-separated fields where the header has {len(names)} "
                f"({', '.join(names)})"
            )
        row = dict(zip(names, (f.strip() for f in fields), strict=True))
        item = _item(path.parent, where, line, row)
        if not ID.match(item.id):
            raise EvalSetError(f"{where}: id {item.id!r} must be 1-128 letters, digits, '.', '_' or '-'")
        if item.id in seen:
            raise EvalSetError(f"{where}: id {item.id!r} is already used on line {seen[item.id]}")
        seen[item.id] = line
        items.append(item)
    if not items:
        raise EvalSetError(f"{path} holds no items: one line per item under the header")
    return items


def _item(folder: Path, where: str, line: int, row: dict[str, str]) -> EvalItem:
    if not row["text"]:
        raise EvalSetError(f"{where}: the text is empty")
    voice = row["voice"]
    if not voice:
        raise EvalSetError(f"{where}: the voice is empty: write a voice id or a clip's path")
    clip: Path | None = None
    if not valid_voice_id(voice):
        clip = folder / voice  # an absolute path stays absolute
        if not clip.is_file():
            raise EvalSetError(
                f"{where}: voice {voice!r} is neither a voice id (voice_...) nor a file ({clip})"
            )
    return EvalItem(
        line=line,
        id=row.get("id") or str(line),
        text=row["text"],
        voice=voice,
        clip=clip,
        language=row.get("language") or DEFAULT_LANGUAGE,
        transcript=row.get("transcript") or None,
    )
