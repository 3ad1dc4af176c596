"""The model bundle's format, in one place: export writes it, storage fetches it, the engine reads it.

A bundle is a directory per variant holding `manifest.json` and the files it lists (each with its
sha256 and size). The manifest's `runtime` block is `RuntimeSpec`: everything the engine needs from
the checkpoint's config, typed, so a missing or mistyped value fails when the bundle is read rather
than deep inside a request.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

# 2: the GPT's KV cache is a fixed-capacity buffer updated in place (inputs `seqlens_k`, no mask).
# 3: HiFi-GAN is two graphs, its first upsampling stage (`vocoder_head`) and the rest (`vocoder`).
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
VARIANTS = ("fp32", "fp16", "int8")
GRAPHS = ("conditioning", "speaker_encoder", "gpt", "vocoder_head", "vocoder")
# The GPT graph's KV cache: per layer, key then value, an input `past_*` and the output `present_*`
# it is written back to (the same buffer: a step writes its new positions in place).
KV_PAST, KV_PRESENT = "past_", "present_"


@functools.cache
def kv_cache_names(layers: int) -> tuple[tuple[str, str], ...]:
    """The GPT graph's (input, output) cache names, layer by layer, key then value."""
    kinds = ("key", "value")
    return tuple((f"{KV_PAST}{kind}_{i}", f"{KV_PRESENT}{kind}_{i}") for i in range(layers) for kind in kinds)


# Manifest key: the graph roles whose integer matmuls take full 8-bit signed weights. onnxruntime's
# uint8 x int8 kernels are exact only with VNNI; on a CPU without it the engine has them run as
# uint8 x uint8 (onnxruntime's `session.x64quantprecision`). Absent in bundles that need nothing.
U8U8_WITHOUT_VNNI = "u8u8_without_vnni"


class RuntimeSpecError(ValueError):
    """The manifest's runtime block is not one this release reads."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class GptSpec:
    layers: int
    heads: int
    model_dim: int
    num_audio_tokens: int
    start_audio_token: int
    stop_audio_token: int
    start_text_token: int
    stop_text_token: int
    max_new_tokens: int
    parameters: int


@dataclass(frozen=True)
class RuntimeSpec:
    languages: list[str]
    char_limits: dict[str, int]
    input_sample_rate: int
    output_sample_rate: int
    output_hop_length: int
    code_stride_len: int
    speaker_sample_rate: int
    speaker_hop: int
    speaker_preemphasis: float
    cond_hop: int
    gpt_cond_len: int
    gpt_cond_chunk_len: int
    max_ref_len: int
    sound_norm_refs: bool
    max_text_tokens: int
    # HiFi-GAN's receptive field, in frames on each side: of the head, and of the tail in the head's
    # frames (`vocoder_head_upsampling` of its samples each).
    vocoder_head_context_frames: int
    vocoder_tail_context_frames: int
    vocoder_head_upsampling: int
    defaults: dict[str, float | int]  # the checkpoint's sampling defaults
    gpt: GptSpec
    vocab_file: str
    frontend_file: str
    embeddings_file: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> RuntimeSpec:
        if not isinstance(raw, dict) or not isinstance(raw.get("gpt"), dict):
            raise RuntimeSpecError("the runtime block must be an object with a 'gpt' object")
        gpt = GptSpec(**_checked(GptSpec, raw["gpt"], "runtime.gpt"))
        values = _checked(cls, {k: v for k, v in raw.items() if k != "gpt"}, "runtime", skip={"gpt"})
        return cls(gpt=gpt, **values)


_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list[str]": (list,),
    "dict[str, int]": (dict,),
    "dict[str, float | int]": (dict,),
}


def _checked(
    kind: type, raw: dict[str, Any], where: str, skip: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    names = {f.name: str(f.type) for f in fields(kind) if f.name not in skip}
    missing = sorted(set(names) - set(raw))
    if missing:
        raise RuntimeSpecError(f"{where} lacks {', '.join(missing)}: re-export the bundle with this release")
    out = {}
    for name, type_name in names.items():
        value = raw[name]
        ok = isinstance(value, _TYPES[type_name]) and (type_name == "bool" or not isinstance(value, bool))
        if not ok:
            raise RuntimeSpecError(f"{where}.{name}={value!r} is not a {type_name}: re-export the bundle")
        out[name] = value
    return out
