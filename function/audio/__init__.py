"""Audio in and out: decode reference clips, encode synthesized audio, frame a streaming WAV."""

from function.audio.decode import MAX_REFERENCE_SECONDS, AudioDecodeError, decode_reference
from function.audio.encode import CONTENT_TYPES, FORMATS, encode_audio
from function.audio.pcm import pcm16_bytes, wav_stream_header

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "MAX_REFERENCE_SECONDS",
    "AudioDecodeError",
    "decode_reference",
    "encode_audio",
    "pcm16_bytes",
    "wav_stream_header",
]
