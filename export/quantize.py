"""Reduced-precision graphs for the int8 variant: the formats measured, and the one chosen per graph.

Why formats are chosen per graph, and why some are only measured: x86-64 CPUs without VNNI (AVX2
only, and AVX-512 before Cascade Lake; e.g. AMD Zen 1-3, Intel Haswell-Skylake) run onnxruntime's
uint8 x int8 ("U8S8") integer kernels with `VPMADDUBSW`, whose 16-bit pair sums saturate
(onnxruntime's quantization guide: "...might suffer from saturation issues ... use reduce_range or
U8U8"). A bundle is built once and served on whatever CPU the platform hands it, so every format in
`INT8_PLAN` must give the same answer on every x86-64 CPU. `python -m bench int8` measures every
format here natively and under an emulated AVX2-only CPU (docs/model-bundle.md, "int8 formats");
`tests/export/test_int8_formats.py` pins the structure of what the exporter writes.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

Calibration = Callable[[], Sequence[dict[str, np.ndarray]]]

# MatMulNBits' compute (onnxruntime contrib op docs, `accuracy_level`): 4 quantizes each row's
# activations to int8 block by block, so a row's result never depends on the other rows of the
# batch (dynamic quantization takes one activation scale over the whole tensor, so a seeded int8
# request used to sound different under load). Its x86 kernels take symmetric int8 activations
# (|a| <= 127) and int8 weights: pair sums stay under 2^15, no saturation on any CPU.
INT8_COMPUTE = 4


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    ops: str  # "matmul" (weight MatMul/Gemm graphs), "conv" (HiFi-GAN) or "any"
    build: Callable[[Path, Path, Calibration | None], None]
    # Its integer matmuls have full 8-bit signed weights: exact where the CPU has VNNI, and where it
    # does not the engine runs them as uint8 x uint8 (bundle_format.U8U8_WITHOUT_VNNI).
    needs_vnni: bool = False


def _external(model: onnx.ModelProto) -> bool:
    # Protobuf caps a file at 2 GB: large graphs keep their weights in a .onnx.data file beside them.
    return sum(len(t.raw_data) for t in model.graph.initializer) > 1 << 30


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite each weight Gemm (Y = A @ B [+ C], alpha = beta = 1, A not transposed) as MatMul [+ Add].

    torch exports GPT-2's Conv1D as Gemm; MatMulNBits replaces MatMul only. Same math; returns how
    many nodes were rewritten."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        plain = (
            attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0 and not attrs.get("transA", 0)
        )
        if node.op_type != "Gemm" or not plain or node.input[1] not in inits:
            nodes.append(node)
            continue
        weight = inits[node.input[1]]
        if attrs.get("transB", 0):
            weight.CopyFrom(
                numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(weight).T), weight.name)
            )
        has_bias = len(node.input) > 2 and node.input[2] != ""
        product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
        nodes.append(onnx.helper.make_node("MatMul", node.input[:2], [product], name=f"{node.name}_matmul"))
        if has_bias:
            nodes.append(
                onnx.helper.make_node(
                    "Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"
                )
            )
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten


def _dynamic(weight: str, reduce_range: bool = False) -> Callable[[Path, Path, Calibration | None], None]:
    def build(src: Path, dst: Path, _: Calibration | None) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8 if weight == "int8" else QuantType.QUInt8,
            reduce_range=reduce_range,
            op_types_to_quantize=["MatMul", "Gemm"],
        )

    return build


def _weight_only(bits: int, block_size: int) -> Callable[[Path, Path, Calibration | None], None]:
    def build(src: Path, dst: Path, _: Calibration | None) -> None:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        model = onnx.load(str(src))
        gemm_to_matmul(model)
        quantizer = MatMulNBitsQuantizer(
            model, bits=bits, block_size=block_size, is_symmetric=True, accuracy_level=INT8_COMPUTE
        )
        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.WARNING)  # the quantizer logs a line per node at INFO
        try:
            quantizer.process()
        finally:
            logging.getLogger().setLevel(level)
        out = quantizer.model.model
        onnx.save(out, str(dst), save_as_external_data=_external(out), location=f"{dst.name}.data")

    return build


# Per-row int8: symmetric int8 activations with one scale per row (position), 8-bit weights with one
# scale per output column, and onnxruntime's uint8 x int8 integer matmul (MatMulIntegerToFloat). The
# sums are integers, so a row's result is the same whatever else is in the batch and whichever kernel
# the CPU picks. Unlike MatMulNBits, whose multi-row kernel is no faster than fp32 on some CPUs (a
# prefill), this is onnxruntime's tuned integer GEMM (AMX, VNNI). Without VNNI its `VPMADDUBSW` pair
# sums would saturate on 8-bit weights (7-bit weights avoid that but cost 3 dB, 7-bit activations
# 5 dB: docs/model-bundle.md#int8-formats), so there the engine has onnxruntime run these matmuls
# as uint8 x uint8 (`Format.needs_vnni`).
ROW_LEVELS = 127


def per_row_int8(model: onnx.ModelProto) -> int:
    """Rewrite each weight MatMul (after `gemm_to_matmul`) as per-row int8 x per-column int8 integer
    math; returns how many were rewritten."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    added: list[onnx.TensorProto] = []

    def const(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(value, name))
        return name

    eps = const("rowq_eps", np.array(1e-12, np.float32))  # an all-zero row: scale 0 would divide by 0
    step = const("rowq_step", np.array(1.0 / ROW_LEVELS, np.float32))
    # uint8 around 128, rounded half up: x / scale is within +-127, so + 128.5 is positive and
    # Cast's truncation is the floor (one node fewer than Round, Add, Cast).
    shift = const("rowq_shift", np.array(128.5, np.float32))
    one = const("rowq_one", np.array(1.0, np.float32))
    last = const("rowq_last_axis", np.array([-1], np.int64))
    nodes: list[onnx.NodeProto] = []
    replaced: set[str] = set()
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits or len(inits[node.input[1]].dims) != 2:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        w_scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / ROW_LEVELS
        wq = np.clip(np.round(w / w_scale), -ROW_LEVELS, ROW_LEVELS).astype(np.int8)
        replaced.add(node.input[1])
        p = f"rowq{len(replaced)}"
        x, helper = node.input[0], onnx.helper
        nodes += [
            helper.make_node("Abs", [x], [f"{p}_abs"], name=f"{p}_abs"),
            helper.make_node("ReduceMax", [f"{p}_abs", last], [f"{p}_max"], name=f"{p}_max", keepdims=1),
            helper.make_node("Max", [f"{p}_max", eps], [f"{p}_range"], name=f"{p}_range"),
            helper.make_node("Mul", [f"{p}_range", step], [f"{p}_scale"], name=f"{p}_scale"),
            helper.make_node("Div", [x, f"{p}_scale"], [f"{p}_scaled"], name=f"{p}_scaled"),
            helper.make_node("Add", [f"{p}_scaled", shift], [f"{p}_shift"], name=f"{p}_shift"),
            helper.make_node("Cast", [f"{p}_shift"], [f"{p}_q"], name=f"{p}_q", to=onnx.TensorProto.UINT8),
            helper.make_node(
                "MatMulIntegerToFloat",
                [
                    f"{p}_q",
                    const(f"{p}_w", wq),
                    one,
                    const(f"{p}_ws", w_scale),
                    # Zero points per node: onnxruntime's x64quantprecision pass rewrites each
                    # weight's zero point (to uint8) and cannot rewrite a shared one twice.
                    const(f"{p}_xz", np.array(128, np.uint8)),
                    const(f"{p}_wz", np.array(0, np.int8)),
                ],
                [f"{p}_int"],
                name=f"{p}_int",
                domain="com.microsoft",
            ),
            helper.make_node("Mul", [f"{p}_int", f"{p}_scale"], [node.output[0]], name=f"{p}_out"),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [t for t in graph.initializer if t.name not in replaced]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    if replaced and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return len(replaced)


def _row_int8(src: Path, dst: Path, _: Calibration | None) -> None:
    model = onnx.load(str(src))
    gemm_to_matmul(model)
    per_row_int8(model)
    onnx.save(model, str(dst), save_as_external_data=_external(model), location=f"{dst.name}.data")


def _waveform_convs(path: Path) -> list[str]:
    """Convolutions with a single output channel: HiFi-GAN's last conv, which writes the waveform.
    Per-channel scales give it one scale for everything, and its error is heard directly."""
    model = onnx.load(str(path), load_external_data=False)
    shapes = {t.name: list(t.dims) for t in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "Conv" and shapes.get(n.input[1], [0])[0] == 1]


def _static_conv(
    weight: str, reduce_range: bool = False, waveform_fp32: bool = False
) -> Callable[[Path, Path, Calibration | None], None]:
    def build(src: Path, dst: Path, calibration: Calibration | None) -> None:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        if calibration is None:
            raise ValueError("static quantization needs calibration inputs")
        inputs = calibration

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._inputs = iter(inputs())

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self._inputs, None)

        quantize_static(
            str(src),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,  # one scale per output channel: HiFi-GAN's filters differ widely in range
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8 if weight == "int8" else QuantType.QUInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=_waveform_convs(src) if waveform_fp32 else [],
        )

    return build


def _copy(src: Path, dst: Path, _: Calibration | None) -> None:
    if dst.name != src.name:
        raise ValueError(f"{src.name}: an fp32 graph keeps its file name (its external data names it)")
    for name in (src.name, f"{src.name}.data"):
        if (src.parent / name).is_file():
            shutil.copyfile(src.parent / name, dst.parent / name)


FORMATS = {
    f.name: f
    for f in (
        Format("fp32", "kept in fp32", "any", _copy),
        Format(
            "dynamic-u8s8",
            "dynamic quantization, int8 weights (shipped before; saturates on CPUs without VNNI)",
            "matmul",
            _dynamic("int8"),
        ),
        Format(
            "dynamic-u8s8-rr",
            "dynamic quantization, 7-bit weights (reduce_range)",
            "matmul",
            _dynamic("int8", True),
        ),
        Format("dynamic-u8u8", "dynamic quantization, uint8 weights", "matmul", _dynamic("uint8")),
        Format(
            "nbits8-b32",
            "MatMulNBits 8-bit weights, block 32, int8 compute per row",
            "matmul",
            _weight_only(8, 32),
        ),
        Format(
            "nbits8-b128",
            "MatMulNBits 8-bit weights, block 128, int8 compute per row",
            "matmul",
            _weight_only(8, 128),
        ),
        Format(
            "rowint8",
            "int8 activations per row x int8 weights per column, integer matmul (uint8 x uint8 without VNNI)",
            "matmul",
            _row_int8,
            needs_vnni=True,
        ),
        Format(
            "nbits4-b32",
            "MatMulNBits 4-bit weights, block 32, int8 compute per row",
            "matmul",
            _weight_only(4, 32),
        ),
        Format(
            "static-s8",
            "static QDQ convs, per-channel int8 weights (shipped before; saturates on CPUs without VNNI)",
            "conv",
            _static_conv("int8"),
        ),
        Format("static-u8", "static QDQ convs, per-channel uint8 weights", "conv", _static_conv("uint8")),
        Format(
            "static-s8-rr",
            "static QDQ convs, per-channel 7-bit weights (reduce_range)",
            "conv",
            _static_conv("int8", reduce_range=True),
        ),
        Format(
            "static-s8-rr-fp32out",
            "static QDQ convs, per-channel 7-bit weights, the waveform conv in fp32",
            "conv",
            _static_conv("int8", reduce_range=True, waveform_fp32=True),
        ),
    )
}

# The int8 variant, graph by graph, chosen by `python -m bench int8` (docs/model-bundle.md#int8-formats): the
# fastest format on the host we time whose parity holds on an AVX2-only CPU too and whose batch rows
# are independent (`export.parity.gpt_kernel_row_max_abs`: blocks of 128 decode faster but round a
# lone row differently from a batched one). The GPT is `rowint8`: its prefill 2.5x faster than
# `nbits8-b32`'s, its rows exact by integer sums, 4.4 dB further from fp32. The speaker encoder
# stays fp32 (small, and it sets the voice).
INT8_PLAN = {
    "gpt": "rowint8",
    "conditioning": "nbits8-b32",
    # HiFi-GAN's two graphs take one format (its waveform conv, kept fp32, is in the tail).
    "vocoder_head": "static-s8-rr-fp32out",
    "vocoder": "static-s8-rr-fp32out",
    "speaker_encoder": "fp32",
}


def needs_vnni(plan: dict[str, str]) -> list[str]:
    """The roles of `plan` whose format is exact only with VNNI (the manifest's U8U8_WITHOUT_VNNI)."""
    return sorted(role for role, fmt in plan.items() if FORMATS[fmt].needs_vnni)


def make(fmt: str, src: Path, dst: Path, calibration: Calibration | None = None) -> None:
    FORMATS[fmt].build(src, dst, calibration)


def integer_ops(path: Path) -> dict[str, set[str]]:
    """Each integer-compute op in a graph with what decides its kernel, e.g. {"MatMulNBits":
    {"bits=8 block=32 accuracy_level=4"}, "QDQ Conv": {"INT8 7-bit"}}: what the structural test pins."""
    model = onnx.load(str(path), load_external_data=False)
    inits = {t.name: t for t in model.graph.initializer}
    producers = {out: n for n in model.graph.node for out in n.output}
    found: dict[str, set[str]] = {}

    def weight_kind(name: str) -> str:
        tensor = inits[name]
        kind = onnx.TensorProto.DataType.Name(tensor.data_type)
        if tensor.data_type == onnx.TensorProto.INT8:
            values = numpy_helper.to_array(tensor)
            # reduce_range keeps |w| <= 64: a U8S8 pair sum then stays under 2^15 (2 * 255 * 64 = 32640).
            kind += " 7-bit" if np.abs(values.astype(np.int32)).max() <= 64 else " 8-bit"
        return kind

    integer = ("MatMulInteger", "MatMulIntegerToFloat", "ConvInteger", "QLinearConv", "QLinearMatMul")
    for node in model.graph.node:
        if node.op_type in integer:
            index = 3 if node.op_type.startswith("QLinear") else 1
            found.setdefault(node.op_type, set()).add(weight_kind(node.input[index]))
        elif node.op_type == "MatMulNBits":
            attrs: dict[str, Any] = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            level = attrs.get("accuracy_level", 0)
            desc = f"bits={attrs['bits']} block={attrs['block_size']} accuracy_level={level}"
            found.setdefault(node.op_type, set()).add(desc)
        elif node.op_type in ("Conv", "MatMul", "Gemm") and len(node.input) > 1:
            weight = producers.get(node.input[1])
            if weight is not None and weight.op_type == "DequantizeLinear" and weight.input[0] in inits:
                found.setdefault(f"QDQ {node.op_type}", set()).add(weight_kind(weight.input[0]))
            elif node.input[1] in inits:
                found.setdefault(f"fp32 {node.op_type}", set()).add("FLOAT")
    return found
