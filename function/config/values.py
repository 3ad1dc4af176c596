"""Reading one environment variable: the parsers every setting uses, and the error that names the
variable."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_T = TypeVar("_T")


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _parse(env: Mapping[str, str], name: str, default: _T, convert: Callable[[str], _T], hint: str) -> _T:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        return convert(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is invalid: expected {hint}") from None


Number = TypeVar("Number", int, float)


def _within(parse: Callable[[str], Number], lo: Number, hi: Number) -> Callable[[str], Number]:
    def convert(raw: str) -> Number:
        value = parse(raw)
        if not lo <= value <= hi:
            raise ValueError
        return value

    return convert


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    return _within(int, lo, hi)


def _float_in(lo: float, hi: float) -> Callable[[str], float]:
    return _within(float, lo, hi)


def _bool(raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def convert(raw: str) -> str:
        if raw.upper() in options:
            return raw.upper()
        if raw.lower() in options:
            return raw.lower()
        raise ValueError

    return convert


# S3's rules for a new bucket's name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit):
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _location(name: str, raw: str) -> str:
    """A gs://bucket[/prefix] or s3://bucket[/prefix] URI or a local directory path, normalised (no
    trailing slash)."""
    scheme = raw.partition("://")[0]
    if scheme in ("gs", "s3"):
        bucket = raw[len(scheme) + 3 :].split("/", 1)[0]
        if not bucket or (scheme == "s3" and not _S3_BUCKET.match(bucket)):
            raise ConfigError(
                f"{name}={raw!r} is invalid: expected {scheme}://BUCKET/PREFIX (a valid bucket name) "
                "or a local directory"
            )
        return raw.rstrip("/")
    if "://" in raw:
        raise ConfigError(
            f"{name}={raw!r} is invalid: only gs:// and s3:// URIs and local directories are supported"
        )
    return str(Path(raw).expanduser())


def _file_location(name: str, raw: str) -> str:
    """A gs:// or s3:// object or a local file: a location with a file name at its end."""
    location = _location(name, raw)
    scheme = location.partition("://")[0]
    has_key = "/" in location[len(scheme) + 3 :] if scheme in ("gs", "s3") else Path(location).name != ""
    if raw.endswith("/") or not has_key:
        raise ConfigError(
            f"{name}={raw!r} is invalid: expected a file: gs://BUCKET/PATH/FILE, s3://BUCKET/PATH/FILE "
            "or a local file path"
        )
    return location


def _keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in (_get(env, name) or "").split(",") if k.strip())
    if any(len(k) < 16 for k in keys):
        raise ConfigError(f"{name} is invalid: every key must be at least 16 characters")
    if any(any(ch.isspace() for ch in k) for k in keys):
        # A header token is taken without the whitespace around it; inside, it could never match.
        raise ConfigError(f"{name} is invalid: a key may not contain whitespace")
    return keys
