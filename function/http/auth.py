"""Bearer API keys (TTS_API_KEYS), compared in constant time."""

from __future__ import annotations

import hmac


def authorized(header: str | None, keys: tuple[str, ...]) -> bool:
    """True when auth is off, or `Authorization: Bearer <key>` carries one of the keys."""
    if not keys:
        return True
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():  # the scheme is case-insensitive (RFC 7235)
        return False
    given = token.strip().encode()
    # Compare against every key (no early exit), so the timing says nothing about which matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    return matched
