"""The ONNX engine against coqui-tts itself, on the real XTTS v2 architecture (tiny, random weights)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from function.engine import Engine, SynthesisParams
from function.engine.decoding import Sequence

pytestmark = pytest.mark.slow

SENTENCES = [
    ("en", "Hello world, this is a test of the speech engine."),
    ("en", "Dr. Smith & Mr. Jones met at the station!"),
    ("bn", "আমার সোনার বাংলা আমি তোমায় ভালোবাসি।"),
    ("bn", "ঢাকা বাংলাদেশের রাজধানী, এখানে অনেক মানুষ থাকে।"),
]


@pytest.fixture(scope="module")
def coqui(demo_build: Path) -> Iterator[object]:
    from export.model_loading import load_xtts

    ckpt = demo_build / "checkpoint"
    model = load_xtts(ckpt / "config.json", ckpt / "best_checkpoint.pth", ckpt / "vocab.json")
    yield model


@pytest.fixture(scope="module")
def engine(demo_bundle: Path) -> Engine:
    return Engine.load(demo_bundle / "fp32", intra_op_threads=2)


@pytest.fixture(scope="module")
def coqui_voice(coqui: object, reference_clip: tuple[Path, np.ndarray, int]) -> tuple[object, object]:
    cfg = coqui.config  # type: ignore[attr-defined]
    return coqui.get_conditioning_latents(  # type: ignore[attr-defined]
        audio_path=str(reference_clip[0]),
        gpt_cond_len=cfg.gpt_cond_len,
        gpt_cond_chunk_len=cfg.gpt_cond_chunk_len,
        max_ref_length=cfg.max_ref_len,
    )


def _coqui_tokens(coqui: object, text: str, lang: str) -> list[int]:
    tok = coqui.tokenizer  # type: ignore[attr-defined]
    if lang == "bn":
        # coqui-tts 0.28 raises for bn in its cleaners; its encoding without them is what the engine promises.
        return tok.tokenizer.encode(f"[bn]{text.strip().lower()}".replace(" ", "[SPACE]")).ids
    return tok.encode(text.strip().lower(), lang=lang)


def _coqui_generate(coqui: object, voice: tuple[object, object], text: str, lang: str, **kw: object) -> tuple:
    """coqui-tts's Xtts.inference path on the same tokens: GPT codes, and the waveform it returns."""
    import torch

    gl, se = voice
    tokens = torch.IntTensor(_coqui_tokens(coqui, text, lang)).unsqueeze(0)
    gpt = coqui.gpt  # type: ignore[attr-defined]
    with torch.no_grad():
        codes = gpt.generate(
            cond_latents=gl,
            text_inputs=tokens,
            do_sample=False,
            top_p=0.85,
            top_k=50,
            temperature=0.75,
            num_return_sequences=1,
            num_beams=1,
            length_penalty=1.0,
            repetition_penalty=10.0,
            output_attentions=False,
            **kw,
        )
    if lang == "bn":
        import TTS.tts.layers.xtts.tokenizer as coqui_tokenizer

        original = coqui_tokenizer.VoiceBpeTokenizer.preprocess_text
        coqui_tokenizer.VoiceBpeTokenizer.preprocess_text = lambda self, txt, lang: txt  # type: ignore[method-assign]
        try:
            out = coqui.inference(text, lang, gl, se, do_sample=False, **kw)  # type: ignore[attr-defined]
        finally:
            coqui_tokenizer.VoiceBpeTokenizer.preprocess_text = original  # type: ignore[method-assign]
    else:
        out = coqui.inference(text, lang, gl, se, do_sample=False, **kw)  # type: ignore[attr-defined]
    return codes[0].tolist(), out["wav"]


def test_voice_matches_coqui_conditioning(engine: Engine, coqui_voice: tuple, reference_clip: tuple) -> None:
    _, samples, sr = reference_clip
    voice = engine.make_voice(samples, sr)
    gl, se = coqui_voice
    assert voice.cond_latents.shape == tuple(gl.shape)
    assert voice.speaker_embedding.shape == tuple(se.shape)
    assert np.abs(voice.cond_latents - gl.numpy()).max() <= 1e-4
    assert np.abs(voice.speaker_embedding - se.numpy()).max() <= 1e-4


def test_voice_from_stereo_and_other_rates_matches_coqui(
    engine: Engine, coqui: object, tmp_path: Path
) -> None:
    import soundfile as sf

    sr = 44100
    t = np.arange(int(sr * 3.0)) / sr
    left = 0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 2 * t)
    stereo = np.stack([left, 0.5 * left + 0.05 * np.sin(2 * np.pi * 97 * t)], axis=1).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, sr, subtype="FLOAT")
    gl, se = coqui.get_conditioning_latents(audio_path=str(path), gpt_cond_len=6, gpt_cond_chunk_len=6)  # type: ignore[attr-defined]
    voice = engine.make_voice(sf.read(path, dtype="float32")[0], sr)
    assert np.abs(voice.cond_latents - gl.numpy()).max() <= 1e-4
    assert np.abs(voice.speaker_embedding - se.numpy()).max() <= 1e-4


@pytest.mark.parametrize(("lang", "text"), SENTENCES)
def test_tokenization_equals_coqui(engine: Engine, coqui: object, lang: str, text: str) -> None:
    assert engine.tokenizer.encode(text, lang) == _coqui_tokens(coqui, text, lang)


@pytest.mark.parametrize(("lang", "text"), SENTENCES)
def test_greedy_codes_and_waveform_match_coqui(
    engine: Engine, coqui: object, coqui_voice: tuple, reference_clip: tuple, lang: str, text: str
) -> None:
    voice = engine.make_voice(reference_clip[1], reference_clip[2])
    params = SynthesisParams(language=lang, greedy=True, repetition_penalty=10.0, max_new_tokens=40)
    codes, wav = _coqui_generate(coqui, coqui_voice, text, lang, max_new_tokens=40)
    assert engine.generate_codes(text, voice, params) == [codes]
    ours = engine.synthesize(text, voice, params)
    assert ours.shape == wav.shape
    assert np.abs(wav).max() > 1e-3  # a real waveform, not silence
    assert np.abs(ours - wav).max() <= 1e-3


def test_stop_token_and_min_new_tokens_match_coqui(stopping_build: Path, reference_clip: tuple) -> None:
    from export.model_loading import load_xtts

    ckpt = stopping_build / "checkpoint"
    model = load_xtts(ckpt / "config.json", ckpt / "best_checkpoint.pth", ckpt / "vocab.json")
    engine = Engine.load(stopping_build / "bundle" / "fp32", intra_op_threads=2)
    path, samples, sr = reference_clip
    cfg = model.config
    coqui_voice = model.get_conditioning_latents(
        audio_path=str(path), gpt_cond_len=cfg.gpt_cond_len, gpt_cond_chunk_len=cfg.gpt_cond_chunk_len
    )
    voice = engine.make_voice(samples, sr)
    text = "the stop token ends this sentence"
    codes, wav = _coqui_generate(model, coqui_voice, text, "en", min_new_tokens=12)
    decoded: list[Sequence] = []

    def decode(seq: Sequence) -> Any:
        decoded.append(seq)
        return engine.decode_alone(seq)

    ours_codes = engine.generate_codes(
        text, voice, SynthesisParams(language="en", greedy=True, min_new_tokens=12), decode=decode
    )
    assert ours_codes == [codes]
    assert decoded[0].stopped  # ended on the stop token: no runaway for the quality check
    assert codes[-1] == engine.manifest["runtime"]["gpt"]["stop_audio_token"] and len(codes) == 13
    ours = engine.synthesize(text, voice, SynthesisParams(language="en", greedy=True, min_new_tokens=12))
    assert ours.shape == wav.shape
    assert np.abs(ours - wav).max() <= 1e-3


def test_gpt_step_graph_and_its_onnx_match_coqui_gpt(coqui: Any, engine: Engine) -> None:
    """The exported GPT step's attention (a fixed-capacity cache written in place, export.graphs)
    against coqui-tts's GPT-2 forward over the same embeddings: the eager module in two calls (a
    cached prefix, then the rest, as the engine's prefill runs), and the ONNX graph the same way."""
    import torch

    from export.graphs import GptStepGraph
    from function.engine.decoding import gpt_call

    gpt = coqui.gpt
    width, heads, layers = gpt.model_dim, gpt.heads, len(gpt.gpt.h)
    x = torch.randn(1, 9, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hidden = gpt.gpt(inputs_embeds=x).last_hidden_state  # ln_f included
        expected = gpt.final_norm(hidden[:, -1])
        module = GptStepGraph(coqui).eval()
        past = [torch.zeros(1, heads, 16, width // heads) for _ in range(2 * layers)]
        kv = module(x[:, :5], torch.tensor([4], dtype=torch.int32), *past)[2:]
        _, latent, *_ = module(x[:, 5:], torch.tensor([8], dtype=torch.int32), *kv)
    np.testing.assert_allclose(latent.numpy(), expected.numpy(), atol=1e-4)

    cache = [np.zeros((1, heads, 16, width // heads), np.float32) for _ in range(2 * layers)]
    gpt_call(engine.decoder.session, x[:, :5].numpy(), np.array([4], np.int32), cache)
    _, onnx_latent = gpt_call(engine.decoder.session, x[:, 5:].numpy(), np.array([8], np.int32), cache)
    np.testing.assert_allclose(onnx_latent, expected.numpy(), atol=1e-4)
