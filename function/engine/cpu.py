"""Which instruction sets this CPU offers among those that decide onnxruntime's CPU kernels.

int8 GEMMs use VNNI (AVX-512 or AVX) where present and AVX2 sequences otherwise; AMX where the CPU
has it. Benchmarks and `export verify` name them beside every figure, since a figure measured on one
kind of CPU does not carry over to the other (docs/model-bundle.md, "int8 formats").
"""

from __future__ import annotations

import contextlib
from pathlib import Path

KERNEL_ISAS = (
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_int8",
)


def kernel_isas(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, bool]:
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return {name: name in flags for name in KERNEL_ISAS}


def describe() -> str:
    """e.g. "avx2 avx512f avx512_vnni": the kernel-deciding sets present, or "no AVX2"."""
    present = [name for name, ok in kernel_isas().items() if ok and name not in ("fma", "f16c")]
    return " ".join(present) or "no AVX2"


def has_vnni() -> bool:
    """Whether this CPU runs onnxruntime's uint8 x int8 kernels exactly (it has AVX-512 VNNI).

    Asked of CPUID, through numpy's own runtime dispatch, not /proc/cpuinfo: an emulator (qemu-user)
    passes the host's /proc/cpuinfo through while offering its guest a different CPU. numpy's table
    has no AVX-VNNI (the 256-bit form) entry, so a CPU with only that (Intel's client and E-core
    parts) counts as without VNNI, as does anything unknown: the path that selects is exact
    everywhere, only slower."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features  # type: ignore[import-not-found]
    except ImportError:  # a private name of numpy's (2.x): if it moves, take the exact path
        return False
    return bool(features.get("AVX512VNNI"))
