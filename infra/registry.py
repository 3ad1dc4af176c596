"""Registry: the Artifact Registry Docker repository the image is pushed to."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig

Policy = gcp.artifactregistry.RepositoryCleanupPolicyArgs
Condition = gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs

DAY = 24 * 3600
# Images kept whatever their age, so a rollback to any of the last releases is one `pulumi up`.
KEEP_RECENT = 10


class ImageRegistry(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: DeployConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bn-xtts:infra:ImageRegistry", name, None, opts)
        self.repository = gcp.artifactregistry.Repository(
            name,
            repository_id=cfg.name,
            project=cfg.project,
            location=cfg.region,
            format="DOCKER",
            description="Bangla XTTS serving images, tagged with the commit SHA",
            # A tag names one build forever: rollbacks and audits can trust it.
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                Policy(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=KEEP_RECENT
                    ),
                ),
                Policy(
                    id="delete-untagged",
                    action="DELETE",
                    condition=Condition(tag_state="UNTAGGED", older_than=f"{7 * DAY}s"),
                ),
                Policy(
                    id="delete-old",
                    action="DELETE",
                    condition=Condition(tag_state="ANY", older_than=f"{180 * DAY}s"),
                ),
            ],
            labels={"app": "bn-xtts", "stack": cfg.stack},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = pulumi.Output.concat(
            cfg.region, "-docker.pkg.dev/", cfg.project, "/", self.repository.repository_id
        )
        self.register_outputs({"url": self.url})
