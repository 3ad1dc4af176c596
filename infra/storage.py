"""Storage: the private, versioned bucket that holds bundles, voices and batch work."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig

MODELS_PREFIX = "models/"
VOICES_PREFIX = "voices/"
BATCH_PREFIX = "batch/"
# The batch job reads manifests from batch/in/ and writes audio, results and summaries to batch/out/.
BATCH_IN_PREFIX = "batch/in/"
BATCH_OUT_PREFIX = "batch/out/"
PREFIXES = (MODELS_PREFIX, VOICES_PREFIX, BATCH_IN_PREFIX, BATCH_OUT_PREFIX)
# Lifecycle actions run asynchronously (https://cloud.google.com/storage/docs/lifecycle); results
# outlive their manifest by this much, so a manifest is always deleted before its results.
BATCH_OUTPUT_MARGIN_DAYS = 1

Rule = gcp.storage.BucketLifecycleRuleArgs
When = gcp.storage.BucketLifecycleRuleConditionArgs
DELETE = gcp.storage.BucketLifecycleRuleActionArgs(type="Delete")


class ModelStorage(pulumi.ComponentResource):
    """One bucket; `models/<name>/<version>/` bundles, `voices/` saved voices, `batch/in/` manifests
    and `batch/out/` their results."""

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
    overwritten or deleted generations expire; batch work ages out.

    Manifests under batch/in/ expire too, and before their results: the job skips a manifest
    only while its `_SUMMARY.json` under batch/out/ exists, so a manifest kept after its results
    expired would be synthesized again, in full, by the next scheduled run. A manifest is
    therefore deleted after `batchOutputDays` and its results (always written after it) a day
    later; re-upload a manifest to run it again."""
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
            condition=When(matches_prefixes=[BATCH_IN_PREFIX], age=cfg.batch_output_days),
        ),
        Rule(
            action=DELETE,
            condition=When(
                matches_prefixes=[BATCH_OUT_PREFIX], age=cfg.batch_output_days + BATCH_OUTPUT_MARGIN_DAYS
            ),
        ),
        Rule(
            action=DELETE,
            condition=When(
                matches_prefixes=[BATCH_PREFIX], with_state="ARCHIVED", days_since_noncurrent_time=1
            ),
        ),
    ]
