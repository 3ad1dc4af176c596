"""cloudbuild.yaml: step order, substitutions, the commit-SHA tag, and every step's shell logic
run for real with stub `gcloud`, `docker` and `pulumi` on PATH (they log their arguments and answer
from files), to prove the skip paths that make a re-run of the pipeline succeed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.stub_tools import StubTools

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = {"PROJECT_ID", "COMMIT_SHA"}
IMAGE = "${_REGION}-docker.pkg.dev/${PROJECT_ID}/${_REPOSITORY}/${_IMAGE_NAME}-${_TARGET}:${COMMIT_SHA}"
REPO = "us-central1-docker.pkg.dev/my-project-1/bn-tts/server-gpu"
DIGEST = "sha256:" + "12" * 32


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert isinstance(data, dict)
    return data


def step(build: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in build["steps"] if s["id"] == step_id)


def script(s: dict[str, Any]) -> str:
    return " ".join(str(a) for a in s.get("args", []))


def test_steps_run_in_order_test_lint_build_push_export_gate_deploy(build: dict[str, Any]) -> None:
    ids = [s["id"] for s in build["steps"]]
    assert ids == [
        "test",
        "hadolint",
        "stack-check",
        "image-check",
        "build",
        "push",
        "export-check",
        "export-build",
        "export-upload",
        "eval-fetch",
        "eval-run",
        "eval-gate",
        "pulumi-up",
    ]
    # No step waits on anything but its predecessor: a failure anywhere stops the deploy.
    assert all("waitFor" not in s for s in build["steps"])


def test_first_step_is_make_test_and_second_is_hadolint(build: dict[str, Any]) -> None:
    assert re.search(r"^make test$", script(step(build, "test")).split("-c ", 1)[1], re.M)
    assert "hadolint Dockerfile" in script(step(build, "hadolint"))


def test_image_is_built_and_pushed_with_the_commit_sha_and_nothing_pushes_it_again(
    build: dict[str, Any],
) -> None:
    text = script(step(build, "build"))
    assert '--tag "' + IMAGE + '"' in text and '"TARGET=${_TARGET}"' in text
    assert f'tag="{IMAGE}"' in script(step(build, "push"))
    # `images:` would make Cloud Build push after the steps: a skipped build has nothing to push.
    assert "images" not in build
    assert IMAGE.rsplit(":", 1)[1] == "${COMMIT_SHA}"


def test_export_is_optional_and_versioned(build: dict[str, Any]) -> None:
    for step_id in ("export-check", "export-build", "export-upload"):
        assert 'if [ -z "${_CHECKPOINT_URI}" ]' in script(step(build, step_id))
    assert build["substitutions"]["_CHECKPOINT_URI"] == ""
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
    """What Cloud Build hands the shell: ${VAR} substituted (dynamicSubstitutions: values that name
    other substitutions, like _BUCKET's ${PROJECT_ID}, too), $$ unescaped to $."""
    values = {**substitutions, "PROJECT_ID": "my-project-1", "COMMIT_SHA": "0123456789abcdef"}
    pattern = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)\}")
    while pattern.search(text):
        text = pattern.sub(lambda m: values[m.group(1)], text)
    return text.replace("$$", "$")


@pytest.mark.parametrize("checkpoint", ["", "gs://ckpt-bucket/run42/"])
def test_every_shell_step_is_valid_bash(build: dict[str, Any], checkpoint: str) -> None:
    import subprocess

    subs = {**build["substitutions"], "_CHECKPOINT_URI": checkpoint, "_MODEL_VERSION": "v2"}
    scripts = [s["args"][-1] for s in build["steps"] if s.get("entrypoint") == "bash"]
    assert len(scripts) >= 8
    for script in scripts:
        rendered = render(script, subs)
        assert "${_" not in rendered
        out = subprocess.run(["bash", "-n", "-c", rendered], capture_output=True, text=True, check=False)
        assert out.returncode == 0, f"{out.stderr}\n{rendered}"


# ---- the steps' shell logic, with stub tools --------------------------------------------------------

STUB = r"""#!/bin/bash
# Logs the call, then answers from files under $FAKE (one file per answer).
echo "$(basename "$0") $*" >> "$FAKE/calls.log"
tool=$(basename "$0")
case "$tool $1 $2 $3" in
  "gcloud artifacts docker images")
    [ -f "$FAKE/pushed" ] && cat "$FAKE/pushed" && exit 0; exit 1;;
  "gcloud storage objects describe")
    key=$(echo "$4" | tr '/:' '__'); [ -f "$FAKE/objects/$key" ] || exit 1
    case "$*" in *crc32c_hash*) cat "$FAKE/objects/$key";; esac; exit 0;;
  "gcloud storage cat "*)
    key=$(echo "$3" | tr '/:' '__')
    [ -f "$FAKE/objects/$key" ] && cat "$FAKE/objects/$key" && exit 0; exit 1;;
  "docker inspect "*)
    echo "us-central1-docker.pkg.dev/my-project-1/bn-tts/server-gpu@sha256:$(printf '34%.0s' $(seq 32))";;
  "pulumi version "*) echo "v3.272.0";;
  "pulumi stack output") echo "https://tts.example.com/";;
esac
exit 0
"""


class Stubs(StubTools):
    """A workspace and PATH where gcloud, docker and pulumi are stubs; `objects` are GCS objects."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, STUB, ("gcloud", "docker", "pulumi"), ("objects",))
        self.workspace = root / "workspace"
        self.workspace.mkdir()

    def put(self, url: str, content: str = "") -> None:
        (self.fake / "objects" / url.replace("/", "_").replace(":", "_")).write_text(content)

    def run(self, build: dict[str, Any], step_id: str, **subs: str) -> Any:
        text = render(step(build, step_id)["args"][-1], {**build["substitutions"], **subs})
        return self.bash("-euo", "pipefail", "-c", text.replace("/workspace", str(self.workspace)))


@pytest.fixture
def stubs(tmp_path: Path) -> Stubs:
    return Stubs(tmp_path)


def test_a_pushed_tag_is_not_built_again_and_its_digest_is_deployed(
    build: dict[str, Any], stubs: Stubs
) -> None:
    (stubs.fake / "pushed").write_text(DIGEST + "\n")
    for step_id in ("image-check", "build", "push"):
        out = stubs.run(build, step_id)
        assert out.returncode == 0, out.stderr
    assert not [c for c in stubs.calls() if c.startswith("docker")]  # no build, no push
    assert (stubs.workspace / "image.ref").read_text().strip() == f"{REPO}@{DIGEST}"
    (check,) = stubs.calls()
    assert check.startswith(f"gcloud artifacts docker images describe {REPO}:0123456789abcdef")


def test_a_new_commit_is_built_pushed_once_and_recorded_by_digest(
    build: dict[str, Any], stubs: Stubs
) -> None:
    for step_id in ("image-check", "build", "push"):
        out = stubs.run(build, step_id)
        assert out.returncode == 0, out.stderr
    docker = [c.split()[:2] for c in stubs.calls() if c.startswith("docker")]
    assert docker == [["docker", "build"], ["docker", "push"], ["docker", "inspect"]]
    assert (stubs.workspace / "image.ref").read_text().strip() == f"{REPO}@sha256:{'34' * 32}"


def test_pulumi_up_deploys_the_recorded_digest_and_keeps_the_model_version(
    build: dict[str, Any], stubs: Stubs
) -> None:
    (stubs.workspace / "image.ref").write_text(f"{REPO}@{DIGEST}\n")
    out = stubs.run(build, "pulumi-up")
    assert out.returncode == 0, out.stderr
    calls = stubs.calls()
    assert "pulumi login gs://my-project-1-pulumi-state" in calls
    assert "pulumi stack select prod" in calls
    (up,) = [c for c in calls if c.startswith("pulumi up")]
    assert up == (
        f"pulumi up --yes --non-interactive --policy-pack infra/policy --config bn-xtts:image={REPO}@{DIGEST}"
    )
    assert not [c for c in calls if "get.pulumi.com" in c]  # the matching CLI is already there


def test_pulumi_up_passes_a_new_model_version_and_the_rollback_flag_only_when_asked(
    build: dict[str, Any], stubs: Stubs
) -> None:
    (stubs.workspace / "image.ref").write_text(f"{REPO}@{DIGEST}\n")
    (stubs.bin / "pulumi").write_text(
        STUB.replace('echo "$(basename', 'echo "ROLLBACK=${BN_XTTS_ALLOW_ROLLBACK:-} $(basename')
    )
    out = stubs.run(build, "pulumi-up", _MODEL_VERSION="v2", _ALLOW_ROLLBACK="true")
    assert out.returncode == 0, out.stderr
    (up,) = [c for c in stubs.calls() if " pulumi up" in c]
    assert up.startswith("ROLLBACK=1 pulumi up") and up.endswith("--config bn-xtts:modelVersion=v2")
    stubs.run(build, "pulumi-up")
    assert [c for c in stubs.calls() if " pulumi up" in c][-1].startswith("ROLLBACK= pulumi up")


CKPT = "gs://ckpt-bucket/run42"
DEST = "gs://my-project-1-bn-tts-models/models/bn-xtts/v2"


def checkpoint(stubs: Stubs, crc: str = "AAA=") -> str:
    for name in ("best_checkpoint.pth", "config.json", "vocab.json"):
        stubs.put(f"{CKPT}/{name}", crc)
    return "".join(f"{name} {crc}\n" for name in ("best_checkpoint.pth", "config.json", "vocab.json"))


def exported(stubs: Stubs, source: str | None) -> None:
    for variant in ("fp32", "fp16", "int8"):
        stubs.put(f"{DEST}/{variant}/manifest.json", "{}")
    if source is not None:
        stubs.put(f"{DEST}/SOURCE", source)


def test_export_skips_cleanly_without_a_checkpoint(build: dict[str, Any], stubs: Stubs) -> None:
    for step_id in ("export-check", "export-build", "export-upload"):
        out = stubs.run(build, step_id, _CHECKPOINT_URI="", _MODEL_VERSION="")
        assert out.returncode == 0, out.stderr
    assert stubs.calls() == []  # no gcloud, and no .venv/bin/python either (it does not exist here)


def test_export_refuses_a_checkpoint_without_a_model_version(build: dict[str, Any], stubs: Stubs) -> None:
    out = stubs.run(build, "export-check", _CHECKPOINT_URI=CKPT, _MODEL_VERSION="")
    assert out.returncode == 1 and "_MODEL_VERSION is required" in out.stderr


def test_a_new_version_is_fetched_exported_and_uploaded_manifests_last(
    build: dict[str, Any], stubs: Stubs
) -> None:
    source = checkpoint(stubs)
    out = stubs.run(build, "export-check", _CHECKPOINT_URI=CKPT, _MODEL_VERSION="v2")
    assert out.returncode == 0, out.stderr
    assert not (stubs.workspace / "export.done").exists()
    assert (stubs.workspace / "source.txt").read_text() == source
    assert any(c.startswith(f"gcloud storage cp {CKPT}/best_checkpoint.pth") for c in stubs.calls())
    out = stubs.run(build, "export-upload", _CHECKPOINT_URI=CKPT, _MODEL_VERSION="v2")
    assert out.returncode == 0, out.stderr
    uploads = [c for c in stubs.calls() if c.startswith(("gcloud storage rsync", "gcloud storage cp /"))]
    assert [u.split()[2] for u in uploads] == ["rsync", "cp", "rsync"]
    assert "--exclude=(^|.*/)manifest\\.json$" in uploads[0] and uploads[1].endswith(f"{DEST}/SOURCE")


def test_a_retry_of_an_exported_version_skips_the_export(build: dict[str, Any], stubs: Stubs) -> None:
    """With _CHECKPOINT_URI a retry used to stop at "already exists"; now the same checkpoint's
    complete version is recognised and the build goes on to deploy it."""
    exported(stubs, checkpoint(stubs))
    out = stubs.run(build, "export-check", _CHECKPOINT_URI=CKPT, _MODEL_VERSION="v2")
    assert out.returncode == 0, out.stderr
    assert "already exported from this checkpoint" in out.stdout
    assert (stubs.workspace / "export.done").exists()
    assert not [c for c in stubs.calls() if c.startswith("gcloud storage cp")]
    before = len(stubs.calls())
    for step_id in ("export-build", "export-upload"):
        out = stubs.run(build, step_id, _CHECKPOINT_URI=CKPT, _MODEL_VERSION="v2")
        assert out.returncode == 0, out.stderr
    assert len(stubs.calls()) == before


def test_a_half_uploaded_version_is_resumed(build: dict[str, Any], stubs: Stubs) -> None:
    source = checkpoint(stubs)
    stubs.put(f"{DEST}/SOURCE", source)  # data and SOURCE uploaded, manifests not yet
    out = stubs.run(build, "export-check", _CHECKPOINT_URI=CKPT, _MODEL_VERSION="v2")
    assert out.returncode == 0, out.stderr
    assert not (stubs.workspace / "export.done").exists()


@pytest.mark.parametrize("source", ["best_checkpoint.pth OTHER=\n", None])
def test_a_version_from_another_checkpoint_is_never_overwritten(
    build: dict[str, Any], stubs: Stubs, source: str | None
) -> None:
    checkpoint(stubs)
    exported(stubs, source)
    out = stubs.run(build, "export-check", _CHECKPOINT_URI=CKPT, _MODEL_VERSION="v2")
    assert out.returncode == 1 and "choose a new _MODEL_VERSION" in out.stderr
    assert not [c for c in stubs.calls() if c.startswith("gcloud storage cp")]


# ---- the quality gate (python -m function.evaluate) --------------------------------------------------

GATE = ("eval-fetch", "eval-run", "eval-gate")
PYTHON_STUB = """#!/bin/bash
echo "python $*" >> "$FAKE/calls.log"
exit "$(cat "$FAKE/eval_rc" 2>/dev/null || echo 0)"
"""


@pytest.fixture
def gate(stubs: Stubs) -> Stubs:
    """The stubs plus the workspace's .venv/bin/python, which logs its arguments and exits with
    $FAKE/eval_rc (the evaluator's exit status)."""
    python = stubs.root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(PYTHON_STUB)
    python.chmod(0o755)
    return stubs


def test_the_quality_gate_is_off_by_default_and_stands_before_the_deploy(
    build: dict[str, Any], gate: Stubs
) -> None:
    assert build["substitutions"]["_EVAL_GATE"] == "false"
    ids = [s["id"] for s in build["steps"]]
    assert (
        ids.index("export-upload") < ids.index("eval-fetch") < ids.index("eval-gate") < ids.index("pulumi-up")
    )
    for step_id in GATE:
        out = gate.run(build, step_id, _MODEL_VERSION="v2")
        assert out.returncode == 0, out.stderr
    assert gate.calls() == []  # no download, no evaluation, no upload


def test_the_gate_needs_the_model_version_to_evaluate(build: dict[str, Any], gate: Stubs) -> None:
    out = gate.run(build, "eval-fetch", _EVAL_GATE="true", _MODEL_VERSION="")
    assert out.returncode == 1 and "needs _MODEL_VERSION" in out.stderr
    assert gate.calls() == []


def run_gate(build: dict[str, Any], gate: Stubs, evaluator_rc: int, **subs: str) -> list[Any]:
    """The three steps in order, as Cloud Build runs them (stopping at the first failure)."""
    (gate.fake / "eval_rc").write_text(str(evaluator_rc))
    subs = {"_EVAL_GATE": "true", "_MODEL_VERSION": "v2", **subs}
    results = []
    for step_id in GATE:
        out = gate.run(build, step_id, **subs)
        results.append(out)
        if step_id == "eval-fetch":  # what the rsync of _EVAL_DATA brings: accent clips, a recognizer
            data = gate.workspace / "eval" / "data"
            (data / "accent").mkdir(parents=True)
            (data / "asr").mkdir()
            (data / "asr" / "model.onnx").write_text("")
        if out.returncode != 0:
            break
    return results


def test_an_enabled_gate_evaluates_the_new_version_with_the_thresholds_and_publishes_the_report(
    build: dict[str, Any], gate: Stubs
) -> None:
    results = run_gate(build, gate, 0, _EVAL_MAX_CER="0.3", _EVAL_MAX_WARNING_SHARE="")
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert "quality gate passed" in results[-1].stdout
    ws = str(gate.workspace)
    calls = gate.calls()
    fetches = [c for c in calls if c.startswith("gcloud storage rsync")][:3]
    assert fetches == [
        f"gcloud storage rsync --recursive {DEST}/fp32 {ws}/eval/bn-xtts-v2/fp32",
        f"gcloud storage rsync --recursive {DEST}/int8 {ws}/eval/bn-xtts-v2/int8",
        f"gcloud storage rsync --recursive gs://my-project-1-bn-tts-models/eval/data {ws}/eval/data",
    ]
    (evaluate,) = [c for c in calls if c.startswith("python")]
    data = f"{ws}/eval/data"
    assert evaluate == (
        f"python -m function.evaluate --evalset {data}/evalset.tsv --bundle {ws}/eval/bn-xtts-v2 "
        f"--out {ws}/eval/report --no-progress --accent-refs {data}/accent "
        f"--asr {data}/asr/model.onnx --asr-vocab {data}/asr/vocab.json "
        "--min-speaker-similarity 0.4 --max-cer 0.3 --max-runaway-share 0.05"
    )  # an empty threshold (here the warning share) is not passed
    assert calls[-1] == (
        f"gcloud storage rsync --recursive {ws}/eval/report "
        "gs://my-project-1-bn-tts-models/eval/reports/bn-xtts/v2/0123456789abcdef"
    )


def test_a_failed_threshold_publishes_the_report_then_stops_the_build(
    build: dict[str, Any], gate: Stubs
) -> None:
    results = run_gate(build, gate, 1)
    assert [r.returncode for r in results] == [0, 0, 1]
    assert "quality gate failed" in results[-1].stderr
    assert gate.calls()[-1].startswith(f"gcloud storage rsync --recursive {gate.workspace}/eval/report ")


def test_an_evaluation_that_cannot_run_stops_the_build_at_once(build: dict[str, Any], gate: Stubs) -> None:
    results = run_gate(build, gate, 2)
    assert [r.returncode for r in results] == [0, 1]  # bad input: no report to publish
    assert not [c for c in gate.calls() if c.startswith("gcloud") and "eval/report" in c]
