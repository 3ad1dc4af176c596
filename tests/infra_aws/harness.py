"""Runs the AWS Pulumi program (infra_aws/) in-process against mocks: no Pulumi CLI, no AWS.

The AWS program under the shared mock harness (tests/pulumi_mocks.py): `FakeAccount` answers the
program's two look-ups (the caller identity and ECR images) and adds the computed outputs the
program reads to new resources (ARNs, the repository and function URLs). Mock inputs arrive
camelCase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from tests.pulumi_mocks import CallResult, Synth, run_program

ACCOUNT = "123456789012"
REGION = "ap-south-1"
NAME = "bn-tts"
BUCKET = f"{NAME}-models-{ACCOUNT}-{REGION}"
REPOSITORY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{NAME}"
TAG = "0123abc"
DIGEST = "sha256:" + "ab" * 32
IMAGE_TAG = f"{REPOSITORY}:{TAG}"
IMAGE_DIGEST = f"{REPOSITORY}@{DIGEST}"
KEYS = "key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb"

BASE_CONFIG: dict[str, str] = {
    "aws:region": REGION,
    "bn-xtts-aws:image": IMAGE_TAG,
    "bn-xtts-aws:alertEmail": "oncall@example.com",
    "bn-xtts-aws:authType": "NONE",
    "bn-xtts-aws:apiKeys": KEYS,
    "bn-xtts-aws:batchSchedule": "cron(0 3 * * ? *)",
    "bn-xtts-aws:reservedConcurrency": "5",
}

GET_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
GET_IMAGE = "aws:ecr/getImage:getImage"

FUNCTION = "aws:lambda/function:Function"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"
ASYNC_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
BUCKET_TYPE = "aws:s3/bucket:Bucket"
ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
REPO = "aws:ecr/repository:Repository"
REPO_LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
REPO_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
SCHEDULE = "aws:scheduler/schedule:Schedule"


@dataclass
class FakeAccount:
    """The account as the program's look-ups see it. Default: `bn-tts:0123abc` is pushed."""

    account_id: str = ACCOUNT
    # (repository, tag or digest) -> digest
    images: dict[tuple[str, str], str] = field(
        default_factory=lambda: {(NAME, TAG): DIGEST, (NAME, DIGEST): DIGEST}
    )
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def created(self, args: pulumi.runtime.MockResourceArgs, state: dict[str, Any]) -> str | None:
        name = args.inputs.get("name", args.name)
        acct = self.account_id
        if args.typ == BUCKET_TYPE:
            state["arn"] = f"arn:aws:s3:::{args.inputs['bucket']}"
            return str(args.inputs["bucket"])
        if args.typ == REPO:
            state["repositoryUrl"] = f"{acct}.dkr.ecr.{REGION}.amazonaws.com/{name}"
            state["arn"] = f"arn:aws:ecr:{REGION}:{acct}:repository/{name}"
        elif args.typ == ROLE:
            state["arn"] = f"arn:aws:iam::{acct}:role/{name}"
            return str(name)
        elif args.typ == FUNCTION:
            state["arn"] = f"arn:aws:lambda:{REGION}:{acct}:function:{name}"
            return str(name)
        elif args.typ == FUNCTION_URL:
            state["functionUrl"] = f"https://abc123.lambda-url.{REGION}.on.aws/"
        elif args.typ == LOG_GROUP:
            state["arn"] = f"arn:aws:logs:{REGION}:{acct}:log-group:{name}"
            return str(name)
        elif args.typ in (TOPIC, SECRET, SCHEDULE, ALARM):
            service = {TOPIC: "sns", SECRET: "secretsmanager", SCHEDULE: "scheduler", ALARM: "cloudwatch"}
            state["arn"] = f"arn:aws:{service[args.typ]}:{REGION}:{acct}:{name}"
        return None

    def call(self, token: str, args: dict[str, Any]) -> CallResult:
        self.calls.append((token, dict(args)))
        if token == GET_IDENTITY:
            arn = f"arn:aws:sts::{self.account_id}:assumed-role/deployer/session"
            return {
                "accountId": self.account_id,
                "arn": arn,
                "userId": "AROAEXAMPLE",
                "id": self.account_id,
            }, []
        if token == GET_IMAGE:
            ref = args.get("imageTag") or args.get("imageDigest")
            digest = self.images.get((args["repositoryName"], ref))
            if digest is None or args.get("registryId") != self.account_id:
                return {}, [("imageTag", f"ImageNotFoundException: {args['repositoryName']}:{ref}")]
            return {
                "id": digest,
                "imageDigest": digest,
                "imageTags": [TAG],
                "repositoryName": args["repositoryName"],
                "registryId": self.account_id,
            }, []
        return {}, []


def synthesize(
    overrides: Mapping[str, str | None] | None = None, account: FakeAccount | None = None
) -> Synth:
    """Build the whole stack with BASE_CONFIG plus `overrides` (None removes a key), against
    `account` (default: FakeAccount())."""
    from infra_aws import config, stack

    return run_program(
        lambda: stack.build(config.from_pulumi(), config.api_keys_from_pulumi()),
        project="bn-xtts-aws",
        config={**BASE_CONFIG, **(overrides or {})},
        secret_keys=["bn-xtts-aws:apiKeys"],
        cloud=account or FakeAccount(),
    )
