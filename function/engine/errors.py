"""Errors the engine raises; every message says what was wrong and how to fix it."""


class EngineError(Exception):
    """Base class for every error the engine raises."""


class BundleError(EngineError):
    """The model bundle is missing, corrupted or of an unsupported format."""


class ReferenceAudioError(EngineError, ValueError):
    """The reference clip cannot be used to clone a voice (too short, too long, silent)."""


class UnsupportedLanguageError(EngineError, ValueError):
    """The requested language is not in the bundle (config languages or vocab language token)."""


class TextError(EngineError, ValueError):
    """The text cannot be synthesized (empty, or a piece longer than the tokenizer accepts)."""


class VoiceFormatError(EngineError, ValueError):
    """Serialized voice bytes are not a voice this engine can load."""
