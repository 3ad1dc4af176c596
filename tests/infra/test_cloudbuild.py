"""cloudbuild.yaml: step order, images, substitutions, and the commit-SHA tag."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = {"PROJECT_ID", "COMMIT_SHA"}
IMAGE = "${_REGION}-docker.pkg.dev/${PROJECT_ID}/${_REPOSITORY}/${_IMAGE_NAME}:${COMMIT_SHA}"


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert isinstance(data, dict)
    return data


def step(build: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in build["steps"] if s["id"] == step_id)


def script(s: dict[str, Any]) -> str:
    return " ".join(str(a) for a in s.get("args", []))


def test_steps_run_in_order_test_lint_build_push_export_deploy(build: dict[str, Any]) -> None:
    ids = [s["id"] for s in build["steps"]]
    assert ids == [
        "test",
        "hadolint",
        "build",
        "push",
        "export-fetch",
        "export-build",
        "export-upload",
        "pulumi-up",
    ]
    # No step waits on anything but its predecessor: a failure anywhere stops the deploy.
    assert all("waitFor" not in s for s in build["steps"])


def test_first_step_is_make_test_and_second_is_hadolint(build: dict[str, Any]) -> None:
    assert re.search(r"^make test$", script(step(build, "test")).split("-c ", 1)[1], re.M)
    assert "hadolint Dockerfile" in script(step(build, "hadolint"))


def test_image_is_built_pushed_and_recorded_with_the_commit_sha(build: dict[str, Any]) -> None:
    args = step(build, "build")["args"]
    assert args[0] == "build" and args[-1] == "."
    assert args[args.index("--tag") + 1] == IMAGE
    assert args[args.index("--build-arg") + 1] == "TARGET=${_TARGET}"
    assert step(build, "push")["args"] == ["push", IMAGE]
    assert build["images"] == [IMAGE]
    assert IMAGE.rsplit(":", 1)[1] == "${COMMIT_SHA}"


def test_pulumi_up_deploys_exactly_the_pushed_image_to_the_named_stack(build: dict[str, Any]) -> None:
    text = script(step(build, "pulumi-up"))
    assert f'"bn-xtts:image={IMAGE}"' in text
    assert 'pulumi stack select "${_PULUMI_STACK}"' in text
    assert "pulumi up --yes" in text and "--policy-pack infra/policy" in text


def test_export_is_optional_and_versioned(build: dict[str, Any]) -> None:
    for step_id in ("export-fetch", "export-build", "export-upload"):
        assert 'if [ -z "${_CHECKPOINT_URI}" ]' in script(step(build, step_id))
    assert build["substitutions"]["_CHECKPOINT_URI"] == ""
    fetch = script(step(build, "export-fetch"))
    assert "already exists" in fetch  # a released version is never overwritten
    assert "python -m export build" in script(step(build, "export-build"))
    assert "models/${_MODEL_NAME}/${_MODEL_VERSION}" in script(step(build, "export-upload"))


def test_every_substitution_used_is_declared_and_every_declared_one_is_used(build: dict[str, Any]) -> None:
    text = (ROOT / "cloudbuild.yaml").read_text()
    body = text.split("\nsubstitutions:", 1)[0] + text.split("\noptions:", 1)[1]
    used = set(re.findall(r"(?<!\$)\$\{(_[A-Z0-9_]+)\}", text))
    declared = set(build["substitutions"])
    assert used <= declared
    assert declared <= set(re.findall(r"(?<!\$)\$\{(_[A-Z0-9_]+)\}", body))
    # Built-ins and shell variables ($$x) only; no stray single-$ shell expansions.
    assert set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)\}", text)) <= BUILTINS
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.findall(r"(?<!\$)\$(?![{$])", code)
    assert build["options"]["dynamicSubstitutions"] is True


def test_pulumi_cli_matches_the_pinned_sdk(build: dict[str, Any]) -> None:
    pins = (ROOT / "requirements-dev.txt").read_text()
    sdk = re.search(r"^pulumi==([0-9.]+)", pins, re.M)
    assert sdk and build["substitutions"]["_PULUMI_VERSION"] == sdk.group(1)


def test_repository_and_bucket_defaults_match_the_stack_defaults(build: dict[str, Any]) -> None:
    from infra.config import parse_config

    cfg = parse_config(
        {"domain": "tts.example.com", "alertEmail": "a@example.com"}.get,
        {"project": "my-project-1", "region": build["substitutions"]["_REGION"]}.get,
        stack="prod",
    )
    subs = build["substitutions"]
    assert subs["_BUCKET"].replace("${PROJECT_ID}", cfg.project) == cfg.bucket_name
    repo = f"{subs['_REGION']}-docker.pkg.dev/{cfg.project}/{subs['_REPOSITORY']}"
    assert repo == cfg.image_repository


def render(text: str, substitutions: dict[str, str]) -> str:
    """What Cloud Build hands the shell: ${VAR} substituted, $$ unescaped to $."""
    values = {**substitutions, "PROJECT_ID": "my-project-1", "COMMIT_SHA": "0123456789abcdef"}
    text = re.sub(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)\}", lambda m: values[m.group(1)], text)
    return text.replace("$$", "$")


@pytest.mark.parametrize("checkpoint", ["", "gs://ckpt-bucket/run42/"])
def test_every_shell_step_is_valid_bash(build: dict[str, Any], checkpoint: str) -> None:
    import subprocess

    subs = {**build["substitutions"], "_CHECKPOINT_URI": checkpoint, "_MODEL_VERSION": "v2"}
    scripts = [s["args"][-1] for s in build["steps"] if s.get("entrypoint") == "bash"]
    assert len(scripts) >= 5
    for script in scripts:
        rendered = render(script, subs)
        assert "${_" not in rendered
        out = subprocess.run(["bash", "-n", "-c", rendered], capture_output=True, text=True, check=False)
        assert out.returncode == 0, f"{out.stderr}\n{rendered}"


def test_export_steps_skip_cleanly_without_a_checkpoint(build: dict[str, Any], tmp_path: Path) -> None:
    """With no _CHECKPOINT_URI the export steps exit 0 before touching gcloud or the venv."""
    import subprocess

    subs = {**build["substitutions"], "_CHECKPOINT_URI": "", "_MODEL_VERSION": ""}
    for step_id in ("export-fetch", "export-build", "export-upload"):
        script = render(step(build, step_id)["args"][-1], subs)
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin"},  # no gcloud: reaching it would fail
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr


def test_export_refuses_a_checkpoint_without_a_model_version(build: dict[str, Any], tmp_path: Path) -> None:
    import subprocess

    subs = {**build["substitutions"], "_CHECKPOINT_URI": "gs://ckpt/run42", "_MODEL_VERSION": ""}
    script = render(step(build, "export-fetch")["args"][-1], subs)
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1 and "_MODEL_VERSION is required" in out.stderr
