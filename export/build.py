"""Checkpoint -> model bundle: ONNX graphs, front-end tables, vocab and manifest, per variant."""

from __future__ import annotations

import functools
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torchaudio

from export import quantize
from export.graphs import (
    ConditioningGraph,
    GptStepGraph,
    SpeakerEncoderGraph,
    VocoderHeadGraph,
    VocoderTailGraph,
    gqa_onnx,
)
from export.model_loading import load_xtts, remove_weight_norm
from function.bundle_format import (
    FORMAT_VERSION,
    KV_PAST,
    KV_PRESENT,
    MANIFEST,
    U8U8_WITHOUT_VNNI,
    VARIANTS,
    GptSpec,
    RuntimeSpec,
    kv_cache_names,
    sha256_file,
)

log = logging.getLogger(__name__)

OPSET = 18
# coqui-tts's per-language character limits; languages it lacks (bn) get ours, overridable per build.
COQUI_CHAR_LIMITS = {
    "en": 250,
    "de": 253,
    "fr": 273,
    "es": 239,
    "it": 213,
    "pt": 203,
    "pl": 224,
    "zh": 82,
    "ar": 166,
    "cs": 186,
    "ru": 182,
    "nl": 251,
    "tr": 226,
    "ja": 71,
    "hu": 224,
    "ko": 95,
    "hi": 150,
}
DEFAULT_CHAR_LIMITS = {**COQUI_CHAR_LIMITS, "bn": 150, "default": 250}
GRAPH_FILES = {
    "conditioning": "conditioning.onnx",
    "speaker_encoder": "speaker_encoder.onnx",
    "gpt": "gpt.onnx",
    "vocoder_head": "vocoder_head.onnx",
    "vocoder": "vocoder.onnx",
}
# What the int8 vocoder is calibrated on: a few sentences the fp32 bundle speaks with a synthetic voice.
CALIBRATION_TEXTS = (
    ("bn", "আমার সোনার বাংলা, আমি তোমায় ভালোবাসি।"),
    ("bn", "আজ সকালে বৃষ্টি হয়েছিল, তাই আমরা দেরিতে বের হলাম।"),
    ("en", "The quick brown fox jumps over the lazy dog."),
)


def _step(msg: str) -> float:
    log.info(msg)
    print(f"[export] {msg}", flush=True)
    return time.perf_counter()


def _export(
    module: torch.nn.Module,
    args: tuple[Any, ...],
    path: Path,
    inputs: list[str],
    outputs: list[str],
    dynamic: Any,
    translations: dict[Any, Any] | None = None,
) -> None:
    # Protobuf caps a file at 2 GB: large graphs keep their weights in a .onnx.data file beside them.
    external = sum(p.numel() * p.element_size() for p in module.parameters()) > 1 << 30
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_shapes=dynamic,
            opset_version=OPSET,
            dynamo=True,
            external_data=external,
            verbose=False,
            custom_translation_table=translations,
        )


def export_graphs(model: Any, out: Path) -> None:
    """Write the four fp32 graphs into out."""
    dim = torch.export.Dim
    t = dim("frames", min=2, max=1_000_000)
    gpt = model.gpt
    width = gpt.model_dim
    t0 = _step("exporting conditioning encoder + perceiver")
    _export(
        ConditioningGraph(model),
        (torch.randn(1, 80, 64),),
        out / GRAPH_FILES["conditioning"],
        ["mel"],
        ["cond_latents"],
        {"mel": {2: t}},
    )
    _step(f"  done in {time.perf_counter() - t0:.1f} s; exporting speaker encoder")
    _export(
        SpeakerEncoderGraph(model),
        (torch.rand(1, 64, 200),),
        out / GRAPH_FILES["speaker_encoder"],
        ["mel"],
        ["speaker_embedding"],
        {"mel": {2: t}},
    )
    t0 = _step("exporting HiFi-GAN decoder (head and tail)")
    head = VocoderHeadGraph(model)
    z, g = torch.randn(1, width, 40), torch.randn(1, 512, 1)
    _export(head, (z, g), out / GRAPH_FILES["vocoder_head"], ["z", "g"], ["h"], ({2: t}, None))
    with torch.no_grad():
        h = head.eval()(z, g)
    _export(
        VocoderTailGraph(model), (h, g), out / GRAPH_FILES["vocoder"], ["h", "g"], ["wav"], ({2: t}, None)
    )
    t0 = _step("exporting GPT step (prefill + KV-cache decode)")
    layers, heads = len(gpt.gpt.h), gpt.heads
    head_dim = width // heads
    pasts, presents = zip(*kv_cache_names(layers), strict=True)
    past = tuple(torch.randn(1, heads, 8, head_dim) for _ in pasts)
    batch, seq, capacity = (
        dim("batch", min=1, max=64),
        dim("seq", min=1, max=8192),
        dim("capacity", min=2, max=8192),
    )
    dynamic = ({0: batch, 1: seq}, {0: batch}, tuple({0: batch, 2: capacity} for _ in pasts))
    _export(
        GptStepGraph(model),
        (torch.randn(1, 2, width), torch.tensor([4], dtype=torch.int32), *past),
        out / GRAPH_FILES["gpt"],
        ["inputs_embeds", "seqlens_k", *pasts],
        ["logits", "latent", *presents],
        dynamic,
        {torch.ops.xtts.group_query_attention.default: gqa_onnx},
    )
    _step(f"  done in {time.perf_counter() - t0:.1f} s")


def vocoder_contexts(model: Any) -> tuple[int, int, int]:
    """HiFi-GAN's receptive field per graph: how many frames on each side can change a frame of the
    head's output, and of the tail's (in the head's frames); and the head's samples per frame."""
    head, tail = VocoderHeadGraph(model).eval(), VocoderTailGraph(model).eval()
    n, probe = 160, 80
    g = torch.randn(1, 512, 1)
    z = torch.randn(1, model.gpt.model_dim, n)
    with torch.no_grad():
        h = head(z, g)
        upsampling = h.shape[2] // n
        z2 = z.clone()
        z2[:, :, probe] += 1.0
        head_context = _reach(head(z, g), head(z2, g), probe, upsampling)
        h2 = h.clone()
        h2[:, :, probe * upsampling : (probe + 1) * upsampling] += 1.0
        out = tail(h, g)
        tail_context = _reach(out, tail(h2, g), probe, out.shape[2] // n)
    return head_context, tail_context, upsampling


def _reach(a: torch.Tensor, b: torch.Tensor, probe: int, per_frame: int) -> int:
    """Frames on either side of `probe` where outputs a and b (per_frame samples a frame) differ:
    the convolutions are the same at every frame, so an output frame depends on that many input
    frames on either side, and no more."""
    changed = torch.nonzero((a - b).abs().amax(dim=1).reshape(-1) > 0).reshape(-1)
    first, last = int(changed.min()) // per_frame, int(changed.max()) // per_frame
    return max(probe - first, last - probe)


def frontend_tables(model: Any) -> dict[str, np.ndarray]:
    """Windows and mel filterbanks computed by torchaudio itself, so numpy reproduces coqui-tts exactly."""
    cond = torchaudio.transforms.MelSpectrogram(
        n_fft=2048,
        hop_length=256,
        win_length=1024,
        power=2,
        normalized=False,
        sample_rate=22050,
        f_min=0,
        f_max=8000,
        n_mels=80,
        norm="slaney",
    )
    cond_window = np.zeros(2048, np.float32)
    cond_window[512:1536] = torch.hann_window(1024).numpy()
    spk_cfg = model.hifigan_decoder.speaker_encoder.audio_config
    spk_mel = model.hifigan_decoder.speaker_encoder.torch_spec[1]
    n_fft, win = int(spk_cfg["fft_size"]), int(spk_cfg["win_length"])
    spk_window = np.zeros(n_fft, np.float32)
    left = (n_fft - win) // 2
    spk_window[left : left + win] = spk_mel.spectrogram.window.numpy()
    return {
        "cond_fbank": cond.mel_scale.fb.numpy().astype(np.float32),
        "cond_window": cond_window,
        "mel_stats": model.mel_stats.detach().cpu().numpy().astype(np.float32),
        "spk_fbank": spk_mel.mel_scale.fb.numpy().astype(np.float32),
        "spk_window": spk_window,
    }


def embedding_tables(model: Any) -> dict[str, np.ndarray]:
    gpt = model.gpt
    return {
        "text_embedding": gpt.text_embedding.weight.detach().numpy(),
        "text_pos_embedding": gpt.text_pos_embedding.emb.weight.detach().numpy(),
        "mel_embedding": gpt.mel_embedding.weight.detach().numpy(),
        "mel_pos_embedding": gpt.mel_pos_embedding.emb.weight.detach().numpy(),
    }


def runtime_settings(
    model: Any, config: Any, char_limits: dict[str, int], contexts: tuple[int, int, int]
) -> dict[str, Any]:
    """The manifest's runtime block: RuntimeSpec, the contract the engine reads back."""
    args, gpt = model.args, model.gpt
    spk_cfg = model.hifigan_decoder.speaker_encoder.audio_config
    return RuntimeSpec(
        languages=list(config.languages),
        char_limits=char_limits,
        input_sample_rate=int(args.input_sample_rate),
        output_sample_rate=int(args.output_sample_rate),
        output_hop_length=int(args.output_hop_length),
        code_stride_len=int(args.gpt_code_stride_len),
        speaker_sample_rate=int(spk_cfg["sample_rate"]),
        speaker_hop=int(spk_cfg["hop_length"]),
        speaker_preemphasis=float(spk_cfg["preemphasis"]),
        cond_hop=256,
        gpt_cond_len=int(config.gpt_cond_len),
        gpt_cond_chunk_len=int(config.gpt_cond_chunk_len),
        max_ref_len=int(config.max_ref_len),
        sound_norm_refs=bool(config.sound_norm_refs),
        max_text_tokens=int(args.gpt_max_text_tokens),
        vocoder_head_context_frames=contexts[0],
        vocoder_tail_context_frames=contexts[1],
        vocoder_head_upsampling=contexts[2],
        defaults={
            "temperature": float(config.temperature),
            "length_penalty": float(config.length_penalty),
            "repetition_penalty": float(config.repetition_penalty),
            "top_k": int(config.top_k),
            "top_p": float(config.top_p),
        },
        gpt=GptSpec(
            layers=len(gpt.gpt.h),
            heads=int(gpt.heads),
            model_dim=int(gpt.model_dim),
            num_audio_tokens=int(gpt.num_audio_tokens),
            start_audio_token=int(gpt.start_audio_token),
            stop_audio_token=int(gpt.stop_audio_token),
            start_text_token=int(gpt.start_text_token),
            stop_text_token=int(gpt.stop_text_token),
            max_new_tokens=int(gpt.max_gen_mel_tokens),
            parameters=int(sum(p.numel() for p in gpt.gpt.parameters()) + gpt.mel_head.weight.numel()),
        ),
        vocab_file="vocab.json",
        frontend_file="frontend.npz",
        embeddings_file="gpt_embeddings.npz",
    ).to_dict()


def _graph_io(path: Path) -> dict[str, Any]:
    graph = onnx.load(str(path), load_external_data=False).graph

    def describe(values: Any) -> list[dict[str, Any]]:
        out = []
        for v in values:
            t = v.type.tensor_type
            shape = [d.dim_param or d.dim_value for d in t.shape.dim]
            out.append(
                {
                    "name": v.name,
                    "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
                    "shape": shape,
                }
            )
        return out

    return {"inputs": describe(graph.input), "outputs": describe(graph.output)}


def write_manifest(out: Path, base: dict[str, Any], variant: str) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST):
        name = path.relative_to(out).as_posix()
        meta: dict[str, Any] = {"sha256": sha256_file(path), "size": path.stat().st_size}
        if path.suffix == ".onnx":
            meta.update(_graph_io(path))
        files[name] = meta
    manifest = {**base, "variant": variant, "graphs": GRAPH_FILES, "files": files}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def make_fp16(src: Path, dst: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    # fp32 inputs and outputs keep the engine's interface, except the GPT's KV cache: it is one fp16
    # buffer that the graph updates in place (export.graphs.group_query_attention), so no cast may
    # stand between its input and its output.
    io = [*model.graph.input, *model.graph.output]
    keep = [v.name for v in io if not v.name.startswith((KV_PAST, KV_PRESENT))]
    converted = convert_float_to_float16(model, keep_io_types=keep, disable_shape_infer=True)
    external = (src.parent / f"{src.name}.data").is_file()
    onnx.save(converted, str(dst), save_as_external_data=external, location=f"{dst.name}.data")


def vocoder_calibration(fp32_bundle: Path, role: str) -> list[dict[str, np.ndarray]]:
    """HiFi-GAN inputs as the engine makes them (upsampled GPT latents and a speaker embedding), for
    the head (`role` "vocoder_head") or, through fp32's head, for the tail ("vocoder")."""
    import onnxruntime as ort

    inputs = _head_calibration(fp32_bundle)
    if role == "vocoder_head":
        return list(inputs)
    head = ort.InferenceSession(
        str(fp32_bundle / GRAPH_FILES["vocoder_head"]), providers=["CPUExecutionProvider"]
    )
    return [{"h": head.run(None, x)[0], "g": x["g"]} for x in inputs]


@functools.cache  # both HiFi-GAN graphs calibrate on these: decoded once per build
def _head_calibration(fp32_bundle: Path) -> tuple[dict[str, np.ndarray], ...]:
    from export.verify import synthetic_reference
    from function.engine import Engine, SynthesisParams

    engine = Engine.load(fp32_bundle, verify=False)
    languages = set(engine.languages)
    inputs = []
    for seconds in (3.0, 5.0):  # two voices
        voice = engine.make_voice(synthetic_reference(seconds=seconds), 24000)
        for language, text in CALIBRATION_TEXTS:
            if language not in languages:
                continue
            p = SynthesisParams(language=language, seed=0, max_new_tokens=60)
            for frames in engine.vocoder_frames(text, voice, p):
                z = np.ascontiguousarray(frames.T[None], dtype=np.float32)
                inputs.append({"z": z, "g": voice.speaker_embedding})
    return tuple(inputs)


def build_bundle(
    checkpoint: Path,
    config_path: Path,
    vocab: Path,
    out: Path,
    *,
    variants: list[str],
    model_name: str,
    model_version: str,
    char_limits: dict[str, int] | None = None,
) -> dict[str, dict[str, Any]]:
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    t0 = _step(f"loading checkpoint {checkpoint} (coqui-tts load_checkpoint)")
    model = load_xtts(config_path, checkpoint, vocab)
    remove_weight_norm(model)  # same math; the loaded model exists only to be exported
    _step(f"  loaded in {time.perf_counter() - t0:.1f} s")
    limits = {**DEFAULT_CHAR_LIMITS, **(char_limits or {})}
    contexts = vocoder_contexts(model)
    base = {
        "format_version": FORMAT_VERSION,
        "model": {"name": model_name, "version": model_version},
        "source": {
            "checkpoint_sha256": sha256_file(checkpoint),
            "config_sha256": sha256_file(config_path),
            "vocab_sha256": sha256_file(vocab),
        },
        "runtime": runtime_settings(model, model.config, limits, contexts),
        "exporter": {"torch": torch.__version__, "onnx": onnx.__version__, "opset": OPSET},
    }
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "fp32"
    if fp32.exists():
        shutil.rmtree(fp32)
    fp32.mkdir()
    export_graphs(model, fp32)
    np.savez(fp32 / "frontend.npz", **frontend_tables(model))
    np.savez(fp32 / "gpt_embeddings.npz", **embedding_tables(model))
    shutil.copyfile(vocab, fp32 / "vocab.json")
    manifests = {"fp32": write_manifest(fp32, base, "fp32")}
    for variant in variants:
        if variant == "fp32":
            continue
        t0 = _step(f"making the {variant} variant")
        target = out / variant
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(
            fp32, target, ignore=shutil.ignore_patterns(MANIFEST, *GRAPH_FILES.values(), "*.onnx.data")
        )
        for role, name in GRAPH_FILES.items():
            if variant == "fp16":
                make_fp16(fp32 / name, target / name)
            else:
                quantize.make(
                    quantize.INT8_PLAN[role],
                    fp32 / name,
                    target / name,
                    functools.partial(vocoder_calibration, fp32, role),
                )
        extra = (
            {"quantization": quantize.INT8_PLAN, U8U8_WITHOUT_VNNI: quantize.needs_vnni(quantize.INT8_PLAN)}
            if variant == "int8"
            else {}
        )
        manifests[variant] = write_manifest(target, {**base, **extra}, variant)
        _step(f"  {variant} done in {time.perf_counter() - t0:.1f} s")
    if "fp32" not in variants:
        shutil.rmtree(fp32)
        del manifests["fp32"]
    return manifests
