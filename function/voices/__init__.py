"""Cloned voices: computed once, kept in a bounded LRU, persisted under TTS_VOICES_PATH."""

from function.voices.store import VoiceInfo, VoiceNameTakenError, VoiceNotFoundError, VoiceStore, new_voice_id

__all__ = ["VoiceInfo", "VoiceNameTakenError", "VoiceNotFoundError", "VoiceStore", "new_voice_id"]
