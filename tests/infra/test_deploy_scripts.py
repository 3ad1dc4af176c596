"""deploy/*.sh, run for real against stub `gcloud`, `pulumi` and `git` that keep a little state
(what exists) in files: the first run creates, a second run creates nothing, a half-done run
resumes, and a missing setting stops the script with the commands to fix it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.infra.stub_tools import StubTools

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

# A stub for gcloud, pulumi and git. State: $FAKE/exists/<key> files; every call is logged.
STUB = r"""#!/bin/bash
echo "$(basename "$0") $*" >> "$FAKE/calls.log"
tool=$(basename "$0")
key() { echo "$*" | tr ' /:=' '____'; }
has() { [ -f "$FAKE/exists/$(key "$@")" ]; }
mk() { touch "$FAKE/exists/$(key "$@")"; }
case "$tool" in
gcloud)
  case "$1 $2 $3" in
    "storage buckets describe") has bucket "$4" ;;
    "storage buckets create") mk bucket "$4" ;;
    "kms keyrings describe") has keyring "$4" ;;
    "kms keyrings create") mk keyring "$4" ;;
    "kms keys describe") has key "$4" ;;
    "kms keys create") mk key "$4" ;;
    "iam service-accounts describe") has sa "$4" ;;
    "iam service-accounts create") mk sa "$4@$6.iam.gserviceaccount.com" ;;
    "storage cat "*) f="$FAKE/gcs/$(key "$3")"; [ -f "$f" ] && cat "$f" ;;
    "storage rsync --recursive")
      [ "$4" = "--exclude=(^|.*/)manifest\.json$" ] && exit 0
      for m in "$4"/*/manifest.json; do
        v=$(basename "$(dirname "$m")"); cp "$m" "$FAKE/gcs/$(key "$5/$v/manifest.json")"
      done ;;
    *) exit 0 ;;
  esac ;;
pulumi)
  case "$1 $2" in
    "stack select") has stack "$3" ;;
    "stack init") mk stack "$3" ;;
    "config get") f="$FAKE/config/$(key "$3")"; [ -f "$f" ] && cat "$f" ;;
    "config set") if [ "$3" = --secret ]; then shift; fi; echo "$4" > "$FAKE/config/$(key "$3")" ;;
    "config rm") rm -f "$FAKE/config/$(key "$3")" ;;
    "stack output")
      if [ "$3" = release_record ]; then has released || exit 1; fi
      echo "output-$3" ;;
    "preview --json") cat "$FAKE/preview.json" 2>/dev/null || echo '{"steps": []}' ;;
    *) exit 0 ;;
  esac ;;
git)
  case "$1" in
    status) [ -f "$FAKE/dirty" ] && echo " M infra/stack.py"; exit 0 ;;
    rev-parse) echo 0123456789abcdef0123456789abcdef01234567 ;;
  esac ;;
esac
"""


class Env(StubTools):
    def __init__(self, root: Path) -> None:
        super().__init__(root, STUB, ("gcloud", "pulumi", "git"), ("exists", "config", "gcs"))

    def config(self, key: str, value: str) -> None:
        (self.fake / "config" / key.replace(":", "_")).write_text(value + "\n")

    def configured(self) -> dict[str, str]:
        return {p.name: p.read_text().strip() for p in (self.fake / "config").iterdir()}

    def run(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        (self.fake / "calls.log").unlink(missing_ok=True)
        return self.bash(str(DEPLOY / script), *args)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def creates(calls: list[str]) -> list[str]:
    return [c for c in calls if " create " in f" {c} " or c.startswith("pulumi stack init")]


def required(env: Env) -> None:
    env.config("bn-xtts:domain", "tts.example.com")
    env.config("bn-xtts:alertEmail", "oncall@example.com")
    env.config("bn-xtts:apiKeys", "k" * 20)


def test_bootstrap_stops_with_the_commands_for_what_is_unset(env: Env) -> None:
    out = env.run("bootstrap.sh", "my-proj", "us-central1")
    assert out.returncode == 2
    assert "pulumi config set domain" in out.stderr and "pulumi config set --secret apiKeys" in out.stderr
    assert not [c for c in env.calls() if c.startswith("pulumi up")]
    # What it could do is done, and kept: gcp:project and gcp:region are set.
    assert env.configured() == {"gcp_project": "my-proj", "gcp_region": "us-central1"}


def test_bootstrap_creates_once_then_only_checks(env: Env) -> None:
    required(env)
    first = env.run("bootstrap.sh", "my-proj", "us-central1")
    assert first.returncode == 0, first.stderr
    made = creates(env.calls())
    assert made == [
        "gcloud storage buckets create gs://my-proj-pulumi-state --project my-proj --location us-central1 "
        "--uniform-bucket-level-access --public-access-prevention",
        "gcloud kms keyrings create pulumi --location global --project my-proj",
        "gcloud kms keys create state --keyring pulumi --location global --purpose encryption "
        "--project my-proj",
        "pulumi stack init prod --secrets-provider "
        "gcpkms://projects/my-proj/locations/global/keyRings/pulumi/cryptoKeys/state",
        "gcloud iam service-accounts create bn-tts-deployer --project my-proj "
        "--display-name Bangla TTS deploy pipeline",
    ]
    assert "gcloud storage buckets update gs://my-proj-pulumi-state --versioning" in env.calls()
    assert "pulumi login gs://my-proj-pulumi-state" in env.calls()
    assert "pulumi up --yes --policy-pack infra/policy" in env.calls()

    second = env.run("bootstrap.sh", "my-proj", "us-central1")
    assert second.returncode == 0, second.stderr
    assert creates(env.calls()) == []
    assert not [c for c in env.calls() if c.startswith("pulumi config set")]
    assert "pulumi up --yes --policy-pack infra/policy" in env.calls()  # a no-op once deployed


def test_bootstrap_sets_up_the_pipelines_own_account_with_exactly_its_roles(env: Env) -> None:
    """Issue 24: Cloud Build's default account may have no roles on new projects, and the role list
    lacked Logs Writer; actAs was project-wide."""
    required(env)
    assert env.run("bootstrap.sh", "my-proj", "us-central1").returncode == 0
    calls = env.calls()
    deployer = "serviceAccount:bn-tts-deployer@my-proj.iam.gserviceaccount.com"
    assert "gcloud iam service-accounts create bn-tts-deployer --project my-proj" in " ".join(calls)
    project_roles = [
        c.split("--role ")[1].split()[0] for c in calls if "projects add-iam-policy-binding" in c
    ]
    assert "roles/logging.logWriter" in project_roles and "roles/iam.serviceAccountUser" not in project_roles
    assert all(deployer in c for c in calls if "add-iam-policy-binding" in c)
    kms = [c for c in calls if c.startswith("gcloud kms keys add-iam-policy-binding")]
    assert len(kms) == 1 and "roles/cloudkms.cryptoKeyEncrypterDecrypter" in kms[0]
    acts_as = [c for c in calls if c.startswith("gcloud iam service-accounts add-iam-policy-binding")]
    assert [c.split()[4] for c in acts_as] == [
        "output-runtime_service_account",
        "output-batch_service_account",
        "output-invoker_service_account",
    ]
    assert all("roles/iam.serviceAccountUser" in c for c in acts_as)
    # A second run creates no account again.
    assert env.run("bootstrap.sh", "my-proj", "us-central1").returncode == 0
    assert not [c for c in env.calls() if "service-accounts create" in c]


def test_bootstrap_resumes_after_a_partial_run(env: Env) -> None:
    required(env)
    (env.fake / "exists" / "bucket_gs___my-proj-pulumi-state").touch()  # made by an interrupted run
    out = env.run("bootstrap.sh", "my-proj", "us-central1", "staging")
    assert out.returncode == 0, out.stderr
    assert [c.split()[1:3] for c in creates(env.calls())] == [
        ["kms", "keyrings"],
        ["kms", "keys"],
        ["stack", "init"],
        ["iam", "service-accounts"],
    ]


def test_bootstrap_leaves_the_release_to_the_release_record(env: Env) -> None:
    required(env)
    env.config("bn-xtts:image", "r/server:old")
    out = env.run("bootstrap.sh", "my-proj", "us-central1")
    assert out.returncode == 0, out.stderr
    assert "pulumi config rm bn-xtts:image" in env.calls()
    assert "bn-xtts_image" not in env.configured()


def test_bootstrap_refuses_an_up_that_would_remove_part_of_a_deployed_stack(env: Env) -> None:
    """Issue 24: `up --yes` ran without a preview; a plan deleting the edge went through unseen."""
    required(env)
    (env.fake / "exists" / "released").touch()  # a release is deployed
    steps = [
        {"op": "same", "urn": "urn:pulumi:prod::bn-xtts::gcp:cloudrunv2/service:Service::service"},
        {"op": "delete", "urn": "urn:pulumi:prod::bn-xtts::gcp:compute/globalAddress:GlobalAddress::edge-ip"},
    ]
    (env.fake / "preview.json").write_text(json.dumps({"steps": steps}))
    out = env.run("bootstrap.sh", "my-proj", "us-central1")
    assert out.returncode == 1
    assert "delete urn:pulumi:prod::bn-xtts::gcp:compute/globalAddress:GlobalAddress::edge-ip" in out.stderr
    assert "pulumi preview --json --policy-pack infra/policy" in env.calls()
    assert not [c for c in env.calls() if c.startswith("pulumi up")]
    (env.fake / "preview.json").write_text(json.dumps({"steps": steps[:1]}))  # nothing removed
    again = env.run("bootstrap.sh", "my-proj", "us-central1")
    assert again.returncode == 0, again.stderr
    assert "pulumi up --yes --policy-pack infra/policy" in env.calls()


def bundle(root: Path, text: str = '{"v": 1}') -> Path:
    for variant in ("fp32", "fp16", "int8"):
        (root / "bundle" / variant).mkdir(parents=True, exist_ok=True)
        (root / "bundle" / variant / "manifest.json").write_text(text)
        (root / "bundle" / variant / "gpt.onnx").write_text("weights")
    return root / "bundle"


DEST = "gs://b/models/bn-xtts/v2"


def test_upload_sends_files_then_manifests_and_a_rerun_sends_nothing(env: Env) -> None:
    src = bundle(env.root)
    out = env.run("upload-bundle.sh", str(src), DEST)
    assert out.returncode == 0, out.stderr
    syncs = [c for c in env.calls() if c.startswith("gcloud storage rsync")]
    assert syncs == [
        f"gcloud storage rsync --recursive --exclude=(^|.*/)manifest\\.json$ {src} {DEST}",
        f"gcloud storage rsync --recursive {src} {DEST}",
    ]
    again = env.run("upload-bundle.sh", f"{src}/", f"{DEST}/")
    assert again.returncode == 0, again.stderr
    assert "nothing to upload" in again.stdout
    assert not [c for c in env.calls() if c.startswith("gcloud storage rsync")]


def test_upload_never_overwrites_a_released_version(env: Env) -> None:
    env.run("upload-bundle.sh", str(bundle(env.root)), DEST)
    out = env.run("upload-bundle.sh", str(bundle(env.root, '{"v": 2}')), DEST)
    assert out.returncode == 1 and "choose a new version" in out.stderr
    assert not [c for c in env.calls() if c.startswith("gcloud storage rsync")]


@pytest.mark.parametrize(
    ("args", "message"), [(("nowhere", DEST), "holds no VARIANT"), (("x", "gs://b/v2"), "usage")]
)
def test_upload_refuses_what_is_not_a_bundle(env: Env, args: tuple[str, str], message: str) -> None:
    out = env.run("upload-bundle.sh", *args)
    assert out.returncode != 0 and message in out.stderr


def test_deploy_runs_bootstrap_upload_and_the_pipeline_in_order(env: Env) -> None:
    required(env)
    src = bundle(env.root)
    out = env.run("deploy.sh", "my-proj", "us-central1", str(src), "v2")
    assert out.returncode == 0, out.stderr
    calls = env.calls()
    up = calls.index("pulumi up --yes --policy-pack infra/policy")
    upload = next(i for i, c in enumerate(calls) if c.startswith("gcloud storage rsync"))
    (build,) = [i for i, c in enumerate(calls) if c.startswith("gcloud builds submit")]
    assert up < upload < build
    assert calls[build] == (
        "gcloud builds submit --config cloudbuild.yaml --project my-proj --service-account "
        "projects/my-proj/serviceAccounts/bn-tts-deployer@my-proj.iam.gserviceaccount.com --substitutions="
        "COMMIT_SHA=0123456789abcdef0123456789abcdef01234567,_PULUMI_STACK=prod,_REGION=us-central1,"
        "_REPOSITORY=bn-tts,_BUCKET=output-bucket,_TARGET=gpu,_MODEL_VERSION=v2"
    )
    # A CPU stack builds the CPU image (the preflight refuses the other target's).
    env.config("bn-xtts:gpuType", "none")
    assert env.run("deploy.sh", "my-proj", "us-central1", str(src), "v3").returncode == 0
    assert [c for c in env.calls() if c.startswith("gcloud builds submit") and "_TARGET=cpu," in c]
    assert any(
        c.startswith(f"gcloud storage rsync --recursive {src} gs://output-bucket/models/bn-xtts/v2")
        for c in calls
    )


def test_deploy_refuses_uncommitted_changes(env: Env) -> None:
    (env.fake / "dirty").touch()
    out = env.run("deploy.sh", "my-proj", "us-central1", "b", "v2")
    assert out.returncode == 1 and "commit" in out.stderr
    assert [c.split()[0] for c in env.calls()] == ["git"]


def test_scripts_are_executable_and_valid_bash() -> None:
    for script in sorted(DEPLOY.glob("*.sh")):
        assert script.stat().st_mode & 0o111, script
        out = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        assert script.read_text().startswith("#!/usr/bin/env bash\n")
        assert "set -euo pipefail" in script.read_text()
