"""Wires the components together; returns the stack outputs."""

from __future__ import annotations

import pulumi

from infra_aws import preflight
from infra_aws.alarms import FunctionAlarms
from infra_aws.api_keys import ApiKeys
from infra_aws.config import DeployConfig
from infra_aws.identity import FunctionIdentity
from infra_aws.log_group import FunctionLogGroup
from infra_aws.preflight import Lookups, ProviderLookups
from infra_aws.registry import ImageRegistry
from infra_aws.schedule import BatchSchedule
from infra_aws.serving import TtsFunction
from infra_aws.storage import ModelStorage

NO_IMAGE = (
    "no image configured: created the repository, bucket, role and log group, no function. Upload "
    "the bundle, build and push the `lambda` image, then `pulumi up -c bn-xtts-aws:image=REPOSITORY:TAG` "
    "(docs/deploy-aws.md)"
)


def build(
    cfg: DeployConfig, api_keys: pulumi.Output[str] | None, lookups: Lookups | None = None
) -> dict[str, pulumi.Input[str]]:
    lookups = lookups or ProviderLookups()
    account = lookups.account()
    # Decided before anything is declared: an image that is not pushed stops `pulumi preview`.
    image_uri = preflight.image_uri(cfg, account, lookups) if cfg.image is not None else None

    storage = ModelStorage("storage", cfg, account)
    registry = ImageRegistry("registry", cfg, account)
    logs = FunctionLogGroup("logs", cfg)
    identity = FunctionIdentity("identity", cfg, account, bucket_arn=storage.arn)
    keys = ApiKeys("api-keys", cfg, api_keys) if api_keys is not None else None
    outputs: dict[str, pulumi.Input[str]] = {
        "bucket": storage.bucket.bucket,
        "repository_url": registry.url,
        "log_group": logs.log_group.name,
    }
    if image_uri is None:
        # Bootstrap: the repository must exist before an image can be pushed, and the bucket
        # before the bundle is uploaded; the function comes with the next run.
        pulumi.log.warn(NO_IMAGE)
        return outputs

    function = TtsFunction(
        "function",
        cfg,
        image_uri=image_uri,
        role_arn=identity.role.arn,
        bucket=storage.name,
        log_group=logs.log_group.name,
        api_keys=keys.value if keys is not None else None,
        after=[logs.log_group, identity.policy, registry.pull_policy, *storage.ready],
    )
    FunctionAlarms("alarms", cfg, function_name=function.function.name)
    if cfg.batch_schedule is not None:
        BatchSchedule("batch", cfg, account, function_arn=function.function.arn)
    outputs.update(
        {
            "url": function.url.function_url,
            "function_name": function.function.name,
            "image": image_uri,
        }
    )
    return outputs
