"""Bearer API keys (TTS_API_KEYS), compared in constant time."""

from __future__ import annotations

import hmac


def authorized(header: str | None, keys: tuple[str, ...]) -> bool:
    """True when auth is off, or `Authorization: Bearer <key>` carries one of the keys."""
    if not keys:
        return True
    # Scheme and token are split by any run of whitespace and the token is taken without the
    # whitespace around it, just as each key in TTS_API_KEYS is (keys hold no whitespace inside).
    parts = (header or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":  # the scheme is case-insensitive (RFC 7235)
        return False
    given = parts[1].strip().encode()
    # Compare against every key (no early exit), so the timing says nothing about which matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    return matched
