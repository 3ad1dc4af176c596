"""A model bundle that travels as structure: its graphs without their weights, a few MiB, and the
weights made again on the other host from a seed (issue 29: GPU hosts that take ~50 MiB a transfer).

`skeleton()` (here, with `onnx`): each graph keeps its nodes, its small and integer tensors and the
shapes of its large float ones, which it names as external data in `<graph>.onnx.data`; a recipe
beside it lists each of those (offset, dtype, shape, mean and standard deviation); the embedding
tables get a recipe too; frontend tables and the vocab travel as they are. `materialize()` (there,
with numpy alone) writes the data files and tables from the seed: each tensor uniform with its
recorded mean and deviation, from PCG64 streams keyed by seed and tensor name (their raw output is
the same on every platform and numpy version). A tensor of the same name gets the same values in
every variant (fp16 holds fp32's rounded), so the variants can be compared with each other. The
skeleton's manifests carry the checksums of a local materialization: the engine's bundle check
then proves the far host made exactly the same bundle.

    python -m bench.gpu_bundle skeleton BUNDLE_ROOT OUT [SEED]   # needs the export environment
    python -m bench.gpu_bundle materialize SKELETON OUT          # numpy only
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from function.bundle_format import sha256_file

VARIANTS = ("fp16", "fp32")
EMBEDDINGS = "gpt_embeddings.npz"
RECIPE = ".recipe.json"  # suffix of a graph's or a table's recipe
MIN_BYTES = 4096  # smaller float tensors stay in the graph
ALIGN = 64
SEED = 29
SEED_FILE = "seed.txt"


def skeleton(bundle_root: Path, out: Path, seed: int = SEED) -> None:
    """Write `bundle_root`'s fp16 and fp32 variants as structure into `out`, to be made from `seed`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / SEED_FILE).write_text(str(seed))
    # fp32 first: a tensor fp16 shares by name takes fp32's mean and deviation, so the same values.
    stats: dict[str, tuple[float, float]] = {}
    for variant in sorted(VARIANTS, key=lambda v: v != "fp32"):
        src, dst = bundle_root / variant, out / variant
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        manifest = json.loads((src / "manifest.json").read_text())
        for name in manifest["files"]:
            if name.endswith(".onnx"):
                _strip_graph(src / name, dst / name, stats)
            elif name == EMBEDDINGS:
                with np.load(src / name) as npz:
                    recipe = [_describe(key, npz[key]) for key in npz.files]
                (dst / f"{name}{RECIPE}").write_text(json.dumps(recipe))
            elif not name.endswith(".onnx.data"):
                shutil.copyfile(src / name, dst / name)
        (dst / "manifest.json").write_text(json.dumps(manifest))
    # The manifests name what a materialization from `seed` holds (every graph now has a data file):
    # made here once, they check it there.
    with tempfile.TemporaryDirectory() as tmp:
        made = Path(tmp)
        materialize(out, made, seed, check=False)
        for variant in VARIANTS:
            manifest = json.loads((out / variant / "manifest.json").read_text())
            before = manifest["files"]
            manifest["files"] = {
                path.name: {
                    **before.get(path.name, {}),
                    "sha256": sha256_file(path),
                    "size": path.stat().st_size,
                }
                for path in sorted((made / variant).iterdir())
                if path.name != "manifest.json"
            }
            (out / variant / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))


def materialize(skeleton_root: Path, out: Path, seed: int | None = None, *, check: bool = True) -> None:
    """Make the bundle `skeleton_root` describes in `out`, weights from the skeleton's seed (or
    another `seed`, whose bundle its manifests then refuse) with numpy alone."""
    if seed is None:
        seed = int((skeleton_root / SEED_FILE).read_text())
    for variant in VARIANTS:
        src, dst = skeleton_root / variant, out / variant
        dst.mkdir(parents=True, exist_ok=True)
        for path in sorted(src.iterdir()):
            if path.name.endswith(".onnx" + RECIPE):
                _write_data(
                    json.loads(path.read_text()), dst / (path.name.removesuffix(RECIPE) + ".data"), seed
                )
            elif path.name == EMBEDDINGS + RECIPE:
                _write_npz(json.loads(path.read_text()), dst / EMBEDDINGS, seed)
            else:
                shutil.copyfile(path, dst / path.name)
        if check:
            from function.engine.bundle import load_bundle

            load_bundle(dst, verify=True)  # every file's sha256 as the skeleton's manifest names it


def _describe(
    name: str, values: np.ndarray, stats: dict[str, tuple[float, float]] | None = None, **extra: Any
) -> dict[str, Any]:
    if stats is None or name not in stats:
        x = values.astype(np.float64)
        mean_std = (float(x.mean()), float(x.std()))
        if stats is not None:
            stats[name] = mean_std
    else:
        mean_std = stats[name]
    return {
        "name": name,
        "dtype": values.dtype.name,
        "shape": list(values.shape),
        "mean": mean_std[0],
        "std": mean_std[1],
        **extra,
    }


def _strip_graph(src: Path, dst: Path, stats: dict[str, tuple[float, float]]) -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))  # with its external data, if any
    location = f"{dst.name}.data"
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}
    recipe, offset = [], 0
    for tensor in model.graph.initializer:
        values = numpy_helper.to_array(tensor)
        if tensor.data_type not in floats or values.nbytes < MIN_BYTES:
            continue
        key = f"{dst.name}/{tensor.name}"
        recipe.append(_describe(key, values, stats, offset=offset, length=values.nbytes))
        tensor.ClearField("raw_data")
        tensor.ClearField("float_data")
        tensor.ClearField("int32_data")  # where onnx keeps float16 values
        del tensor.external_data[:]
        for key, value in (("location", location), ("offset", offset), ("length", values.nbytes)):
            tensor.external_data.add(key=key, value=str(value))
        tensor.data_location = onnx.TensorProto.EXTERNAL
        offset += -(-values.nbytes // ALIGN) * ALIGN
    onnx.save(model, str(dst))
    (dst.parent / f"{dst.name}{RECIPE}").write_text(json.dumps({"size": offset, "tensors": recipe}))


def _values(entry: dict[str, Any], seed: int) -> np.ndarray:
    """Uniform values with the entry's mean and deviation, from a stream keyed by seed and name: raw
    PCG64 output (the same on every platform and numpy version) turned into floats by hand."""
    n = int(np.prod(entry["shape"], dtype=np.int64))
    stream = np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(entry["name"].encode())]))
    unit = (stream.random_raw(n) >> np.uint64(11)).astype(np.float64) * 2.0**-53  # [0, 1)
    half_width = entry["std"] * 3.0**0.5
    values = entry["mean"] + half_width * (2.0 * unit - 1.0)
    return values.astype(np.float32).astype(entry["dtype"]).reshape(entry["shape"])


def _write_data(recipe: dict[str, Any], path: Path, seed: int) -> None:
    with path.open("wb") as fh:
        fh.truncate(recipe["size"])
        for entry in recipe["tensors"]:
            fh.seek(entry["offset"])
            fh.write(_values(entry, seed).tobytes())


def _write_npz(recipe: list[dict[str, Any]], path: Path, seed: int) -> None:
    """np.savez's layout, with fixed member dates so the same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for entry in recipe:
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, _values(entry, seed), allow_pickle=False)
            archive.writestr(
                zipfile.ZipInfo(f"{entry['name']}.npy", (1980, 1, 1, 0, 0, 0)), buffer.getvalue()
            )


if __name__ == "__main__":
    command, src, dst, *rest = sys.argv[1:]
    if command == "skeleton":
        skeleton(Path(src), Path(dst), int(rest[0]) if rest else SEED)
    else:
        materialize(Path(src), Path(dst))
