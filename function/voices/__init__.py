"""Cloned voices: computed once, kept in a bounded LRU, persisted under TTS_VOICES_PATH."""

from function.voices.ids import VOICE_ID, owner_id
from function.voices.store import (
    EVERYONE,
    Owner,
    VoiceInfo,
    VoiceNameTakenError,
    VoiceNotFoundError,
    VoiceStore,
    new_voice_id,
)

__all__ = [
    "EVERYONE",
    "VOICE_ID",
    "Owner",
    "VoiceInfo",
    "VoiceNameTakenError",
    "VoiceNotFoundError",
    "VoiceStore",
    "new_voice_id",
    "owner_id",
]
