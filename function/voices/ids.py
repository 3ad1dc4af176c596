"""Who owns a voice and how a saved voice is named."""

from __future__ import annotations

import hashlib
import re

# A saved voice's id (function.voices.store makes them).
VOICE_ID = re.compile(r"^voice_[0-9a-z]{20}$")


def owner_id(key: str) -> str:
    """The owner id of an API key: stable across restarts and instances, not reversible to the key."""
    return "key_" + hashlib.sha256(b"bn-xtts voice owner\0" + key.encode()).hexdigest()[:32]


def owner_folder(owner: str) -> str:
    """A safe object-name folder for an owner: owner ids are "local" or "key_<hex>"; any other is hashed."""
    if owner.replace("_", "").isalnum() and owner.isascii():
        return owner
    return hashlib.sha256(owner.encode()).hexdigest()
