"""AWS stack configuration: defaults, AWS's documented limits, and errors that name the key."""

from __future__ import annotations

import pytest

from infra_aws.config import (
    KNOWN_KEYS,
    LOG_RETENTION_DAYS,
    MAX_ENVIRONMENT_BYTES,
    ConfigError,
    DeployConfig,
    check_api_keys,
    check_environment_size,
    check_schedule_expression,
    parse_config,
)
from infra_aws.serving import environment
from tests.infra_aws.harness import ACCOUNT, DIGEST, IMAGE_DIGEST, IMAGE_TAG, REGION

GOOD = {"alertEmail": "oncall@example.com", "image": IMAGE_TAG}


def parse(
    overrides: dict[str, str | None] | None = None,
    aws: dict[str, str] | None = None,
    *,
    keys: bool = False,
    provided: tuple[str, ...] = (),
) -> DeployConfig:
    ours = {k: v for k, v in {**GOOD, **(overrides or {})}.items() if v is not None}
    provider = {"region": REGION, **(aws or {})}
    return parse_config(ours.get, provider.get, stack="prod", provided=provided, has_api_keys=keys)


def test_defaults() -> None:
    cfg = parse()
    assert (cfg.name, cfg.region, cfg.model_variant) == ("bn-tts", REGION, "int8")
    # 3008 MB: what a new account's reduced memory quota accepts (10240 is refused at create time).
    assert (cfg.memory_mb, cfg.ephemeral_storage_mb, cfg.timeout_s) == (3008, 4096, 900)
    assert cfg.reserved_concurrency is None and cfg.auth_type == "AWS_IAM"
    assert cfg.batch_schedule is None and cfg.batch_time_zone == "Asia/Dhaka"
    assert (cfg.log_retention_days, cfg.noncurrent_version_days) == (30, 30)
    assert cfg.log_group_name == "/aws/lambda/bn-tts" and cfg.deletion_protection is True
    assert cfg.image is not None and (cfg.image.account, cfg.image.tag, cfg.image.digest) == (
        ACCOUNT,
        "0123abc",
        None,
    )
    assert parse({"image": IMAGE_DIGEST}).image.digest == DIGEST  # type: ignore[union-attr]
    assert parse({"image": None}).image is None


def test_every_limit_is_accepted_at_its_bounds() -> None:
    """128..10240 MB memory, 512..10240 MB /tmp, 1..900 s (AWS Lambda quotas)."""
    low = parse({"memory": "128", "ephemeralStorage": "512", "timeout": "1", "reservedConcurrency": "1"})
    assert (low.memory_mb, low.ephemeral_storage_mb, low.timeout_s, low.reserved_concurrency) == (
        128,
        512,
        1,
        1,
    )
    high = parse({"memory": "10240", "ephemeralStorage": "10240", "timeout": "900"})
    assert (high.memory_mb, high.ephemeral_storage_mb, high.timeout_s) == (10240, 10240, 900)
    for days in LOG_RETENTION_DAYS:
        assert parse({"logRetentionDays": str(days)}).log_retention_days == days


@pytest.mark.parametrize(
    ("overrides", "aws", "key", "fragment"),
    [
        ({}, {"region": ""}, "aws:region", "required"),
        ({}, {"region": "mars-1"}, "aws:region", "ap-south-1"),
        ({"name": "BN"}, {}, "bn-xtts-aws:name", "4-21"),
        ({"modelVariant": "fp16"}, {}, "bn-xtts-aws:modelVariant", "no GPU"),
        ({"modelVersion": "../v1"}, {}, "bn-xtts-aws:modelVersion", "path segment"),
        ({"memory": "127"}, {}, "bn-xtts-aws:memory", "128..10240"),
        ({"memory": "10241"}, {}, "bn-xtts-aws:memory", "128..10240"),
        ({"memory": "4GB"}, {}, "bn-xtts-aws:memory", "integer"),
        ({"ephemeralStorage": "511"}, {}, "bn-xtts-aws:ephemeralStorage", "512..10240"),
        ({"ephemeralStorage": "10241"}, {}, "bn-xtts-aws:ephemeralStorage", "512..10240"),
        ({"timeout": "0"}, {}, "bn-xtts-aws:timeout", "1..900"),
        ({"timeout": "901"}, {}, "bn-xtts-aws:timeout", "1..900"),
        ({"reservedConcurrency": "0"}, {}, "bn-xtts-aws:reservedConcurrency", "throttles every invocation"),
        ({"reservedConcurrency": "-1"}, {}, "bn-xtts-aws:reservedConcurrency", "expected 0.."),
        ({"authType": "API_KEY"}, {}, "bn-xtts-aws:authType", "AWS_IAM, NONE"),
        ({"authType": "NONE"}, {}, "bn-xtts-aws:apiKeys", "required with authType NONE"),
        ({"alertEmail": None}, {}, "bn-xtts-aws:alertEmail", "required"),
        ({"alertEmail": "oncall"}, {}, "bn-xtts-aws:alertEmail", "e-mail"),
        ({"batchSchedule": "0 3 * * *"}, {}, "bn-xtts-aws:batchSchedule", "cron(MIN HOUR"),
        ({"batchTimeZone": "Dhaka"}, {}, "bn-xtts-aws:batchTimeZone", "IANA"),
        ({"logRetentionDays": "10"}, {}, "bn-xtts-aws:logRetentionDays", "retention periods"),
        ({"logRetentionDays": "0"}, {}, "bn-xtts-aws:logRetentionDays", "expected 1..3653"),
        ({"noncurrentVersionDays": "0"}, {}, "bn-xtts-aws:noncurrentVersionDays", "1..3650"),
        ({"deletionProtection": "yes"}, {}, "bn-xtts-aws:deletionProtection", "true or false"),
        ({"image": "bn-tts:0123abc"}, {}, "bn-xtts-aws:image", "ACCOUNT.dkr.ecr"),
        ({"image": IMAGE_TAG.replace("0123abc", "latest")}, {}, "bn-xtts-aws:image", "not 'latest'"),
        ({"image": IMAGE_TAG.replace(REGION, "us-east-1")}, {}, "bn-xtts-aws:image", "push it there"),
        ({"image": IMAGE_TAG.replace("/bn-tts:", "/other:")}, {}, "bn-xtts-aws:image", "this stack's"),
    ],
)
def test_errors_name_the_key(
    overrides: dict[str, str | None], aws: dict[str, str], key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse(overrides, aws)
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ") and fragment in str(err.value)


def test_keys_go_with_a_public_url_only() -> None:
    cfg = parse({"authType": "none"}, keys=True)
    assert cfg.auth_type == "NONE" and cfg.has_api_keys
    with pytest.raises(ConfigError, match="SigV4") as err:
        parse({"authType": "AWS_IAM"}, keys=True)
    assert err.value.key == "bn-xtts-aws:apiKeys"


def test_misspelt_keys_are_errors_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean memory"):
        parse(provided=("bn-xtts-aws:memroy",))
    parse(provided=(*(f"bn-xtts-aws:{k}" for k in KNOWN_KEYS), "aws:region", "other:thing"))


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 3 * * ? *)",
        "cron(15 10 ? * MON-FRI *)",
        "cron(0/30 8-17 ? * 2-6 2026)",
        "cron(0 12 L * ? *)",
        "cron(0 9 ? * 6#3 *)",
        "cron(0 0 1W JAN,JUL ? *)",
        "rate(1 hour)",
        "rate(15 minutes)",
        "rate(2 days)",
    ],
)
def test_scheduler_expressions_accepted(expression: str) -> None:
    check_schedule_expression("k", expression)


@pytest.mark.parametrize(
    "expression",
    [
        "0 3 * * *",  # unix cron (Cloud Scheduler's), not EventBridge's
        "cron(0 3 * * *)",  # five fields: the year is missing
        "cron(0 3 * * * *)",  # both day fields set: one must be '?'
        "cron(0 3 ? * ? *)",  # both '?'
        "cron(60 3 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 3 32 * ? *)",
        "cron(0 3 ? * 8 *)",
        "cron(0 3 * 13 ? *)",
        "cron(0 3 * * ? 1969)",
        "rate(1 hours)",  # singular for 1
        "rate(5 minute)",  # plural above
        "rate(0 minutes)",
        "rate(5 weeks)",
        "at(2026-01-01T00:00:00)",  # one-time: not a recurring batch schedule
    ],
)
def test_scheduler_expressions_refused(expression: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_schedule_expression("bn-xtts-aws:batchSchedule", expression)
    assert err.value.key == "bn-xtts-aws:batchSchedule"


def test_api_keys_are_validated_like_the_serving_side() -> None:
    assert check_api_keys(" key-aaaaaaaaaaaaaaaa , key-bbbbbbbbbbbbbbbb ") == (
        "key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb"
    )
    for bad, fragment in [("", "at least one"), ("short", "16-256"), ("k" * 16 + "," + "k" * 16, "twice")]:
        with pytest.raises(ConfigError, match=fragment) as err:
            check_api_keys(bad)
        assert err.value.key == "bn-xtts-aws:apiKeys"


def test_the_environment_fits_lambdas_4_kb_or_the_keys_are_named() -> None:
    env = environment(parse(), "bn-tts-models-123456789012-ap-south-1")
    check_environment_size({**env, "TTS_API_KEYS": ",".join(f"key-{i:016d}" for i in range(100))})
    too_many = ",".join(f"key-{i:060d}" for i in range(100))
    with pytest.raises(ConfigError) as err:
        check_environment_size({**env, "TTS_API_KEYS": too_many})
    assert err.value.key == "bn-xtts-aws:apiKeys" and str(MAX_ENVIRONMENT_BYTES) in str(err.value)
