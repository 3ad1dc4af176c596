"""The torch-free XTTS v2 engine: voice cloning, GPT decoding with a KV cache, HiFi-GAN, streaming."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Generator, Iterator
from collections.abc import Sequence as Script
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from function.bundle_format import GRAPHS, KV_PAST, U8U8_WITHOUT_VNNI
from function.engine import dsp
from function.engine.bundle import Bundle, load_bundle
from function.engine.decoding import DecodeBatch, GptDecoder, Sequence
from function.engine.errors import ReferenceAudioError, TextError, VoiceFormatError
from function.engine.latents import LatentUpsampler
from function.engine.pacing import ChunkPacer
from function.engine.prefix_cache import PrefixCache, PrefixCacheStats
from function.engine.sampling import SamplingConfig
from function.engine.segments import Segment
from function.engine.sessions import CUDA, choose_providers, create_session
from function.engine.tokenizer import XttsTokenizer
from function.engine.vocoder import Vocoder
from function.engine.voice import Voice
from function.synthesis_params import SAMPLING_RANGES, SynthesisParams
from function.text import split_sentences, spoken_chars

log = logging.getLogger(__name__)


Audio = npt.NDArray[np.float32]

MIN_REFERENCE_SECONDS = 2.0
MAX_REFERENCE_SECONDS = 30.0
SILENCE_RMS = 1e-4


Latent = npt.NDArray[np.float32]
Decode = Callable[[Sequence], Iterator[Latent]]


Text = str | Script[Segment]  # plain normalized text, or a script of segments


@dataclass(frozen=True)
class _Piece:
    """One decoding sequence's worth of text, with what it is read with and the silence after it."""

    text: str  # empty: no words, only the silence
    tokens: list[int]
    params: SynthesisParams
    pause: int  # samples of silence after it


@dataclass(frozen=True)
class AudioChunk:
    """A piece of streamed audio: mono float32 samples, their rate, and which text piece they voice."""

    samples: Audio
    sample_rate: int
    piece: int
    text: str = ""  # the piece's text (what word timestamps place in its audio)


@dataclass(frozen=True)
class PieceSpan:
    """Where one text piece is spoken in a whole waveform: samples [start, end), the pause after it
    excluded. What word timestamps are placed within."""

    text: str
    start: int
    end: int


class Engine:
    def __init__(
        self,
        bundle: Bundle,
        *,
        use_gpu: bool = False,
        intra_op_threads: int = 0,
        bind_kv: bool | None = None,
        prefix_cache_voices: int = 0,
    ) -> None:
        self.bundle = bundle
        self.manifest = bundle.manifest
        rt = bundle.runtime
        self._rt = rt
        providers = choose_providers(use_gpu)
        exact = set(self.manifest.get(U8U8_WITHOUT_VNNI, []))
        sessions = {
            role: create_session(bundle.graph(role), providers, intra_op_threads, needs_vnni=role in exact)
            for role in GRAPHS
        }
        self._cond, self._spk = sessions["conditioning"], sessions["speaker_encoder"]
        self._gpt = sessions["gpt"]
        self.vocoder = Vocoder(
            sessions["vocoder_head"],
            sessions["vocoder"],
            head_context=rt.vocoder_head_context_frames,
            tail_context=rt.vocoder_tail_context_frames,
            head_upsampling=rt.vocoder_head_upsampling,
            hop=rt.output_hop_length,
        )
        self.provider: str = self._gpt.get_providers()[0]
        with np.load(bundle.path(rt.frontend_file)) as npz:
            self._frontend = {k: npz[k] for k in npz.files}
        with np.load(bundle.path(rt.embeddings_file)) as npz:
            self._emb = {k: npz[k] for k in npz.files}
        self.tokenizer = XttsTokenizer(bundle.path(rt.vocab_file), rt.languages, rt.max_text_tokens)
        self.languages: list[str] = self.tokenizer.languages
        self.sample_rate: int = rt.output_sample_rate
        self.nukta_form: str = self.tokenizer.nukta_form()
        self.model_id = f"{self.manifest['model']['name']}/{self.manifest['model']['version']}"
        self.clock: Callable[[], float] = time.monotonic  # what streams pace their chunks by
        self._width = rt.gpt.model_dim
        past = next(i for i in self._gpt.get_inputs() if i.name.startswith(KV_PAST))
        kv_dtype = np.float16 if past.type == "tensor(float16)" else np.float32
        # The KV cache stays on the GPU between steps (ONNX Runtime values); on CPU it is numpy memory
        # the graph writes into, but `bind_kv=True` runs the device path there so CI tests it.
        on_gpu = self.provider == CUDA
        device = ("cuda" if on_gpu else "cpu") if (on_gpu if bind_kv is None else bind_kv) else None
        self.decoder = GptDecoder(
            self._gpt,
            self._emb,
            rt.gpt,
            kv_dtype,
            device=device,
            prefix_cache=PrefixCache(prefix_cache_voices),
        )
        g_shape = next(i.shape for i in sessions["vocoder"].get_inputs() if i.name == "g")
        self._voice_shapes = (
            (1, None, self._width),
            tuple(d if isinstance(d, int) else None for d in g_shape),
        )

    @classmethod
    def load(
        cls,
        bundle_dir: Path,
        *,
        use_gpu: bool = False,
        intra_op_threads: int = 0,
        verify: bool = True,
        bind_kv: bool | None = None,
        prefix_cache_voices: int = 0,
    ) -> Engine:
        bundle = load_bundle(Path(bundle_dir), verify=verify)
        return cls(
            bundle,
            use_gpu=use_gpu,
            intra_op_threads=intra_op_threads,
            bind_kv=bind_kv,
            prefix_cache_voices=prefix_cache_voices,
        )

    def prefix_cache_stats(self) -> PrefixCacheStats:
        """How many voices' conditioning the GPT keeps, and how often a prefill found it there."""
        return self.decoder.prefix_cache.stats()

    # ---- languages and limits -------------------------------------------------------------
    def char_limit(self, language: str) -> int:
        limits = self._rt.char_limits
        return int(limits.get(language.split("-", maxsplit=1)[0], limits.get("default", 250)))

    @property
    def max_text_chars(self) -> int:
        return self.char_limit("bn" if "bn" in self.languages else self.languages[0])

    def count_tokens(self, text: str, language: str) -> int:
        """Text tokens the GPT reads for `text` (every piece of it): what a client is billed as input."""
        return sum(len(self.tokenizer.encode(piece, language)) for piece in self._pieces(text, language))

    @property
    def codes_per_second(self) -> float:
        """Audio codes the GPT generates per second of speech at speed 1."""
        return self._rt.input_sample_rate / self._rt.code_stride_len

    # ---- voices ---------------------------------------------------------------------------
    def make_voice(self, audio: npt.NDArray[Any], sample_rate: int) -> Voice:
        """Clone a voice from a 2-30 s reference clip (any rate, mono or (samples, channels))."""
        wav = self._reference(audio, sample_rate)
        sr = self._rt.input_sample_rate
        return Voice(self._cond_latents(wav, sr), self._speaker_embedding(wav, sr), self.model_id)

    def conditioning_latents(self, audio: npt.NDArray[Any], sample_rate: int) -> npt.NDArray[np.float32]:
        """The GPT conditioning part of a voice alone (what `make_voice` computes, without the
        speaker encoder): parity checks compare it across variants."""
        return self._cond_latents(self._reference(audio, sample_rate), self._rt.input_sample_rate)

    def _reference(self, audio: npt.NDArray[Any], sample_rate: int) -> Audio:
        """A checked reference clip, mono at the model's input rate, cut and normalized as coqui-tts does."""
        wav = np.asarray(audio, dtype=np.float32)
        if wav.ndim == 2:
            wav = wav.mean(axis=1)
        if wav.ndim != 1 or sample_rate <= 0:
            raise ReferenceAudioError(
                "reference audio must be mono or (samples, channels) with a positive rate"
            )
        seconds = wav.shape[0] / sample_rate
        if seconds < MIN_REFERENCE_SECONDS:
            raise ReferenceAudioError(
                f"reference clip is {seconds:.2f} s long; "
                f"send at least {MIN_REFERENCE_SECONDS:.0f} s of clear speech"
            )
        if seconds > MAX_REFERENCE_SECONDS:
            raise ReferenceAudioError(
                f"reference clip is {seconds:.1f} s long; send at most {MAX_REFERENCE_SECONDS:.0f} s"
            )
        # The energy about the mean: a constant offset (DC) carries no sound.
        if not np.isfinite(wav).all() or float(np.std(wav.astype(np.float64))) < SILENCE_RMS:
            raise ReferenceAudioError(
                "reference clip is silent (or a constant offset, or not finite); "
                "send a recording of the voice"
            )
        rt = self._rt
        sr = rt.input_sample_rate
        wav = np.clip(dsp.resample(wav, sample_rate, sr), -1.0, 1.0)
        wav = wav[: sr * rt.max_ref_len]
        if rt.sound_norm_refs:
            wav = (wav / np.abs(wav).max() * 0.75).astype(np.float32)
        return np.asarray(wav, dtype=np.float32)

    def _cond_latents(self, wav: Audio, sr: int) -> npt.NDArray[np.float32]:
        rt, fe = self._rt, self._frontend
        cond_len, chunk_len = rt.gpt_cond_len, rt.gpt_cond_chunk_len
        if cond_len > 0:
            wav = wav[: sr * cond_len]
        embs = []
        for start in range(0, wav.shape[0], sr * chunk_len):
            chunk = wav[start : start + sr * chunk_len]
            if chunk.shape[0] < sr * 0.33:  # coqui-tts skips chunks under a third of a second
                continue
            mel = dsp.mel_spectrogram(chunk, fe["cond_window"], rt.cond_hop, fe["cond_fbank"])
            mel = np.log(np.clip(mel, 1e-5, None)) / fe["mel_stats"][:, None]
            embs.append(self._cond.run(None, {"mel": mel[None].astype(np.float32)})[0])
        return np.asarray(np.mean(np.stack(embs), axis=0), dtype=np.float32)

    def embed_speaker(self, audio: Audio, sample_rate: int) -> npt.NDArray[np.float32]:
        """The speaker encoder's d-vector (512,) of any mono clip: what a voice's speaker embedding is
        made of, so a cosine against it says how much a clip sounds like that voice."""
        wav = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        return self._speaker_embedding(wav, sample_rate).reshape(-1)

    def _speaker_embedding(self, wav: Audio, sr: int) -> npt.NDArray[np.float32]:
        rt, fe = self._rt, self._frontend
        wav16 = dsp.resample(wav, sr, rt.speaker_sample_rate)
        wav16 = dsp.pre_emphasis(wav16, rt.speaker_preemphasis)
        mel = dsp.mel_spectrogram(wav16, fe["spk_window"], rt.speaker_hop, fe["spk_fbank"])
        emb = self._spk.run(None, {"mel": mel[None]})[0]
        return np.asarray(emb[:, :, None], dtype=np.float32)

    # ---- synthesis ------------------------------------------------------------------------
    def _prepare(self, text: Text, voice: Voice, params: SynthesisParams | None) -> list[_Piece]:
        """Checked voice and parameters (unset knobs from the checkpoint's config); the text in
        pieces, each with its tokens, parameters and the silence after it."""
        self._check_voice(voice)
        p = params or SynthesisParams()
        unset: dict[str, Any] = {k: v for k, v in self._rt.defaults.items() if getattr(p, k) is None}
        p = replace(p, **unset)
        segments = [Segment(text)] if isinstance(text, str) else list(text)
        pieces: list[_Piece] = []
        for seg in segments:
            sp = replace(
                p, speed=p.speed if seg.speed is None else seg.speed, language=seg.language or p.language
            )
            _, slowest, fastest = SAMPLING_RANGES["speed"]
            if not slowest <= sp.speed <= fastest:
                raise TextError(f"speed {sp.speed:g} is out of range: use {slowest:g} to {fastest:g}")
            texts = self._pieces(seg.text, sp.language) if seg.text.strip() or isinstance(text, str) else [""]
            pause = round(seg.pause_after * self.sample_rate)
            for i, piece in enumerate(texts):
                tokens = self.tokenizer.encode(piece, sp.language) if piece else []
                pieces.append(_Piece(piece, tokens, sp, pause if i == len(texts) - 1 else 0))
        if not any(piece.tokens for piece in pieces):
            raise TextError("text is empty: send the words to speak")
        return pieces

    def _check_voice(self, voice: Voice) -> None:
        """A voice made by another model (or damaged in storage) fails as such, not inside ONNX Runtime."""
        for array, expected in zip(
            (voice.cond_latents, voice.speaker_embedding), self._voice_shapes, strict=True
        ):
            fits = array.ndim == len(expected) and all(
                want is None or got == want for got, want in zip(array.shape, expected, strict=True)
            )
            if not fits or not np.isfinite(array).all():
                raise VoiceFormatError(
                    f"this voice does not fit the model {self.model_id} (conditioning of shape "
                    f"{array.shape}); create it again from the reference clip"
                )

    def _pieces(self, text: str, language: str) -> list[str]:
        text = text.strip()
        if not text:
            raise TextError("text is empty: send the words to speak")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise TextError(
                "text holds an unpaired surrogate, which is not a character: send valid Unicode"
            ) from None
        limit = self.char_limit(language)
        if len(text) <= limit:
            return [text]
        return [p for p in split_sentences(text, limit) if p.strip()]

    def sequences(
        self, text: Text, voice: Voice, params: SynthesisParams | None
    ) -> tuple[SynthesisParams, list[Sequence]]:
        """One decoding sequence per text piece, each with its own random stream (seeded alike)."""
        planned = self._plan(text, voice, params)
        return planned[0][0].params, [seq for _, seq in planned if seq is not None]

    def _plan(
        self, text: Text, voice: Voice, params: SynthesisParams | None
    ) -> list[tuple[_Piece, Sequence | None]]:
        """Each piece with its decoding sequence (None for a pause with no words)."""
        pieces = self._prepare(text, voice, params)
        p = pieces[0].params
        cfg = SamplingConfig(
            temperature=float(p.temperature or 1.0),
            top_k=int(p.top_k or 0),
            top_p=float(1.0 if p.top_p is None else p.top_p),
            repetition_penalty=float(p.repetition_penalty or 1.0),
            greedy=p.greedy,
        )
        return [
            (
                piece,
                self.decoder.sequence(
                    piece.tokens,
                    voice.cond_latents,
                    cfg,
                    seed=p.seed,
                    max_new_tokens=self._token_limit(p, piece.text),
                    min_new_tokens=p.min_new_tokens,
                )
                if piece.tokens
                else None,
            )
            for piece in pieces
        ]

    def _token_limit(self, p: SynthesisParams, piece: str) -> int | None:
        if p.token_budget is None:
            return p.max_new_tokens
        seconds, per_char = p.token_budget
        budget = math.ceil(self.codes_per_second * (seconds + per_char * spoken_chars(piece)))
        return budget if p.max_new_tokens is None else min(budget, p.max_new_tokens)

    def decode_alone(self, seq: Sequence) -> Iterator[Latent]:
        """Decode one sequence by itself (batch of one); the scheduler's `decode` batches many."""
        latent, kv = self.decoder.prefill(seq)
        yield latent
        batch = DecodeBatch()
        batch.add(seq, kv)
        while not seq.finished:
            latent = self.decoder.step(batch)[0]
            if seq.error is not None:
                raise seq.error
            yield latent

    def generate_codes(
        self, text: str, voice: Voice, params: SynthesisParams | None = None, *, decode: Decode | None = None
    ) -> list[list[int]]:
        """The GPT's audio codes for each text piece (what coqui-tts's gpt.generate returns)."""
        _, seqs = self.sequences(text, voice, params)
        for seq in seqs:
            for _ in (decode or self.decode_alone)(seq):
                pass
        return [seq.codes for seq in seqs]

    def _upsampler(self, speed: float) -> LatentUpsampler:
        rt = self._rt
        return LatentUpsampler(
            speed,
            rt.code_stride_len,
            rt.output_hop_length,
            rt.input_sample_rate,
            rt.output_sample_rate,
        )

    def vocode(self, frames: npt.NDArray[np.float32], voice: Voice) -> Audio:
        """HiFi-GAN on vocoder input frames (time, width) with the voice's speaker embedding."""
        return self.vocoder(frames, voice.speaker_embedding)

    def vocoder_frames(
        self, text: Text, voice: Voice, params: SynthesisParams | None = None, *, decode: Decode | None = None
    ) -> list[npt.NDArray[np.float32]]:
        """Each text piece's vocoder input frames (time, width): what HiFi-GAN turns into audio.
        The exporter calibrates the int8 vocoder on these."""
        return [frames for _, frames, _ in self._frames(text, voice, params, decode)]

    def _frames(
        self, text: Text, voice: Voice, params: SynthesisParams | None, decode: Decode | None
    ) -> Iterator[tuple[str, npt.NDArray[np.float32], int]]:
        """Each piece's text, its vocoder frames (none for a pause alone), the samples of silence after it."""
        for piece, seq in self._plan(text, voice, params):
            if seq is not None:
                latents = np.stack(list((decode or self.decode_alone)(seq)))
                yield piece.text, self._upsampler(piece.params.speed).push(latents, final=True), piece.pause
            elif piece.pause:
                yield "", np.zeros((0, self._width), np.float32), piece.pause

    def synthesize(
        self,
        text: Text,
        voice: Voice,
        params: SynthesisParams | None = None,
        *,
        decode: Decode | None = None,
        spans: list[PieceSpan] | None = None,
    ) -> Audio:
        """Whole waveform (float32, mono, `sample_rate`) for already-normalized text; `spans`, when
        given, gets where each piece with words is spoken in it."""
        wavs: list[Audio] = []
        at = 0
        for piece, frames, pause in self._frames(text, voice, params, decode):
            wav = self.vocode(frames, voice)
            if spans is not None and piece:
                spans.append(PieceSpan(piece, at, at + wav.shape[0]))
            wavs.append(wav)
            at += wav.shape[0]
            if pause:
                wavs.append(np.zeros(pause, np.float32))
                at += pause
        return np.concatenate(wavs) if wavs else np.zeros(0, np.float32)

    def stream(
        self, text: Text, voice: Voice, params: SynthesisParams | None = None, *, decode: Decode | None = None
    ) -> Iterator[AudioChunk]:
        """Yield audio chunks while tokens are generated; closing the generator stops generation.

        Each chunk vocodes only its new frames plus the receptive field on either side (vocoder.py),
        so total vocoder work is linear in the audio length, and the chunks join into exactly the
        non-streaming waveform (no crossfade needed). `decode` turns a sequence into its latents:
        alone by default, or through the batching scheduler. A script's pauses come as chunks of
        silence, once the piece before them is all out.
        """
        index = 0
        # A seeded or greedy request keeps the fixed schedule, so its bytes repeat (pacing.py).
        reproducible = params is not None and (params.seed is not None or params.greedy)
        pacer = ChunkPacer(self.sample_rate, self.clock, paced=not reproducible)
        for piece, seq in self._plan(text, voice, params):
            if seq is not None:
                if not (yield from self._stream_piece(seq, piece, voice, index, decode, pacer)):
                    return
                index += 1
            if piece.pause:
                silence = np.zeros(piece.pause, np.float32)
                pacer.emitted(silence.size)
                yield AudioChunk(silence, self.sample_rate, max(0, index - 1), piece.text)

    def _stream_piece(
        self, seq: Sequence, piece: _Piece, voice: Voice, index: int, decode: Decode | None, pacer: ChunkPacer
    ) -> Generator[AudioChunk, None, bool]:
        """One piece's chunks; returns False when it was cancelled (nobody hears the rest)."""
        p = piece.params
        context = self.vocoder.lookahead
        upsampler = self._upsampler(p.speed)
        frames: list[npt.NDArray[np.float32]] = []
        n_frames = 0
        emitted = 0  # vocoder frames already turned into audio
        pending: list[npt.NDArray[np.float32]] = []
        pacer.piece(p.stream_chunk_tokens, 1 / (self.codes_per_second * p.speed))
        latents = (decode or self.decode_alone)(seq)
        expect = getattr(latents, "expect_first_audio", None)  # the scheduler's LatentStream
        if index == 0 and expect is not None:
            expect(pacer.target)
        try:
            for latent in latents:
                pending.append(latent)
                if not pacer.due(len(pending)):
                    continue
                new = upsampler.push(np.stack(pending))
                pacer.pushed(len(pending))
                pending = []
                if len(new):
                    frames.append(new)
                    n_frames += len(new)
                ready = n_frames - context
                if ready > emitted:
                    first = getattr(latents, "first_audio", None) if index == 0 and not emitted else None
                    t0 = self.clock()
                    with first() if first is not None else contextlib.nullcontext():
                        wav = self._vocode_window(frames, emitted, ready, voice)
                    pacer.vocoded(self.clock() - t0)
                    pacer.emitted(wav.size)
                    yield AudioChunk(wav, self.sample_rate, index, piece.text)
                    emitted = ready
        finally:
            # Closed from another thread before its end (a barge-in): nobody hears the rest.
            stopped = getattr(latents, "cancelled", False)
            close = getattr(latents, "close", None)
            if close is not None:
                close()  # a cancelled stream frees its decoding row (or generator) at once
        if stopped:
            return False
        tail = upsampler.push(
            np.stack(pending) if pending else np.zeros((0, self._width), np.float32), final=True
        )
        if len(tail):
            frames.append(tail)
            n_frames += len(tail)
        if n_frames > emitted:
            wav = self._vocode_window(frames, emitted, n_frames, voice)
            pacer.emitted(wav.size)
            yield AudioChunk(wav, self.sample_rate, index, piece.text)
        return True

    def _vocode_window(
        self, frames: list[npt.NDArray[np.float32]], start: int, end: int, voice: Voice
    ) -> Audio:
        """The audio of frames [start, end) of a stream's frames so far (kept as one array)."""
        all_frames = np.concatenate(frames) if len(frames) > 1 else frames[0]
        if len(frames) > 1:
            frames[:] = [all_frames]
        return self.vocoder.window(all_frames, start, end, voice.speaker_embedding)

    def warm_up(self) -> None:
        """One tiny pass through every graph so the first request pays no lazy initialization."""
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        sr = self._rt.input_sample_rate
        voice = self.make_voice((rng.standard_normal(int(sr * 2.5)) * 0.1).astype(np.float32), sr)
        lang = "bn" if "bn" in self.languages else self.languages[0]
        self.synthesize("a", voice, SynthesisParams(language=lang, greedy=True, max_new_tokens=3))
        log.info("engine warm-up took %.2f s", time.perf_counter() - t0)
