"""API keys (TTS_API_KEYS, TTS_ADMIN_KEYS), compared in constant time, and who a key is. A key comes
as `Authorization: Bearer <key>`, or as `xi-api-key: <key>` (ElevenLabs' header, which its SDK sends).

Each key is a separate owner of voices, named by a stable id derived from the key with a one-way
hash (never the key itself, which is neither stored nor logged).
"""

from __future__ import annotations

import hmac

from function.config import Settings
from function.voices import Owner, owner_id


def authorized(header: str | None, keys: tuple[str, ...], xi_api_key: str | None = None) -> bool:
    """True when auth is off, or the request's key (`Authorization: Bearer`, else `xi-api-key`) is
    one of the keys."""
    if not keys:
        return True
    presented = _presented(header, xi_api_key)
    if presented is None:
        return False
    given = presented.encode()
    # Compare against every key (no early exit), so the timing says nothing about which matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    return matched


def _bearer(header: str | None) -> str | None:
    # Scheme and token are split by any run of whitespace and the token is taken without the
    # whitespace around it, just as each key in TTS_API_KEYS is (keys hold no whitespace inside).
    parts = (header or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":  # the scheme is case-insensitive (RFC 7235)
        return None
    return parts[1].strip()


def _presented(header: str | None, xi_api_key: str | None) -> str | None:
    bearer = _bearer(header)
    if bearer is not None:
        return bearer
    return xi_api_key.strip() if xi_api_key and xi_api_key.strip() else None


def caller(header: str | None, settings: Settings, xi_api_key: str | None = None) -> Owner:
    """Whose voices this (already authorized) request may see and use.

    Without keys there is one owner, "local". With keys, each key owns the voices it creates;
    TTS_ADMIN_KEYS see every voice; voices saved before owners existed belong to
    TTS_LEGACY_VOICES_OWNER (by default the only key, when there is exactly one).
    """
    if not settings.api_keys:
        return Owner("local", legacy=settings.legacy_voices_owner in (None, "local"))
    key = _presented(header, xi_api_key) or ""
    oid = owner_id(key)
    admin = any(hmac.compare_digest(key.encode(), k.encode()) for k in settings.admin_keys)
    return Owner(oid, admin=admin, legacy=admin or settings.legacy_voices_owner == oid)
