"""What the service needs of the engine: a small protocol, so orchestration, streaming, error
mapping and scheduling are tested with a fake engine in milliseconds (the real one keeps its
parity tests). function.engine.Engine satisfies it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from function.engine import AudioChunk, PieceSpan, SynthesisParams, Voice
from function.engine.decoding import Sequence
from function.engine.engine import Text
from function.engine.prefix_cache import PrefixCacheStats
from function.engine.scheduler import Decoder

Latent = npt.NDArray[np.float32]
Decode = Callable[[Sequence], Iterator[Latent]]


class SpeechEngine(Protocol):
    sample_rate: int
    languages: list[str]
    nukta_form: str
    model_id: str
    provider: str
    manifest: dict[str, Any]

    @property
    def decoder(self) -> Decoder: ...

    @property
    def codes_per_second(self) -> float: ...

    def count_tokens(self, text: str, language: str) -> int: ...

    def prefix_cache_stats(self) -> PrefixCacheStats: ...

    def make_voice(self, audio: npt.NDArray[Any], sample_rate: int) -> Voice: ...

    def embed_speaker(self, audio: npt.NDArray[np.float32], sample_rate: int) -> npt.NDArray[np.float32]: ...

    def synthesize(
        self,
        text: Text,
        voice: Voice,
        params: SynthesisParams | None = None,
        *,
        decode: Decode | None = None,
        spans: list[PieceSpan] | None = None,
    ) -> npt.NDArray[np.float32]: ...

    def stream(
        self, text: Text, voice: Voice, params: SynthesisParams | None = None, *, decode: Decode | None = None
    ) -> Iterator[AudioChunk]: ...
