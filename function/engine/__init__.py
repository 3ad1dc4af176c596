"""Torch-free XTTS v2 inference on ONNX Runtime: load a bundle, clone voices, synthesize and stream."""

from function.engine.bundle import Bundle, load_bundle
from function.engine.engine import AudioChunk, Engine, SynthesisParams
from function.engine.errors import (
    BundleError,
    EngineError,
    ReferenceAudioError,
    TextError,
    UnsupportedLanguageError,
    VoiceFormatError,
)
from function.engine.voice import Voice

__all__ = [
    "AudioChunk",
    "Bundle",
    "BundleError",
    "Engine",
    "EngineError",
    "ReferenceAudioError",
    "SynthesisParams",
    "TextError",
    "UnsupportedLanguageError",
    "Voice",
    "VoiceFormatError",
    "load_bundle",
]
