"""Runs the AWS Pulumi program (infra_aws/) in-process against mocks: no Pulumi CLI, no AWS.

Same idea as tests/infra/pulumi_harness.py, for the AWS provider: `FakeAccount` answers the
program's two look-ups (`Mocks.call`: the caller identity and ECR images), the recorder echoes
inputs back as state plus the computed outputs the program reads (ARNs, the repository and
function URLs), and the mock monitor records each registration's parent and explicit
dependencies so tests can check ordering (`Synth.depends_on`). Mock inputs arrive camelCase.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc

from tests.infra.pulumi_harness import RecordingMonitor, WarningLog

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

    def call(self, token: str, args: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
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


@dataclass
class Synth:
    """What the program declared: resources by type, the stack outputs and the dependency graph."""

    resources: list[pulumi.runtime.MockResourceArgs]
    outputs: dict[str, Any] = field(default_factory=dict)
    # urn -> (parent urn, explicit dependency urns)
    graph: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> dict[str, Any]:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return dict(found[0].inputs)

    def named(self, typ: str, name: str) -> dict[str, Any]:
        (found,) = [r for r in self.of_type(typ) if r.name == name]
        return dict(found.inputs)

    def policy(self, typ: str, name: str, field_name: str = "policy") -> dict[str, Any]:
        """A JSON policy input, parsed."""
        return dict(json.loads(self.named(typ, name)[field_name]))

    def types(self) -> set[str]:
        return {r.typ for r in self.resources}

    def urn(self, typ: str, name: str) -> str:
        found = [u for u in self.graph if u.split("::")[-2].split("$")[-1] == typ and u.endswith(f"::{name}")]
        assert len(found) == 1, f"expected one {typ} {name}, found {found}"
        return found[0]

    def depends_on(self, urn: str) -> set[str]:
        """Everything that must exist before `urn` is created: its dependencies, its ancestors'
        (a child registers only after its parent, the parent after its dependencies), theirs in
        turn, and every child of a component it depends on (Pulumi waits for a component's
        children)."""
        seen: set[str] = set()
        todo = [urn]
        while todo:
            current = todo.pop()
            while current in self.graph:
                parent, own = self.graph[current]
                for dep in own:
                    for node in (dep, *self._descendants(dep)):
                        if node not in seen:
                            seen.add(node)
                            todo.append(node)
                current = parent
        return seen

    def _descendants(self, urn: str) -> list[str]:
        children = [u for u, (parent, _) in self.graph.items() if parent == urn]
        return [d for c in children for d in (c, *self._descendants(c))]


def unsecret(value: Any) -> Any:
    """A secret input arrives wrapped ({sig: secret, value: ...}); tests read the value."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return value["value"]
    return value


class _Recorder(pulumi.runtime.Mocks):
    """Echoes inputs back as state, plus the computed outputs the program reads."""

    def __init__(self, account: FakeAccount) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.account = account

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        state = dict(args.inputs)
        name = args.inputs.get("name", args.name)
        acct = self.account.account_id
        if args.typ == BUCKET_TYPE:
            state["arn"] = f"arn:aws:s3:::{args.inputs['bucket']}"
            return args.inputs["bucket"], state
        if args.typ == REPO:
            state["repositoryUrl"] = f"{acct}.dkr.ecr.{REGION}.amazonaws.com/{name}"
            state["arn"] = f"arn:aws:ecr:{REGION}:{acct}:repository/{name}"
        elif args.typ == ROLE:
            state["arn"] = f"arn:aws:iam::{acct}:role/{name}"
            return name, state
        elif args.typ == FUNCTION:
            state["arn"] = f"arn:aws:lambda:{REGION}:{acct}:function:{name}"
            return name, state
        elif args.typ == FUNCTION_URL:
            state["functionUrl"] = f"https://abc123.lambda-url.{REGION}.on.aws/"
        elif args.typ == LOG_GROUP:
            state["arn"] = f"arn:aws:logs:{REGION}:{acct}:log-group:{name}"
            return name, state
        elif args.typ in (TOPIC, SECRET, SCHEDULE, ALARM):
            service = {TOPIC: "sns", SECRET: "secretsmanager", SCHEDULE: "scheduler", ALARM: "cloudwatch"}
            state["arn"] = f"arn:aws:{service[args.typ]}:{REGION}:{acct}:{name}"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return self.account.call(args.token, dict(args.args))


def synthesize(
    overrides: Mapping[str, str | None] | None = None, account: FakeAccount | None = None
) -> Synth:
    """Build the whole stack with BASE_CONFIG plus `overrides` (None removes a key), against
    `account` (default: FakeAccount())."""
    from infra_aws import config, stack

    values = {**BASE_CONFIG, **(overrides or {})}
    recorder = _Recorder(account or FakeAccount())
    result = Synth(recorder.resources)
    monitor = RecordingMonitor(recorder, result.graph)
    pulumi.runtime.set_mocks(
        recorder,
        project="bn-xtts-aws",
        stack="test",
        preview=False,
        monitor=monitor,
        logger=WarningLog(result.warnings),  # type: ignore[arg-type]
    )
    pulumi.runtime.set_all_config(
        {k: v for k, v in values.items() if v is not None}, secret_keys=["bn-xtts-aws:apiKeys"]
    )

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        outputs = stack.build(config.from_pulumi(), config.api_keys_from_pulumi())
        return pulumi.Output.all(**outputs).apply(result.outputs.update)

    program()
    return result
