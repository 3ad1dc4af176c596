"""Storage: the private, versioned, encrypted S3 bucket for bundles, voices and batch work.

Layout (the serving contract): `models/<model>/<version>/<variant>/` bundles (read-only to the
function), `voices/` saved voices, `batch/in/` manifests and `batch/out/` results (read-write).

Each bucket setting is its own resource, and they are applied one after another: S3 answers
concurrent configuration calls on one bucket with 409 OperationAborted ("A conflicting conditional
operation is currently in progress"; https://github.com/pulumi/pulumi-aws/issues/1570,
https://github.com/hashicorp/terraform-provider-aws/issues/7628 and /33552), which fails a first
`pulumi up` at random.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra_aws.config import DeployConfig
from infra_aws.preflight import Account

MODELS_PREFIX = "models/"
VOICES_PREFIX = "voices/"
BATCH_PREFIX = "batch/"
BATCH_IN_PREFIX = "batch/in/"
BATCH_OUT_PREFIX = "batch/out/"
# A multipart upload that never completed (an interrupted `aws s3 sync` of a bundle) is billed
# until aborted.
ABORT_MULTIPART_DAYS = 7


def bucket_name(cfg: DeployConfig, account: Account) -> str:
    """Bucket names are global across AWS: the account and region make it unique and derivable
    (at most 21 + 8 + 12 + 1 + 14 characters, within S3's 63)."""
    return f"{cfg.name}-models-{account.id}-{cfg.region}"


def tls_only_policy(bucket_arn: str) -> dict[str, Any]:
    """Refuse every request not made over TLS, for anyone
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


class ModelStorage(pulumi.ComponentResource):
    def __init__(
        self, name: str, cfg: DeployConfig, account: Account, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bn-xtts-aws:infra:ModelStorage", name, None, opts)
        self.name = bucket_name(cfg, account)
        self.arn = f"arn:{account.partition}:s3:::{self.name}"
        self.bucket = aws.s3.Bucket(
            name,
            bucket=self.name,
            # A bucket holding released bundles is never emptied by `pulumi destroy`.
            force_destroy=False,
            tags=cfg.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.deletion_protection),
        )
        # Each setting waits for the one before it (see the module docstring).
        chain: list[pulumi.Resource] = [self.bucket]

        def after() -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[chain[-1]])

        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=self.bucket.id,
            block_public_acls=True,
            ignore_public_acls=True,
            block_public_policy=True,
            restrict_public_buckets=True,
            opts=after(),
        )
        chain.append(self.public_access_block)
        # ACLs off: access is decided by IAM and the bucket policy alone.
        self.ownership = aws.s3.BucketOwnershipControls(
            name,
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=after(),
        )
        chain.append(self.ownership)
        # SSE-S3 rather than SSE-KMS: the function then needs no kms:Decrypt, and model downloads
        # (hundreds of MB on every cold start) make no KMS requests, which are billed and
        # rate-limited per account; who may read is decided by IAM either way.
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                )
            ],
            opts=after(),
        )
        chain.append(self.encryption)
        self.versioning = aws.s3.BucketVersioning(
            name,
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=after(),
        )
        chain.append(self.versioning)
        # Overwritten or deleted objects stay recoverable for noncurrentVersionDays, then go.
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=cfg.noncurrent_version_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_MULTIPART_DAYS
                    ),
                )
            ],
            opts=after(),
        )
        chain.append(self.lifecycle)
        self.policy = aws.s3.BucketPolicy(
            name, bucket=self.bucket.id, policy=json.dumps(tls_only_policy(self.arn)), opts=after()
        )
        chain.append(self.policy)
        # Everything that uses the bucket waits for all of its settings.
        self.ready: list[pulumi.Resource] = chain
        self.register_outputs({"bucket": self.bucket.bucket})
