"""The service layer: lifecycle, admission, the synthesis pipeline. Adapters (HTTP, the batch job)
take the engine's types they handle from here, so they never import the engine itself."""

from function.engine import AudioChunk

__all__ = ["AudioChunk"]
