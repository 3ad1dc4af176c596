"""A fake engine for the service layer's tests: milliseconds per synthesis, the real scheduler.

Text "a|bb" is two pieces; a piece of n letters decodes 4n codes; latent i of a sequence is
[i, i, ...]. `engine` and `loaded` (tests/function/conftest.py) build one per test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from function.engine import AudioChunk, PieceSpan, SynthesisParams, TextError, Voice, VoiceFormatError
from function.engine.decoding import DecodeBatch, RowCache, Sequence, capacity_for
from function.engine.engine import Text
from function.engine.prefix_cache import PrefixCacheStats
from function.engine.sampling import SamplingConfig
from function.quality.policy import QualityPolicy
from function.service.limiter import ConcurrencyLimiter
from function.service.model import Loaded
from function.service.speech import SpeechService

WIDTH = 4
GREEDY = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, greedy=True)


class FakeDecoder:
    """Latent i of a sequence is [i, i, ...]; a sequence ends after `limit` codes. `gate`, when set,
    makes every GPT call wait for a permit, so a test can hold the scheduler between steps."""

    def __init__(self) -> None:
        self.calls: list[int] = []  # rows per GPT call (1 for a prefill)
        self.gate: threading.Semaphore | None = None
        self.stops = False  # whether a sequence ends on the stop token (else it runs to its limit)

    def _advance(self, seq: Sequence) -> np.ndarray:
        if self.gate is not None:
            self.gate.acquire()
        latent = np.full(WIDTH, len(seq.codes), np.float32)
        seq.codes.append(len(seq.codes))
        seq.next_input = latent
        seq.finished = len(seq.codes) >= seq.limit
        seq.stopped = seq.finished and self.stops
        return latent

    def prefill(self, seq: Sequence) -> tuple[np.ndarray, RowCache]:
        self.calls.append(1)
        length = seq.prefix.shape[1]
        kv = [np.zeros((1, 1, capacity_for(length + 1), 1), np.float32)]
        return self._advance(seq), RowCache(kv, length)

    def step(self, batch: DecodeBatch) -> np.ndarray:
        self.calls.append(len(batch))
        batch.reserve(1)
        out = np.stack([self._advance(seq) for seq in batch.rows])
        batch.advance()
        return out


class FakeEngine:
    """Text "a|bb" is two pieces of 1 and 2 codes... times 4; every code is 10 samples of its piece index."""

    sample_rate = 1000
    nukta_form = "composed"
    model_id = "fake/1"
    provider = "FakeExecutionProvider"

    def __init__(self) -> None:
        self.decoder = FakeDecoder()
        self.languages = ["bn", "en"]
        self.manifest: dict[str, Any] = {"model": {"name": "fake", "version": "1"}, "variant": "int8"}
        self.params: list[SynthesisParams | None] = []  # what each synthesis was asked
        self.texts: list[Text] = []  # and what it was given to speak
        self.runaways = 0  # syntheses that run away before the model behaves

    def embed_speaker(self, audio: Any, sample_rate: int) -> np.ndarray:
        return np.zeros(3, np.float32)

    def prefix_cache_stats(self) -> PrefixCacheStats:
        return PrefixCacheStats(voices=0, capacity=0, hits=0, misses=0)

    def make_voice(self, audio: Any, sample_rate: int) -> Voice:
        return Voice(np.zeros((1, 2, WIDTH), np.float32), np.zeros((1, 3, 1), np.float32), self.model_id)

    def _sequences(self, text: str, voice: Voice, params: SynthesisParams | None) -> list[Sequence]:
        if "!" in text:
            raise TextError("the fake engine refuses '!'")
        if voice.cond_latents.shape[2] != WIDTH:
            raise VoiceFormatError("this voice does not fit the fake model")
        return [
            Sequence(
                np.zeros((1, 3, WIDTH), np.float32),
                GREEDY,
                np.random.default_rng(0),
                np.zeros(8, np.bool_),
                4 * len(piece),
                0,
            )
            for piece in text.split("|")
        ]

    def stream(
        self, text: Text, voice: Voice, params: SynthesisParams | None = None, *, decode: Any = None
    ) -> Iterator[AudioChunk]:
        self.params.append(params)
        self.texts.append(text)
        if not isinstance(text, str):  # a script: its words, a piece each
            text = "|".join(seg.text for seg in text if seg.text)
        self.decoder.stops = len(self.params) > self.runaways
        pieces = text.split("|")
        for index, seq in enumerate(self._sequences(text, voice, params)):
            latents = decode(seq)
            try:
                for latent in latents:
                    yield AudioChunk(
                        np.full(10, index + latent[0] / 100, np.float32),
                        self.sample_rate,
                        index,
                        pieces[index],
                    )
            finally:
                latents.close()

    def synthesize(
        self,
        text: Text,
        voice: Voice,
        params: SynthesisParams | None = None,
        *,
        decode: Any = None,
        spans: list[PieceSpan] | None = None,
    ) -> np.ndarray:
        chunks = list(self.stream(text, voice, params, decode=decode))
        if spans is not None:  # the pieces are the text's "|"-separated parts
            words = text if isinstance(text, str) else "|".join(seg.text for seg in text if seg.text)
            at = 0
            for index, piece in enumerate(words.split("|")):
                size = sum(c.samples.shape[0] for c in chunks if c.piece == index)
                spans.append(PieceSpan(piece, at, at + size))
                at += size
        return np.concatenate([c.samples for c in chunks])


class FakeModel:
    def __init__(self, loaded: Loaded | None) -> None:
        self.loaded = loaded
        self.status = "ready" if loaded else "loading"
        self.uptime_s = 1.0
        self.ready_at = 0.0


def make_service(
    loaded: Loaded | None, running: int = 2, queue: int = 0, quality: QualityPolicy | None = None
) -> SpeechService:
    policy = quality or QualityPolicy(enabled=False)
    return SpeechService(FakeModel(loaded), ConcurrencyLimiter(running, queue, 0.1), policy)


def voice_id(service: SpeechService, engine: FakeEngine) -> str:
    voice = engine.make_voice(None, 0)
    return service.loaded().voices.add(voice, name="v", reference_seconds=3.0).voice_id
