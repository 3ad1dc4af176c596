"""Torch-free XTTS v2 inference on ONNX Runtime: load a bundle, clone voices, synthesize and stream."""

from function.engine.bundle import Bundle, load_bundle
from function.engine.engine import AudioChunk, Engine, PieceSpan
from function.engine.errors import (
    BundleError,
    EngineError,
    ReferenceAudioError,
    TextError,
    UnsupportedLanguageError,
    VoiceFormatError,
)
from function.engine.segments import Segment
from function.engine.voice import Voice
from function.synthesis_params import SAMPLING_RANGES, SynthesisParams

__all__ = [
    "SAMPLING_RANGES",
    "AudioChunk",
    "Bundle",
    "BundleError",
    "Engine",
    "EngineError",
    "PieceSpan",
    "ReferenceAudioError",
    "Segment",
    "SynthesisParams",
    "TextError",
    "UnsupportedLanguageError",
    "Voice",
    "VoiceFormatError",
    "load_bundle",
]
