"""Preflight: what the program looks up in the account before it declares anything.

Both look-ups are the AWS provider's data sources (invokes), so they run with the same
credentials as the update, already during `pulumi preview`, and tests answer them from Pulumi's
mocks (`Mocks.call`, tests/infra_aws/harness.py):

- `aws:index/getCallerIdentity`: the account and partition every ARN and the bucket name are
  built from (plain strings, so the role policies are plain JSON a test can compare exactly);
- `aws:ecr/getImage`: is the configured image pushed, and which digest is it? Creating a function
  from an image that is not in the repository fails the create call half-way through `pulumi up`;
  here `pulumi preview` already refuses, naming the key and the fix. The program then deploys the
  digest, so what runs is exactly what was pushed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pulumi_aws as aws

from infra.stack_config import ConfigError
from infra_aws.config import NAMESPACE, DeployConfig, ImageRef


@dataclass(frozen=True)
class Account:
    id: str
    partition: str

    def arn(self, service: str, region: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{region}:{self.id}:{resource}"


class Lookups(Protocol):
    def account(self) -> Account: ...

    def image_digest(self, cfg: DeployConfig, image: ImageRef) -> str | None:
        """`sha256:...` of the image in the stack's repository, None if it is not there."""
        ...


class ProviderLookups:
    """Lookups through the AWS provider's data sources."""

    def account(self) -> Account:
        identity = aws.get_caller_identity()
        # arn:PARTITION:sts::ACCOUNT:assumed-role/...: the partition (aws, aws-cn, aws-us-gov).
        return Account(identity.account_id, identity.arn.split(":")[1])

    def image_digest(self, cfg: DeployConfig, image: ImageRef) -> str | None:
        try:
            found = aws.ecr.get_image(
                registry_id=image.account,
                repository_name=image.repository,
                image_tag=image.tag,
                image_digest=image.digest,
            )
        except Exception:  # the data source fails when the repository, tag or digest is absent
            return None
        return found.image_digest or None


def image_uri(cfg: DeployConfig, account: Account, lookups: Lookups) -> str:
    """`REGISTRY/REPOSITORY@sha256:...` for the configured image, or a ConfigError saying why not."""
    image = cfg.image
    assert image is not None
    key = f"{NAMESPACE}:image"
    if image.account != account.id:
        # The repository policy that lets Lambda pull is this stack's own (registry.py); an image
        # in another account would need that account's policy too.
        raise ConfigError(key, f"the image is in account {image.account}, this stack deploys to {account.id}")
    digest = lookups.image_digest(cfg, image)
    if digest is None:
        ref = f":{image.tag}" if image.tag else f"@{image.digest}"
        raise ConfigError(
            key,
            f"{image.registry}/{image.repository}{ref} is not in the repository: build and push it "
            "first (docs/deploy-aws.md), or leave image out to create only the repository "
            "and the bucket",
        )
    if image.digest is not None and digest != image.digest:
        raise ConfigError(key, f"the repository returned {digest} for {image.digest}")
    return f"{image.registry}/{image.repository}@{digest}"
