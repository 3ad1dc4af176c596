"""How closely a reduced-precision variant tracks fp32 on this CPU: what `export verify`,
`python -m bench int8` and the tests read.

Both engines run on the same host with the same clip and greedy decoding. The graphs are compared
one at a time, each fed the same input (conditioning on the clip, the GPT on fp32's conditioning,
HiFi-GAN on fp32's frames), then end to end. Random-weight checkpoints have narrow logit margins,
so greedy paths may fork after some tokens; latents and audio are compared only before the first
fork. `python -m export.parity BUNDLE --emulator 'qemu-x86_64 -cpu Haswell-v4'` is the quick form
with the variant's graphs on an emulated AVX2-only CPU (fp32 natively), as the test suite runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from function.engine import Engine, SynthesisParams, Voice
from function.engine.decoding import DecodeBatch

TEXTS = (
    ("bn", "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি। আজ সকালে বৃষ্টি হয়েছিল, তাই আমরা দেরিতে বের হলাম।"),
    ("en", "Hello world, this is a test of the speech engine, long enough for many audio tokens."),
)


def snr_db(ref: npt.NDArray[Any], other: npt.NDArray[Any]) -> float:
    """Signal-to-noise ratio of `other` against `ref` in dB (inf when identical)."""
    ref, other = np.asarray(ref, np.float64).ravel(), np.asarray(other, np.float64).ravel()
    noise = float(((ref - other) ** 2).sum())
    return float("inf") if noise == 0 else float(10 * np.log10(float((ref**2).sum()) / noise))


@dataclass
class TextParity:
    language: str
    tokens: int  # greedy tokens compared (the shorter of the two runs)
    first_fork: int  # first token index where the codes differ; == tokens if none
    latent_snr_db: float  # GPT latents (the vocoder's input) before the fork
    waveform_snr_db: float | None = None  # end to end, each with its own voice; None in quick mode


@dataclass
class Parity:
    cond_latents_max_abs: float
    cond_latents_snr_db: float
    vocoder_snr_db: float  # HiFi-GAN alone, both fed fp32's frames
    batch_row_max_abs: float  # a row's latents beside another row vs alone (0: rows independent)
    batch_row_codes_equal: bool
    speaker_embedding_max_abs: float | None = None  # None in quick mode (the graph is fp32 in every variant)
    texts: list[TextParity] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        forks = ", ".join(f"{t.language} {t.first_fork}/{t.tokens}" for t in self.texts)
        latents = min(t.latent_snr_db for t in self.texts)
        waves = [t.waveform_snr_db for t in self.texts if t.waveform_snr_db is not None]
        line = (
            f"cond latents {self.cond_latents_snr_db:.1f} dB (max |diff| {self.cond_latents_max_abs:.3f}), "
            f"greedy codes agree up to {forks}, GPT latents before the fork >= {latents:.1f} dB, "
            f"vocoder {self.vocoder_snr_db:.1f} dB, a batched row vs alone max |diff| "
            f"{self.batch_row_max_abs:.1e}"
        )
        if waves:
            line += f", waveform before the fork >= {min(waves):.1f} dB"
        return line


@dataclass
class Reference:
    """What fp32 produced, and the inputs every graph of the other variant is fed from it."""

    clip: npt.NDArray[np.float32]
    voice: Voice  # fp32's conditioning and the speaker embedding (fp32 in every variant)
    frames: npt.NDArray[np.float32]  # HiFi-GAN's input
    tokens: int
    cond_latents: npt.NDArray[np.float32]
    vocoded: npt.NDArray[np.float32]
    texts: list[tuple[str, npt.NDArray[np.float32], list[int]]]  # language, latents, greedy codes


@dataclass
class Probe:
    """The other variant's outputs on the reference's inputs (`probe`), in this process or another."""

    cond_latents: npt.NDArray[np.float32]
    vocoded: npt.NDArray[np.float32]
    texts: list[tuple[npt.NDArray[np.float32], list[int]]]
    batch_row_max_abs: float
    batch_row_codes_equal: bool


def reference_pass(reference: Engine, *, tokens: int, quick: bool) -> Reference:
    from export.verify import synthetic_reference

    # Quick mode is what runs under an emulated CPU, where each int8 graph costs seconds per input
    # second: the shortest clip a voice takes (2 s) and 8 vocoder frames.
    clip = synthetic_reference(seconds=2.0 if quick else 6.0)
    cond = reference.conditioning_latents(clip, 24000)
    # The speaker encoder is fp32 in every variant: quick mode embeds a short clip once (HiFi-GAN's
    # int8 activations are calibrated on real embeddings, so it needs a real one).
    spk = reference.embed_speaker(clip[: 24000 * 3 // 2] if quick else clip, 24000).reshape(1, -1, 1)
    voice = Voice(cond, spk, reference.model_id)  # the GPT and vocoder compared on one input
    frames = reference.vocoder_frames(TEXTS[0][1], voice, SynthesisParams(greedy=True, max_new_tokens=40))[0]
    if quick:
        frames = frames[:8]
    texts = [
        (language, *_latents_and_codes(reference, text, voice, _greedy(language, tokens)))
        for language, text in TEXTS
        if language in reference.languages
    ]
    return Reference(clip, voice, frames, tokens, cond, reference.vocode(frames, voice), texts)


def probe(other: Engine, ref: Reference) -> Probe:
    """Run `other` on the reference's inputs, graph by graph."""
    texts = dict(TEXTS)
    row_diff, row_codes = _batch_row_independence(other, ref.voice, min(ref.tokens, 20))
    return Probe(
        cond_latents=other.conditioning_latents(ref.clip, 24000),
        vocoded=other.vocode(ref.frames, ref.voice),
        texts=[
            _latents_and_codes(other, texts[language], ref.voice, _greedy(language, ref.tokens))
            for language, _, _ in ref.texts
        ],
        batch_row_max_abs=row_diff,
        batch_row_codes_equal=row_codes,
    )


def parity_of(ref: Reference, got: Probe) -> Parity:
    parity = Parity(
        cond_latents_max_abs=float(np.abs(ref.cond_latents - got.cond_latents).max()),
        cond_latents_snr_db=snr_db(ref.cond_latents, got.cond_latents),
        vocoder_snr_db=snr_db(ref.vocoded, got.vocoded),
        batch_row_max_abs=got.batch_row_max_abs,
        batch_row_codes_equal=got.batch_row_codes_equal,
    )
    for (language, lat_ref, codes_ref), (lat_other, codes_other) in zip(ref.texts, got.texts, strict=True):
        n = min(len(codes_ref), len(codes_other))
        fork = next((i for i in range(n) if codes_ref[i] != codes_other[i]), n)
        parity.texts.append(
            TextParity(language, n, fork, snr_db(lat_ref[: max(fork, 1)], lat_other[: max(fork, 1)]))
        )
    return parity


def compare(reference: Engine, other: Engine, *, tokens: int = 200, quick: bool = False) -> Parity:
    """Parity of `other` against `reference` (normally the same bundle's fp32 variant). `quick`
    skips the end-to-end waveforms and the speaker encoder's comparison, and vocodes 16 frames."""
    ref = reference_pass(reference, tokens=tokens, quick=quick)
    parity = parity_of(ref, probe(other, ref))
    if quick:
        return parity
    spk_ref = ref.voice.speaker_embedding.reshape(-1)
    spk_other = other.embed_speaker(ref.clip, 24000).reshape(-1)
    parity.speaker_embedding_max_abs = float(np.abs(spk_ref - spk_other).max())
    rt = reference.bundle.runtime
    samples_per_token = rt.code_stride_len * rt.output_sample_rate // rt.input_sample_rate
    texts = dict(TEXTS)
    for result in parity.texts:
        # Each variant with its own voice, as a user hears it; the audio up to two tokens before the
        # fork (later samples already hear the forked latents).
        p = _greedy(result.language, tokens)
        v_ref, v_other = reference.make_voice(ref.clip, 24000), other.make_voice(ref.clip, 24000)
        cut = max(result.first_fork - 2, 1) * samples_per_token
        wav_ref = reference.synthesize(texts[result.language], v_ref, p)[:cut]
        wav_other = other.synthesize(texts[result.language], v_other, p)[: len(wav_ref)]
        result.waveform_snr_db = snr_db(wav_ref, wav_other)
    return parity


def compare_elsewhere(
    reference: Engine, other_dir: Path, emulator: list[str], *, tokens: int
) -> dict[str, Any]:
    """The quick comparison with `other_dir`'s graphs run under `emulator` (e.g. qemu-x86_64 -cpu
    Haswell-v4) and fp32 natively: only the variant's kernels need the emulated CPU, and emulating
    fp32 too (the speaker encoder's convolutions above all) made the run minutes long. Returns the
    parity and the emulated CPU's own checks (`export.parity_probe`)."""
    import subprocess
    import tempfile

    from export import parity_probe

    ref = reference_pass(reference, tokens=tokens, quick=True)
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        parity_probe.save_inputs(inputs, ref)
        probe_args = [str(other_dir), str(inputs), str(outputs)]
        cmd = [*emulator, sys.executable, "-m", "export.parity_probe", *probe_args]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-3000:]}")
        got, checks = parity_probe.load_outputs(outputs)
    return {"parity": parity_of(ref, got).to_dict(), **checks}


def _greedy(language: str, tokens: int) -> SynthesisParams:
    return SynthesisParams(language=language, greedy=True, max_new_tokens=tokens)


def _latents_and_codes(
    engine: Engine, text: str, voice: Voice, params: SynthesisParams
) -> tuple[npt.NDArray[np.float32], list[int]]:
    seq = _sequence(engine, text, voice, params)
    return np.stack(list(engine.decode_alone(seq))), list(seq.codes)


def _sequence(engine: Engine, text: str, voice: Voice, params: SynthesisParams) -> Any:
    _, (seq,) = engine.sequences(text, voice, params)  # one piece: the texts fit every char limit
    return seq


def _batch_row_independence(engine: Engine, voice: Voice, tokens: int) -> tuple[float, bool]:
    """A row decoded beside a louder, longer other row against the same row decoded alone."""
    p = SynthesisParams(greedy=True, max_new_tokens=tokens)
    alone, codes = _latents_and_codes(engine, TEXTS[0][1], voice, p)
    seq = _sequence(engine, TEXTS[0][1], voice, p)
    loud = Voice(voice.cond_latents * 8, voice.speaker_embedding, voice.model)
    other = _sequence(engine, TEXTS[-1][1], loud, SynthesisParams(greedy=True, max_new_tokens=tokens + 5))
    batch, latents = DecodeBatch(), []
    for s in (seq, other):
        latent, kv = engine.decoder.prefill(s)
        if s is seq:
            latents.append(latent)
        batch.add(s, kv)
    while not seq.finished:
        rows = list(batch.rows)
        out = engine.decoder.step(batch)
        latents.append(out[rows.index(seq)])
        batch.remove({id(s) for s in rows if s.finished})
    n = min(len(latents), len(alone))
    return float(np.abs(np.stack(latents[:n]) - alone[:n]).max()), list(seq.codes) == codes


def saturation_canary_snr_db() -> float:
    """SNR of a U8S8 dynamically quantized matmul (the format bundles shipped before) on inputs that
    make `VPMADDUBSW` saturate: about 40 dB on a VNNI CPU, far lower where the AVX2 path runs.
    Proves that an emulated CPU really takes the saturating kernels."""
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    # Weights near +-max and non-negative inputs: int8 weights near +-127 times uint8 inputs near
    # 255, so a pair of products of one sign (2 * 255 * 127) overflows VPMADDUBSW's 16 bits.
    w = (np.sign(rng.standard_normal((256, 64))) * rng.uniform(0.9, 1.0, (256, 64))).astype(np.float32)
    x = rng.uniform(0.8, 1.0, (8, 256)).astype(np.float32)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["x", "w"], ["y"])],
        "canary",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 256])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 64])],
        [onnx.numpy_helper.from_array(w, "w")],
    )
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "m.onnx", Path(tmp) / "q.onnx"
        onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)]), src)
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        y = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    return snr_db(x @ w, y)


# The full-size GPT's weight matmul shapes (width 1024, MLP 4096): a batch row must not depend on
# the batch's height. onnxruntime's MatMulNBits runs one kernel for a single row and another for
# several; with blocks of 128 the two round differently (measured: rows differ by ~2e-6 per matmul,
# 1.5e-2 in the latents after 20 full-size steps), with blocks of 32 they agree bit for bit.
GPT_MATMUL_SHAPES = ((1024, 1024), (1024, 4096), (4096, 1024))


def gpt_kernel_row_max_abs(fmt: str) -> float:
    """Largest difference of a row computed alone against the same row among 4, for a one-matmul
    graph at each full-size GPT shape quantized as `fmt` (an `export.quantize.FORMATS` name)."""
    import tempfile

    import onnx
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for k, n in GPT_MATMUL_SHAPES:
            src, dst = Path(tmp) / f"{k}x{n}.onnx", Path(tmp) / f"{k}x{n}-q.onnx"
            graph = onnx.helper.make_graph(
                [onnx.helper.make_node("MatMul", ["x", "w"], ["y"])],
                "row",
                [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, k])],
                [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, n])],
                [onnx.numpy_helper.from_array((0.05 * rng.standard_normal((k, n))).astype(np.float32), "w")],
            )
            onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)]), src)
            from export.quantize import make  # needs onnx: here, not on a GPU host (bench gpu)

            make(fmt, src, dst)
            session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
            x = rng.standard_normal((4, k)).astype(np.float32)
            alone, batch = session.run(None, {"x": x[:1]})[0], session.run(None, {"x": x})[0]
            worst = max(worst, float(np.abs(batch[:1] - alone).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.parity", description=__doc__)
    parser.add_argument("bundle", type=Path, help="a bundle directory holding fp32/ and the variant")
    parser.add_argument("--variant", default="int8")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="the cheap form, for an emulated CPU")
    parser.add_argument(
        "--emulator",
        help="run the variant's side under this command (e.g. 'qemu-x86_64 -cpu Haswell-v4'), fp32 "
        "natively; implies --quick",
    )
    args = parser.parse_args(argv)
    reference = Engine.load(args.bundle / "fp32", intra_op_threads=1, verify=False)
    if args.emulator:
        other_dir, emulator = args.bundle / args.variant, args.emulator.split()
        report = compare_elsewhere(reference, other_dir, emulator, tokens=args.tokens)
    else:
        other = Engine.load(args.bundle / args.variant, intra_op_threads=1, verify=False)
        report = {
            "parity": compare(reference, other, tokens=args.tokens, quick=args.quick).to_dict(),
            **cpu_checks(),
        }
    json.dump(report, sys.stdout)
    print()
    return 0


def cpu_checks() -> dict[str, float]:
    """What this CPU's integer kernels do, whatever the bundle: the saturation canary and the
    shipped GPT format's row independence at full-size shapes."""
    from export import quantize

    return {
        "canary_snr_db": saturation_canary_snr_db(),
        "gpt_kernel_row_max_abs": gpt_kernel_row_max_abs(quantize.INT8_PLAN["gpt"]),
    }


if __name__ == "__main__":
    sys.exit(main())
