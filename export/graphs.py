"""Torch modules wrapping coqui-tts's XTTS parts in the exact shape each ONNX graph takes.

They reuse the checkpoint's own submodules and weights; only the plumbing differs (explicit KV
cache, spectrogram computed outside the graph, no Python-side control flow).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from TTS.tts.models.xtts import Xtts


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


class GptStepGraph(nn.Module):
    """One GPT-2 forward over new positions with an explicit per-layer KV cache.

    The same graph serves prefill (empty past, the whole prefix) and decode (one token). It returns
    the next-token logits and the final-normed hidden state of the last position: that hidden state
    is exactly the latent coqui-tts recomputes with a second full GPT pass, so we never run one.
    """

    def __init__(self, model: Xtts) -> None:
        super().__init__()
        gpt = model.gpt
        self.blocks = gpt.gpt.h
        self.ln_f = gpt.gpt.ln_f
        self.final_norm = gpt.final_norm
        self.mel_head = gpt.mel_head
        self.n_head = gpt.heads
        self.head_dim = gpt.model_dim // gpt.heads

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, *past: torch.Tensor):
        bsz, seq, dim = inputs_embeds.shape
        past_len = past[0].shape[2]
        total = past_len + seq
        q_pos = torch.arange(seq, device=inputs_embeds.device) + past_len
        k_pos = torch.arange(total, device=inputs_embeds.device)
        allowed = (k_pos[None, :] <= q_pos[:, None])[None, None] & (attention_mask[:, None, None, :] > 0)
        bias = torch.where(allowed, 0.0, -1e9).to(inputs_embeds.dtype)
        scale = 1.0 / math.sqrt(self.head_dim)

        x = inputs_embeds
        presents: list[torch.Tensor] = []
        for i, block in enumerate(self.blocks):
            h = block.ln_1(x)
            q, k, v = block.attn.c_attn(h).split(dim, dim=2)
            q = q.view(bsz, seq, self.n_head, self.head_dim).transpose(1, 2)
            k = torch.cat([past[2 * i], k.view(bsz, seq, self.n_head, self.head_dim).transpose(1, 2)], dim=2)
            v = torch.cat(
                [past[2 * i + 1], v.view(bsz, seq, self.n_head, self.head_dim).transpose(1, 2)], dim=2
            )
            presents += [k, v]
            att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale + bias, dim=-1)
            out = torch.matmul(att, v).transpose(1, 2).reshape(bsz, seq, dim)
            x = x + block.attn.c_proj(out)
            x = x + block.mlp(block.ln_2(x))
        latent = self.final_norm(self.ln_f(x[:, -1]))
        logits = self.mel_head(latent)
        return (logits, latent, *presents)


class VocoderGraph(nn.Module):
    """HiFi-GAN on the already-upsampled latents: (B, D, frames), (B, 512, 1) -> (B, 1, frames * 256)."""

    def __init__(self, model: Xtts) -> None:
        super().__init__()
        self.gen = model.hifigan_decoder.waveform_decoder

    def forward(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.gen(z, g=g)
