"""The AWS policy pack's guard rails: the program passes them, and each fires on a bad resource,
as plain functions and through pulumi_policy's own policy objects."""

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

from infra_aws.policy import guardrails as g
from infra_aws.policy.pack import STACK_CHECKS, policies
from tests.infra_aws.harness import IMAGE_TAG, synthesize
from tests.pulumi_mocks import Synth, analyzer_port, unsecret

ROOT = Path(__file__).resolve().parents[2]


def plain(value: Any) -> Any:
    """Inputs as a policy pack sees them: secrets unwrapped (pulumi_policy's deserializer)."""
    value = unsecret(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def public() -> Synth:
    return synthesize()


@pytest.fixture(scope="module")
def iam() -> Synth:
    return synthesize({"bn-xtts-aws:authType": "AWS_IAM", "bn-xtts-aws:apiKeys": None})


def props(synth: Synth, typ: str, name: str | None = None) -> dict[str, Any]:
    inputs = synth.one(typ) if name is None else synth.named(typ, name)
    return copy.deepcopy(plain(inputs))


def everything(synth: Synth) -> list[tuple[str, dict[str, Any]]]:
    return [(r.typ, plain(dict(r.inputs))) for r in synth.resources]


def stack_violations(resources: list[tuple[str, dict[str, Any]]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name in STACK_CHECKS:
        policy = next(p for p in policies() if p.name == name)
        assert isinstance(policy, StackValidationPolicy)
        reported: list[str] = []
        policy.validate(StackValidationArgs(_resources(resources)), lambda m, _u, r=reported: r.append(m))
        if reported:
            found[name] = reported
    return found


@pytest.mark.parametrize("which", ["public", "iam"])
def test_the_program_passes_every_guard_rail(which: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    assert [(t, v) for t, p in everything(synth) for v in g.violations(t, p)] == []
    assert stack_violations(everything(synth)) == {}


def test_the_bootstrap_run_passes_too() -> None:
    synth = synthesize({"bn-xtts-aws:image": None})
    assert [(t, v) for t, p in everything(synth) for v in g.violations(t, p)] == []
    assert stack_violations(everything(synth)) == {}


# ---- Lambda ------------------------------------------------------------------------------------


def test_image_must_be_pinned_by_digest(public: Synth) -> None:
    p = props(public, g.FUNCTION)
    assert g.image_by_digest(p) == []
    p["imageUri"] = IMAGE_TAG
    assert g.image_by_digest(p) == [f"imageUri must end in @sha256:DIGEST, got {IMAGE_TAG!r}"]
    p["packageType"] = "Zip"
    assert any("packageType" in v for v in g.image_by_digest(p))


def test_streaming_must_be_on_at_both_ends(public: Synth) -> None:
    url = props(public, g.FUNCTION_URL)
    url["invokeMode"] = "BUFFERED"
    assert g.url_streams(url) == ["invokeMode must be RESPONSE_STREAM (audio streams), got 'BUFFERED'"]
    fn = props(public, g.FUNCTION)
    fn["environment"]["variables"]["AWS_LWA_INVOKE_MODE"] = "buffered"
    assert len(g.adapter_streams(fn)) == 1
    del fn["environment"]["variables"]["AWS_LWA_INVOKE_MODE"]
    assert len(g.adapter_streams(fn)) == 1


def test_reserved_concurrency_zero_is_refused(public: Synth) -> None:
    p = props(public, g.FUNCTION)
    assert g.concurrency_not_zero(p) == []
    p["reservedConcurrentExecutions"] = 0
    assert len(g.concurrency_not_zero(p)) == 1
    del p["reservedConcurrentExecutions"]
    assert g.concurrency_not_zero(p) == []


def test_public_permissions_only_open_the_url(public: Synth) -> None:
    for grant in public.of_type(g.PERMISSION):
        assert g.permission_scoped(plain(dict(grant.inputs))) == []
    invoke = props(public, g.PERMISSION, "function-url-invoke")
    del invoke["invokedViaFunctionUrl"]
    assert len(g.permission_scoped(invoke)) == 1  # the plain Invoke API, to anyone
    url = props(public, g.PERMISSION, "function-url")
    url["functionUrlAuthType"] = "AWS_IAM"
    assert len(g.permission_scoped(url)) == 1
    assert len(g.permission_scoped({"action": "lambda:*", "principal": "123456789012"})) == 1
    assert (
        g.permission_scoped({"action": "lambda:InvokeFunction", "principal": "scheduler.amazonaws.com"}) == []
    )


def test_log_groups_need_a_retention(public: Synth) -> None:
    p = props(public, g.LOG_GROUP)
    assert g.log_retention_set(p) == []
    for bad in (None, 0, 10):
        p["retentionInDays"] = bad
        assert len(g.log_retention_set(p)) == 1


# ---- S3 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", g.ACCESS_BLOCK_FIELDS)
def test_every_public_access_block_setting_is_required(public: Synth, field: str) -> None:
    p = props(public, g.ACCESS_BLOCK)
    p[field] = False
    assert g.access_block_all(p) == [f"{field} must be true"]


def test_acls_stay_disabled(public: Synth) -> None:
    p = props(public, g.OWNERSHIP)
    p["rule"]["objectOwnership"] = "ObjectWriter"
    assert len(g.ownership_enforced(p)) == 1
    bucket = props(public, g.BUCKET)
    assert g.bucket_no_public_acl(bucket) == []
    bucket["acl"] = "public-read"
    assert len(g.bucket_no_public_acl(bucket)) == 1
    assert g.violations(g.BUCKET_ACLS[0], {"acl": "private"}) == [
        ("s3-bucket-private", "bucket ACLs are disabled (BucketOwnerEnforced)")
    ]


def _bucket_policy(public: Synth) -> tuple[dict[str, Any], dict[str, Any]]:
    p = props(public, g.BUCKET_POLICY)
    return p, json.loads(p["policy"])


def test_a_public_bucket_policy_is_refused(public: Synth) -> None:
    p, doc = _bucket_policy(public)
    for principal in ("*", {"AWS": "*"}, {"AWS": ["*"]}):
        opened = copy.deepcopy(doc)
        opened["Statement"].append(
            {
                "Sid": "Open",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:GetObject",
                "Resource": "x",
            }
        )
        assert len(g.bucket_policy_not_public({**p, "policy": json.dumps(opened)})) == 1


def test_the_bucket_policy_must_keep_tls_only(public: Synth) -> None:
    p, doc = _bucket_policy(public)
    assert g.bucket_tls_only(p) == []
    for mutate in (
        lambda s: s.update(Effect="Allow"),
        lambda s: s["Condition"]["Bool"].update({"aws:SecureTransport": "true"}),
        lambda s: s.update(Resource=[s["Resource"][0]]),  # the bucket only, not its objects
        lambda s: s.update(Action="s3:GetObject"),
    ):
        changed = copy.deepcopy(doc)
        mutate(changed["Statement"][0])
        assert len(g.bucket_tls_only({**p, "policy": json.dumps(changed)})) == 1


def test_versioning_and_encryption_are_required(public: Synth) -> None:
    versioning = props(public, g.VERSIONING)
    versioning["versioningConfiguration"]["status"] = "Suspended"
    assert len(g.bucket_versioned(versioning)) == 1
    assert len(g.bucket_encrypted({"rules": []})) == 1
    assert g.bucket_encrypted(props(public, g.ENCRYPTION)) == []


# ---- IAM and ECR -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        ({"Action": "s3:*", "Resource": "arn:aws:s3:::b/models/*"}, "wildcard"),
        ({"Action": "*", "Resource": "arn:aws:s3:::b/models/*"}, "wildcard"),
        ({"Action": "s3:Get*", "Resource": "arn:aws:s3:::b/models/*"}, "wildcard"),
        ({"Action": "s3:GetObject", "Resource": "*"}, "resource '*'"),
        ({"Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}, "every object"),
        ({"Action": "s3:ListBucket", "Resource": "arn:aws:s3:::*"}, "every bucket"),
        ({"NotAction": "iam:*", "Resource": "arn:aws:s3:::b/models/*"}, "NotAction"),
    ],
)
def test_role_policies_refuse_wildcards_and_whole_bucket_access(
    public: Synth, statement: dict[str, Any], fragment: str
) -> None:
    p = props(public, g.ROLE_POLICY, "identity")
    assert g.role_policy_least_privilege(p) == []
    doc = json.loads(p["policy"])
    doc["Statement"].append({"Sid": "Extra", "Effect": "Allow", **statement})
    found = g.role_policy_least_privilege({**p, "policy": json.dumps(doc)})
    assert found and all("'Extra'" in v for v in found) and any(fragment in v for v in found)


def test_repository_tags_are_immutable_and_scanned(public: Synth) -> None:
    p = props(public, g.REPOSITORY)
    assert g.repository_immutable_scanned(p) == []
    p["imageTagMutability"] = "MUTABLE"
    p["imageScanningConfiguration"]["scanOnPush"] = False
    assert len(g.repository_immutable_scanned(p)) == 2


# ---- stack-wide --------------------------------------------------------------------------------


def _without_keys(resources: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    changed = copy.deepcopy(resources)
    for typ, p in changed:
        if typ == g.FUNCTION:
            del p["environment"]["variables"]["TTS_API_KEYS"]
    return changed


def test_a_public_url_needs_the_apps_keys_and_an_iam_url_has_none(public: Synth, iam: Synth) -> None:
    found = stack_violations(_without_keys(everything(public)))
    assert list(found) == ["function-url-auth-matches-keys"]
    assert "NONE but the function has no TTS_API_KEYS" in found["function-url-auth-matches-keys"][0]
    assert stack_violations(everything(iam)) == {}
    with_keys = copy.deepcopy(everything(iam))
    for typ, p in with_keys:
        if typ == g.FUNCTION:
            p["environment"]["variables"]["TTS_API_KEYS"] = "key-aaaaaaaaaaaaaaaa"
    found = stack_violations(with_keys)
    assert (
        list(found) == ["function-url-auth-matches-keys"]
        and "AWS_IAM" in found["function-url-auth-matches-keys"][0]
    )


def test_each_function_needs_its_log_group_in_the_stack(public: Synth) -> None:
    resources = [(t, p) for t, p in everything(public) if t != g.LOG_GROUP]
    assert stack_violations(resources) == {
        "function-log-group-managed": ["no log group '/aws/lambda/bn-tts' in the stack for function 'bn-tts'"]
    }


@pytest.mark.parametrize("metric", g.REQUIRED_ALARM_METRICS)
def test_each_function_needs_its_alarms(public: Synth, metric: str) -> None:
    resources = [(t, p) for t, p in everything(public) if not (t == g.ALARM and p["metricName"] == metric)]
    assert stack_violations(resources) == {
        "alarms-cover-functions": [f"no alarm on {metric} (with alarmActions) for function 'bn-tts'"]
    }


# ---- through pulumi_policy ---------------------------------------------------------------------


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _resources(kinds: list[tuple[str, dict[str, Any]]]) -> list[PolicyResource]:
    return [
        PolicyResource(t, p, f"urn:{i}", str(i), _opts(), None, None, [], {})
        for i, (t, p) in enumerate(kinds)
    ]


def _run_resource_policy(name: str, typ: str, p: Any) -> list[str]:
    policy = next(x for x in policies() if x.name == name)
    assert isinstance(policy, ResourceValidationPolicy)
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    reported: list[str] = []
    policy.validate(
        ResourceValidationArgs(typ, p, "urn:x", "r", _opts(), None), lambda m, _u: reported.append(m)
    )
    return reported


def test_pack_reports_through_pulumi_policy(public: Synth) -> None:
    url = props(public, g.FUNCTION_URL)
    assert _run_resource_policy("lambda-streaming", g.FUNCTION_URL, url) == []
    url["invokeMode"] = "BUFFERED"
    assert _run_resource_policy("lambda-streaming", g.FUNCTION_URL, url) != []
    bucket_policy = props(public, g.BUCKET_POLICY)
    bucket_policy["policy"] = json.dumps({"Statement": []})
    # A policy reports only its own rule: a policy without the TLS deny is not a public one.
    assert _run_resource_policy("s3-bucket-private", g.BUCKET_POLICY, bucket_policy) == []
    assert _run_resource_policy("s3-bucket-tls-only", g.BUCKET_POLICY, bucket_policy) != []


def test_values_unknown_during_preview_block_no_unrelated_policy(public: Synth) -> None:
    """In a preview the role ARN is unknown; the function's other policies still run."""
    p = props(public, g.FUNCTION)
    p["role"] = UNKNOWN_STRING_VALUE
    for policy in {name for name, _ in g.RESOURCE_CHECKS[g.FUNCTION]}:
        assert _run_resource_policy(policy, g.FUNCTION, unknown_checking_proxy(p)) == []
    p["imageUri"] = UNKNOWN_STRING_VALUE
    with pytest.raises(UnknownValueError):
        _run_resource_policy("lambda-image-by-digest", g.FUNCTION, unknown_checking_proxy(p))


def test_every_policy_has_a_description_and_a_unique_name() -> None:
    names = [p.name for p in policies()]
    assert len(names) == len(set(names)) == len(g.DESCRIPTIONS)
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in policies())


def test_pack_entry_point_starts_the_analyzer() -> None:
    """What `pulumi preview --policy-pack policy` runs: it prints its gRPC port and serves."""
    assert analyzer_port(ROOT / "infra_aws" / "policy")


def test_the_packs_own_constants_match_the_program() -> None:
    """The pack runs in its own process and imports nothing from infra_aws/ but itself."""
    from infra_aws import alarms, config, serving

    assert g.URL_INVOKE_MODE == serving.URL_INVOKE_MODE
    assert g.ADAPTER_INVOKE_MODE == serving.ADAPTER_INVOKE_MODE
    assert g.LOG_RETENTION_DAYS == config.LOG_RETENTION_DAYS
    assert g.AUTH_NONE == config.AUTH_NONE
    assert alarms.PERIOD_S > 0 and set(g.REQUIRED_ALARM_METRICS) == {"Errors", "Throttles", "Duration"}
