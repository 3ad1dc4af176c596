"""Storage: the private, versioned bucket that holds bundles, voices and batch work."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig

MODELS_PREFIX = "models/"
VOICES_PREFIX = "voices/"
BATCH_PREFIX = "batch/"
PREFIXES = (MODELS_PREFIX, VOICES_PREFIX, BATCH_PREFIX)

Rule = gcp.storage.BucketLifecycleRuleArgs
When = gcp.storage.BucketLifecycleRuleConditionArgs
DELETE = gcp.storage.BucketLifecycleRuleActionArgs(type="Delete")


class ModelStorage(pulumi.ComponentResource):
    """One bucket; `models/<name>/<version>/` bundles, `voices/` saved voices, `batch/` jobs."""

    def __init__(self, name: str, cfg: DeployConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bn-xtts:infra:ModelStorage", name, None, opts)
        self.bucket = gcp.storage.Bucket(
            name,
            name=cfg.bucket_name,
            project=cfg.project,
            location=cfg.region,
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            # A bucket holding released bundles is never emptied by `pulumi destroy`.
            force_destroy=False,
            lifecycle_rules=lifecycle_rules(cfg),
            labels={"app": "bn-xtts", "stack": cfg.stack},
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.deletion_protection),
        )
        self.bucket_name = self.bucket.name
        self.register_outputs({"bucket": self.bucket.name})


def lifecycle_rules(cfg: DeployConfig) -> list[gcp.storage.BucketLifecycleRuleArgs]:
    """Bundles are immutable per version directory (rollback = point at an older one), so only
    overwritten or deleted generations expire; batch output is working data and ages out."""
    return [
        Rule(
            action=DELETE,
            condition=When(
                matches_prefixes=[MODELS_PREFIX],
                with_state="ARCHIVED",
                num_newer_versions=cfg.bundle_versions_kept,
            ),
        ),
        Rule(
            action=DELETE,
            condition=When(
                matches_prefixes=[MODELS_PREFIX, VOICES_PREFIX],
                with_state="ARCHIVED",
                days_since_noncurrent_time=90,
            ),
        ),
        Rule(
            action=DELETE,
            condition=When(matches_prefixes=[BATCH_PREFIX], age=cfg.batch_output_days),
        ),
        Rule(
            action=DELETE,
            condition=When(
                matches_prefixes=[BATCH_PREFIX], with_state="ARCHIVED", days_since_noncurrent_time=1
            ),
        ),
    ]
