"""Identity: who the service and the batch job run as, who starts the job, and the API-key secret.

No account here gets a project-wide role: storage access is granted as bucket bindings limited by
IAM conditions to object prefixes, and only the service's account may read the one secret.

| account | reads | reads and writes | secret |
| --- | --- | --- | --- |
| `<name>-run` (service) | `models/` | `voices/` | API keys |
| `<name>-batch` (job) | `models/`, `voices/`, `batch/in/` | `batch/out/` | none |
| `<name>-sched` (scheduler) | nothing: it may only start the job (`infra/schedule.py`) | | none |
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig
from infra.storage import BATCH_IN_PREFIX, BATCH_OUT_PREFIX, MODELS_PREFIX, VOICES_PREFIX

READ_ROLE = "roles/storage.objectViewer"
# objectUser, not objectCreator: overwriting an object also needs storage.objects.delete.
READ_WRITE_ROLE = "roles/storage.objectUser"
# Object prefixes each runtime identity may read, and read and write.
SERVICE_READ = (MODELS_PREFIX,)
SERVICE_READ_WRITE = (VOICES_PREFIX,)
BATCH_READ = (MODELS_PREFIX, VOICES_PREFIX, BATCH_IN_PREFIX)
BATCH_READ_WRITE = (BATCH_OUT_PREFIX,)


def prefix_condition(bucket: str, prefixes: tuple[str, ...]) -> str:
    """CEL that matches objects under `prefixes`, and listing calls limited to them (a list
    call's resource is the bucket, so its prefix is checked through objectListPrefix)."""
    terms = [f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{p}")' for p in prefixes]
    terms += [
        f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{p}")' for p in prefixes
    ]
    return " || ".join(terms)


def prefix_binding(
    name: str,
    *,
    bucket_name: pulumi.Input[str],
    role: str,
    member: pulumi.Input[str],
    prefixes: tuple[str, ...],
    title: str,
    description: str,
    opts: pulumi.ResourceOptions,
) -> gcp.storage.BucketIAMMember:
    """`role` on the bucket for `member`, limited to objects (and listings) under `prefixes`."""
    return gcp.storage.BucketIAMMember(
        name,
        bucket=bucket_name,
        role=role,
        member=member,
        condition=gcp.storage.BucketIAMMemberConditionArgs(
            title=title,
            description=description,
            expression=pulumi.Output.from_input(bucket_name).apply(lambda b: prefix_condition(b, prefixes)),
        ),
        opts=opts,
    )


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
            display_name="Bangla TTS runtime (Cloud Run service)",
            opts=child,
        )
        # The batch job has its own account: it never holds the API keys, and the service never
        # touches batch work.
        self.batch = gcp.serviceaccount.Account(
            f"{name}-batch",
            account_id=f"{cfg.name}-batch",
            project=cfg.project,
            display_name="Bangla TTS batch job (Cloud Run job, python -m function.batch)",
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
        batch_member = self.batch.email.apply(lambda e: f"serviceAccount:{e}")

        self.models_reader = prefix_binding(
            f"{name}-models-read",
            bucket_name=bucket_name,
            role=READ_ROLE,
            member=runtime_member,
            prefixes=SERVICE_READ,
            title="models-read-only",
            description="Read bundles under models/",
            opts=child,
        )
        self.data_writer = prefix_binding(
            f"{name}-data-rw",
            bucket_name=bucket_name,
            role=READ_WRITE_ROLE,
            member=runtime_member,
            prefixes=SERVICE_READ_WRITE,
            title="voices-read-write",
            description="Read and write saved voices under voices/",
            opts=child,
        )
        self.batch_reader = prefix_binding(
            f"{name}-batch-read",
            bucket_name=bucket_name,
            role=READ_ROLE,
            member=batch_member,
            prefixes=BATCH_READ,
            title="batch-read-only",
            description="Read bundles, saved voices and batch manifests (models/, voices/, batch/in/)",
            opts=child,
        )
        self.batch_writer = prefix_binding(
            f"{name}-batch-rw",
            bucket_name=bucket_name,
            role=READ_WRITE_ROLE,
            member=batch_member,
            prefixes=BATCH_READ_WRITE,
            title="batch-output-read-write",
            description="Read, write and overwrite batch results under batch/out/",
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
            {
                "runtime": self.runtime.email,
                "batch": self.batch.email,
                "invoker": self.invoker.email,
                "secret": self.api_keys_secret.id,
            }
        )
