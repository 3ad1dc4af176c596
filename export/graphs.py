"""Torch modules wrapping coqui-tts's XTTS parts in the exact shape each ONNX graph takes.

They reuse the checkpoint's own submodules and weights; only the plumbing differs (explicit KV
cache, spectrogram computed outside the graph, no Python-side control flow).
"""

from __future__ import annotations

import functools
import math

import torch
from onnx import TensorProto
from torch import nn
from TTS.tts.models.xtts import Xtts
from TTS.vocoder.models.hifigan_generator import LRELU_SLOPE


class ConditioningGraph(nn.Module):
    """Log-mel (normalized) -> conditioning encoder -> perceiver -> GPT conditioning latents."""

    def __init__(self, model: Xtts) -> None:
        super().__init__()
        # Only the conditioning parts, not the whole GPT: the graph's size decides its file layout.
        self.encoder = model.gpt.conditioning_encoder
        self.perceiver = model.gpt.conditioning_perceiver if model.gpt.use_perceiver_resampler else None

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # (B, 80, T) -> (B, 32, D)
        conds = self.encoder(mel)  # GPT.get_style_emb, inference branch
        if self.perceiver is not None:
            conds = self.perceiver(conds.permute(0, 2, 1)).transpose(1, 2)
        return conds.transpose(1, 2)


class SpeakerEncoderGraph(nn.Module):
    """Mel power spectrogram (64 bands, 16 kHz) -> L2-normalized d-vector, as ResNetSpeakerEncoder.forward."""

    def __init__(self, model: Xtts) -> None:
        super().__init__()
        self.enc = model.hifigan_decoder.speaker_encoder

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # (B, 64, frames) -> (B, 512)
        e = self.enc
        x = mel
        if e.log_input:
            x = (x + 1e-6).log()
        x = e.instancenorm(x).unsqueeze(1)
        x = e.bn1(e.relu(e.conv1(x)))
        x = e.layer4(e.layer3(e.layer2(e.layer1(x))))
        x = x.reshape(x.size(0), -1, x.size(-1))
        w = e.attention(x)
        if e.encoder_type == "SAP":
            x = torch.sum(x * w, dim=2)
        else:
            mu = torch.sum(x * w, dim=2)
            sg = torch.sqrt((torch.sum((x**2) * w, dim=2) - mu**2).clamp(min=1e-5))
            x = torch.cat((mu, sg), 1)
        x = e.fc(x.view(x.size(0), -1))
        return torch.nn.functional.normalize(x, p=2, dim=1)


@torch.library.custom_op("xtts::group_query_attention", mutates_args=())
def group_query_attention(
    qkv: torch.Tensor, past_key: torch.Tensor, past_value: torch.Tensor, seqlens_k: torch.Tensor, heads: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Causal attention over a fixed-capacity KV cache, as onnxruntime's GroupQueryAttention computes it.

    qkv: (B, S, 3 * W), packed as GPT-2's c_attn gives it. past_key/past_value: (B, heads, capacity,
    head_dim), row b holding its positions at the start. seqlens_k: (B,) int32, row b's length after
    this call minus one, so its S new positions are seqlens_k[b] - S + 1 ... seqlens_k[b]. Returns the
    attention output (B, S, W) and the caches with the new keys and values written in place of those
    positions. The ONNX graph maps this to `com.microsoft.GroupQueryAttention` with the cache as one
    buffer for past and present (`gqa_onnx`), so a decode step writes one position instead of copying
    the whole cache; this eager form is the same math, for tests and for reading."""
    bsz, seq, packed = qkv.shape
    width = packed // 3
    head_dim = width // heads
    q, k, v = (t.view(bsz, seq, heads, head_dim).transpose(1, 2) for t in qkv.split(width, dim=2))
    present_key, present_value = past_key.clone(), past_value.clone()
    out = torch.empty(bsz, heads, seq, head_dim, dtype=qkv.dtype)
    for b in range(bsz):
        end = int(seqlens_k[b]) + 1
        positions = torch.arange(end - seq, end)
        present_key[b, :, positions] = k[b]
        present_value[b, :, positions] = v[b]
        keys, values = present_key[b, :, :end], present_value[b, :, :end]
        allowed = torch.arange(end)[None, :] <= positions[:, None]
        scores = torch.matmul(q[b], keys.transpose(-1, -2)) / math.sqrt(head_dim)
        out[b] = torch.matmul(torch.softmax(scores.masked_fill(~allowed, -math.inf), dim=-1), values)
    return out.transpose(1, 2).reshape(bsz, seq, width), present_key, present_value


@group_query_attention.register_fake
def _(qkv, past_key, past_value, seqlens_k, heads):  # type: ignore[no-untyped-def]
    bsz, seq, packed = qkv.shape
    return qkv.new_empty(bsz, seq, packed // 3), torch.empty_like(past_key), torch.empty_like(past_value)


@functools.cache
def _gqa_op():  # type: ignore[no-untyped-def]
    """onnxruntime's com.microsoft.GroupQueryAttention as an onnxscript op (built once per export)."""
    from onnx.defs import OpSchema
    from onnxscript.values import Op, Opset

    # onnx carries no schemas for onnxruntime's contrib ops: this one's inputs and outputs as far as
    # used here (onnxruntime docs/ContribOperators.md, com.microsoft.GroupQueryAttention).
    param = OpSchema.FormalParameter
    optional = OpSchema.FormalParameterOption.Optional
    schema = OpSchema(
        "GroupQueryAttention",
        "com.microsoft",
        1,
        inputs=[
            param("query", "T"),
            param("key", "T", param_option=optional),
            param("value", "T", param_option=optional),
            param("past_key", "T", param_option=optional),
            param("past_value", "T", param_option=optional),
            param("seqlens_k", "M"),
            param("total_sequence_length", "M"),
        ],
        outputs=[param("output", "T"), param("present_key", "T"), param("present_value", "T")],
        type_constraints=[("T", ["tensor(float)", "tensor(float16)"], ""), ("M", ["tensor(int32)"], "")],
        attributes=[
            OpSchema.Attribute("num_heads", OpSchema.AttrType.INT, ""),
            OpSchema.Attribute("kv_num_heads", OpSchema.AttrType.INT, ""),
        ],
    )
    return Op(Opset("com.microsoft", 1), "GroupQueryAttention", schema)


def gqa_onnx(qkv, past_key, past_value, seqlens_k, heads: int):  # type: ignore[no-untyped-def]
    """The ONNX form of `group_query_attention` (a translation for torch.onnx.export)."""
    from onnxscript import opset18 as op

    longest = op.Cast(op.ReduceMax(seqlens_k, keepdims=0), to=TensorProto.INT64)
    total = op.Cast(op.Add(longest, op.Constant(value_int=1)), to=TensorProto.INT32)  # the longest row
    return _gqa_op()(
        qkv,
        None,
        None,
        past_key,
        past_value,
        seqlens_k,
        total,
        num_heads=heads,
        kv_num_heads=heads,
    )


class GptStepGraph(nn.Module):
    """One GPT-2 forward over new positions with an explicit per-layer KV cache of fixed capacity.

    The same graph serves prefill (the whole prefix, or the part after a cached one) and decode (one
    token per row). `seqlens_k` says where each row's new positions go (`group_query_attention`). It
    returns the next-token logits and the final-normed hidden state of the last position: that hidden
    state is exactly the latent coqui-tts recomputes with a second full GPT pass, so we never run one.
    """

    def __init__(self, model: Xtts) -> None:
        super().__init__()
        gpt = model.gpt
        self.blocks = gpt.gpt.h
        self.ln_f = gpt.gpt.ln_f
        self.final_norm = gpt.final_norm
        self.mel_head = gpt.mel_head
        self.n_head = gpt.heads

    def forward(self, inputs_embeds: torch.Tensor, seqlens_k: torch.Tensor, *past: torch.Tensor):
        x = inputs_embeds
        presents: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            out, key, value = group_query_attention(
                block.attn.c_attn(block.ln_1(x)), past[2 * i], past[2 * i + 1], seqlens_k, self.n_head
            )
            presents += [key, value]
            x = x + block.attn.c_proj(out)
            x = x + block.mlp(block.ln_2(x))
        latent = self.final_norm(self.ln_f(x[:, -1]))
        logits = self.mel_head(latent)
        return (logits, latent, *presents)


# Upsampling stages in the head: the first, where the residual blocks' dilations span most frames.
HEAD_STAGES = 1


def _stages(gen: nn.Module, o: torch.Tensor, g: torch.Tensor, stages: range) -> torch.Tensor:
    """HifiganGenerator.forward's upsampling loop, for `stages` of it."""
    for i in stages:
        o = nn.functional.leaky_relu(o, LRELU_SLOPE)
        o = gen.ups[i](o)
        if gen.cond_in_each_up_layer:
            o = o + gen.conds[i](g)
        z_sum = gen.resblocks[i * gen.num_kernels](o)
        for j in range(1, gen.num_kernels):
            z_sum = z_sum + gen.resblocks[i * gen.num_kernels + j](o)
        o = z_sum / gen.num_kernels
    return o


class VocoderHeadGraph(nn.Module):
    """HiFi-GAN on the already-upsampled latents, up to the end of its first upsampling stage:
    (B, D, frames), (B, 512, 1) -> (B, C, frames * upsampling); `VocoderTailGraph` does the rest.

    Two graphs because a stream vocodes each chunk with the receptive field on either side, and
    most of that field lies in the first stage, a fifth of the work: split there, only the head
    re-runs the whole field, the tail about 2 frames a side (docs/model-bundle.md, Streaming)."""

    def __init__(self, model: Xtts) -> None:
        super().__init__()
        self.gen = model.hifigan_decoder.waveform_decoder
        if hasattr(self.gen, "lin_pre"):
            raise ValueError("a HiFi-GAN with lin_pre is not an XTTS decoder")

    def forward(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        o = self.gen.conv_pre(z)
        if hasattr(self.gen, "cond_layer"):
            o = o + self.gen.cond_layer(g)
        return _stages(self.gen, o, g, range(HEAD_STAGES))


class VocoderTailGraph(nn.Module):
    """The rest of HiFi-GAN: the head's output, (B, 512, 1) -> (B, 1, samples)."""

    def __init__(self, model: Xtts) -> None:
        super().__init__()
        self.gen = model.hifigan_decoder.waveform_decoder

    def forward(self, h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        o = _stages(self.gen, h, g, range(HEAD_STAGES, self.gen.num_upsamples))
        o = nn.functional.leaky_relu(o)  # coqui-tts's default slope here, not LRELU_SLOPE
        return torch.tanh(self.gen.conv_post(o))
