"""deploy/check_substitutions.py: a trigger whose registry or bucket differs from the stack's stops
before anything is built (issue 24: the defaults pushed to a registry that did not exist)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "check_substitutions.py"


def run(tmp: Path, stack_yaml: str, *subs: str) -> subprocess.CompletedProcess[str]:
    (tmp / "Pulumi.prod.yaml").write_text(stack_yaml)
    return subprocess.run(
        [sys.executable, str(SCRIPT), "prod", "proj-1", *subs],
        cwd=tmp,
        capture_output=True,
        text=True,
        check=False,
    )


def test_matching_substitutions_pass(tmp_path: Path) -> None:
    out = run(
        tmp_path, "config:\n  gcp:region: us-central1\n", "us-central1", "bn-tts", "proj-1-bn-tts-models"
    )
    assert out.returncode == 0, out.stderr


def test_a_stack_outside_the_default_region_or_name_stops_the_build(tmp_path: Path) -> None:
    stack = "config:\n  gcp:region: europe-west4\n  bn-xtts:name: voice\n"
    out = run(tmp_path, stack, "us-central1", "bn-tts", "proj-1-bn-tts-models")
    assert out.returncode == 1
    for line in (
        "_REGION=us-central1 but the stack wants _REGION=europe-west4",
        "_REPOSITORY=bn-tts but the stack wants _REPOSITORY=voice",
        "_BUCKET=proj-1-bn-tts-models but the stack wants _BUCKET=proj-1-voice-models",
    ):
        assert line in out.stderr
    assert run(tmp_path, stack, "europe-west4", "voice", "proj-1-voice-models").returncode == 0


def test_a_stack_file_missing_from_the_source_stops_the_build(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "prod", "p", "r", "n", "b"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "Pulumi.prod.yaml is not in the source" in out.stderr
