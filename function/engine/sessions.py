"""ONNX Runtime session creation: CUDA when asked for and available, else CPU, with caller's threads."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def choose_providers(use_gpu: bool) -> list[str]:
    if use_gpu:
        if CUDA in ort.get_available_providers():
            return [CUDA, CPU]
        log.warning("GPU requested but onnxruntime has no CUDA provider here; running on CPU")
    return [CPU]


def create_session(path: Path, providers: list[str], intra_op_threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = intra_op_threads  # 0 lets onnxruntime use every core
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
