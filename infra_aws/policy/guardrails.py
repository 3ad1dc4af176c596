"""Guard-rail checks for the AWS deployment, as plain functions over a resource's inputs
(camelCase, as Pulumi passes them to a policy pack). Each returns the list of violations; empty
means compliant. The pack runs in its own process and imports nothing from infra_aws/ but this
package: the constants below mirror the program's (a test keeps them equal)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Props = Mapping[str, Any]
Check = Callable[[Props], list[str]]

FUNCTION = "aws:lambda/function:Function"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKET = "aws:s3/bucket:Bucket"
ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
REPOSITORY = "aws:ecr/repository:Repository"

URL_INVOKE_MODE = "RESPONSE_STREAM"
ADAPTER_INVOKE_MODE = "response_stream"
KEYS_ENV = "TTS_API_KEYS"
AUTH_NONE = "NONE"
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
REQUIRED_ALARM_METRICS = ("Errors", "Throttles", "Duration")
ACCESS_BLOCK_FIELDS = ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
PUBLIC_CANNED_ACLS = ("public-read", "public-read-write", "authenticated-read")
_DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}$")


def _env(props: Props) -> Mapping[str, Any]:
    return ((props.get("environment") or {}).get("variables")) or {}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _document(raw: Any) -> Mapping[str, Any]:
    """A policy input: JSON text (as the program passes it) or an already-parsed object."""
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return raw if isinstance(raw, Mapping) else {}


def _statements(raw: Any) -> list[Mapping[str, Any]]:
    return [s for s in _as_list(_document(raw).get("Statement")) if isinstance(s, Mapping)]


# ---- Lambda ------------------------------------------------------------------------------------


def image_by_digest(props: Props) -> list[str]:
    """The function runs an image by digest: a tag could name another build tomorrow, a digest
    never. The program resolves the configured tag itself, so this holds for every stack."""
    problems = []
    if props.get("packageType") != "Image":
        problems.append(f"packageType must be Image (the container), got {props.get('packageType')!r}")
    if not _DIGEST_RE.search(str(props.get("imageUri") or "")):
        problems.append(f"imageUri must end in @sha256:DIGEST, got {props.get('imageUri')!r}")
    return problems


def adapter_streams(props: Props) -> list[str]:
    """The Lambda Web Adapter streams only with AWS_LWA_INVOKE_MODE=response_stream, the pair of
    the URL's RESPONSE_STREAM."""
    mode = _env(props).get("AWS_LWA_INVOKE_MODE")
    if mode != ADAPTER_INVOKE_MODE:
        return [f"AWS_LWA_INVOKE_MODE must be {ADAPTER_INVOKE_MODE!r} (the URL streams), got {mode!r}"]
    return []


def concurrency_not_zero(props: Props) -> list[str]:
    """A reservation of 0 throttles every invocation: the function would serve nothing."""
    if props.get("reservedConcurrentExecutions") == 0:
        return ["reservedConcurrentExecutions 0 switches the function off; leave it out or set >= 1"]
    return []


def url_streams(props: Props) -> list[str]:
    problems = []
    if props.get("invokeMode") != URL_INVOKE_MODE:
        problems.append(
            f"invokeMode must be {URL_INVOKE_MODE} (audio streams), got {props.get('invokeMode')!r}"
        )
    if props.get("authorizationType") not in ("AWS_IAM", AUTH_NONE):
        problems.append(f"authorizationType must be AWS_IAM or NONE, got {props.get('authorizationType')!r}")
    return problems


def permission_scoped(props: Props) -> list[str]:
    """Anyone (`*`) may only call the function through its URL: InvokeFunctionUrl for an auth
    type NONE URL, or InvokeFunction when invoked via a function URL; never the Invoke API."""
    action = str(props.get("action") or "")
    problems = []
    if action.endswith("*"):
        problems.append(f"action {action!r} is a wildcard")
    if props.get("principal") != "*":
        return problems
    url_only = (action == "lambda:InvokeFunctionUrl" and props.get("functionUrlAuthType") == AUTH_NONE) or (
        action == "lambda:InvokeFunction" and props.get("invokedViaFunctionUrl") is True
    )
    if not url_only:
        problems.append(
            f"principal '*' may only get lambda:InvokeFunctionUrl (functionUrlAuthType NONE) or "
            f"lambda:InvokeFunction with invokedViaFunctionUrl, got {action!r}"
        )
    return problems


def log_retention_set(props: Props) -> list[str]:
    days = props.get("retentionInDays")
    if days in (None, 0) or int(days) not in LOG_RETENTION_DAYS:
        return [
            f"retentionInDays must be one of CloudWatch's periods (never-expire is not allowed), got {days!r}"
        ]
    return []


# ---- S3 ----------------------------------------------------------------------------------------


def access_block_all(props: Props) -> list[str]:
    return [f"{f} must be true" for f in ACCESS_BLOCK_FIELDS if props.get(f) is not True]


def ownership_enforced(props: Props) -> list[str]:
    ownership = (props.get("rule") or {}).get("objectOwnership")
    if ownership != "BucketOwnerEnforced":
        return [f"objectOwnership must be BucketOwnerEnforced (ACLs disabled), got {ownership!r}"]
    return []


def bucket_no_public_acl(props: Props) -> list[str]:
    problems = []
    if props.get("acl") in PUBLIC_CANNED_ACLS:
        problems.append(f"acl {props.get('acl')!r} makes objects public")
    if props.get("grants"):
        problems.append("grants (ACLs) are not used: access is IAM and the bucket policy only")
    return problems


def _is_public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in _as_list(v) for v in principal.values())
    return False


def bucket_policy_not_public(props: Props) -> list[str]:
    return [
        f"statement {s.get('Sid', '?')!r} allows everyone ({s.get('Principal')!r})"
        for s in _statements(props.get("policy"))
        if s.get("Effect") == "Allow" and _is_public_principal(s.get("Principal"))
    ]


def bucket_tls_only(props: Props) -> list[str]:
    """A Deny of s3:* to everyone when aws:SecureTransport is false, on the bucket and its
    objects."""
    for s in _statements(props.get("policy")):
        condition = ((s.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
        resources = [str(r) for r in _as_list(s.get("Resource"))]
        if (
            s.get("Effect") == "Deny"
            and _is_public_principal(s.get("Principal"))
            and "s3:*" in _as_list(s.get("Action"))
            and str(condition).lower() == "false"
            and any(r.endswith("/*") for r in resources)
            and any(not r.endswith("/*") for r in resources)
        ):
            return []
    return [
        "the bucket policy must deny s3:* without TLS (aws:SecureTransport false) on the bucket and objects"
    ]


def bucket_versioned(props: Props) -> list[str]:
    status = (props.get("versioningConfiguration") or {}).get("status")
    return [] if status == "Enabled" else [f"versioning must be Enabled, got {status!r}"]


def bucket_encrypted(props: Props) -> list[str]:
    rules = _as_list(props.get("rules"))
    algorithms = [(r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") for r in rules]
    if not any(a in ("AES256", "aws:kms", "aws:kms:dsse") for a in algorithms):
        return ["a default server-side encryption rule is required"]
    return []


# ---- IAM and ECR -------------------------------------------------------------------------------


def role_policy_least_privilege(props: Props) -> list[str]:
    """Every Allow names its actions (no wildcard) and its resources (no `*`, no NotAction or
    NotResource), and no S3 object access spans the whole bucket (objects are reached per prefix)."""
    problems = []
    for s in _statements(props.get("policy")):
        if s.get("Effect") != "Allow":
            continue
        sid = s.get("Sid", "?")
        for key in ("NotAction", "NotResource"):
            if key in s:
                problems.append(f"statement {sid!r}: {key} grants everything else")
        for action in _as_list(s.get("Action")):
            if "*" in str(action):
                problems.append(f"statement {sid!r}: action {action!r} is a wildcard")
        for resource in _as_list(s.get("Resource")):
            text = str(resource)
            if text == "*":
                problems.append(f"statement {sid!r}: resource '*'")
            elif text.startswith("arn:") and ":s3:::" in text and text.endswith(":::*"):
                problems.append(f"statement {sid!r}: every bucket ({text})")
            elif ":s3:::" in text and re.fullmatch(r".*:s3:::[^/]+/\*", text):
                problems.append(f"statement {sid!r}: every object of the bucket ({text}); name the prefix")
    return problems


def repository_immutable_scanned(props: Props) -> list[str]:
    problems = []
    if props.get("imageTagMutability") != "IMMUTABLE":
        problems.append("imageTagMutability must be IMMUTABLE (a tag names one build)")
    if (props.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
        problems.append("imageScanningConfiguration.scanOnPush must be true")
    return problems


def forbidden(reason: str) -> Check:
    def check(_props: Props) -> list[str]:
        return [reason]

    return check


# ---- stack-wide ----------------------------------------------------------------------------------


def url_auth_matches_keys(function_props: Iterable[Props], url_props: Iterable[Props]) -> list[str]:
    """A Function URL with auth type NONE is public: the app's own API keys are then the only
    check, so its function must have them. Behind AWS_IAM it must not: the SigV4 signature takes
    the Authorization header the app reads `Bearer KEY` from, so keys would refuse every signed
    request."""
    with_keys = {str(f.get("name")) for f in function_props if str(_env(f).get(KEYS_ENV) or "").strip()}
    problems = []
    for u in url_props:
        name, auth = str(u.get("functionName")), u.get("authorizationType")
        if auth == AUTH_NONE and name not in with_keys:
            problems.append(
                f"the Function URL of {name!r} has authorizationType NONE but the function has no "
                f"{KEYS_ENV}: set apiKeys, or use AWS_IAM"
            )
        elif auth != AUTH_NONE and name in with_keys:
            problems.append(
                f"the Function URL of {name!r} has authorizationType {auth} and the function has "
                f"{KEYS_ENV}: signed requests carry no Bearer key, so every one would be refused"
            )
    return problems


def function_log_group_managed(
    function_props: Iterable[Props], log_group_props: Iterable[Props]
) -> list[str]:
    """Each function's log group is declared in the stack (with its retention); else Lambda
    creates one itself on the first invocation, unmanaged and kept forever."""
    groups = {str(g.get("name")) for g in log_group_props}
    problems = []
    for f in function_props:
        group = (f.get("loggingConfig") or {}).get("logGroup") or f"/aws/lambda/{f.get('name')}"
        if group not in groups:
            problems.append(f"no log group {group!r} in the stack for function {f.get('name')!r}")
    return problems


def alarms_cover_functions(function_props: Iterable[Props], alarm_props: Iterable[Props]) -> list[str]:
    """Each function has alarms, with somewhere to send them, on Errors, Throttles and Duration."""
    covered = {
        (str((a.get("dimensions") or {}).get("FunctionName")), a.get("metricName"))
        for a in alarm_props
        if a.get("namespace") == "AWS/Lambda" and a.get("alarmActions")
    }
    return [
        f"no alarm on {metric} (with alarmActions) for function {f.get('name')!r}"
        for f in function_props
        for metric in REQUIRED_ALARM_METRICS
        if (str(f.get("name")), metric) not in covered
    ]


# resource type -> (policy name, check)
RESOURCE_CHECKS: dict[str, list[tuple[str, Check]]] = {
    FUNCTION: [
        ("lambda-image-by-digest", image_by_digest),
        ("lambda-streaming", adapter_streams),
        ("lambda-concurrency-not-zero", concurrency_not_zero),
    ],
    FUNCTION_URL: [("lambda-streaming", url_streams)],
    PERMISSION: [("lambda-public-only-through-url", permission_scoped)],
    LOG_GROUP: [("log-retention-set", log_retention_set)],
    BUCKET: [("s3-bucket-private", bucket_no_public_acl)],
    ACCESS_BLOCK: [("s3-bucket-private", access_block_all)],
    OWNERSHIP: [("s3-bucket-private", ownership_enforced)],
    BUCKET_POLICY: [("s3-bucket-private", bucket_policy_not_public), ("s3-bucket-tls-only", bucket_tls_only)],
    **{
        t: [("s3-bucket-private", forbidden("bucket ACLs are disabled (BucketOwnerEnforced)"))]
        for t in BUCKET_ACLS
    },
    VERSIONING: [("s3-bucket-versioned-encrypted", bucket_versioned)],
    ENCRYPTION: [("s3-bucket-versioned-encrypted", bucket_encrypted)],
    ROLE_POLICY: [("iam-least-privilege", role_policy_least_privilege)],
    REPOSITORY: [("ecr-immutable-scanned", repository_immutable_scanned)],
}

DESCRIPTIONS = {
    "lambda-image-by-digest": "the function runs a container image by digest",
    "lambda-streaming": "Function URL and adapter both stream (RESPONSE_STREAM, response_stream)",
    "lambda-concurrency-not-zero": "reserved concurrency is left out or at least 1, never 0",
    "lambda-public-only-through-url": "a public permission only opens the Function URL, never the Invoke API",
    "log-retention-set": "log groups have one of CloudWatch's retention periods",
    "s3-bucket-private": "public access blocked, ACLs disabled, no public bucket policy or ACL",
    "s3-bucket-tls-only": "the bucket policy denies requests without TLS",
    "s3-bucket-versioned-encrypted": "the bucket is versioned and encrypted by default",
    "iam-least-privilege": "role policies name their actions and resources; S3 objects by prefix",
    "ecr-immutable-scanned": "the repository has immutable tags and scans on push",
    "function-url-auth-matches-keys": "a NONE Function URL needs the app's API keys; an AWS_IAM one has none",
    "function-log-group-managed": "each function's log group is declared in the stack",
    "alarms-cover-functions": "each function has Errors, Throttles and Duration alarms with actions",
}


def violations(resource_type: str, props: Props) -> list[tuple[str, str]]:
    """All (policy, message) violations of one resource."""
    return [(name, msg) for name, check in RESOURCE_CHECKS.get(resource_type, []) for msg in check(props)]
