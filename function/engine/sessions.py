"""ONNX Runtime sessions: CUDA when asked for (and then nothing else), else CPU, set up deliberately.

A GPU request that cannot get the CUDA provider is an error, not a quiet CPU fallback: a GPU
instance answering /health on CPU would be slow and expensive while looking healthy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import onnxruntime as ort

from function.engine.cpu import has_vnni
from function.engine.errors import EngineError

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

# CUDA provider options (https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html):
# grow the arena by what is requested rather than doubling (one process owns the GPU, but KV caches
# of many rows come and go); search cuDNN conv algorithms exhaustively once (HiFi-GAN is convs, its
# shapes repeat); copy on the compute stream so a device-resident KV cache needs no extra syncs.
CUDA_OPTIONS: dict[str, Any] = {
    "arena_extend_strategy": "kSameAsRequested",
    "cudnn_conv_algo_search": "EXHAUSTIVE",
    "do_copy_in_default_stream": True,
}


class ProviderError(EngineError):
    """The execution provider that was asked for cannot run here."""


def choose_providers(use_gpu: bool) -> list[Any]:
    if not use_gpu:
        return [CPU]
    if CUDA not in ort.get_available_providers():
        raise ProviderError(
            "TTS_ENABLE_GPU=true but this onnxruntime has no CUDA provider (providers: "
            f"{', '.join(ort.get_available_providers())}): install onnxruntime-gpu (the GPU image "
            "does) or set TTS_ENABLE_GPU=false"
        )
    return [(CUDA, CUDA_OPTIONS), CPU]


def create_session(
    path: Path, providers: list[Any], intra_op_threads: int, *, needs_vnni: bool = False
) -> ort.InferenceSession:
    """`needs_vnni`: the graph's integer matmuls have 8-bit signed weights (the manifest's
    bundle_format.U8U8_WITHOUT_VNNI)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = intra_op_threads  # 0 lets onnxruntime use every core
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # Several sessions run at once (the decode scheduler beside each request's vocoder): threads
    # that spin while idle would steal the cores the other session needs.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if needs_vnni and not has_vnni():
        # Without VNNI onnxruntime's uint8 x int8 kernels use VPMADDUBSW, whose 16-bit pair sums
        # saturate on 8-bit weights; this converts the weights to uint8 at load so those matmuls
        # run uint8 x uint8, exact (measured: 0.6 dB -> 49 dB under an emulated Haswell). Not
        # where VNNI exists: there it would only make every prefill about 2x slower.
        opts.add_session_config_entry("session.x64quantprecision", "1")
        log.info("%s: this CPU has no VNNI, its 8-bit integer matmuls run as uint8 x uint8", path.name)
    session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    wanted = providers[0][0] if isinstance(providers[0], tuple) else providers[0]
    if session.get_providers()[0] != wanted:
        # onnxruntime falls back to CPU when CUDA fails to start (driver, libraries, memory).
        raise ProviderError(
            f"{path.name}: {wanted} could not start (running on {session.get_providers()[0]}); "
            "check the GPU driver and CUDA libraries, or set TTS_ENABLE_GPU=false"
        )
    return session
