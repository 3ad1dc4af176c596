"""Identity: the function's execution role, with exactly what the serving contract needs.

- CloudWatch Logs: write to its own log group (created by the program: no logs:CreateLogGroup);
- S3: read `models/`, read and write `voices/` and `batch/`, list only under those prefixes (a
  ListBucket without a matching `s3:prefix` is refused,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html);
- no ECR permission: the Lambda service pulls the image under the repository's policy
  (registry.py);
- no Secrets Manager permission: the API keys reach the environment at deploy time (api_keys.py),
  the function never reads the secret.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra_aws.config import DeployConfig
from infra_aws.preflight import Account
from infra_aws.storage import BATCH_PREFIX, MODELS_PREFIX, VOICES_PREFIX

READ_WRITE_PREFIXES = (VOICES_PREFIX, BATCH_PREFIX)


def assume_role_policy(service: str, conditions: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if conditions:
        statement["Condition"] = conditions
    return {"Version": "2012-10-17", "Statement": [statement]}


def log_group_arn(cfg: DeployConfig, account: Account) -> str:
    return account.arn("logs", cfg.region, f"log-group:{cfg.log_group_name}")


def function_policy(cfg: DeployConfig, account: Account, bucket_arn: str) -> dict[str, Any]:
    """The execution role's only policy. Every statement names its resources; no action is a
    wildcard."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                # The group's streams: log-group:NAME:log-stream:STREAM.
                "Resource": f"{log_group_arn(cfg, account)}:*",
            },
            {
                "Sid": "ReadModels",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{MODELS_PREFIX}*"],
            },
            {
                "Sid": "ReadWriteVoicesAndBatch",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{bucket_arn}/{p}*" for p in READ_WRITE_PREFIXES],
            },
            {
                "Sid": "ListOwnPrefixes",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn],
                "Condition": {
                    "StringLike": {"s3:prefix": [f"{p}*" for p in (MODELS_PREFIX, *READ_WRITE_PREFIXES)]}
                },
            },
        ],
    }


class FunctionIdentity(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        account: Account,
        bucket_arn: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts-aws:infra:FunctionIdentity", name, None, opts)
        self.role = aws.iam.Role(
            name,
            name=f"{cfg.name}-function",
            description=f"Execution role of the {cfg.function_name} Lambda function (Bangla XTTS)",
            assume_role_policy=json.dumps(assume_role_policy("lambda.amazonaws.com")),
            tags=cfg.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.policy = aws.iam.RolePolicy(
            name,
            name="serving",
            role=self.role.id,
            policy=json.dumps(function_policy(cfg, account, bucket_arn)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"role": self.role.arn})
