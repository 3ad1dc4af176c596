"""Typed stack configuration for the AWS Lambda program: the one place that reads and validates
`pulumi config`.

Every value is checked here, before any resource is declared, and a bad value raises
`ConfigError` naming the key (e.g. `bn-xtts-aws:memory`) and what would be accepted. Each AWS
limit below cites the page it comes from; the program never finds out about them from a failed
`pulumi up` half-way through.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pulumi

from infra import stack_config
from infra.stack_config import ConfigError, Getter, Reader, check_known

NAMESPACE = "bn-xtts-aws"
SECRET_KEY = "apiKeys"
PROVIDER_NAMESPACE = "aws"

AUTH_IAM = "AWS_IAM"
AUTH_NONE = "NONE"
AUTH_TYPES = (AUTH_IAM, AUTH_NONE)
# Lambda runs on CPU only: fp16 needs a GPU (the serving side refuses it without one).
VARIANTS = ("int8", "fp32")

# Lambda limits. Memory: 128..10,240 MB in 1 MB steps for a function
# (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html and
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html; the 32 GB the provider's
# docstring mentions is for Lambda Managed Instances, not for a function like this one). New
# accounts get a reduced memory quota until AWS raises it (same page).
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10_240
# The default: what a new account's reduced quota accepts at create time (3,008 MB, the ceiling
# Lambda applies until AWS raises the account's quota: the same memory page). The full-size int8
# model peaks at about 1.5 GB; set 10240 once `aws lambda get-account-settings` allows it (more vCPUs).
DEFAULT_MEMORY_MB = 3_008
# /tmp: 512..10,240 MB (https://docs.aws.amazon.com/lambda/latest/api/API_EphemeralStorage.html).
MIN_EPHEMERAL_MB, MAX_EPHEMERAL_MB = 512, 10_240
# Timeout: 1..900 s (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). A
# Function URL request can last no longer than the function's timeout.
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 900
# Reserved concurrency must leave at least 100 unreserved executions in the account
# (https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html); the default
# account quota is 1,000 and can be raised to tens of thousands, so the real bound is the
# account's and only AWS can check it. 0 is refused below.
MAX_RESERVED_CONCURRENCY = 100_000
# CloudWatch Logs accepts only these retention periods
# (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
# All of the function's environment variables together: at most 4 KB
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_ENVIRONMENT_BYTES = 4096

KNOWN_KEYS = (
    "alertEmail", SECRET_KEY, "authType", "batchSchedule", "batchTimeZone", "deletionProtection",
    "ephemeralStorage", "image", "logRetentionDays", "memory", "modelName", "modelVariant",
    "modelVersion", "name", "noncurrentVersionDays", "reservedConcurrency", "timeout",
)  # fmt: skip

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{2,19}[a-z0-9]$")
# aws:region, e.g. ap-south-1, us-gov-west-1, ap-southeast-4.
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A private ECR image: ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY(:TAG|@sha256:DIGEST)
# (https://docs.aws.amazon.com/AmazonECR/latest/userguide/docker-pull-ecr-image.html).
_IMAGE_RE = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repository>[a-z0-9._/-]+)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))$"
)


@dataclass(frozen=True)
class ImageRef:
    """A configured image, split: the program deploys `repository@digest` (see preflight.py)."""

    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def registry(self) -> str:
        return f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"


@dataclass(frozen=True)
class DeployConfig:
    """Everything the program needs, already validated."""

    stack: str
    region: str
    name: str
    model_name: str
    model_version: str
    model_variant: str
    image: ImageRef | None
    memory_mb: int
    ephemeral_storage_mb: int
    timeout_s: int
    # None: the function shares the account's unreserved pool (no reservation).
    reserved_concurrency: int | None
    auth_type: str
    # Whether the stack sets apiKeys (their value stays inside a secret Output).
    has_api_keys: bool
    alert_email: str
    # EventBridge Scheduler expression (cron(...) or rate(...)); None: no schedule.
    batch_schedule: str | None
    batch_time_zone: str
    log_retention_days: int
    noncurrent_version_days: int
    deletion_protection: bool

    @property
    def function_name(self) -> str:
        return self.name

    @property
    def repository_name(self) -> str:
        return self.name

    @property
    def log_group_name(self) -> str:
        """The group Lambda writes to by default; created by the program so it has a retention."""
        return f"/aws/lambda/{self.function_name}"

    @property
    def model_prefix(self) -> str:
        """Object prefix of the bundle directory the function loads (it picks `<variant>/`)."""
        return f"models/{self.model_name}/{self.model_version}/"

    @property
    def tags(self) -> dict[str, str]:
        return {"app": "bn-xtts", "stack": self.stack}


def parse_config(
    get: Getter, aws_get: Getter, *, stack: str, provided: Iterable[str] = (), has_api_keys: bool = False
) -> DeployConfig:
    """Build a DeployConfig from raw string values (`get` reads the `bn-xtts-aws:` namespace,
    `aws_get` the provider's `aws:` namespace). `provided` names the keys the stack sets, so a
    misspelt one is an error instead of a silently ignored setting. The API keys themselves are
    validated inside their secret Output (`check_api_keys`); here only whether they are set."""
    check_known(provided, NAMESPACE, KNOWN_KEYS)
    r = Reader(NAMESPACE, get)

    region = aws_get("region")
    if not region:
        raise ConfigError("aws:region", "required; set it with `pulumi config set aws:region ap-south-1`")
    if not _REGION_RE.match(region):
        raise ConfigError("aws:region", f"expected a region such as ap-south-1, got {region!r}")

    name = r.string("name", "bn-tts")
    if not _NAME_RE.match(name):
        raise ConfigError(r.key("name"), f"4-21 characters: lowercase letters, digits and '-', got {name!r}")

    variant = r.string("modelVariant", "int8")
    if variant not in VARIANTS:
        raise ConfigError(
            r.key("modelVariant"), f"one of {', '.join(VARIANTS)} (Lambda has no GPU), got {variant!r}"
        )

    image = _image(r, region, name)

    reserved = r.optional("reservedConcurrency")
    reserved_concurrency = None
    if reserved is not None:
        reserved_concurrency = r.integer("reservedConcurrency", 0, low=0, high=MAX_RESERVED_CONCURRENCY)
        if reserved_concurrency == 0:
            raise ConfigError(
                r.key("reservedConcurrency"),
                "0 throttles every invocation (the function is switched off); to stop it in an "
                "emergency use `aws lambda put-function-concurrency --reserved-concurrent-executions 0`, "
                "and leave the key out for no reservation",
            )

    auth_type = _auth_type(r, has_api_keys)

    alert_email = r.require("alertEmail")
    if not _EMAIL_RE.match(alert_email):
        raise ConfigError(r.key("alertEmail"), f"expected an e-mail address, got {alert_email!r}")

    schedule = r.optional("batchSchedule")
    if schedule is not None:
        check_schedule_expression(r.key("batchSchedule"), schedule)
    time_zone = r.time_zone("batchTimeZone", "Asia/Dhaka")

    retention = r.integer("logRetentionDays", 30, low=LOG_RETENTION_DAYS[0], high=LOG_RETENTION_DAYS[-1])
    if retention not in LOG_RETENTION_DAYS:
        raise ConfigError(
            r.key("logRetentionDays"),
            f"one of CloudWatch's retention periods ({', '.join(map(str, LOG_RETENTION_DAYS))}), "
            f"got {retention}",
        )

    return DeployConfig(
        stack=stack,
        region=region,
        name=name,
        model_name=r.segment("modelName", "bn-xtts"),
        model_version=r.segment("modelVersion", "v1"),
        model_variant=variant,
        image=image,
        memory_mb=r.integer("memory", DEFAULT_MEMORY_MB, low=MIN_MEMORY_MB, high=MAX_MEMORY_MB),
        ephemeral_storage_mb=r.integer("ephemeralStorage", 4096, low=MIN_EPHEMERAL_MB, high=MAX_EPHEMERAL_MB),
        timeout_s=r.integer("timeout", MAX_TIMEOUT_S, low=MIN_TIMEOUT_S, high=MAX_TIMEOUT_S),
        reserved_concurrency=reserved_concurrency,
        auth_type=auth_type,
        has_api_keys=has_api_keys,
        alert_email=alert_email,
        batch_schedule=schedule,
        batch_time_zone=time_zone,
        log_retention_days=retention,
        noncurrent_version_days=r.integer("noncurrentVersionDays", 30, low=1, high=3650),
        deletion_protection=r.boolean("deletionProtection", True),
    )


def _image(r: Reader, region: str, name: str) -> ImageRef | None:
    raw = r.optional("image")
    if raw is None:
        return None
    m = _IMAGE_RE.match(raw)
    if not m:
        raise ConfigError(
            r.key("image"),
            f"expected ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG or ...@sha256:DIGEST, got {raw!r}",
        )
    if m.group("tag") == "latest":
        raise ConfigError(r.key("image"), "use an immutable tag (the commit SHA) or a digest, not 'latest'")
    # Lambda pulls only from a repository in the function's own region
    # (https://docs.aws.amazon.com/lambda/latest/dg/images-create.html).
    if m.group("region") != region:
        raise ConfigError(
            r.key("image"), f"the image is in {m.group('region')}, the function in {region}: push it there"
        )
    # The stack's repository is the one whose policy lets Lambda pull (registry.py).
    if m.group("repository") != name:
        raise ConfigError(
            r.key("image"),
            f"the image must be in this stack's repository {name!r}, got {m.group('repository')!r}",
        )
    return ImageRef(m.group("account"), region, name, m.group("tag"), m.group("digest"))


# ---- EventBridge Scheduler expressions ---------------------------------------------------------

_RATE_RE = re.compile(r"^rate\((?P<value>[0-9]+) (?P<unit>minutes?|hours?|days?)\)$")
_CRON_RE = re.compile(r"^cron\((?P<fields>[^()]+)\)$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (name, low, high, names, extra wildcards) for the six fields of
# https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based
# (minutes hours day-of-month month day-of-week year; the same table as
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html).
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int], str], ...] = (
    ("minutes", 0, 59, {}, ""),
    ("hours", 0, 23, {}, ""),
    ("day-of-month", 1, 31, {}, "?LW"),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}, ""),
    ("day-of-week", 1, 7, {d: i + 1 for i, d in enumerate(_DAYS)}, "?L#"),
    ("year", 1970, 2199, {}, ""),
)


def check_schedule_expression(key: str, value: str) -> None:
    """EventBridge Scheduler's recurring expressions: `rate(VALUE UNIT)` or a six-field
    `cron(...)`. A rate's unit is singular for 1 and plural above
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html); a cron
    expression may not set both day-of-month and day-of-week: one of them is `?`."""
    rate = _RATE_RE.match(value)
    if rate:
        number, unit = int(rate.group("value")), rate.group("unit")
        if number < 1 or (number == 1) == unit.endswith("s"):
            raise ConfigError(
                key, f"{value!r}: a positive value, unit singular for 1 (rate(1 day)), plural above"
            )
        return
    cron = _CRON_RE.match(value)
    if not cron:
        raise ConfigError(
            key,
            f"expected rate(VALUE UNIT) or cron(MIN HOUR DAY MONTH WEEKDAY YEAR), such as "
            f"'cron(0 3 * * ? *)', got {value!r}",
        )
    fields = cron.group("fields").split()
    if len(fields) != len(_CRON_FIELDS):
        raise ConfigError(key, f"a cron expression has six fields (the last is the year), got {value!r}")
    for field, (what, low, high, names, extra) in zip(fields, _CRON_FIELDS, strict=True):
        for item in field.split(","):
            if not _cron_item_ok(item, low, high, names, extra):
                raise ConfigError(key, f"{item!r} is not a valid {what} ({low}-{high}) in {value!r}")
    if (fields[2] == "?") == (fields[4] == "?"):
        raise ConfigError(key, f"exactly one of day-of-month and day-of-week must be '?', got {value!r}")


def _cron_item_ok(item: str, low: int, high: int, names: dict[str, int], extra: str) -> bool:
    if item in ("*",) or (item in ("?", "L") and item in extra):
        return True
    if "W" in extra and item.endswith("W"):
        return _number(item[:-1], low, high, names) is not None
    if "#" in extra and "#" in item:
        day, _, nth = item.partition("#")
        return _number(day, low, high, names) is not None and nth in ("1", "2", "3", "4", "5")
    if "L" in extra and item.endswith("L") and len(item) > 1:
        return _number(item[:-1], low, high, names) is not None
    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) >= 1):
        return False
    if base == "*" and slash:
        return True
    first, dash, last = base.partition("-")
    start = _number(first, low, high, names)
    if start is None or not dash:
        return start is not None
    end = _number(last, low, high, names)
    return end is not None and end >= start


def _number(text: str, low: int, high: int, names: dict[str, int]) -> int | None:
    if text in names:
        return names[text]
    return int(text) if text.isdigit() and low <= int(text) <= high else None


# ---- API keys and the function's environment ---------------------------------------------------


def check_api_keys(value: str, key: str = f"{NAMESPACE}:{SECRET_KEY}") -> str:
    """The API keys secret (the serving side's own rule for TTS_API_KEYS)."""
    return stack_config.check_api_keys(value, key)


def check_environment_size(env: Mapping[str, str]) -> Mapping[str, str]:
    """Lambda refuses a function whose variables exceed 4 KB together; the API keys are the only
    part that can grow, so the error names them (the size is counted as the JSON Lambda stores,
    which is at least the sum of names and values)."""
    size = len(json.dumps(dict(env), separators=(",", ":")).encode())
    if size > MAX_ENVIRONMENT_BYTES:
        raise ConfigError(
            f"{NAMESPACE}:{SECRET_KEY}",
            f"the function's environment would be {size} bytes, over Lambda's {MAX_ENVIRONMENT_BYTES}; "
            "use fewer or shorter API keys",
        )
    return env


# ---- reading -----------------------------------------------------------------------------------


def from_pulumi() -> DeployConfig:
    """Read the current stack's configuration through the Pulumi SDK."""
    provided = {*pulumi.runtime.config.CONFIG.get(), *pulumi.runtime.config.get_config_env()}
    return parse_config(
        pulumi.Config(NAMESPACE).get,
        pulumi.Config(PROVIDER_NAMESPACE).get,
        stack=pulumi.get_stack(),
        provided=provided,
        # get_secret, not get: reading a secret in plain text makes Pulumi warn.
        has_api_keys=pulumi.Config(NAMESPACE).get_secret(SECRET_KEY) is not None,
    )


def api_keys_from_pulumi() -> pulumi.Output[str] | None:
    """The API keys, kept secret: validated inside the Output so the plaintext never leaves it."""
    keys = pulumi.Config(NAMESPACE).get_secret(SECRET_KEY)
    return None if keys is None else keys.apply(check_api_keys)


def _auth_type(r: Reader, has_api_keys: bool) -> str:
    """The Function URL's auth type, and whether the app's own keys go with it."""
    auth_type = r.string("authType", AUTH_IAM).upper()
    if auth_type not in AUTH_TYPES:
        raise ConfigError(r.key("authType"), f"one of {', '.join(AUTH_TYPES)}, got {auth_type!r}")
    if auth_type == AUTH_IAM and has_api_keys:
        # A SigV4-signed request carries its signature in the Authorization header, the header the
        # app reads `Bearer KEY` from (function/http/auth.py): with keys set, every signed request
        # would get 401 (https://github.com/aws/aws-lambda-web-adapter/issues/477).
        raise ConfigError(
            r.key(SECRET_KEY),
            "not with authType AWS_IAM: the SigV4 signature takes the Authorization header the app "
            "reads its Bearer key from, so every signed request would be refused; IAM is the check "
            "(`pulumi config rm apiKeys`), or use authType NONE with the keys",
        )
    if auth_type == AUTH_NONE and not has_api_keys:
        raise ConfigError(
            r.key(SECRET_KEY),
            "required with authType NONE (the URL is public; the app's own keys are the only check): "
            "`pulumi config set --secret apiKeys KEY1,KEY2`",
        )
    return auth_type
