"""Reading a Pulumi stack's configuration, for both programs (infra/ and infra_aws/): a typed reader
whose every error names the key, the check for keys no program reads (typos), and the rules shared
with the serving side (API keys, path segments)."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Callable, Iterable

Getter = Callable[[str], str | None]

SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# The serving side's own rule for TTS_API_KEYS (function/config.py).
API_KEY_RE = re.compile(r"^[A-Za-z0-9._~-]{16,256}$")


class ConfigError(ValueError):
    """A stack configuration value is missing or invalid; `key` names it."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


class Reader:
    """Values of one config namespace, stripped; a blank value counts as unset."""

    def __init__(self, namespace: str, get: Getter) -> None:
        self.namespace = namespace
        self._get = get

    def key(self, name: str) -> str:
        return f"{self.namespace}:{name}"

    def optional(self, name: str) -> str | None:
        value = self._get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def require(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise ConfigError(self.key(name), f"required; set it with `pulumi config set {name} VALUE`")
        return value

    def string(self, name: str, default: str) -> str:
        value = self.optional(name)
        return default if value is None else value

    def integer(self, name: str, default: int, *, low: int = 1, high: int = 1 << 31) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(self.key(name), f"expected an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(self.key(name), f"expected {low}..{high}, got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ConfigError(self.key(name), f"expected true or false, got {raw!r}")

    def segment(self, name: str, default: str) -> str:
        """One path segment (a model name or version inside a bucket path)."""
        value = self.string(name, default)
        if not SEGMENT_RE.match(value) or value in (".", ".."):
            raise ConfigError(
                self.key(name), f"one path segment of letters, digits, '.', '_', '-', got {value!r}"
            )
        return value

    def time_zone(self, name: str, default: str) -> str:
        """An IANA time zone name (a schedule's)."""
        value = self.string(name, default)
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                self.key(name), f"expected an IANA time zone such as Asia/Dhaka, got {value!r}"
            ) from None
        return value


def check_known(provided: Iterable[str], namespace: str, known: Iterable[str]) -> None:
    """Refuse a key of this program's namespace that it does not read (a typo would be ignored)."""
    known = list(known)
    for full in provided:
        space, _, name = full.partition(":")
        if space == namespace and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
            raise ConfigError(full, f"unknown key; {hint}")


def check_api_keys(value: str, key: str) -> str:
    """The API keys secret: comma-separated, 16-256 URL-safe characters each, no duplicates."""
    keys = [k.strip() for k in value.split(",") if k.strip()]
    if not keys:
        raise ConfigError(key, "at least one key; set it with `pulumi config set --secret apiKeys K1,K2`")
    for i, k in enumerate(keys):
        if not API_KEY_RE.match(k):
            raise ConfigError(key, f"key #{i + 1} must be 16-256 characters of A-Z a-z 0-9 . _ ~ -")
    if len(set(keys)) != len(keys):
        raise ConfigError(key, "the same key appears twice")
    return ",".join(keys)
