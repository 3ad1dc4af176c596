"""The AWS Pulumi program, built against mocks: the resource properties production relies on."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from pulumi.runtime import rpc

from infra_aws.config import ConfigError
from tests.infra_aws.harness import (
    ACCESS_BLOCK,
    ACCOUNT,
    ALARM,
    ASYNC_CONFIG,
    BUCKET,
    BUCKET_POLICY,
    BUCKET_TYPE,
    DIGEST,
    ENCRYPTION,
    FUNCTION,
    FUNCTION_URL,
    IMAGE_DIGEST,
    KEYS,
    LIFECYCLE,
    LOG_GROUP,
    OWNERSHIP,
    PERMISSION,
    REGION,
    REPO,
    REPO_LIFECYCLE,
    REPO_POLICY,
    REPOSITORY,
    ROLE,
    ROLE_POLICY,
    SCHEDULE,
    SECRET,
    SECRET_VERSION,
    SUBSCRIPTION,
    TOPIC,
    VERSIONING,
    FakeAccount,
    synthesize,
)
from tests.pulumi_mocks import Synth, unsecret

BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bn-tts"


@pytest.fixture(scope="module")
def public() -> Synth:
    """authType NONE with the app's keys, a schedule and a reservation (harness BASE_CONFIG)."""
    return synthesize()


@pytest.fixture(scope="module")
def iam() -> Synth:
    """authType AWS_IAM, no keys, no schedule, no reservation."""
    return synthesize(
        {
            "bn-xtts-aws:authType": "AWS_IAM",
            "bn-xtts-aws:apiKeys": None,
            "bn-xtts-aws:batchSchedule": None,
            "bn-xtts-aws:reservedConcurrency": None,
        }
    )


def env(synth: Synth) -> dict[str, str]:
    return dict(unsecret(synth.one(FUNCTION)["environment"])["variables"])


# ---- the function and its URL ------------------------------------------------------------------


def test_function_url_streams_and_the_adapter_agrees(public: Synth) -> None:
    """RESPONSE_STREAM on the URL and response_stream in the adapter: one without the other
    buffers the whole WAV (or fails)."""
    url = public.one(FUNCTION_URL)
    assert url["invokeMode"] == "RESPONSE_STREAM"
    assert url["functionName"] == "bn-tts"
    assert env(public)["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env(public)["AWS_LWA_INVOKE_MODE"].upper() == url["invokeMode"]


def test_function_runs_the_pushed_image_by_digest_with_the_configured_shape(public: Synth) -> None:
    fn = public.one(FUNCTION)
    assert fn["packageType"] == "Image"
    # The configured tag, resolved to its digest at preview time.
    assert fn["imageUri"] == IMAGE_DIGEST == f"{REPOSITORY}@{DIGEST}"
    assert fn["architectures"] == ["x86_64"]
    assert (fn["memorySize"], fn["ephemeralStorage"], fn["timeout"]) == (3008, {"size": 4096}, 900)
    assert fn["reservedConcurrentExecutions"] == 5
    assert fn["role"] == f"arn:aws:iam::{ACCOUNT}:role/bn-tts-function"
    assert fn["loggingConfig"] == {"logFormat": "Text", "logGroup": "/aws/lambda/bn-tts"}
    assert public.outputs["image"] == IMAGE_DIGEST
    assert public.outputs["url"].startswith("https://") and public.outputs["function_name"] == "bn-tts"


def test_function_shape_follows_config() -> None:
    fn = synthesize(
        {
            "bn-xtts-aws:memory": "10240",
            "bn-xtts-aws:ephemeralStorage": "10240",
            "bn-xtts-aws:timeout": "120",
            "bn-xtts-aws:image": IMAGE_DIGEST,
        }
    ).one(FUNCTION)
    assert (fn["memorySize"], fn["ephemeralStorage"]["size"], fn["timeout"]) == (10240, 10240, 120)
    assert fn["imageUri"] == IMAGE_DIGEST


def test_no_reservation_unless_configured(iam: Synth) -> None:
    # Left out, the provider's default (-1) keeps the function in the account's unreserved pool.
    assert "reservedConcurrentExecutions" not in iam.one(FUNCTION)


def test_environment_follows_the_serving_contract(public: Synth) -> None:
    root = f"s3://{BUCKET}"
    assert env(public) == {
        "TTS_MODEL_PATH": f"{root}/models/bn-xtts/v1/",
        "TTS_MODEL_VARIANT": "int8",
        "TTS_VOICES_PATH": f"{root}/voices",
        "TTS_BATCH_INPUT": f"{root}/batch/in",
        "TTS_BATCH_OUTPUT": f"{root}/batch/out",
        "TTS_CACHE_DIR": "/tmp/tts-cache",
        "AWS_LWA_INVOKE_MODE": "response_stream",
        "AWS_LWA_READINESS_CHECK_PATH": "/health",
        "AWS_LWA_PASS_THROUGH_PATH": "/events",
        "TTS_MAX_REQUEST_BYTES": "6000000",
        "TTS_API_KEYS": KEYS,
    }
    other = synthesize({"bn-xtts-aws:modelVersion": "v7", "bn-xtts-aws:modelVariant": "fp32"})
    assert env(other)["TTS_MODEL_PATH"] == f"{root}/models/bn-xtts/v7/"
    assert env(other)["TTS_MODEL_VARIANT"] == "fp32"


def test_api_keys_go_from_secrets_manager_to_the_environment_as_secrets(public: Synth) -> None:
    secret = public.one(SECRET)
    assert secret["name"] == "bn-tts/api-keys" and secret["recoveryWindowInDays"] == 7
    version = public.one(SECRET_VERSION)["secretString"]
    # Marked secret: Pulumi encrypts it in the state and masks it in its output.
    assert version[rpc._special_sig_key] == rpc._special_secret_sig and version["value"] == KEYS
    environment = public.one(FUNCTION)["environment"]
    assert environment[rpc._special_sig_key] == rpc._special_secret_sig
    # Resolved at deploy time: the function's role never reads the secret.
    role_policy = public.policy(ROLE_POLICY, "identity")
    assert "secretsmanager" not in json.dumps(role_policy)


def test_no_api_keys_behind_iam_auth(iam: Synth) -> None:
    """SigV4 puts its signature in the Authorization header, where the app looks for its Bearer
    key: keys and AWS_IAM together would refuse every signed request."""
    assert "TTS_API_KEYS" not in env(iam)
    assert not iam.of_type(SECRET) and not iam.of_type(SECRET_VERSION)
    with pytest.raises(ConfigError) as err:
        synthesize({"bn-xtts-aws:authType": "AWS_IAM"})
    assert err.value.key == "bn-xtts-aws:apiKeys" and "Authorization header" in str(err.value)


def test_auth_type_comes_from_config(public: Synth, iam: Synth) -> None:
    assert public.one(FUNCTION_URL)["authorizationType"] == "NONE"
    assert iam.one(FUNCTION_URL)["authorizationType"] == "AWS_IAM"


def test_public_url_opens_the_url_only_never_the_invoke_api(public: Synth, iam: Synth) -> None:
    """Since October 2025 a NONE URL needs both grants
    (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html); InvokeFunction only when it
    arrives through the URL."""
    grants = sorted((p.inputs for p in public.of_type(PERMISSION)), key=lambda p: p["action"])
    assert [(g["action"], g["principal"]) for g in grants] == [
        ("lambda:InvokeFunction", "*"),
        ("lambda:InvokeFunctionUrl", "*"),
    ]
    assert grants[0]["invokedViaFunctionUrl"] is True and "functionUrlAuthType" not in grants[0]
    assert grants[1]["functionUrlAuthType"] == "NONE" and "invokedViaFunctionUrl" not in grants[1]
    assert all(g["function"] == "bn-tts" for g in grants)
    # With AWS_IAM, callers bring their own IAM permission: no resource-policy grant at all.
    assert not iam.of_type(PERMISSION)


def test_scheduled_runs_are_not_retried_by_lambda(public: Synth) -> None:
    config = public.one(ASYNC_CONFIG)
    assert config["functionName"] == "bn-tts"
    assert config["maximumRetryAttempts"] == 0
    assert 60 <= config["maximumEventAgeInSeconds"] <= 21600  # Lambda's range


# ---- ordering ----------------------------------------------------------------------------------


def test_function_waits_for_its_log_group_role_policy_and_pull_policy(public: Synth) -> None:
    before = public.depends_on(public.urn(FUNCTION, "function"))
    assert public.urn(LOG_GROUP, "logs") in before  # else Lambda creates it, unmanaged, forever
    assert public.urn(ROLE_POLICY, "identity") in before
    assert public.urn(REPO_POLICY, "registry") in before
    assert public.urn(BUCKET_POLICY, "storage") in before


def test_bucket_settings_are_applied_one_after_another(public: Synth) -> None:
    """S3 answers concurrent configuration calls on one bucket with 409 OperationAborted."""
    order = [BUCKET_TYPE, ACCESS_BLOCK, OWNERSHIP, ENCRYPTION, VERSIONING, LIFECYCLE, BUCKET_POLICY]
    for earlier, later in itertools.pairwise(order):
        assert public.urn(earlier, "storage") in public.depends_on(public.urn(later, "storage")), later


def test_schedule_waits_for_its_invoke_permission(public: Synth) -> None:
    before = public.depends_on(public.urn(SCHEDULE, "batch"))
    assert public.urn(ROLE_POLICY, "batch") in before


# ---- the role ------------------------------------------------------------------------------------


def test_function_role_policy_is_exactly_least_privilege(public: Synth) -> None:
    assert public.policy(ROLE_POLICY, "identity") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/bn-tts:*",
            },
            {
                "Sid": "ReadModels",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{BUCKET_ARN}/models/*"],
            },
            {
                "Sid": "ReadWriteVoicesAndBatch",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{BUCKET_ARN}/voices/*", f"{BUCKET_ARN}/batch/*"],
            },
            {
                "Sid": "ListOwnPrefixes",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [BUCKET_ARN],
                "Condition": {"StringLike": {"s3:prefix": ["models/*", "voices/*", "batch/*"]}},
            },
        ],
    }


def test_no_wildcard_action_and_no_whole_bucket_access_in_any_role(public: Synth) -> None:
    for policy in public.of_type(ROLE_POLICY):
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            assert not [a for a in actions if "*" in a], statement
            assert "*" not in resources and f"{BUCKET_ARN}/*" not in resources, statement
            if "s3:ListBucket" in actions:
                assert statement["Condition"]["StringLike"]["s3:prefix"], statement
    # Nothing can create log groups or touch ECR: the program and the Lambda service do that.
    text = json.dumps([json.loads(p.inputs["policy"]) for p in public.of_type(ROLE_POLICY)])
    assert "logs:CreateLogGroup" not in text and "ecr:" not in text


def test_function_role_trusts_lambda_only(public: Synth) -> None:
    trust = public.policy(ROLE, "identity", "assumeRolePolicy")
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


# ---- storage -----------------------------------------------------------------------------------


def test_bucket_is_private_versioned_encrypted_and_tls_only(public: Synth) -> None:
    bucket = public.one(BUCKET_TYPE)
    assert bucket["bucket"] == BUCKET and bucket["forceDestroy"] is False
    assert "acl" not in bucket and "grants" not in bucket and "policy" not in bucket
    block = public.one(ACCESS_BLOCK)
    assert all(
        block[f] is True
        for f in ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
    )
    assert public.one(OWNERSHIP)["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    assert public.one(VERSIONING)["versioningConfiguration"] == {"status": "Enabled"}
    (rule,) = public.one(ENCRYPTION)["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert not [t for t in public.types() if "bucketAcl" in t or "bucketObject" in t]


def test_bucket_policy_only_denies_requests_without_tls(public: Synth) -> None:
    policy = public.policy(BUCKET_POLICY, "storage")
    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    assert not [s for s in policy["Statement"] if s["Effect"] == "Allow"]


def test_lifecycle_expires_noncurrent_versions_after_the_configured_days() -> None:
    synth = synthesize({"bn-xtts-aws:noncurrentVersionDays": "45"})
    (rule,) = synth.one(LIFECYCLE)["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": ""}
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 45}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}


# ---- registry ----------------------------------------------------------------------------------


def test_repository_is_immutable_scanned_and_expires_old_images(public: Synth) -> None:
    repo = public.one(REPO)
    assert repo["name"] == "bn-tts" and repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    rules = json.loads(public.one(REPO_LIFECYCLE)["policy"])["rules"]
    assert rules == [
        {
            "rulePriority": 1,
            "description": "expire untagged images after 7 days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "keep the 10 newest tagged images",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": 10,
            },
            "action": {"type": "expire"},
        },
    ]


def test_only_this_function_may_pull_through_the_repository_policy(public: Synth) -> None:
    (statement,) = json.loads(public.one(REPO_POLICY)["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Action"] == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert statement["Condition"] == {"StringLike": {"aws:sourceArn": [FUNCTION_ARN, f"{FUNCTION_ARN}:*"]}}


# ---- logs and alarms ---------------------------------------------------------------------------


def test_log_group_is_the_functions_with_the_configured_retention() -> None:
    group = synthesize({"bn-xtts-aws:logRetentionDays": "90"}).one(LOG_GROUP)
    assert group == {"name": "/aws/lambda/bn-tts", "retentionInDays": 90, "tags": group["tags"]}


def alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {a.inputs["metricName"]: a.inputs for a in synth.of_type(ALARM)}


def test_alarms_watch_errors_throttles_and_duration_near_the_timeout() -> None:
    synth = synthesize({"bn-xtts-aws:timeout": "600"})
    found = alarms(synth)
    assert set(found) == {"Errors", "Throttles", "Duration"}
    for alarm in found.values():
        assert alarm["namespace"] == "AWS/Lambda" and alarm["dimensions"] == {"FunctionName": "bn-tts"}
        assert (
            alarm["alarmActions"] == alarm["okActions"] == [f"arn:aws:sns:{REGION}:{ACCOUNT}:bn-tts-alarms"]
        )
        assert alarm["treatMissingData"] == "notBreaching"
    for metric in ("Errors", "Throttles"):
        assert found[metric]["statistic"] == "Sum" and found[metric]["threshold"] == 1
        assert found[metric]["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    duration = found["Duration"]
    assert duration["extendedStatistic"] == "p99" and "statistic" not in duration
    assert duration["threshold"] == 0.9 * 600 * 1000  # milliseconds: 90 % of the timeout
    assert duration["comparisonOperator"] == "GreaterThanThreshold"
    # One long batch run (one datapoint) does not alarm; a sustained p99 does.
    assert duration["evaluationPeriods"] == duration["datapointsToAlarm"] == 3


def test_alarms_are_emailed(public: Synth) -> None:
    assert public.one(TOPIC)["name"] == "bn-tts-alarms" and "kmsMasterKeyId" not in public.one(TOPIC)
    subscription = public.one(SUBSCRIPTION)
    assert subscription["protocol"] == "email" and subscription["endpoint"] == "oncall@example.com"


# ---- batch schedule ----------------------------------------------------------------------------


def test_schedule_invokes_the_function_with_the_batch_event(public: Synth) -> None:
    schedule = public.one(SCHEDULE)
    assert schedule["scheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule["scheduleExpressionTimezone"] == "Asia/Dhaka"
    assert schedule["flexibleTimeWindow"] == {"mode": "OFF"} and schedule["state"] == "ENABLED"
    target = schedule["target"]
    assert target["arn"] == FUNCTION_ARN
    assert target["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/bn-tts-scheduler"
    assert json.loads(target["input"]) == {"batch": {}}
    retry = target["retryPolicy"]
    assert 0 <= retry["maximumRetryAttempts"] <= 5 and 60 <= retry["maximumEventAgeInSeconds"] <= 3600


def test_scheduler_role_may_only_invoke_this_function(public: Synth) -> None:
    assert public.policy(ROLE_POLICY, "batch")["Statement"] == [
        {
            "Sid": "InvokeTheFunction",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [FUNCTION_ARN],
        }
    ]
    trust = public.policy(ROLE, "batch", "assumeRolePolicy")["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]


def test_time_zone_is_configurable_and_no_schedule_without_an_expression(iam: Synth) -> None:
    assert not iam.of_type(SCHEDULE) and len(iam.of_type(ROLE)) == 1
    synth = synthesize({"bn-xtts-aws:batchSchedule": "rate(6 hours)", "bn-xtts-aws:batchTimeZone": "UTC"})
    schedule = synth.one(SCHEDULE)
    assert (schedule["scheduleExpression"], schedule["scheduleExpressionTimezone"]) == (
        "rate(6 hours)",
        "UTC",
    )


# ---- the first run and the preflight -----------------------------------------------------------


def test_without_an_image_only_the_foundation_is_created() -> None:
    synth = synthesize({"bn-xtts-aws:image": None})
    assert {BUCKET_TYPE, REPO, LOG_GROUP, ROLE} <= synth.types()
    assert not {FUNCTION, FUNCTION_URL, PERMISSION, SCHEDULE, ALARM} & synth.types()
    assert set(synth.outputs) == {"bucket", "repository_url", "log_group"}
    assert synth.outputs["repository_url"] == REPOSITORY
    assert any("no image configured" in w for w in synth.warnings)


def test_an_image_that_is_not_pushed_stops_the_preview() -> None:
    with pytest.raises(ConfigError) as err:
        synthesize({"bn-xtts-aws:image": f"{REPOSITORY}:not-pushed"})
    assert err.value.key == "bn-xtts-aws:image" and "not in the repository" in str(err.value)


def test_an_image_from_another_account_is_refused() -> None:
    other = "210987654321.dkr.ecr.ap-south-1.amazonaws.com/bn-tts:0123abc"
    with pytest.raises(ConfigError, match="account 210987654321"):
        synthesize({"bn-xtts-aws:image": other})


def test_the_lookups_use_the_configured_repository_and_tag() -> None:
    account = FakeAccount()
    synthesize(account=account)
    (image_call,) = [args for token, args in account.calls if token == "aws:ecr/getImage:getImage"]
    assert image_call["repositoryName"] == "bn-tts" and image_call["imageTag"] == "0123abc"
    assert image_call["registryId"] == ACCOUNT
