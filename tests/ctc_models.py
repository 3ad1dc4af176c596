"""A tiny CTC acoustic model in ONNX whose posteriors are known: it hears token t in a 10 ms frame
that sounds `template(t)` (a cosine of t + 1 cycles per frame; the templates are orthogonal, so each
frame's logits peak at its token) and the blank in silence. For the word aligner's tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

SR = 16000
FRAME = 160  # 10 ms frames
VOCAB = {"<pad>": 0, "|": 1, "আ": 2, "মি": 3, "গ": 4, "া": 5, "ন": 6, "ই": 7}


def template(token: int) -> np.ndarray:
    return np.cos(2 * np.pi * (token + 1) * np.arange(FRAME) / FRAME).astype(np.float32)


def write_template_ctc(root: Path) -> tuple[Path, Path]:
    """The model and its vocab.json under `root`."""
    weight = np.stack([np.zeros(FRAME, np.float32), *(template(t) for t in range(1, len(VOCAB)))])[:, None, :]
    bias = np.zeros(len(VOCAB), np.float32)
    bias[0] = 1.0  # silence: every dot product is 0, the blank wins
    graph = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["input_values", "axis1"], ["wave"]),
            helper.make_node("Conv", ["wave", "w", "b"], ["framed"], strides=[FRAME], kernel_shape=[FRAME]),
            helper.make_node("Transpose", ["framed"], ["logits"], perm=[0, 2, 1]),
        ],
        "tiny_ctc",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, [1, "samples"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "frames", len(VOCAB)])],
        initializer=[
            helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
            onnx.numpy_helper.from_array(weight, "w"),
            onnx.numpy_helper.from_array(bias, "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, root / "ctc.onnx")
    (root / "vocab.json").write_text(json.dumps(VOCAB, ensure_ascii=False), encoding="utf-8")
    return root / "ctc.onnx", root / "vocab.json"
