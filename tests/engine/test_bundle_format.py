"""The bundle format contract: the runtime block export writes is the one the engine reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from function.bundle_format import MANIFEST, RuntimeSpec, RuntimeSpecError
from function.engine import BundleError, load_bundle


@pytest.fixture
def runtime(demo_bundle: Path) -> dict[str, object]:
    raw: dict[str, object] = json.loads((demo_bundle / "int8" / MANIFEST).read_text())["runtime"]
    return raw


def test_the_exported_runtime_block_round_trips(runtime: dict[str, object]) -> None:
    spec = RuntimeSpec.from_dict(runtime)
    assert spec.to_dict() == runtime
    assert spec.gpt.layers >= 1 and spec.output_sample_rate == 24000 and "bn" in spec.languages


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("vocoder_tail_context_frames"), "lacks vocoder_tail_context_frames"),
        (lambda r: r.update(input_sample_rate="22050"), "input_sample_rate='22050' is not a int"),
        (lambda r: r.update(sound_norm_refs=1), "sound_norm_refs=1 is not a bool"),
        (lambda r: r["gpt"].pop("heads"), "runtime.gpt lacks heads"),
        (lambda r: r["gpt"].update(layers=True), "runtime.gpt.layers=True is not a int"),
    ],
)
def test_a_runtime_block_this_release_cannot_read_is_refused_at_load(
    demo_bundle: Path, runtime: dict[str, object], tmp_path: Path, change: object, message: str
) -> None:
    broken = json.loads(json.dumps(runtime))
    change(broken)  # type: ignore[operator]
    with pytest.raises(RuntimeSpecError, match=message):
        RuntimeSpec.from_dict(broken)
    # The engine refuses such a bundle when it opens it, not in the middle of a request.
    src = demo_bundle / "int8"
    for path in src.iterdir():
        (tmp_path / path.name).symlink_to(path)
    manifest = json.loads((src / MANIFEST).read_text())
    manifest["runtime"] = broken
    (tmp_path / MANIFEST).unlink()
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        load_bundle(tmp_path, verify=False)
