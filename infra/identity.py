"""Identity: who the service runs as, who starts the batch job, and the API-key secret.

No account here gets a project-wide role: the runtime account's storage access is a bucket
binding limited by IAM conditions to object prefixes, and its secret access is on one secret.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig
from infra.storage import BATCH_PREFIX, MODELS_PREFIX, VOICES_PREFIX

READ_ROLE = "roles/storage.objectViewer"
READ_WRITE_ROLE = "roles/storage.objectUser"


def prefix_condition(bucket: str, prefixes: tuple[str, ...]) -> str:
    """CEL that matches objects under `prefixes`, and listing calls limited to them (a list
    call's resource is the bucket, so its prefix is checked through objectListPrefix)."""
    terms = [f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{p}")' for p in prefixes]
    terms += [
        f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{p}")' for p in prefixes
    ]
    return " || ".join(terms)


class Identity(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        *,
        bucket_name: pulumi.Input[str],
        api_keys: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts:infra:Identity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.runtime = gcp.serviceaccount.Account(
            f"{name}-runtime",
            account_id=f"{cfg.name}-run",
            project=cfg.project,
            display_name="Bangla TTS runtime (Cloud Run service and batch job)",
            opts=child,
        )
        self.invoker = gcp.serviceaccount.Account(
            f"{name}-invoker",
            account_id=f"{cfg.name}-sched",
            project=cfg.project,
            display_name="Bangla TTS scheduler (starts the batch job)",
            opts=child,
        )
        runtime_member = self.runtime.email.apply(lambda e: f"serviceAccount:{e}")

        self.models_reader = gcp.storage.BucketIAMMember(
            f"{name}-models-read",
            bucket=bucket_name,
            role=READ_ROLE,
            member=runtime_member,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title="models-read-only",
                description="Read bundles under models/",
                expression=pulumi.Output.from_input(bucket_name).apply(
                    lambda b: prefix_condition(b, (MODELS_PREFIX,))
                ),
            ),
            opts=child,
        )
        self.data_writer = gcp.storage.BucketIAMMember(
            f"{name}-data-rw",
            bucket=bucket_name,
            role=READ_WRITE_ROLE,
            member=runtime_member,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title="voices-and-batch-read-write",
                description="Read and write saved voices and batch work",
                expression=pulumi.Output.from_input(bucket_name).apply(
                    lambda b: prefix_condition(b, (VOICES_PREFIX, BATCH_PREFIX))
                ),
            ),
            opts=child,
        )

        self.api_keys_secret = gcp.secretmanager.Secret(
            f"{name}-api-keys",
            secret_id=f"{cfg.name}-api-keys",
            project=cfg.project,
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs()
            ),
            labels={"app": "bn-xtts", "stack": cfg.stack},
            opts=child,
        )
        self.api_keys_version = gcp.secretmanager.SecretVersion(
            f"{name}-api-keys",
            secret=self.api_keys_secret.id,
            secret_data=pulumi.Output.secret(api_keys),
            opts=child,
        )
        self.api_keys_access = gcp.secretmanager.SecretIamMember(
            f"{name}-api-keys-access",
            project=cfg.project,
            secret_id=self.api_keys_secret.secret_id,
            role="roles/secretmanager.secretAccessor",
            member=runtime_member,
            opts=child,
        )
        self.register_outputs(
            {"runtime": self.runtime.email, "invoker": self.invoker.email, "secret": self.api_keys_secret.id}
        )
