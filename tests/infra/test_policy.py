"""The policy pack's guard rails, as plain functions on good and bad resource inputs, and
through pulumi_policy's own policy objects."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from infra.policy import guardrails as g
from infra.policy.pack import policies
from tests.infra.pulumi_harness import synthesize
from tests.pulumi_mocks import Synth, analyzer_port


@pytest.fixture(scope="module")
def gpu() -> Synth:
    return synthesize({"bn-xtts:allowList": "203.0.113.0/24"})


@pytest.fixture(scope="module")
def cpu() -> Synth:
    return synthesize({"bn-xtts:gpuType": "none"})


def props(synth: Synth, typ: str) -> dict[str, Any]:
    return copy.deepcopy(synth.one(typ))


def container(p: dict[str, Any], *, job: bool = False) -> dict[str, Any]:
    template = p["template"]["template"] if job else p["template"]
    return template["containers"][0]


@pytest.mark.parametrize("which", ["gpu", "cpu"])
def test_the_program_passes_every_guard_rail(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    found = [(r.typ, v) for r in synth.resources for v in g.violations(r.typ, r.inputs)]
    assert found == []
    assert g.alerts_cover_signals(r.inputs for r in synth.of_type(g.ALERT)) == []


# ---- Cloud Run GPU shape -----------------------------------------------------------------------


def test_gpu_shape_rejects_a_missing_gpu_limit(gpu: Synth) -> None:
    p = props(gpu, g.SERVICE)
    del container(p)["resources"]["limits"]["nvidia.com/gpu"]
    assert any("exactly one container" in v for v in g.gpu_shape(p))


def test_gpu_shape_rejects_a_gpu_limit_without_a_node_selector(gpu: Synth) -> None:
    p = props(gpu, g.SERVICE)
    del p["template"]["nodeSelector"]
    assert any("nodeSelector" in v for v in g.gpu_shape(p))


@pytest.mark.parametrize(
    ("limit", "value", "expected"),
    [("cpu", "2", "at least 4 CPU"), ("cpu", "2000m", "at least 4 CPU"), ("memory", "8Gi", "16Gi"),
     ("memory", "4096Mi", "16Gi"), ("nvidia.com/gpu", "2", "must be 1")],
)  # fmt: skip
def test_gpu_shape_rejects_small_or_wrong_limits(gpu: Synth, limit: str, value: str, expected: str) -> None:
    p = props(gpu, g.SERVICE)
    container(p)["resources"]["limits"][limit] = value
    assert any(expected in v for v in g.gpu_shape(p))


def test_gpu_service_must_keep_cpu_allocated(gpu: Synth) -> None:
    p = props(gpu, g.SERVICE)
    container(p)["resources"]["cpuIdle"] = True
    assert any("cpuIdle" in v for v in g.gpu_shape(p))


def test_gpu_shape_checks_the_batch_job_too(gpu: Synth) -> None:
    p = props(gpu, g.JOB)
    assert g.gpu_shape(p, job=True) == []
    container(p, job=True)["resources"]["limits"]["memory"] = "8Gi"
    assert any("16Gi" in v for v in g.gpu_shape(p, job=True))


def test_cpu_only_service_needs_no_gpu_shape(cpu: Synth) -> None:
    assert g.gpu_shape(props(cpu, g.SERVICE)) == []


# ---- concurrency, probes, ingress, secrets -----------------------------------------------------


def _set_env(p: dict[str, Any], name: str, value: str | None) -> None:
    envs = [e for e in container(p)["envs"] if e["name"] != name]
    if value is not None:
        envs.append({"name": name, "value": value})
    container(p)["envs"] = envs


def test_concurrency_must_be_slots_plus_queue_plus_headroom(gpu: Synth) -> None:
    p = props(gpu, g.SERVICE)
    assert g.concurrency_matches_env(p) == []
    # The old rule (concurrency == slots) is now a violation: /health would compete for a slot.
    p["template"]["maxInstanceRequestConcurrency"] = 4
    assert g.concurrency_matches_env(p) == [
        "maxInstanceRequestConcurrency (4) must be TTS_WORKERS x (TTS_MAX_CONCURRENT_REQUESTS + "
        "TTS_QUEUE_SIZE + 4) = 12"
    ]
    p = props(gpu, g.SERVICE)
    _set_env(p, "TTS_QUEUE_SIZE", "10")
    assert "= 18" in g.concurrency_matches_env(p)[0]
    p = props(gpu, g.SERVICE)
    _set_env(p, "TTS_MAX_BATCH", "16")  # the serving side's GPU default, not the stack's slots
    assert g.concurrency_matches_env(p) == [
        "TTS_MAX_BATCH (16) must equal TTS_MAX_CONCURRENT_REQUESTS (4): one synthesis, one row"
    ]
    for name in ("TTS_MAX_CONCURRENT_REQUESTS", "TTS_MAX_BATCH", "TTS_QUEUE_SIZE", "TTS_WORKERS"):
        p = props(gpu, g.SERVICE)
        _set_env(p, name, None)
        assert name in g.concurrency_matches_env(p)[0]


def test_scaling_bounds_must_be_service_level(gpu: Synth) -> None:
    p = props(gpu, g.SERVICE)
    assert g.service_level_scaling(p) == []
    p["template"]["scaling"] = {"maxInstanceCount": 2}
    assert g.service_level_scaling(p) == [
        "template.scaling.maxInstanceCount is per revision; set it on the service's scaling instead"
    ]
    p = props(gpu, g.SERVICE)
    del p["scaling"]
    assert len(g.service_level_scaling(p)) == 1


@pytest.mark.parametrize("probe", ["startupProbe", "livenessProbe"])
def test_probes_must_get_health(gpu: Synth, probe: str) -> None:
    p = props(gpu, g.SERVICE)
    container(p)[probe]["httpGet"]["path"] = "/"
    assert g.health_probes(p) == [f"{probe} must be an HTTP GET on /health, got '/'"]
    del container(p)[probe]
    assert g.health_probes(p) == [f"{probe} must be an HTTP GET on /health, got None"]


@pytest.mark.parametrize("ingress", ["INGRESS_TRAFFIC_ALL", None])
def test_ingress_must_be_load_balancer_only(gpu: Synth, ingress: str | None) -> None:
    p = props(gpu, g.SERVICE)
    p["ingress"] = ingress
    assert len(g.ingress_lb_only(p)) == 1


def test_api_keys_may_not_be_a_plain_env_value(gpu: Synth) -> None:
    p = props(gpu, g.SERVICE)
    container(p)["envs"].append({"name": "TTS_API_KEYS", "value": "k" * 20})
    assert g.secrets_from_secret_manager(p) == [
        "TTS_API_KEYS must come from Secret Manager (valueSource.secretKeyRef), not a plain value"
    ]


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "TTS_API_KEYS", "value": "k" * 20},
        {
            "name": "TTS_API_KEYS",
            "valueSource": {"secretKeyRef": {"secret": "bn-tts-api-keys", "version": "1"}},
        },
    ],
)
def test_the_batch_job_gets_no_api_keys_at_all(gpu: Synth, entry: dict[str, Any]) -> None:
    p = props(gpu, g.JOB)
    assert g.job_without_api_keys(p) == []
    container(p, job=True)["envs"].append(entry)
    assert (
        g.violations(g.JOB, p).count(
            ("cloud-run-job-no-api-keys", "the job may not set TTS_API_KEYS: it needs no API keys")
        )
        == 1
    )


# ---- storage and IAM ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [("publicAccessPrevention", "inherited"), ("uniformBucketLevelAccess", False), ("versioning", None)],
)
def test_bucket_must_stay_private_and_versioned(gpu: Synth, key: str, value: Any) -> None:
    p = props(gpu, g.BUCKET)
    p[key] = value
    assert len(g.bucket_not_public(p)) == 1


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers"])
def test_bucket_iam_may_not_name_the_public(member: str) -> None:
    assert g.violations(g.BUCKET_IAM[0], {"member": member, "role": "roles/storage.objectViewer"})
    assert g.violations(g.BUCKET_IAM[1], {"members": ["user:a@example.com", member]})
    assert g.violations(g.BUCKET_IAM[0], {"member": "serviceAccount:x@p.iam.gserviceaccount.com"}) == []


def test_bucket_object_roles_must_be_limited_to_prefixes(gpu: Synth) -> None:
    binding = next(r.inputs for r in gpu.of_type(g.BUCKET_IAM[0]))
    assert g.iam_prefix_scoped(binding) == []
    unconditioned = {k: v for k, v in binding.items() if k != "condition"}
    assert g.iam_prefix_scoped(unconditioned) == [
        f"{binding['role']} must carry an IAM condition limiting it to object prefixes"
    ]
    assert g.iam_prefix_scoped({"role": "roles/storage.legacyBucketReader", "member": "x"}) == []


def test_bucket_acls_are_refused() -> None:
    assert g.violations("gcp:storage/objectAccessControl:ObjectAccessControl", {"entity": "allUsers"})


def test_project_wide_roles_are_refused() -> None:
    grant = {
        "project": "p",
        "role": "roles/storage.admin",
        "member": "serviceAccount:run@p.iam.gserviceaccount.com",
    }
    assert g.violations("gcp:projects/iAMMember:IAMMember", grant) == [
        ("no-project-wide-roles", "grant roles on the bucket, secret or job, not the project")
    ]


# ---- edge and schedule -------------------------------------------------------------------------


def test_armor_needs_a_per_ip_429_throttle(gpu: Synth) -> None:
    p = props(gpu, g.ARMOR)
    assert g.armor_rate_limits_with_429(p) == []
    for rule in p["rules"]:
        if "rateLimitOptions" in rule:
            rule["rateLimitOptions"]["exceedAction"] = "deny(403)"
    assert len(g.armor_rate_limits_with_429(p)) == 1
    shared = props(gpu, g.ARMOR)
    for rule in shared["rules"]:
        rule.get("rateLimitOptions", {}).pop("enforceOnKey", None)
    assert len(g.armor_rate_limits_with_429(shared)) == 1  # one bucket for all clients is not per-IP


def test_armor_needs_every_waf_rule_before_the_first_allow(gpu: Synth) -> None:
    p = props(gpu, g.ARMOR)
    assert g.armor_waf_before_allow(p) == []
    p["rules"] = [r for r in p["rules"] if "sqli-v33-stable" not in json.dumps(r)]
    assert g.armor_waf_before_allow(p) == [
        "no Cloud Armor rule evaluates the preconfigured WAF rule sqli-v33-stable"
    ]
    late = props(gpu, g.ARMOR)
    for rule in late["rules"]:
        if "xss-v33-stable" in json.dumps(rule):
            rule["priority"] = 5000  # after the rate-limit rule, which allows: never evaluated
    assert len(g.armor_waf_before_allow(late)) == 1


def test_scale_to_zero_allows_only_the_edge_probe(gpu: Synth) -> None:
    services = [r.inputs for r in gpu.of_type(g.SERVICE)]
    checks = [r.inputs for r in gpu.of_type(g.UPTIME)]
    assert g.scale_to_zero_unprobed(services, checks) == []
    health = copy.deepcopy(checks[0])
    health["httpCheck"]["path"] = "/health"
    assert g.scale_to_zero_unprobed(services, [*checks, health]) == [
        "uptime check on /health reaches the service, which scales to zero (minInstanceCount 0): "
        "probe /__edge/probe (answered by Cloud Armor) instead"
    ]
    warm = synthesize({"bn-xtts:minInstances": "1"})
    assert (
        g.scale_to_zero_unprobed(
            [r.inputs for r in warm.of_type(g.SERVICE)], [r.inputs for r in warm.of_type(g.UPTIME)]
        )
        == []
    )


def test_pack_stack_policy_checks_scale_to_zero(gpu: Synth) -> None:
    policy = next(x for x in policies() if x.name == "scale-to-zero-unprobed")
    assert isinstance(policy, StackValidationPolicy)
    check = copy.deepcopy(gpu.of_type(g.UPTIME)[0].inputs)
    check["httpCheck"]["path"] = "/health"
    resources = [
        PolicyResource(t, p, f"urn:{i}", str(i), _opts(), None, None, [], {})
        for i, (t, p) in enumerate([(g.SERVICE, props(gpu, g.SERVICE)), (g.UPTIME, check)])
    ]
    reported: list[str] = []
    policy.validate(StackValidationArgs(resources), lambda m, _u: reported.append(m))
    assert len(reported) == 1 and "/health" in reported[0]


def test_scheduler_must_call_with_a_service_account_token(gpu: Synth) -> None:
    p = props(gpu, g.SCHEDULER)
    assert g.scheduler_has_identity(p) == []
    del p["httpTarget"]["oauthToken"]
    assert len(g.scheduler_has_identity(p)) == 1
    p["httpTarget"]["oidcToken"] = {"serviceAccountEmail": "s@p.iam.gserviceaccount.com"}
    assert g.scheduler_has_identity(p) == []


@pytest.mark.parametrize("signal", ["latency", "batch_failed", "edge", "edge_5xx", "certificate"])
def test_alerts_must_cover_every_signal(gpu: Synth, signal: str) -> None:
    alerts = [r.inputs for r in gpu.of_type(g.ALERT) if r.inputs["userLabels"]["signal"] != signal]
    assert g.alerts_cover_signals(alerts) == [f"no alert policy for signal {signal!r}"]


# ---- through pulumi_policy ---------------------------------------------------------------------


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _run_resource_policy(name: str, typ: str, p: dict[str, Any]) -> list[str]:
    policy = next(x for x in policies() if x.name == name)
    assert isinstance(policy, ResourceValidationPolicy)
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    reported: list[str] = []
    policy.validate(
        ResourceValidationArgs(typ, p, "urn:x", "r", _opts(), None), lambda m, _u: reported.append(m)
    )
    return reported


def test_pack_reports_through_pulumi_policy(gpu: Synth) -> None:
    good = props(gpu, g.SERVICE)
    assert _run_resource_policy("cloud-run-ingress-lb-only", g.SERVICE, good) == []
    good["ingress"] = "INGRESS_TRAFFIC_ALL"
    assert _run_resource_policy("cloud-run-ingress-lb-only", g.SERVICE, good) != []
    # A policy reports only its own rule: the ingress breach is not a probe violation.
    assert _run_resource_policy("cloud-run-health-probes", g.SERVICE, good) == []


def test_values_unknown_during_preview_block_no_unrelated_policy(gpu: Synth) -> None:
    """In a preview, computed inputs (here the runtime account's e-mail) are unknown."""
    p = props(gpu, g.SERVICE)
    p["template"]["serviceAccount"] = UNKNOWN_STRING_VALUE
    container(p)["image"] = UNKNOWN_STRING_VALUE
    for policy in {name for name, _ in g.RESOURCE_CHECKS[g.SERVICE]}:
        assert _run_resource_policy(policy, g.SERVICE, unknown_checking_proxy(p)) == []
    # A policy that does read an unknown value raises, which pulumi_policy reports as advisory.
    p["ingress"] = UNKNOWN_STRING_VALUE
    with pytest.raises(UnknownValueError):
        _run_resource_policy("cloud-run-ingress-lb-only", g.SERVICE, unknown_checking_proxy(p))


def test_pack_stack_policy_checks_alert_coverage(gpu: Synth) -> None:
    policy = next(x for x in policies() if x.name == "alerts-cover-signals")
    assert isinstance(policy, StackValidationPolicy)

    def resources(kinds: list[tuple[str, dict[str, Any]]]) -> list[PolicyResource]:
        return [
            PolicyResource(t, p, f"urn:{i}", str(i), _opts(), None, None, [], {})
            for i, (t, p) in enumerate(kinds)
        ]

    reported: list[str] = []
    only_service = resources([(g.SERVICE, props(gpu, g.SERVICE))])
    policy.validate(StackValidationArgs(only_service), lambda m, _u: reported.append(m))
    assert len(reported) == len(g.REQUIRED_ALERT_SIGNALS)
    reported.clear()
    everything = resources([(r.typ, dict(r.inputs)) for r in gpu.resources])
    policy.validate(StackValidationArgs(everything), lambda m, _u: reported.append(m))
    assert reported == []


def test_every_policy_has_a_description_and_a_unique_name() -> None:
    names = [p.name for p in policies()]
    assert len(names) == len(set(names)) == len(g.DESCRIPTIONS)


def test_pack_entry_point_starts_the_analyzer() -> None:
    """What `pulumi preview --policy-pack infra/policy` runs: it prints its gRPC port and serves."""
    assert analyzer_port(Path(__file__).resolve().parents[2] / "infra" / "policy")


def test_the_packs_own_constants_match_the_program() -> None:
    """The pack runs in its own process and imports nothing from infra/ but itself."""
    from infra import config, edge

    assert g.CONCURRENCY_HEADROOM == config.CONCURRENCY_HEADROOM
    assert g.EDGE_PROBE_PATH == edge.EDGE_PROBE_PATH
    assert set(g.WAF_RULES) == set(edge.WAF_RULES)
