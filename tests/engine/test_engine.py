"""Engine behaviour a caller relies on: streaming, determinism, voices, variants, clear errors."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from export.verify import synthetic_reference
from function.engine import (
    BundleError,
    Engine,
    ReferenceAudioError,
    SynthesisParams,
    TextError,
    UnsupportedLanguageError,
    Voice,
    VoiceFormatError,
    dsp,
)
from function.engine.pacing import STREAM_CHUNK_CAP, chunk_sizes
from function.quality.signals import cosine_similarity
from function.text import spoken_chars

pytestmark = pytest.mark.slow
BN = "আমার সোনার বাংলা আমি তোমায় ভালোবাসি।"
SAMPLES_PER_TOKEN = 1024 * 24000 / 22050


class CountingSession:
    """Wraps an onnxruntime session to count runs and the frames each run receives."""

    def __init__(self, inner: Any, frames_input: str | None = None) -> None:
        self.inner, self.frames_input = inner, frames_input
        self.runs, self.frames = 0, 0

    def run(self, outputs: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.runs += 1
        if self.frames_input:
            self.frames += feeds[self.frames_input].shape[-1]
        return self.inner.run(outputs, feeds)

    def run_with_iobinding(self, binding: Any) -> None:  # the GPT's calls
        self.runs += 1
        self.inner.run_with_iobinding(binding)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def engines(demo_bundle: Path) -> dict[str, Engine]:
    return {v: Engine.load(demo_bundle / v, intra_op_threads=2) for v in ("fp32", "fp16", "int8")}


@pytest.fixture(scope="module")
def engine(engines: dict[str, Engine]) -> Engine:
    return engines["fp32"]


@pytest.fixture(scope="module")
def voice(engine: Engine) -> Voice:
    return engine.make_voice(synthetic_reference(), 24000)


Counted = tuple[CountingSession, CountingSession, CountingSession]


@pytest.fixture
def counted(engine: Engine) -> Iterator[Counted]:
    """The GPT's session and HiFi-GAN's two, counting their runs (and the graphs' input lengths)."""
    voc = engine.vocoder
    gpt, head, tail = (
        CountingSession(engine.decoder.session),
        CountingSession(voc._head, "z"),
        CountingSession(voc._tail, "h"),
    )
    engine.decoder.session, voc._head, voc._tail = gpt, head, tail
    try:
        yield gpt, head, tail
    finally:
        engine.decoder.session, voc._head, voc._tail = gpt.inner, head.inner, tail.inner


def _snr_db(ref: np.ndarray, other: np.ndarray) -> float:
    err = ref - other
    return float(
        10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(np.sum(err.astype(np.float64) ** 2), 1e-30))
    )


def test_loads_on_cpu_and_reports_provider(engine: Engine) -> None:
    assert engine.provider == "CPUExecutionProvider"
    assert engine.sample_rate == 24000
    assert "bn" in engine.languages and "en" in engine.languages
    assert engine.nukta_form in {"composed", "decomposed"}


def test_a_gpu_request_without_cuda_fails_instead_of_running_on_cpu(demo_bundle: Path) -> None:
    import onnxruntime as ort

    from function.engine.sessions import ProviderError

    if "CUDAExecutionProvider" in ort.get_available_providers():
        eng = Engine.load(demo_bundle / "int8", use_gpu=True, intra_op_threads=1)
        assert eng.provider == "CUDAExecutionProvider"
    else:
        with pytest.raises(ProviderError, match="TTS_ENABLE_GPU=true but this onnxruntime has no CUDA"):
            Engine.load(demo_bundle / "int8", use_gpu=True, intra_op_threads=1)


@pytest.mark.parametrize("chunk_tokens", [6, 8, 20])
def test_stream_joins_into_the_whole_waveform(
    engine: Engine, voice: Voice, counted: Counted, chunk_tokens: int
) -> None:
    gpt, head, tail = counted
    params = SynthesisParams(language="bn", greedy=True, stream_chunk_tokens=chunk_tokens)
    whole = engine.synthesize(BN, voice, params)
    gpt.runs = head.runs = head.frames = tail.runs = tail.frames = 0
    stream = engine.stream(BN, voice, params)
    first = next(stream)
    # before the first chunk left: prefill (the voice's conditioning, then the text; this engine
    # keeps no prefix cache) and the decode steps of the chunk's other tokens, nothing more
    assert gpt.runs == 2 + (chunk_tokens - 1)
    assert first.samples.size > 0 and first.sample_rate == engine.sample_rate and first.piece == 0
    chunks = [first, *stream]
    joined = np.concatenate([c.samples for c in chunks])
    assert joined.shape == whole.shape
    assert np.abs(joined - whole).max() <= 1e-4  # equal to float rounding: no crossfade at all
    assert _snr_db(whole, joined) >= 30
    # Linear vocoder work: each chunk runs HiFi-GAN's head on its own frames plus the whole receptive
    # field on each side, and the tail on them plus the tail's own field alone.
    rt = engine.manifest["runtime"]
    total_frames = whole.size // rt["output_hop_length"]
    assert head.runs == tail.runs == len(chunks)
    assert head.frames <= total_frames + 2 * engine.vocoder.lookahead * head.runs
    tail_frames = tail.frames / rt["vocoder_head_upsampling"]
    assert tail_frames <= total_frames + 2 * rt["vocoder_tail_context_frames"] * tail.runs
    assert rt["vocoder_tail_context_frames"] < rt["vocoder_head_context_frames"]
    assert len(chunks) >= 2


class FakeClock:
    """Time that moves only when told: a decoder and a vocoder of chosen speed, on any host."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _paced_stream(
    engine: Engine,
    voice: Voice,
    monkeypatch: pytest.MonkeyPatch,
    *,
    code_s: float,
    first: int,
    seed: int | None = None,
    frame_s: tuple[float, float] | None = None,
) -> tuple[list[tuple[float, int]], list[int], npt.NDArray[np.float32]]:
    """A sampled stream to the generation limit with codes made in `code_s` each and a vocoder
    taking 10 ms a call plus 0.5 ms a frame of the chunk (fake time), or with `frame_s`, HiFi-GAN's
    head and tail taking those seconds a frame of what each graph runs on (the receptive field
    re-run included): each chunk's (time it left, samples), how many codes were made when each
    left, and the audio."""
    clock = FakeClock()
    monkeypatch.setattr(engine, "clock", clock)
    if frame_s is None:
        window = engine.vocoder.window

        def timed_window(frames: Any, start: int, end: int, g: Any) -> Any:
            clock.now += 0.010 + 0.0005 * (end - start)
            return window(frames, start, end, g)

        monkeypatch.setattr(engine.vocoder, "window", timed_window)
    else:
        up = engine.manifest["runtime"]["vocoder_head_upsampling"]
        for attr, name, seconds, per in (("_head", "z", frame_s[0], 1), ("_tail", "h", frame_s[1], up)):
            session = getattr(engine.vocoder, attr)

            def run(
                outputs: Any,
                feeds: dict[str, Any],
                s: Any = session,
                n: str = name,
                t: float = seconds,
                d: int = per,
            ) -> Any:
                clock.now += t * feeds[n].shape[-1] / d
                return s.run(outputs, feeds)

            monkeypatch.setattr(engine.vocoder, attr, SimpleNamespace(run=run))
    made: list[int] = []

    def decode(seq: Any) -> Iterator[Any]:
        for latent in engine.decode_alone(seq):
            clock.now += code_s
            made.append(1)
            yield latent

    limit = engine.manifest["runtime"]["gpt"]["max_new_tokens"]  # 93 in the demo bundle
    p = SynthesisParams(language="bn", seed=seed, stream_chunk_tokens=first, min_new_tokens=limit)
    left, at, audio = [], [], []
    for chunk in engine.stream("আমি", voice, p, decode=decode):
        left.append((clock.now, chunk.samples.size))
        at.append(len(made))
        audio.append(chunk.samples)
    return left, at, np.concatenate(audio)


def _gaps(left: list[tuple[float, int]], rate: int) -> list[float]:
    """Where a real-time player that starts at the first chunk runs dry, and for how long."""
    (t0, n0), gaps = left[0], []
    dry_at = t0 + n0 / rate
    for t, n in left[1:]:
        if t > dry_at:
            gaps.append(t - dry_at)
        dry_at = max(dry_at, t) + n / rate
    return gaps


@pytest.mark.parametrize("code_s", [0.002, 1.2 * SAMPLES_PER_TOKEN / 24000])
def test_a_streams_chunks_are_n_n_then_doubling_up_to_the_cap_unless_paced(
    engine: Engine, voice: Voice, monkeypatch: pytest.MonkeyPatch, code_s: float
) -> None:
    """A small first chunk answers sooner; the second is as small (the first one's audio is short),
    then they double, up to STREAM_CHUNK_CAP codes however small the first was: while decoding runs
    far ahead of real time (a code in 2 ms: a GPU's pace), and while it runs behind it (a listener
    waits whatever the sizes, and small chunks would only add vocoder calls)."""
    left, at, _ = _paced_stream(engine, voice, monkeypatch, code_s=code_s, first=8)
    limit = engine.manifest["runtime"]["gpt"]["max_new_tokens"]
    assert at == [8, 16, 32, 64, limit]  # the rest at the end
    assert (_gaps(left, engine.sample_rate) == []) == (code_s < 0.01)
    sizes = chunk_sizes(6)
    assert [next(sizes) for _ in range(8)] == [6, 6, 12, 24, 48, STREAM_CHUNK_CAP, STREAM_CHUNK_CAP, 80]
    sizes = chunk_sizes(80)
    assert [next(sizes) for _ in range(3)] == [80, 80, 80]


def test_a_stream_decoded_near_real_time_never_lets_its_listener_run_dry(
    engine: Engine, voice: Voice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codes made at 0.75x their audio's length (two CPU cores), a first chunk of 16: the doubling
    schedule's chunk of 32 would arrive after the player ran dry (it takes 1.5x the audio before it
    to make); chunks come early instead, growing no faster than the decoder stays ahead."""
    code_s = 0.75 * SAMPLES_PER_TOKEN / engine.sample_rate
    left, at, _ = _paced_stream(engine, voice, monkeypatch, code_s=code_s, first=16)
    assert _gaps(left, engine.sample_rate) == []
    assert at[0] == 16  # the first chunk keeps the size the request asked for
    sizes = np.diff([0, *at[:-1]])
    assert len(sizes) >= 4 and all(b < 2 * a for a, b in itertools.pairwise(sizes))


def test_at_a_vnni_cpus_timed_speeds_a_stream_never_lets_its_listener_run_dry(
    engine: Engine, voice: Voice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """int8 on a 2-core Xeon: codes in 34 ms (0.73 of their audio), HiFi-GAN's head at 0.2 ms and
    its tail at 0.95 ms a frame. The first chunk's 8 codes leave 0.2 s of audio (the rest waits for
    the receptive field), and the next chunk must come before it has played: one of 4 codes does,
    and gains on the player, because only the head re-runs the whole receptive field. (With the
    smallest paced chunk at 8, as before the split, the player ran dry twice.)"""
    left, at, _ = _paced_stream(engine, voice, monkeypatch, code_s=0.034, first=8, frame_s=(0.0002, 0.00095))
    assert _gaps(left, engine.sample_rate) == []
    assert at[0] == 8 and at[1] < 16  # paced from the second chunk on


def test_a_seeded_stream_gives_the_same_bytes_on_a_fast_and_a_slow_host(
    engines: dict[str, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pacing would start the chunks of a stream at places that depend on the host's speed, and the
    int8 vocoder's output moves by a rounding step with a window's edges: a seeded stream keeps the
    schedule, so the same request gives the same audio, to the bit, at any pace."""
    engine = engines["int8"]
    voice = engine.make_voice(synthetic_reference(), 24000)
    real_time = SAMPLES_PER_TOKEN / engine.sample_rate
    fast = _paced_stream(engine, voice, monkeypatch, code_s=0.002, first=8, seed=7)
    slow = _paced_stream(engine, voice, monkeypatch, code_s=0.75 * real_time, first=8, seed=7)
    assert fast[1] == slow[1] == [8, 16, 32, 64, engine.manifest["runtime"]["gpt"]["max_new_tokens"]]
    assert np.array_equal(fast[2], slow[2])
    # Unseeded, the slow host's chunks are paced: other places, other bytes (the check can fail).
    paced = _paced_stream(engine, voice, monkeypatch, code_s=0.75 * real_time, first=8)
    assert paced[1] != fast[1]


def test_closing_the_stream_stops_generation(engine: Engine, voice: Voice, counted: Counted) -> None:
    gpt, _, _ = counted
    stream = engine.stream(BN, voice, SynthesisParams(language="bn", greedy=True, stream_chunk_tokens=8))
    next(stream)
    stream.close()
    runs = gpt.runs
    assert runs < engine.manifest["runtime"]["gpt"]["max_new_tokens"]
    with pytest.raises(StopIteration):
        next(stream)
    assert gpt.runs == runs


def test_same_seed_same_audio_and_other_seed_other_audio(engine: Engine, voice: Voice) -> None:
    a = engine.synthesize(BN, voice, SynthesisParams(seed=7, temperature=0.9))
    b = engine.synthesize(BN, voice, SynthesisParams(seed=7, temperature=0.9))
    c = engine.synthesize(BN, voice, SynthesisParams(seed=8, temperature=0.9))
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_speed_stretches_audio(engine: Engine, voice: Voice) -> None:
    normal = engine.synthesize(BN, voice, SynthesisParams(greedy=True, max_new_tokens=30))
    slow = engine.synthesize(BN, voice, SynthesisParams(greedy=True, max_new_tokens=30, speed=0.5))
    assert abs(slow.size / normal.size - 2.0) < 0.05
    with pytest.raises(TextError, match="speed"):
        engine.synthesize(BN, voice, SynthesisParams(speed=9.0))


def test_voice_round_trips_through_bytes(engine: Engine, voice: Voice) -> None:
    again = Voice.from_bytes(voice.to_bytes())
    assert np.array_equal(again.cond_latents, voice.cond_latents)
    assert np.array_equal(again.speaker_embedding, voice.speaker_embedding)
    assert again.model == engine.model_id
    p = SynthesisParams(greedy=True, max_new_tokens=12)
    assert np.array_equal(engine.synthesize(BN, again, p), engine.synthesize(BN, voice, p))
    with pytest.raises(VoiceFormatError):
        Voice.from_bytes(b"not a voice")


def test_the_token_budget_caps_each_piece_by_its_length(engine: Engine, voice: Voice) -> None:
    # (seconds, seconds per spoken character) of codes at ~21.5 codes per second.
    budget = (0.5, 0.1)
    decoded: list[Any] = []

    def decode(seq: Any) -> Any:
        decoded.append(seq)
        return engine.decode_alone(seq)

    for text in ("আমি", "আমি ভাত খাই এবং বই পড়ি"):  # 3 and 16 spoken characters
        limit = math.ceil(engine.codes_per_second * (budget[0] + budget[1] * spoken_chars(text)))
        p = SynthesisParams(seed=1, token_budget=budget)
        codes = engine.generate_codes(text, voice, p, decode=decode)
        seq = decoded.pop()
        assert seq.limit == limit and len(codes[0]) == limit  # random weights never stop early
        assert seq.finished and not seq.stopped
    p = SynthesisParams(seed=1, token_budget=budget, max_new_tokens=4)
    assert len(engine.generate_codes("আমি ভাত খাই", voice, p)[0]) == 4  # max_new_tokens applies below it


def test_the_speaker_embedding_of_the_reference_is_the_voices_own(engine: Engine, voice: Voice) -> None:
    # What the quality check compares: the output's d-vector against the voice's.
    clip = synthetic_reference()
    wav = dsp.resample(clip, 24000, engine._rt.input_sample_rate)
    embedding = engine.embed_speaker(wav, engine._rt.input_sample_rate)
    assert embedding.shape == (voice.speaker_embedding.size,)
    assert cosine_similarity(embedding, voice.speaker_embedding) > 0.99
    noise = np.random.default_rng(3).standard_normal(48000).astype(np.float32) * 0.3
    assert cosine_similarity(engine.embed_speaker(noise, 24000), voice.speaker_embedding) < 0.999


def test_long_text_is_split_within_the_char_limit(engine: Engine, voice: Voice) -> None:
    sentence = "আমি ভাত খাই এবং বই পড়ি।"
    text = " ".join([sentence] * 12)
    assert len(text) > engine.char_limit("bn")
    codes = engine.generate_codes(text, voice, SynthesisParams(greedy=True, max_new_tokens=5))
    assert len(codes) >= 2
    pieces = engine._pieces(text, "bn")
    assert all(len(p) <= engine.char_limit("bn") for p in pieces)
    assert " ".join(pieces) == text


@pytest.mark.parametrize("variant", ["fp16", "int8"])
def test_reduced_precision_variants_track_fp32(engines: dict[str, Engine], variant: str) -> None:
    """Bounds justified in docs/model-bundle.md ("Variants"): random weights give narrow logit
    margins, so greedy paths may fork after tens of tokens; before they fork the audio must match closely."""
    ref = synthetic_reference()
    base, other = engines["fp32"], engines[variant]
    v32, vv = base.make_voice(ref, 24000), other.make_voice(ref, 24000)
    assert np.abs(v32.speaker_embedding - vv.speaker_embedding).max() <= 1e-3
    assert np.abs(v32.cond_latents - vv.cond_latents).max() <= 0.05
    for lang, text in [("en", "hello world, this is a test of the speech engine."), ("bn", BN)]:
        p = SynthesisParams(language=lang, greedy=True)
        c32, cv = base.generate_codes(text, v32, p)[0], other.generate_codes(text, vv, p)[0]
        assert c32[:16] == cv[:16]
        agree = next((i for i in range(min(len(c32), len(cv))) if c32[i] != cv[i]), len(c32))
        n = int((min(agree, 16) - 2) * SAMPLES_PER_TOKEN)
        w32, wv = base.synthesize(text, v32, p)[:n], other.synthesize(text, vv, p)[:n]
        print(f"{variant} {lang}: first fork at token {agree}, waveform SNR {_snr_db(w32, wv):.1f} dB")
        assert _snr_db(w32, wv) >= 40


# ---- clear errors ---------------------------------------------------------------------------


@pytest.fixture
def bundle_copy(demo_bundle: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "int8"
    shutil.copytree(demo_bundle / "int8", dst)
    return dst


def test_corrupted_file_is_named(bundle_copy: Path) -> None:
    graph = bundle_copy / "vocoder_head.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"vocoder_head\.onnx.*sha256"):
        Engine.load(bundle_copy)


def test_missing_graph_is_named(bundle_copy: Path) -> None:
    (bundle_copy / "gpt.onnx").unlink()
    with pytest.raises(BundleError, match=r"gpt\.onnx.*missing"):
        Engine.load(bundle_copy)


def test_wrong_manifest_version_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format_version 99"):
        Engine.load(bundle_copy)


def test_a_malformed_u8u8_list_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["u8u8_without_vnni"] = "gpt"  # a string, not a list of graph roles
    path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="u8u8_without_vnni must list graph roles"):
        Engine.load(bundle_copy)


def test_language_missing_from_vocab_is_refused(bundle_copy: Path) -> None:
    from tokenizers import Tokenizer

    vocab_path = bundle_copy / "vocab.json"
    vocab = json.loads(vocab_path.read_text())
    # Rename the [bn] token: the checkpoint's vocab was never extended with Bangla.
    for tok in vocab["added_tokens"]:
        if tok["content"] == "[bn]":
            tok["content"] = "[xx]"
    vocab["model"]["vocab"]["[xx]"] = vocab["model"]["vocab"].pop("[bn]")
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False))
    Tokenizer.from_file(str(vocab_path))  # still a valid vocab
    eng = Engine.load(bundle_copy, verify=False)
    voice = eng.make_voice(synthetic_reference(), 24000)
    assert "bn" not in eng.languages
    with pytest.raises(UnsupportedLanguageError, match="'bn' is not supported"):
        eng.synthesize(BN, voice, SynthesisParams(language="bn"))


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (synthetic_reference(seconds=1.0), "at least 2 s"),
        (np.zeros(24000 * 5, np.float32), "silent"),
        (synthetic_reference(seconds=31.0), "at most 30 s"),
        (np.full(24000 * 3, np.nan, np.float32), "silent"),
        (np.full(24000 * 5, 0.3, np.float32), "constant offset"),  # pure DC: no sound at all
    ],
)
def test_unusable_reference_clips_are_refused(engine: Engine, audio: np.ndarray, message: str) -> None:
    with pytest.raises(ReferenceAudioError, match=message):
        engine.make_voice(audio, 24000)


def test_empty_text_is_refused(engine: Engine, voice: Voice) -> None:
    with pytest.raises(TextError, match="empty"):
        engine.synthesize("   ", voice, SynthesisParams())
