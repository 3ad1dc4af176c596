"""The variant's side of `export.parity`, in a process of its own (under an emulated CPU):

    python -m export.parity_probe VARIANT_DIR INPUTS.npz OUTPUTS.npz

reads fp32's inputs (`save_inputs`), runs the variant graph by graph on them (`parity.probe`) and
the CPU's own checks (`parity.cpu_checks`), and writes what it got (`load_outputs` reads it).
Arrays travel as .npz, so nothing but numbers crosses the process boundary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from export import parity
from function.engine import Engine, Voice


def save_inputs(path: Path, ref: parity.Reference) -> None:
    np.savez(
        path,
        clip=ref.clip,
        cond_latents=ref.voice.cond_latents,
        speaker_embedding=ref.voice.speaker_embedding,
        frames=ref.frames,
        meta=np.array(json.dumps({"tokens": ref.tokens, "languages": [t[0] for t in ref.texts]})),
    )


def _reference_inputs(path: Path, model: str) -> parity.Reference:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        voice = Voice(z["cond_latents"], z["speaker_embedding"], model)
        empty = np.zeros(0, np.float32)
        # Only the inputs: the probe never sees fp32's outputs.
        texts = [(language, empty, []) for language in meta["languages"]]
        return parity.Reference(z["clip"], voice, z["frames"], int(meta["tokens"]), empty, empty, texts)


def load_outputs(path: Path) -> tuple[parity.Probe, dict[str, Any]]:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        texts = [(z[f"latents_{i}"], list(meta["codes"][i])) for i in range(len(meta["codes"]))]
        got = parity.Probe(
            z["cond_latents"], z["vocoded"], texts, meta["batch_row_max_abs"], meta["batch_row_codes_equal"]
        )
        return got, dict(meta["checks"])


def main(argv: list[str]) -> int:
    variant_dir, inputs, outputs = (Path(a) for a in argv)
    engine = Engine.load(variant_dir, intra_op_threads=1, verify=False)
    got = parity.probe(engine, _reference_inputs(inputs, engine.model_id))
    meta = {
        "codes": [codes for _, codes in got.texts],
        "batch_row_max_abs": got.batch_row_max_abs,
        "batch_row_codes_equal": got.batch_row_codes_equal,
        "checks": parity.cpu_checks(),
    }
    latents = {f"latents_{i}": lat for i, (lat, _) in enumerate(got.texts)}
    arrays = {"cond_latents": got.cond_latents, "vocoded": got.vocoded, **latents}
    np.savez(outputs, meta=np.array(json.dumps(meta)), **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
