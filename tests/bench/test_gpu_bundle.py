"""A bundle that travels as structure (issue 29): the weights made again from a seed, elsewhere, with
numpy alone, are exactly the bundle made here, checksums included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from bench.gpu_bundle import MIN_BYTES, VARIANTS, materialize, skeleton
from export.verify import synthetic_reference
from function.engine import BundleError, Engine, SynthesisParams

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# What the GPU host lacks: the serving stack's other packages and the export environment.
ABSENT = [
    "flask",
    "werkzeug",
    "gunicorn",
    "soundfile",
    "soxr",
    "av",
    "pydantic",
    "google",
    "boto3",
    "botocore",
    "wsproto",
    "h11",
    "defusedxml",
    "pyloudnorm",
    "scipy",
    "torch",
    "torchaudio",
    "onnx",
    "TTS",
]
HOOK = """
import sys


class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {absent!r}:
            raise ImportError(f"not on the GPU host: {{name}}")


sys.meta_path.insert(0, Absent())
"""


def gpu_host(tmp: Path) -> dict[str, str]:
    """An environment whose every Python process (the bench's workers too) finds none of ABSENT."""
    site = tmp / "gpu-host"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(HOOK.format(absent=set(ABSENT)))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


@pytest.fixture(scope="module")
def travelled(demo_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo bundle as structure, and what another process made of it with numpy alone."""
    root = tmp_path_factory.mktemp("gpu-bundle")
    skeleton(demo_bundle, root / "skeleton", 7)
    make = ["-m", "bench.gpu_bundle", "materialize", str(root / "skeleton"), str(root / "made")]
    subprocess.run([sys.executable, *make], cwd=ROOT, env=gpu_host(root), check=True)
    return root / "skeleton", root / "made"


def test_the_skeleton_holds_no_weights(travelled: tuple[Path, Path]) -> None:
    structure, _ = travelled
    assert not list(structure.rglob("*.onnx.data"))
    for graph in structure.rglob("*.onnx"):
        model = onnx.load(str(graph), load_external_data=False)
        inline = [
            t.name
            for t in model.graph.initializer
            if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
            and t.data_location != onnx.TensorProto.EXTERNAL
            and len(t.raw_data) >= MIN_BYTES
        ]
        assert inline == [], (graph, inline[:3])


def test_made_elsewhere_it_is_the_bundle_made_here_checksums_included(
    travelled: tuple[Path, Path], tmp_path: Path
) -> None:
    structure, made = travelled
    materialize(structure, tmp_path)  # here, checked against the manifests as it is made
    for variant in VARIANTS:
        manifest = json.loads((structure / variant / "manifest.json").read_text())
        assert {p.name for p in (made / variant).iterdir()} == {*manifest["files"], "manifest.json"}
        for name in manifest["files"]:
            assert (made / variant / name).read_bytes() == (tmp_path / variant / name).read_bytes(), name
    with pytest.raises(BundleError, match="sha256"):  # other weights than the manifests name
        materialize(structure, tmp_path / "seed8", 8)


def test_the_made_bundle_speaks_and_its_variants_share_their_weights(travelled: tuple[Path, Path]) -> None:
    _, made = travelled
    engines = {v: Engine.load(made / v, intra_op_threads=2) for v in VARIANTS}
    voice = engines["fp32"].make_voice(synthetic_reference(), 24000)
    wav = engines["fp32"].synthesize(
        "আমি", voice, SynthesisParams(language="bn", greedy=True, max_new_tokens=20)
    )
    assert wav.size > 0 and np.isfinite(wav).all()
    weights = {}
    for variant in VARIANTS:
        model = onnx.load(str(made / variant / "vocoder.onnx"))
        weights[variant] = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    shared = [
        name for name, w in weights["fp32"].items() if w.nbytes >= MIN_BYTES and name in weights["fp16"]
    ]
    assert shared
    for name in shared:
        np.testing.assert_array_equal(weights["fp16"][name], weights["fp32"][name].astype(np.float16))


def test_the_gpu_bench_runs_from_a_skeleton_with_numpy_onnxruntime_and_tokenizers_alone(
    travelled: tuple[Path, Path], tmp_path: Path
) -> None:
    """The command a GPU host runs, in its smoke form (CPU provider, small): the bundle made from
    the skeleton, parity against fp32 and the speed levels, with the serving stack's other packages
    and the export environment unimportable, as on that host."""
    structure, _ = travelled
    env = {
        **gpu_host(tmp_path),
        "BENCH_GPU_SKELETON": str(structure),
        "BENCH_GPU_SMOKE": "1",
        "BENCH_RESULTS": str(tmp_path),
    }
    subprocess.run([sys.executable, "-m", "bench", "gpu"], cwd=ROOT, env=env, check=True)
    absent = subprocess.run([sys.executable, "-c", "import soundfile"], cwd=ROOT, env=env, check=False)
    assert absent.returncode != 0  # the host's limits did hold in those processes
    (result,) = tmp_path.glob("gpu-smoke-2*.json")
    runs = json.loads(result.read_text())["runs"]
    assert set(runs) == set(VARIANTS)
    for run in runs.values():
        assert run["provider"] == "CPUExecutionProvider"
        # On the CPU provider every graph's nodes run on the CPU: the profile found each graph's.
        assert set(run["cpu_nodes"]) == {"conditioning", "speaker_encoder", "gpt", "vocoder_head", "vocoder"}
        assert all(run["cpu_nodes"].values())
        assert run["parity_vs_fp32_cpu"]["cond_latents_snr_db"] > 20
        assert [(r["max_batch"], r["streams"]) for r in run["levels"]] == [(2, 1), (2, 2), (1, 2)]
        assert all(r["audio_s_per_s"] > 0 for r in run["levels"])
