"""The first deploy, the release record, the APIs and the budget: what the program looks up before
it declares anything (answered by FakeCloud, as the provider's data sources would), what it then
declares, and in which order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import propagation, release
from infra.apis import BASE_APIS, BUDGET_API
from infra.config import ConfigError
from tests.infra.pulumi_harness import (
    BUCKET,
    DIGEST,
    GET_BUCKETS,
    GET_IMAGE,
    GET_OBJECTS,
    GET_SERVICE,
    IMAGE_DIGEST,
    IMAGE_TAG,
    REPOSITORY,
    FakeCloud,
    synthesize,
)
from tests.pulumi_mocks import Synth

SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
OBJECT = "gcp:storage/bucketObject:BucketObject"
API = "gcp:projects/service:Service"
BUDGET = "gcp:billing/budget:Budget"
WAIT = "pulumi-python:dynamic/bn-xtts:PropagationWait"
OLD_DIGEST = f"{REPOSITORY}/server@sha256:" + "cd" * 32
NEW_TAG = f"{REPOSITORY}/server:fedcba9"
NEW_DIGEST = f"{REPOSITORY}/server@sha256:" + "ef" * 32


def record(synth: Synth) -> dict[str, object]:
    (obj,) = [o.inputs for o in synth.of_type(OBJECT) if o.inputs["name"] == "deploy/test/release.json"]
    assert obj["bucket"] == BUCKET and obj["contentType"] == "application/json"
    content = obj["content"]
    if isinstance(content, dict):  # the provider marks `content` secret: kept encrypted in the state
        content = content["value"]
    return dict(json.loads(content))


# ---- 1. the first deploy: bucket and registry, bundle, image, then the service --------------------


def test_an_empty_project_gets_the_foundation_only_even_with_an_image_configured() -> None:
    cloud = FakeCloud(buckets=set(), objects={})
    synth = synthesize(cloud=cloud)
    assert not synth.of_type(SERVICE) and not synth.of_type(JOB) and not synth.of_type(OBJECT)
    assert synth.of_type("gcp:storage/bucket:Bucket")
    assert synth.of_type("gcp:artifactregistry/repository:Repository")
    assert "does not exist yet" in synth.warnings[0]
    # Only the bucket was looked up: nothing else can exist before it.
    assert [t for t, _ in cloud.calls] == [GET_BUCKETS]
    assert cloud.calls[0][1] == {"project": "tts-prod-123", "prefix": BUCKET}


def test_the_service_is_refused_while_the_bundle_manifest_is_missing() -> None:
    """Declaring it anyway made the revision fail its startup probe and the create call fail, with
    the service left in Google Cloud but not in the state (next run: 409 already exists)."""
    cloud = FakeCloud(objects={})
    with pytest.raises(ConfigError) as err:
        synthesize(cloud=cloud)
    message = str(err.value)
    assert err.value.key == "bn-xtts:modelVersion"
    assert f"gs://{BUCKET}/models/bn-xtts/v1/fp16/manifest.json is missing" in message
    assert "deploy/upload-bundle.sh bundles/bn-xtts-v1 gs://" in message
    # Looked up exactly (a glob that matches only that name), at preview time.
    lookups = [a for t, a in cloud.calls if t == GET_OBJECTS]
    assert {"bucket": BUCKET, "matchGlob": "models/bn-xtts/v1/fp16/manifest.json"} in lookups


def test_the_manifest_checked_is_the_configured_variant_and_version() -> None:
    cloud = FakeCloud(objects={"models/bn-xtts/v2/int8/manifest.json": "{}"})
    synth = synthesize({"bn-xtts:modelVersion": "v2", "bn-xtts:gpuType": "none"}, cloud)
    assert synth.of_type(SERVICE)
    with pytest.raises(ConfigError, match=r"models/bn-xtts/v2/fp16/manifest\.json is missing"):
        synthesize({"bn-xtts:modelVersion": "v2"}, cloud)


def test_an_image_that_was_never_pushed_is_refused() -> None:
    cloud = FakeCloud(images={})
    with pytest.raises(ConfigError) as err:
        synthesize(cloud=cloud)
    assert err.value.key == "bn-xtts:image"
    assert f"{IMAGE_TAG} is not in Artifact Registry" in str(err.value)
    (call,) = [a for t, a in cloud.calls if t == GET_IMAGE]
    assert call == {"project": "tts-prod-123", "location": "us-central1", "repositoryId": "bn-tts",
                    "imageName": "server:0123abc"}  # fmt: skip


def test_an_image_built_for_the_other_target_is_refused() -> None:
    """Issue 24: GPU and CPU builds of one commit shared `server:<sha>`, so one of them deployed the
    other's image (the CPU image on an L4 has no CUDA provider)."""
    cpu_image, gpu_image = f"{REPOSITORY}/server-cpu:0123abc", f"{REPOSITORY}/server-gpu:0123abc"
    cloud = FakeCloud(images={cpu_image: NEW_DIGEST.replace("server", "server-cpu"), gpu_image: IMAGE_DIGEST})
    with pytest.raises(ConfigError) as err:
        synthesize({"bn-xtts:image": cpu_image}, cloud)
    assert err.value.key == "bn-xtts:image"
    assert "is the CPU image, and this stack runs on an nvidia-l4" in str(err.value)
    assert "_TARGET=gpu" in str(err.value)
    cloud.objects["models/bn-xtts/v1/int8/manifest.json"] = "{}"
    with pytest.raises(ConfigError, match="is the GPU image, and this stack runs on CPU"):
        synthesize({"bn-xtts:image": gpu_image, "bn-xtts:gpuType": "none"}, cloud)
    assert synthesize({"bn-xtts:image": cpu_image, "bn-xtts:gpuType": "none"}, cloud).of_type(SERVICE)


def test_the_service_is_deployed_by_digest() -> None:
    synth = synthesize()
    (c,) = synth.one(SERVICE)["template"]["containers"]
    assert c["image"] == IMAGE_DIGEST and DIGEST in c["image"]
    assert synth.one(JOB)["template"]["template"]["containers"][0]["image"] == IMAGE_DIGEST


# ---- 6. one source of truth for the image and the model version ----------------------------------


def test_the_first_release_is_recorded_after_the_service_and_the_job() -> None:
    synth = synthesize()
    assert record(synth) == {"version": 1, "image": IMAGE_DIGEST, "modelVersion": "v1", "history": []}
    urn = synth.urn(OBJECT, "release")
    deps = synth.depends_on(urn)
    assert synth.urn(SERVICE) in deps and synth.urn(JOB) in deps


def test_a_plain_up_keeps_what_the_pipeline_deployed() -> None:
    """The pipeline's `-c bn-xtts:image=... -c bn-xtts:modelVersion=v2` lives only in its own copy
    of the stack file; a later run without them must deploy the recorded release, not roll back."""
    cloud = FakeCloud()
    cloud.objects["models/bn-xtts/v2/fp16/manifest.json"] = "{}"
    cloud.deployed(IMAGE_DIGEST, "v2", [(OLD_DIGEST, "v1")])
    synth = synthesize({"bn-xtts:image": None}, cloud)
    (c,) = synth.one(SERVICE)["template"]["containers"]
    env = {e["name"]: e.get("value") for e in c["envs"]}
    assert c["image"] == IMAGE_DIGEST
    assert env["TTS_MODEL_PATH"] == f"gs://{BUCKET}/models/bn-xtts/v2/"
    assert record(synth)["history"] == [{"image": OLD_DIGEST, "modelVersion": "v1"}]  # unchanged


@pytest.mark.parametrize(
    "config",
    [{"bn-xtts:image": None}, {}],  # a plain `pulumi up`; the pipeline with an image only
    ids=["plain-up", "image-only"],
)
def test_a_missing_record_while_the_service_runs_stops_the_run(config: dict[str, str | None]) -> None:
    """Issue 24: with the record gone (an interrupted replacement, `pulumi stack rename`, a clean-up)
    a plain `pulumi up` planned "foundation only" and deleted the whole edge; with an image alone the
    pipeline silently deployed model v1."""
    cloud = FakeCloud(services={"bn-tts"})
    with pytest.raises(ConfigError) as err:
        synthesize(config, cloud)
    message = str(err.value)
    assert err.value.key == "bn-xtts:image"
    assert "release record gs://" in message and "is missing, but the service bn-tts is deployed" in message
    assert "gcloud storage ls --all-versions gs://" in message and "#GENERATION" in message
    (call,) = [a for t, a in cloud.calls if t == GET_SERVICE]
    assert call == {"name": "bn-tts", "location": "us-central1", "project": "tts-prod-123"}


def test_a_missing_record_with_the_release_named_in_full_starts_a_new_record() -> None:
    cloud = FakeCloud(services={"bn-tts"})
    synth = synthesize({"bn-xtts:modelVersion": "v1"}, cloud)
    assert synth.of_type(SERVICE) and record(synth)["image"] == IMAGE_DIGEST


def test_the_record_is_rewritten_in_place_and_the_ip_and_certificate_are_kept() -> None:
    """A new release replaces the record object: retained, its "delete" is a no-op and the create
    overwrites it, so there is never a moment without a record."""
    synth = synthesize()
    assert synth.options[synth.urn(OBJECT, "release")] == {
        "protect": False,
        "retain_on_delete": True,
        "delete_before_replace": True,
    }
    assert synth.options[synth.urn("gcp:compute/globalAddress:GlobalAddress")]["protect"]
    assert synth.options[synth.urn("gcp:compute/managedSslCertificate:ManagedSslCertificate")][
        "retain_on_delete"
    ]


def test_quality_alerts_wait_for_the_metrics_the_first_deploy_creates() -> None:
    """Issue 24: set before the first deploy, qualityWarningShare made the run fail half-way (Cloud
    Monitoring refuses an alert on a log-based metric it does not know yet)."""
    with pytest.raises(ConfigError) as err:
        synthesize({"bn-xtts:qualityWarningShare": "0.2"})
    assert err.value.key == "bn-xtts:qualityWarningShare" and "first deploy" in str(err.value)
    cloud = FakeCloud()
    cloud.deployed(IMAGE_DIGEST, "v1")  # a later run: the metrics exist
    assert synthesize({"bn-xtts:qualityWarningShare": "0.2"}, cloud).of_type(SERVICE)


def test_a_stale_stack_file_cannot_roll_the_release_back() -> None:
    cloud = FakeCloud()
    cloud.images[OLD_DIGEST] = OLD_DIGEST
    cloud.deployed(IMAGE_DIGEST, "v1", [(OLD_DIGEST, "v1")])
    with pytest.raises(ConfigError) as err:
        synthesize({"bn-xtts:image": OLD_DIGEST}, cloud)
    assert err.value.key == "bn-xtts:image"
    message = str(err.value)
    assert f"{OLD_DIGEST} is an earlier release; {IMAGE_DIGEST} is deployed" in message
    assert "pulumi config rm image" in message and "BN_XTTS_ALLOW_ROLLBACK=1 pulumi up" in message

    cloud.objects["models/bn-xtts/v2/fp16/manifest.json"] = "{}"
    cloud.deployed(IMAGE_DIGEST, "v2", [(IMAGE_DIGEST, "v1")])
    with pytest.raises(ConfigError, match=r"^bn-xtts:modelVersion: v1 is an earlier release; v2 is deployed"):
        synthesize({"bn-xtts:modelVersion": "v1"}, cloud)


def test_a_rollback_on_purpose_is_one_flag_for_one_run() -> None:
    cloud = FakeCloud()
    cloud.images[OLD_DIGEST] = OLD_DIGEST
    cloud.deployed(IMAGE_DIGEST, "v1", [(OLD_DIGEST, "v1")])
    synth = synthesize({"bn-xtts:image": OLD_DIGEST}, cloud, allow_rollback=True)
    assert synth.one(SERVICE)["template"]["containers"][0]["image"] == OLD_DIGEST
    assert record(synth) == {
        "version": 1,
        "image": OLD_DIGEST,
        "modelVersion": "v1",
        "history": [
            {"image": OLD_DIGEST, "modelVersion": "v1"},
            {"image": IMAGE_DIGEST, "modelVersion": "v1"},
        ],
    }


def test_a_new_image_and_version_become_the_release_and_the_old_one_history() -> None:
    cloud = FakeCloud()
    cloud.images[NEW_TAG] = NEW_DIGEST
    cloud.objects["models/bn-xtts/v2/fp16/manifest.json"] = "{}"
    cloud.deployed(IMAGE_DIGEST, "v1")
    synth = synthesize({"bn-xtts:image": NEW_TAG, "bn-xtts:modelVersion": "v2"}, cloud)
    assert record(synth) == {
        "version": 1,
        "image": NEW_DIGEST,
        "modelVersion": "v2",
        "history": [{"image": IMAGE_DIGEST, "modelVersion": "v1"}],
    }
    assert synth.outputs["image"] == NEW_DIGEST and synth.outputs["model_version"] == "v2"


def test_the_same_release_again_changes_nothing() -> None:
    first = record(synthesize())
    cloud = FakeCloud()
    cloud.objects["deploy/test/release.json"] = release.Release(IMAGE_DIGEST, "v1").to_json()
    assert record(synthesize(cloud=cloud)) == first  # tag and digest name the same image


def test_a_corrupt_record_stops_the_run_with_the_way_out() -> None:
    cloud = FakeCloud()
    cloud.objects["deploy/test/release.json"] = "not json"
    with pytest.raises(ConfigError, match=r"release record gs://.*/deploy/test/release\.json is not valid"):
        synthesize(cloud=cloud)


def test_the_record_keeps_a_bounded_history() -> None:
    r = release.Release("i0", "v0")
    for n in range(1, release.HISTORY_KEPT + 10):
        r = r.advanced_to(f"i{n}", "v0")
    assert len(r.history) == release.HISTORY_KEPT and r.history[-1] == (f"i{release.HISTORY_KEPT + 8}", "v0")
    assert release.Release.from_json(r.to_json(), "x") == r


# ---- APIs enabled by the program, before everything else ------------------------------------------


def test_the_apis_are_enabled_by_the_program_and_never_disabled() -> None:
    synth = synthesize()
    apis = {s.inputs["service"]: s.inputs for s in synth.of_type(API)}
    assert set(apis) == set(BASE_APIS)
    assert {"run.googleapis.com", "compute.googleapis.com", "secretmanager.googleapis.com"} <= set(apis)
    assert all(a["disableOnDestroy"] is False and a["project"] == "tts-prod-123" for a in apis.values())


def test_every_resource_waits_for_the_apis() -> None:
    synth = synthesize({"bn-xtts:billingAccount": "012345-6789AB-CDEF01", "bn-xtts:budgetAmount": "500"})
    api_urns = {synth.urn(API, r.name) for r in synth.of_type(API)}
    assert len(api_urns) == len(BASE_APIS) + 1
    (settled,) = [r for r in synth.of_type(WAIT) if r.name == "apis-settled"]
    assert settled.inputs["after"] == sorted((*BASE_APIS, BUDGET_API))
    assert settled.inputs["seconds"] >= 60  # the provider's FAQ: "wait a few minutes"
    assert api_urns <= synth.depends_on(synth.urn(WAIT, "apis-settled"))
    exempt = {API, "pulumi:providers:gcp", "pulumi:providers:pulumi-python"}
    custom = [r for r in synth.resources if r.custom and r.typ not in exempt and r.name != "apis-settled"]
    assert len(custom) > 30
    for r in custom:
        missing = (api_urns | {synth.urn(WAIT, "apis-settled")}) - synth.depends_on(synth.urn(r.typ, r.name))
        assert not missing, f"{r.typ} {r.name} does not wait for {sorted(missing)}"


def test_the_service_and_the_job_start_after_their_grants_have_had_time_to_spread() -> None:
    # Cloud Run checks the secret grant when it creates the revision; grants "typically propagate
    # in 2 minutes" (https://cloud.google.com/iam/docs/access-change-propagation).
    synth = synthesize()
    (wait,) = [r for r in synth.of_type(WAIT) if r.name == "access-settled"]
    grants = [*synth.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")]
    grants += synth.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
    assert len(grants) == 5 and wait.inputs["seconds"] >= 120
    assert sorted(wait.inputs["after"]) == sorted(f"{g.name}-id" for g in grants)
    wait_urn = synth.urn(WAIT, "access-settled")
    assert {synth.urn(g.typ, g.name) for g in grants} <= synth.depends_on(wait_urn)
    assert wait_urn in synth.depends_on(synth.urn(SERVICE, "service"))
    assert wait_urn in synth.depends_on(synth.urn(JOB, "batch"))


def test_a_wait_waits_when_created_and_again_only_when_what_it_guards_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(propagation.time, "sleep", slept.append)
    provider = propagation.wait_provider()
    props = {"after": ["grant-a", "grant-b"], "seconds": 120, "reason": "new IAM grants"}
    provider.create(props)
    assert slept == [120.0]
    same = provider.diff("id", props, dict(props))
    assert not same.changes and not same.replaces
    longer = provider.diff("id", props, {**props, "seconds": 300})
    assert longer.changes and not longer.replaces  # an in-place update: no wait
    provider.update("id", props, {**props, "seconds": 300})
    assert slept == [120.0]
    new_grant = provider.diff("id", props, {**props, "after": ["grant-a", "grant-c"]})
    assert new_grant.replaces == ["after"]


def test_the_wait_loads_in_pulumis_provider_host_without_this_repository(tmp_path: Path) -> None:
    # Pulumi pickles a dynamic provider into the state and runs it in its own Python host, which
    # does not have the repository on its path (https://github.com/pulumi/pulumi/issues/7453).
    synth = synthesize()
    (wait,) = [r for r in synth.of_type(WAIT) if r.name == "apis-settled"]
    provider = wait.inputs["__provider"]  # registered as a secret: {signature: ..., "value": ...}
    load = (
        "import base64, sys, dill\n"
        "p = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        "print(p.create({'seconds': 0, 'reason': 'r', 'after': []}).id)\n"
        "print(p.diff('r', {'after': ['a']}, {'after': ['b']}).replaces)\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", load],
        check=False,
        input=provider["value"] if isinstance(provider, dict) else provider,
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["r", "['after']"]


def test_a_second_run_declares_exactly_what_the_first_did() -> None:
    # A first run cut short by propagation is completed by running `pulumi up` again
    # (docs/deploy-gcp.md, First deploy): that is a no-op for everything already created only if
    # the program declares the same inputs and options each time (no timestamps, nothing random,
    # waits keyed on stable ids).
    def declared(synth: Synth) -> list[tuple[str, str, str]]:
        return sorted(
            (r.typ, r.name, json.dumps(r.inputs, sort_keys=True, default=str)) for r in synth.resources
        )

    first, second = synthesize(cloud=FakeCloud()), synthesize(cloud=FakeCloud())
    assert declared(first) == declared(second)
    assert first.options == second.options and first.outputs == second.outputs


# ---- the budget --------------------------------------------------------------------------------------


def test_no_budget_without_a_billing_account() -> None:
    synth = synthesize()
    assert not synth.of_type(BUDGET)
    assert BUDGET_API not in {s.inputs["service"] for s in synth.of_type(API)}


def test_budget_alerts_at_thresholds_for_this_project() -> None:
    synth = synthesize({"bn-xtts:billingAccount": "012345-6789AB-CDEF01", "bn-xtts:budgetAmount": "500"})
    budget = synth.one(BUDGET)
    assert budget["billingAccount"] == "012345-6789AB-CDEF01"
    assert budget["amount"] == {"specifiedAmount": {"units": "500"}}
    assert budget["budgetFilter"] == {"projects": ["projects/123456789012"], "calendarPeriod": "MONTH"}
    rules = [(r["thresholdPercent"], r.get("spendBasis", "CURRENT_SPEND")) for r in budget["thresholdRules"]]
    assert rules == [
        (0.5, "CURRENT_SPEND"),
        (0.9, "CURRENT_SPEND"),
        (1.0, "CURRENT_SPEND"),
        (1.0, "FORECASTED_SPEND"),
    ]
    assert budget["allUpdatesRule"]["monitoringNotificationChannels"] == ["monitoring-email-id"]
    (provider,) = [r for r in synth.resources if r.typ == "pulumi:providers:gcp"]
    assert (
        provider.inputs["userProjectOverride"] == "true"
        and provider.inputs["billingProject"] == "tts-prod-123"
    )
    assert BUDGET_API in {s.inputs["service"] for s in synth.of_type(API)}
