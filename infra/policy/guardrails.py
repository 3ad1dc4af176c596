"""Guard-rail checks as plain functions over a resource's inputs (camelCase, as Pulumi passes
them to a policy pack). Each returns the list of violations; empty means compliant."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Props = Mapping[str, Any]
Check = Callable[[Props], list[str]]

SERVICE = "gcp:cloudrunv2/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = ("gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:storage/bucketIAMBinding:BucketIAMBinding")
BUCKET_ACLS = (
    "gcp:storage/bucketAccessControl:BucketAccessControl",
    "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
    "gcp:storage/objectAccessControl:ObjectAccessControl",
)
PROJECT_IAM = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/iAMBinding:IAMBinding",
    "gcp:projects/iAMPolicy:IAMPolicy",
    "gcp:organizations/iAMMember:IAMMember",
    "gcp:organizations/iAMBinding:IAMBinding",
    "gcp:organizations/iAMPolicy:IAMPolicy",
)
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
SCHEDULER = "gcp:cloudscheduler/job:Job"
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"

GPU = "nvidia.com/gpu"
GPU_MIN_CPU = 4
GPU_MIN_MEMORY_GIB = 16
HEALTH_PATH = "/health"
CONCURRENCY_ENV = "TTS_MAX_CONCURRENT_REQUESTS"
BATCH_ENV = "TTS_MAX_BATCH"
QUEUE_ENV = "TTS_QUEUE_SIZE"
WORKERS_ENV = "TTS_WORKERS"
# Requests beyond slots + queue per worker: gunicorn's extra threads (function/gunicorn.conf.py).
CONCURRENCY_HEADROOM = 4
# The path Cloud Armor answers itself (infra/edge.py): the only one an uptime check may probe
# while the service scales to zero.
EDGE_PROBE_PATH = "/__edge/probe"
WAF_RULES = (
    "sqli-v33-stable",
    "xss-v33-stable",
    "lfi-v33-stable",
    "rce-v33-stable",
    "rfi-v33-stable",
    "scannerdetection-v33-stable",
    "protocolattack-v33-stable",
)
SECRET_ENVS = ("TTS_API_KEYS",)
LB_ONLY_INGRESS = ("INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "INGRESS_TRAFFIC_INTERNAL_ONLY")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
REQUIRED_ALERT_SIGNALS = (
    "5xx",
    "latency",
    "max_instances",
    "cold_start",
    "batch_failed",
    "edge",
    "edge_5xx",
    "certificate",
)


def _containers(props: Props, *, job: bool) -> tuple[Props, Sequence[Props]]:
    """The pod-level template and its containers for a service or a job."""
    template: Props = props.get("template") or {}
    if job:
        template = template.get("template") or {}
    return template, template.get("containers") or []


def _memory_gib(value: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(Gi|Mi|G|M)", str(value))
    if not m:
        return 0.0
    number, unit = float(m.group(1)), m.group(2)
    return {"Gi": number, "G": number * 1e9 / 2**30, "Mi": number / 1024, "M": number * 1e6 / 2**30}[unit]


def _cpu(value: Any) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text or 0)


def gpu_shape(props: Props, *, job: bool = False) -> list[str]:
    """A GPU workload selects its accelerator, asks for exactly one GPU, at least 4 CPU and
    16 GiB, and (a service) keeps its CPU allocated."""
    template, containers = _containers(props, job=job)
    accelerator = (template.get("nodeSelector") or {}).get("accelerator")
    problems: list[str] = []
    with_gpu = [c for c in containers if GPU in ((c.get("resources") or {}).get("limits") or {})]
    if not accelerator:
        if with_gpu:
            problems.append(f"a container asks for {GPU} but the template has no nodeSelector.accelerator")
        return problems
    if len(with_gpu) != 1:
        problems.append(f"exactly one container must set limits[{GPU}] when nodeSelector.accelerator is set")
    for c in with_gpu:
        resources = c.get("resources") or {}
        limits = resources.get("limits") or {}
        if str(limits.get(GPU)) != "1":
            problems.append(f"limits[{GPU}] must be 1, got {limits.get(GPU)!r}")
        if _cpu(limits.get("cpu", 0)) < GPU_MIN_CPU:
            problems.append(f"a GPU container needs at least {GPU_MIN_CPU} CPU, got {limits.get('cpu')!r}")
        if _memory_gib(limits.get("memory", "")) < GPU_MIN_MEMORY_GIB:
            problems.append(
                f"a GPU container needs at least {GPU_MIN_MEMORY_GIB}Gi memory, got {limits.get('memory')!r}"
            )
        if not job and resources.get("cpuIdle") is not False:
            problems.append("a GPU service must set resources.cpuIdle to false (CPU always allocated)")
    return problems


def concurrency_matches_env(props: Props) -> list[str]:
    """Cloud Run sends an instance at most what its workers can hold: each worker's synthesis slots
    (TTS_MAX_CONCURRENT_REQUESTS, equal to TTS_MAX_BATCH, the decode batch), its wait queue
    (TTS_QUEUE_SIZE) and a few requests that never take a slot (/health, /voices, monitoring, the
    app's own 429s). Equal to the number of gunicorn threads, so no request waits for a thread."""
    template, containers = _containers(props, job=False)
    limit = template.get("maxInstanceRequestConcurrency")
    envs: dict[str, Any] = {}
    for c in containers:
        for env in c.get("envs") or []:
            if "value" in env:
                envs[env.get("name")] = env.get("value")
    missing = [n for n in (CONCURRENCY_ENV, BATCH_ENV, QUEUE_ENV, WORKERS_ENV) if n not in envs]
    if missing:
        return [f"the container must set {', '.join(missing)} (the engine's slots, batch, queue, workers)"]
    try:
        slots, batch, queue, workers = (
            int(envs[n]) for n in (CONCURRENCY_ENV, BATCH_ENV, QUEUE_ENV, WORKERS_ENV)
        )
    except (TypeError, ValueError):
        return ["TTS_MAX_CONCURRENT_REQUESTS, TTS_MAX_BATCH, TTS_QUEUE_SIZE and TTS_WORKERS must be integers"]
    problems = []
    if batch != slots:
        problems.append(
            f"{BATCH_ENV} ({batch}) must equal {CONCURRENCY_ENV} ({slots}): one synthesis, one row"
        )
    expected = workers * (slots + queue + CONCURRENCY_HEADROOM)
    if limit is None or int(limit) != expected:
        problems.append(
            f"maxInstanceRequestConcurrency ({limit}) must be {WORKERS_ENV} x ({CONCURRENCY_ENV} + "
            f"{QUEUE_ENV} + {CONCURRENCY_HEADROOM}) = {expected}"
        )
    return problems


def service_level_scaling(props: Props) -> list[str]:
    """The instance bounds are the service's (all revisions together), not a revision's: a
    template maximum lets an old and a new revision each hold that many GPUs during a rollout."""
    problems = []
    scaling = props.get("scaling") or {}
    if scaling.get("maxInstanceCount") in (None, 0):
        problems.append("set scaling.maxInstanceCount on the service (the combined bound for all revisions)")
    template_scaling = (props.get("template") or {}).get("scaling") or {}
    for field in ("maxInstanceCount", "minInstanceCount"):
        if template_scaling.get(field) is not None:
            problems.append(
                f"template.scaling.{field} is per revision; set it on the service's scaling instead"
            )
    return problems


def health_probes(props: Props) -> list[str]:
    """Startup and liveness probes both ask GET /health."""
    _, containers = _containers(props, job=False)
    problems = []
    for c in containers:
        for probe in ("startupProbe", "livenessProbe"):
            path = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
            if path != HEALTH_PATH:
                problems.append(f"{probe} must be an HTTP GET on {HEALTH_PATH}, got {path!r}")
    return problems


def ingress_lb_only(props: Props) -> list[str]:
    ingress = props.get("ingress")
    if ingress not in LB_ONLY_INGRESS:
        return [f"ingress must be one of {', '.join(LB_ONLY_INGRESS)}, got {ingress!r}"]
    return []


def secrets_from_secret_manager(props: Props, *, job: bool = False) -> list[str]:
    _, containers = _containers(props, job=job)
    return [
        f"{env['name']} must come from Secret Manager (valueSource.secretKeyRef), not a plain value"
        for c in containers
        for env in c.get("envs") or []
        if env.get("name") in SECRET_ENVS and env.get("value") is not None
    ]


def job_without_api_keys(props: Props) -> list[str]:
    """The batch job serves no HTTP: it gets no API keys, in any form (its account has no access
    to the secret either)."""
    _, containers = _containers(props, job=True)
    return [
        f"the job may not set {env['name']}: it needs no API keys"
        for c in containers
        for env in c.get("envs") or []
        if env.get("name") in SECRET_ENVS
    ]


def bucket_not_public(props: Props) -> list[str]:
    problems = []
    if props.get("publicAccessPrevention") != "enforced":
        problems.append("publicAccessPrevention must be 'enforced'")
    if props.get("uniformBucketLevelAccess") is not True:
        problems.append("uniformBucketLevelAccess must be true (no per-object ACLs)")
    if (props.get("versioning") or {}).get("enabled") is not True:
        problems.append("versioning must be enabled (bundle rollbacks and recovery)")
    return problems


def iam_not_public(props: Props) -> list[str]:
    members = [props.get("member"), *(props.get("members") or [])]
    return [f"{m} may not be granted access to the bucket" for m in members if m in PUBLIC_MEMBERS]


def iam_prefix_scoped(props: Props) -> list[str]:
    """Object access on the bucket is granted per prefix (e.g. the service: models/ read-only,
    voices/ read-write; the batch job: batch/in/ read-only, batch/out/ read-write), through an
    IAM condition on the object name."""
    condition = (props.get("condition") or {}).get("expression") or ""
    if str(props.get("role", "")).startswith("roles/storage.object") and "/objects/" not in condition:
        return [f"{props.get('role')} must carry an IAM condition limiting it to object prefixes"]
    return []


def forbidden(reason: str) -> Check:
    def check(_props: Props) -> list[str]:
        return [reason]

    return check


def _rate_limited(rule: Props) -> bool:
    options = rule.get("rateLimitOptions") or {}
    return (
        rule.get("action") in ("throttle", "rate_based_ban")
        and options.get("exceedAction") == "deny(429)"
        and options.get("enforceOnKey") in ("IP", "XFF_IP")  # the API default, ALL, is one shared bucket
    )


def armor_rate_limits_with_429(props: Props) -> list[str]:
    if any(_rate_limited(rule) for rule in props.get("rules") or []):
        return []
    return ["the Cloud Armor policy needs a per-IP throttle rule whose exceedAction is deny(429)"]


def _expression(rule: Props) -> str:
    return str(((rule.get("match") or {}).get("expr") or {}).get("expression") or "")


def armor_waf_before_allow(props: Props) -> list[str]:
    """Each preconfigured WAF rule set denies, and comes before every rule that allows: Cloud Armor
    stops at the first matching rule, so a WAF rule after an allowing rate limit never runs."""
    rules = list(props.get("rules") or [])
    allowing = [
        int(r.get("priority", 0))
        for r in rules
        if r.get("action") == "allow" or (r.get("rateLimitOptions") or {}).get("conformAction") == "allow"
    ]
    first_allow = min(allowing, default=2**31)
    problems = []
    for name in WAF_RULES:
        found = [r for r in rules if f"evaluatePreconfiguredWaf('{name}'" in _expression(r)]
        if not found:
            problems.append(f"no Cloud Armor rule evaluates the preconfigured WAF rule {name}")
        elif not any(
            str(r.get("action", "")).startswith("deny") and int(r.get("priority", 0)) < first_allow
            for r in found
        ):
            problems.append(
                f"the {name} rule must deny and come before every allowing rule (priority < {first_allow})"
            )
    return problems


def scheduler_has_identity(props: Props) -> list[str]:
    target = props.get("httpTarget")
    if target is None:
        return []
    token = target.get("oauthToken") or target.get("oidcToken") or {}
    if not token.get("serviceAccountEmail"):
        return ["an HTTP scheduler job must call with an OAuth or OIDC token of a service account"]
    return []


def scale_to_zero_unprobed(service_props: Iterable[Props], uptime_props: Iterable[Props]) -> list[str]:
    """Stack-wide: while a service may scale to zero, no uptime check may reach it (one every
    minute keeps an instance, and its GPU, up around the clock). Only the edge probe, which Cloud
    Armor answers itself, may run."""
    if all(int((p.get("scaling") or {}).get("minInstanceCount") or 0) >= 1 for p in service_props):
        return []
    paths = [str((p.get("httpCheck") or {}).get("path") or "/") for p in uptime_props]
    return [
        f"uptime check on {path} reaches the service, which scales to zero (minInstanceCount 0): "
        f"probe {EDGE_PROBE_PATH} (answered by Cloud Armor) instead"
        for path in paths
        if path != EDGE_PROBE_PATH
    ]


def alerts_cover_signals(alert_props: Iterable[Props]) -> list[str]:
    """Stack-wide: one alert policy per signal the on-call relies on (labelled `signal`)."""
    signals = {(p.get("userLabels") or {}).get("signal") for p in alert_props}
    missing = [s for s in REQUIRED_ALERT_SIGNALS if s not in signals]
    return [f"no alert policy for signal {s!r}" for s in missing]


# resource type -> (policy name, check)
RESOURCE_CHECKS: dict[str, list[tuple[str, Check]]] = {
    SERVICE: [
        ("cloud-run-gpu-shape", gpu_shape),
        ("cloud-run-concurrency-matches-engine", concurrency_matches_env),
        ("cloud-run-service-level-scaling", service_level_scaling),
        ("cloud-run-health-probes", health_probes),
        ("cloud-run-ingress-lb-only", ingress_lb_only),
        ("cloud-run-secrets-from-secret-manager", secrets_from_secret_manager),
    ],
    JOB: [
        ("cloud-run-gpu-shape", lambda p: gpu_shape(p, job=True)),
        ("cloud-run-secrets-from-secret-manager", lambda p: secrets_from_secret_manager(p, job=True)),
        ("cloud-run-job-no-api-keys", job_without_api_keys),
    ],
    BUCKET: [("bucket-not-public", bucket_not_public)],
    **{
        t: [("bucket-not-public", iam_not_public), ("bucket-access-by-prefix", iam_prefix_scoped)]
        for t in BUCKET_IAM
    },
    **{t: [("bucket-not-public", forbidden("use IAM (uniform access), not ACLs"))] for t in BUCKET_ACLS},
    **{
        t: [("no-project-wide-roles", forbidden("grant roles on the bucket, secret or job, not the project"))]
        for t in PROJECT_IAM
    },
    ARMOR: [("armor-rate-limit-429", armor_rate_limits_with_429), ("armor-waf", armor_waf_before_allow)],
    SCHEDULER: [("scheduler-has-identity", scheduler_has_identity)],
}

DESCRIPTIONS = {
    "cloud-run-gpu-shape": "GPU workloads: accelerator, one nvidia.com/gpu, >= 4 CPU, >= 16Gi, CPU always on",
    "cloud-run-concurrency-matches-engine": (
        "request concurrency = workers x (slots + queue + headroom); decode batch = slots"
    ),
    "cloud-run-service-level-scaling": "instance bounds are set on the service, not per revision",
    "cloud-run-health-probes": "startup and liveness probes GET /health",
    "cloud-run-ingress-lb-only": "the service is reachable only through the load balancer",
    "cloud-run-secrets-from-secret-manager": "API keys come from Secret Manager",
    "cloud-run-job-no-api-keys": "the batch job gets no API keys",
    "bucket-not-public": "the bucket is private, uniform-access and versioned; no public members or ACLs",
    "bucket-access-by-prefix": "object roles on the bucket are limited to prefixes by IAM conditions",
    "no-project-wide-roles": "no project- or organization-wide IAM grants",
    "armor-rate-limit-429": "Cloud Armor throttles each client IP with HTTP 429",
    "armor-waf": "Cloud Armor runs the preconfigured WAF rules, denying, before any rule that allows",
    "scheduler-has-identity": "scheduler HTTP jobs authenticate as a service account",
    "alerts-cover-signals": (
        "alert policies exist for 5xx ratio, p95 latency, max instances, cold starts, failed batch "
        "executions, the edge probe, the load balancer's 5xx ratio and the certificate"
    ),
    "scale-to-zero-unprobed": "with minInstanceCount 0, no uptime check reaches the service",
}


def violations(resource_type: str, props: Props) -> list[tuple[str, str]]:
    """All (policy, message) violations of one resource."""
    return [(name, msg) for name, check in RESOURCE_CHECKS.get(resource_type, []) for msg in check(props)]
