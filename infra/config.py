"""Typed stack configuration: the one place that reads and validates `pulumi config`.

Every value is checked here, before any resource is declared, and a bad value raises
`ConfigError` naming the key (e.g. `bn-xtts:minInstances`) and what would be accepted.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import pulumi

from infra import stack_config
from infra.stack_config import ConfigError, Getter, Reader, check_known

NAMESPACE = "bn-xtts"
SECRET_KEY = "apiKeys"
NO_GPU = "none"
GPU_TYPES = ("nvidia-l4",)
VARIANTS = ("fp32", "fp16", "int8")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Cloud Run limits (services and jobs).
GPU_MIN_CPU = 4
GPU_MIN_MEMORY_GIB = 16
# Memory each whole-CPU count accepts, in GiB (min, max): the "CPU and memory" table of
# https://cloud.google.com/run/docs/configuring/services/cpu (jobs: .../jobs/cpu and
# .../jobs/memory-limits give the same bounds). Anything else the Admin API refuses at deploy time.
CPU_MEMORY_GIB = {1: (1, 4), 2: (1, 8), 4: (2, 16), 6: (4, 24), 8: (4, 32)}
CPU_CHOICES = tuple(CPU_MEMORY_GIB)
MAX_MEMORY_GIB = 32
MAX_REQUEST_TIMEOUT_S = 3600
# The serving side admits at most 256 concurrent syntheses (TTS_MAX_CONCURRENT_REQUESTS, and
# TTS_MAX_BATCH rows per decode step) and queues at most 1024 more (TTS_QUEUE_SIZE).
MAX_CONCURRENCY = 256
MAX_QUEUE = 1024
# Cloud Run's per-instance request concurrency is at most 1000
# (https://cloud.google.com/run/docs/about-concurrency).
MAX_CONTAINER_CONCURRENCY = 1000
# Requests an instance takes beyond the engine's slots and wait queue: /health, voice listings,
# monitoring calls and the app's own fast 429 answers. function/gunicorn.conf.py gives each worker
# exactly this many threads more than slots + queue, so every request Cloud Run sends finds a thread.
CONCURRENCY_HEADROOM = 4
# Google's external Application Load Balancer appends "<client-ip>,<lb-ip>" to X-Forwarded-For
# (https://cloud.google.com/load-balancing/docs/https#x-forwarded-for_header): the client is the
# second entry from the right (TTS_FORWARDED_FOR_HOPS, read by the serving side).
FORWARDED_FOR_HOPS = 2
# Cloud Armor: a rate-based ban's duration is one of these
# (https://cloud.google.com/armor/docs/rate-limiting-overview).
BAN_DURATIONS_S = (60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600)
# A rate-based ban's rate_limit_threshold count is at most 10,000 (same page).
MAX_BAN_RATE = 10_000
MAX_REQUEST_BYTES = 32 * 1024 * 1024  # Cloud Run's HTTP/1 request size limit
# Cloud Run jobs (https://cloud.google.com/run/docs/configuring/task-timeout): a task attempt runs
# at most 168 hours (7 days), 1 hour when it uses a GPU (longer GPU tasks are a Preview feature;
# GPU tasks are also not live-migrated, so maintenance ends them: keep them short and retried).
MAX_TASK_TIMEOUT_S = 7 * 24 * 3600
MAX_GPU_TASK_TIMEOUT_S = 3600
# https://cloud.google.com/run/quotas: at most 10,000 tasks in a job and 10 retries per task;
# parallelism is limited by quota (CPU, memory, and here the L4 GPU quota) and may not exceed the
# task count (https://cloud.google.com/run/docs/configuring/parallelism). 0 ("as many as quota
# allows") is not offered: with GPUs every parallel task holds one against the quota.
MAX_TASKS = 10_000
# https://cloud.google.com/run/docs/configuring/max-retries: 0..10 per task, default 3.
MAX_TASK_RETRIES = 10
# Cloud Armor matches at most 10 source ranges per rule.
ALLOW_LIST_CHUNK = 10

# Every key of the bn-xtts namespace (documented in Pulumi.example.yaml); anything else is a typo.
KNOWN_KEYS = (
    "alertEmail", "allowList", SECRET_KEY, "banDurationSeconds", "banThreshold", "batchMaxRetries",
    "batchOutputDays", "batchParallelism", "batchSchedule", "batchTaskTimeoutSeconds", "batchTasks",
    "batchTimeZone", "billingAccount", "budgetAmount", "bundleVersionsKept", "concurrency", "cpu",
    "deletionProtection", "domain", "edgeRequireAuth", "gpuType", "gpuZonalRedundancy", "image",
    "latencyAlertMs", "logLevel", "maxInstances", "maxRequestBytes", "maxTextChars", "memory",
    "minInstances", "modelName", "modelVariant", "modelVersion", "name", "qualityWarningShare",
    "queueSize", "rateLimitPerMinute", "requestTimeoutSeconds", "wafPreview",
)  # fmt: skip
# Not a config key (a config value set with `pulumi up -c` is saved into the stack file and would
# allow every later rollback too): set for one run only, `BN_XTTS_ALLOW_ROLLBACK=1 pulumi up`.
ALLOW_ROLLBACK_ENV = "BN_XTTS_ALLOW_ROLLBACK"

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{2,19}[a-z0-9]$")
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IMAGE_RE = re.compile(
    r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+"
    r"(?P<ref>:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@sha256:[0-9a-f]{64})$"
)
_CRON_FIELD_RE = re.compile(r"^[0-9A-Za-z*,/-]+$")
_BILLING_ACCOUNT_RE = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")


@dataclass(frozen=True)
class DeployConfig:
    """Everything the program needs, already validated."""

    stack: str
    project: str
    region: str
    name: str
    gpu_type: str
    gpu_zonal_redundancy: bool
    cpu: int
    memory_gib: int
    min_instances: int
    max_instances: int
    concurrency: int
    queue_size: int
    request_timeout_s: int
    model_name: str
    model_version: str
    model_variant: str
    image: str | None
    domain: str
    alert_email: str
    allow_list: tuple[str, ...]
    rate_limit_per_minute: int
    ban_threshold: int
    ban_duration_s: int
    edge_require_auth: bool
    waf_preview: bool
    billing_account: str | None
    budget_amount: int | None
    batch_schedule: str | None
    batch_time_zone: str
    batch_tasks: int
    batch_parallelism: int
    batch_task_timeout_s: int
    batch_max_retries: int
    log_level: str
    max_text_chars: int
    max_request_bytes: int
    latency_alert_ms: int
    # The quality alert's threshold: share of checked syntheses with a warning in an hour (None: no
    # alert; infra/monitoring/ says why it is opt-in).
    quality_warning_share: float | None
    bundle_versions_kept: int
    batch_output_days: int
    deletion_protection: bool
    # Whether the stack sets modelVersion itself (else the deployed release's version is kept).
    model_version_set: bool = False
    # BN_XTTS_ALLOW_ROLLBACK for this run: a release older than the deployed one may be deployed.
    allow_rollback: bool = False

    @property
    def gpu(self) -> bool:
        return self.gpu_type != NO_GPU

    @property
    def bucket_name(self) -> str:
        return f"{self.project}-{self.name}-models"

    @property
    def memory_limit(self) -> str:
        return f"{self.memory_gib}Gi"

    @property
    def model_prefix(self) -> str:
        """Object prefix of the bundle directory the service loads (it picks `<variant>/` inside)."""
        return f"models/{self.model_name}/{self.model_version}/"

    @property
    def image_repository(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.name}"

    @property
    def manifest_path(self) -> str:
        """The object whose presence makes the configured bundle variant complete (uploaded last)."""
        return f"{self.model_prefix}{self.model_variant}/manifest.json"

    @property
    def workers(self) -> int:
        """Model processes per instance: one owns the GPU; on CPU one per 4 cores (as the serving
        side's own default, function/config.py; the stack sets TTS_WORKERS so both agree)."""
        return _workers(self.gpu, self.cpu)

    @property
    def container_concurrency(self) -> int:
        """Cloud Run's per-instance request concurrency: every worker's synthesis slots and wait
        queue plus headroom for requests that never take a slot (/health, /voices, monitoring, the
        app's own 429s). Equal to gunicorn's threads per instance (function/gunicorn.conf.py)."""
        return self.workers * (self.concurrency + self.queue_size + CONCURRENCY_HEADROOM)


def parse_config(
    get: Getter,
    gcp_get: Getter,
    *,
    stack: str,
    provided: Iterable[str] = (),
    allow_rollback: bool = False,
) -> DeployConfig:
    """Build a DeployConfig from raw string values (`get` reads the `bn-xtts:` namespace,
    `gcp_get` the provider's `gcp:` namespace). `provided` names the keys the stack sets, so
    that a misspelt one is an error instead of a silently ignored setting."""
    check_known(provided, NAMESPACE, KNOWN_KEYS)
    cfg = _parse(Reader(NAMESPACE, get), gcp_get, stack)
    return replace(cfg, allow_rollback=allow_rollback)


def _parse(r: Reader, gcp_get: Getter, stack: str) -> DeployConfig:
    project = _require_match(gcp_get("project"), "gcp:project", _PROJECT_RE, "a GCP project id")
    region = gcp_get("region") or "us-central1"
    if not _REGION_RE.match(region):
        raise ConfigError("gcp:region", f"expected a region such as us-central1, got {region!r}")

    name = r.string("name", "bn-tts")
    if not _NAME_RE.match(name):
        raise ConfigError(r.key("name"), f"4-21 characters: lowercase letters, digits and '-', got {name!r}")

    gpu_type = r.string("gpuType", GPU_TYPES[0])
    if gpu_type not in (*GPU_TYPES, NO_GPU):
        raise ConfigError(r.key("gpuType"), f"one of {', '.join((*GPU_TYPES, NO_GPU))}, got {gpu_type!r}")
    gpu = gpu_type != NO_GPU
    zonal = r.boolean("gpuZonalRedundancy", False)
    if zonal and not gpu:
        raise ConfigError(r.key("gpuZonalRedundancy"), "only applies with a GPU (gpuType is none)")

    cpu, memory_gib = _instance_shape(r, gpu)

    min_instances = r.integer("minInstances", 0, low=0, high=1000)
    max_instances = r.integer("maxInstances", 2 if gpu else 4, low=1, high=1000)
    if min_instances > max_instances:
        raise ConfigError(
            r.key("minInstances"), f"{min_instances} is more than maxInstances ({max_instances})"
        )

    variant = r.string("modelVariant", "fp16" if gpu else "int8")
    if variant not in VARIANTS:
        raise ConfigError(r.key("modelVariant"), f"one of {', '.join(VARIANTS)}, got {variant!r}")
    if variant == "fp16" and not gpu:
        raise ConfigError(r.key("modelVariant"), "fp16 needs a GPU; use int8 or fp32 with gpuType none")

    image = _image(r)

    concurrency = r.integer("concurrency", 4 if gpu else 2, low=1, high=MAX_CONCURRENCY)
    queue_size = r.integer("queueSize", concurrency, low=0, high=MAX_QUEUE)
    workers = _workers(gpu, cpu)
    per_instance = workers * (concurrency + queue_size + CONCURRENCY_HEADROOM)
    if per_instance > MAX_CONTAINER_CONCURRENCY:
        raise ConfigError(
            r.key("queueSize"),
            f"{workers} worker(s) x (concurrency {concurrency} + queueSize {queue_size} + "
            f"{CONCURRENCY_HEADROOM}) = {per_instance} requests per instance, over Cloud Run's "
            f"{MAX_CONTAINER_CONCURRENCY}; lower queueSize or concurrency",
        )

    rate_limit = r.integer("rateLimitPerMinute", 30, low=1, high=MAX_BAN_RATE)
    ban_duration_s = r.integer("banDurationSeconds", 600, low=BAN_DURATIONS_S[0], high=BAN_DURATIONS_S[-1])
    if ban_duration_s not in BAN_DURATIONS_S:
        raise ConfigError(
            r.key("banDurationSeconds"),
            f"one of {', '.join(map(str, BAN_DURATIONS_S))}, got {ban_duration_s}",
        )

    billing_account, budget_amount = _billing(r)

    domain = r.require("domain").lower()
    if not _DOMAIN_RE.match(domain):
        raise ConfigError(r.key("domain"), f"expected a DNS name such as tts.example.com, got {domain!r}")
    alert_email = r.require("alertEmail")
    if not _EMAIL_RE.match(alert_email):
        raise ConfigError(r.key("alertEmail"), f"expected an e-mail address, got {alert_email!r}")

    schedule, time_zone, batch_tasks, batch_parallelism, batch_task_timeout_s = _batch(r, gpu)

    log_level = r.string("logLevel", "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(r.key("logLevel"), f"one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    return DeployConfig(
        stack=stack,
        project=project,
        region=region,
        name=name,
        gpu_type=gpu_type,
        gpu_zonal_redundancy=zonal,
        cpu=cpu,
        memory_gib=memory_gib,
        min_instances=min_instances,
        max_instances=max_instances,
        concurrency=concurrency,
        queue_size=queue_size,
        request_timeout_s=r.integer("requestTimeoutSeconds", 300, low=10, high=MAX_REQUEST_TIMEOUT_S),
        model_name=r.segment("modelName", "bn-xtts"),
        model_version=r.segment("modelVersion", "v1"),
        model_version_set=r.optional("modelVersion") is not None,
        model_variant=variant,
        image=image,
        domain=domain,
        alert_email=alert_email,
        allow_list=_allow_list(r),
        rate_limit_per_minute=rate_limit,
        ban_threshold=r.integer("banThreshold", 300, low=1, high=MAX_BAN_RATE),
        ban_duration_s=ban_duration_s,
        # On by default for GPU stacks: a keyless request is turned away at the edge instead of
        # cold-starting an L4 (docs/deploy-gcp.md, "Cost"); CPU stacks scale to zero cheaply and default off.
        edge_require_auth=r.boolean("edgeRequireAuth", gpu_type != NO_GPU),
        waf_preview=r.boolean("wafPreview", False),
        billing_account=billing_account,
        budget_amount=budget_amount,
        batch_schedule=schedule,
        batch_time_zone=time_zone,
        batch_tasks=batch_tasks,
        batch_parallelism=batch_parallelism,
        batch_task_timeout_s=batch_task_timeout_s,
        # The job exits non-zero only for failures a retry can fix (function.batch).
        batch_max_retries=r.integer("batchMaxRetries", 3, low=0, high=MAX_TASK_RETRIES),
        log_level=log_level,
        max_text_chars=r.integer("maxTextChars", 1000, low=1, high=100_000),
        max_request_bytes=r.integer("maxRequestBytes", 16 * 1024 * 1024, low=1024, high=MAX_REQUEST_BYTES),
        latency_alert_ms=r.integer("latencyAlertMs", 20_000, low=100, high=MAX_REQUEST_TIMEOUT_S * 1000),
        quality_warning_share=_share(r, "qualityWarningShare"),
        bundle_versions_kept=r.integer("bundleVersionsKept", 3, low=1, high=100),
        batch_output_days=r.integer("batchOutputDays", 30, low=1, high=3650),
        deletion_protection=r.boolean("deletionProtection", True),
    )


def _instance_shape(r: Reader, gpu: bool) -> tuple[int, int]:
    """CPU and memory (GiB) of an instance, within what Cloud Run gives that many CPUs."""
    cpu = r.integer("cpu", 4)
    if cpu not in CPU_CHOICES:
        raise ConfigError(r.key("cpu"), f"one of {CPU_CHOICES}, got {cpu}")
    memory_gib = _memory_gib(r, "memory", "16Gi" if gpu else "8Gi")
    if gpu and (cpu < GPU_MIN_CPU or memory_gib < GPU_MIN_MEMORY_GIB):
        key = r.key("cpu") if cpu < GPU_MIN_CPU else r.key("memory")
        raise ConfigError(
            key, f"a GPU instance needs at least {GPU_MIN_CPU} CPU and {GPU_MIN_MEMORY_GIB}Gi memory"
        )
    low, high = CPU_MEMORY_GIB[cpu]
    if not low <= memory_gib <= high:
        raise ConfigError(
            r.key("memory"),
            f"Cloud Run gives {cpu} CPU {low}Gi..{high}Gi of memory, got {memory_gib}Gi; "
            "change memory or cpu (https://cloud.google.com/run/docs/configuring/services/cpu)",
        )

    return cpu, memory_gib


def _image(r: Reader) -> str | None:
    image = r.optional("image")
    if image is not None:
        m = _IMAGE_RE.match(image)
        if not m:
            raise ConfigError(
                r.key("image"),
                f"expected REGISTRY/PATH:TAG or REGISTRY/PATH@sha256:DIGEST, got {image!r}",
            )
        if m.group("tag") == "latest":
            raise ConfigError(
                r.key("image"), "use an immutable tag (the commit SHA) or a digest, not 'latest'"
            )

    return image


def _billing(r: Reader) -> tuple[str | None, int | None]:
    """The billing account and monthly budget: both or neither."""
    billing_account = r.optional("billingAccount")
    if billing_account is not None:
        billing_account = billing_account.upper()
        if not _BILLING_ACCOUNT_RE.match(billing_account):
            raise ConfigError(
                r.key("billingAccount"),
                f"expected a billing account id such as 012345-6789AB-CDEF01, got {billing_account!r}",
            )
    budget_amount = (
        None if r.optional("budgetAmount") is None else r.integer("budgetAmount", 0, low=1, high=10**9)
    )
    if billing_account is not None and budget_amount is None:
        raise ConfigError(
            r.key("budgetAmount"),
            "required with billingAccount: the monthly budget, in the account's currency",
        )
    if budget_amount is not None and billing_account is None:
        raise ConfigError(
            r.key("billingAccount"), "required with budgetAmount: the billing account the budget watches"
        )

    return billing_account, budget_amount


def _batch(r: Reader, gpu: bool) -> tuple[str | None, str, int, int, int]:
    """Schedule, time zone, tasks, parallelism and task timeout of the batch job."""
    schedule = r.optional("batchSchedule")
    if schedule is not None:
        _check_cron(r.key("batchSchedule"), schedule)
    time_zone = r.time_zone("batchTimeZone", "Asia/Dhaka")
    batch_tasks = r.integer("batchTasks", 1, low=1, high=MAX_TASKS)
    batch_parallelism = r.integer("batchParallelism", 1, low=1, high=MAX_TASKS)
    if batch_parallelism > batch_tasks:
        raise ConfigError(
            r.key("batchParallelism"), f"{batch_parallelism} is more than batchTasks ({batch_tasks})"
        )
    batch_task_timeout_s = r.integer("batchTaskTimeoutSeconds", 3600, low=60, high=MAX_TASK_TIMEOUT_S)
    if gpu and batch_task_timeout_s > MAX_GPU_TASK_TIMEOUT_S:
        raise ConfigError(
            r.key("batchTaskTimeoutSeconds"),
            f"a Cloud Run job task with a GPU runs at most {MAX_GPU_TASK_TIMEOUT_S} s, got "
            f"{batch_task_timeout_s}; split the work over more batchTasks, or use gpuType none",
        )

    return schedule, time_zone, batch_tasks, batch_parallelism, batch_task_timeout_s


def _workers(gpu: bool, cpu: int) -> int:
    return 1 if gpu else max(1, cpu // 4)


def check_api_keys(value: str, key: str = f"{NAMESPACE}:{SECRET_KEY}") -> str:
    """The app's API keys (the serving side's own rule for TTS_API_KEYS)."""
    return stack_config.check_api_keys(value, key)


WS_CLOSE_MARGIN_S = 5


def tts_environment(cfg: DeployConfig) -> dict[str, str]:
    """The serving contract's TTS_* variables (TTS_API_KEYS comes from Secret Manager)."""
    bucket = f"gs://{cfg.bucket_name}"
    return {
        "TTS_MODEL_PATH": f"{bucket}/{cfg.model_prefix}",
        "TTS_MODEL_VARIANT": cfg.model_variant,
        "TTS_ENABLE_GPU": "true" if cfg.gpu else "false",
        # One synthesis is one row of the GPT decode batch: the batch, the slots and the queue all
        # follow `concurrency` (and `queueSize`), set explicitly so the serving side's defaults
        # (16 rows on a GPU) cannot drift from what Cloud Run sends (container_concurrency).
        "TTS_MAX_BATCH": str(cfg.concurrency),
        "TTS_MAX_CONCURRENT_REQUESTS": str(cfg.concurrency),
        "TTS_QUEUE_SIZE": str(cfg.queue_size),
        "TTS_WORKERS": str(cfg.workers),
        "TTS_FORWARDED_FOR_HOPS": str(FORWARDED_FOR_HOPS),
        "TTS_CACHE_DIR": "/tmp/tts-cache",
        "TTS_VOICES_PATH": f"{bucket}/voices/",
        "TTS_LOG_LEVEL": cfg.log_level,
        "TTS_MAX_TEXT_CHARS": str(cfg.max_text_chars),
        "TTS_MAX_REQUEST_BYTES": str(cfg.max_request_bytes),
        # A WebSocket is an HTTP request to Cloud Run, cut at the service's request timeout
        # (https://cloud.google.com/run/docs/triggering/websockets): the server closes a voice-agent
        # socket itself (1001, "reconnect") a few seconds before, so the client is told why.
        "TTS_WS_MAX_SECONDS": str(max(10, cfg.request_timeout_s - WS_CLOSE_MARGIN_S)),
        # Lets the service write trace ids Cloud Logging links to (Cloud Run does not set it).
        "GOOGLE_CLOUD_PROJECT": cfg.project,
    }


def allow_list_chunks(cfg: DeployConfig) -> list[list[str]]:
    ranges = list(cfg.allow_list)
    return [ranges[i : i + ALLOW_LIST_CHUNK] for i in range(0, len(ranges), ALLOW_LIST_CHUNK)]


def _require_match(value: str | None, key: str, pattern: re.Pattern[str], what: str) -> str:
    if not value:
        raise ConfigError(key, f"required; set it with `pulumi config set {key} VALUE`")
    if not pattern.match(value):
        raise ConfigError(key, f"expected {what}, got {value!r}")
    return value


def _memory_gib(r: Reader, name: str, default: str) -> int:
    raw = r.string(name, default)
    m = re.fullmatch(r"([0-9]+)Gi", raw)
    if not m or not 1 <= int(m.group(1)) <= MAX_MEMORY_GIB:
        raise ConfigError(r.key(name), f"expected 1Gi..{MAX_MEMORY_GIB}Gi, got {raw!r}")
    return int(m.group(1))


def _share(r: Reader, name: str) -> float | None:
    """A share 0 < x <= 1 (0.2: a fifth), or None when the key is left out."""
    raw = r.optional(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:  # also refuses nan
        raise ConfigError(
            r.key(name), f"expected a share 0 < x <= 1 such as 0.2, got {raw!r}; leave the key out for none"
        )
    return value


def _check_cron(key: str, value: str) -> None:
    """Cloud Scheduler's unix-cron: five fields of `*`, N, N-M, lists and /STEP, in the ranges of
    https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules (months JAN-DEC and
    days SUN-SAT by name too; 0 and 7 are both Sunday; no `L`)."""
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD_RE.match(f) for f in fields):
        raise ConfigError(key, f"expected a 5-field cron expression such as '0 3 * * *', got {value!r}")
    for field, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in field.split(","):
            if not _cron_item_ok(item, low, high, names):
                raise ConfigError(
                    key, f"{item!r} is not a valid {what} ({low}-{high}, *, N-M, */STEP) in {value!r}"
                )


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of the month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day of the week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)


def _cron_item_ok(item: str, low: int, high: int, names: dict[str, int]) -> bool:
    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) >= 1):
        return False
    if base == "*":
        return True

    def number(text: str) -> int | None:
        if text in names:
            return names[text]
        return int(text) if text.isdigit() and low <= int(text) <= high else None

    first, dash, last = base.partition("-")
    start = number(first)
    if start is None or not dash:
        return start is not None
    end = number(last)
    return end is not None and end >= start


def _allow_list(r: Reader) -> tuple[str, ...]:
    raw = r.optional("allowList")
    if raw is None:
        return ()
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = [part for part in raw.split(",") if part.strip()]
    if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
        raise ConfigError(r.key("allowList"), "expected a list of CIDR ranges")
    ranges: list[str] = []
    for entry in parsed:
        try:
            ranges.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError:
            raise ConfigError(
                r.key("allowList"), f"{entry!r} is not an IP range such as 203.0.113.0/24"
            ) from None
    return tuple(dict.fromkeys(ranges))


def from_pulumi() -> DeployConfig:
    """Read the current stack's configuration through the Pulumi SDK."""
    provided = {*pulumi.runtime.config.CONFIG.get(), *pulumi.runtime.config.get_config_env()}
    return parse_config(
        pulumi.Config(NAMESPACE).get,
        pulumi.Config("gcp").get,
        stack=pulumi.get_stack(),
        provided=provided,
        allow_rollback=os.environ.get(ALLOW_ROLLBACK_ENV, "").strip().lower() in ("1", "true", "yes"),
    )


def api_keys_from_pulumi() -> pulumi.Output[str]:
    """The API keys, kept secret: validated inside the Output so the plaintext never leaves it."""
    return pulumi.Config(NAMESPACE).require_secret(SECRET_KEY).apply(check_api_keys)
