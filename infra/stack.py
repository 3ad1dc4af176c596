"""Wires the components together; returns the stack outputs."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra import release as releases
from infra.apis import Apis
from infra.billing import Budget
from infra.config import DeployConfig
from infra.edge import Edge
from infra.identity import Identity
from infra.monitoring import Monitoring
from infra.preflight import Lookups, ProviderLookups
from infra.propagation import ACCESS_GRANT_S, API_ENABLEMENT_S, PropagationWait
from infra.registry import ImageRegistry
from infra.schedule import BatchSchedule
from infra.service import TtsService
from infra.storage import ModelStorage


def build(
    cfg: DeployConfig, api_keys: pulumi.Input[str], lookups: Lookups | None = None
) -> dict[str, pulumi.Input[str]]:
    # Decided before anything is declared: a refusal (missing bundle, missing image, a rollback
    # without the flag) stops `pulumi preview` with nothing changed.
    plan = releases.plan(cfg, lookups or ProviderLookups())
    cfg = plan.cfg

    apis = Apis("apis", cfg)
    apis_settled = PropagationWait(
        "apis-settled",
        after=sorted(apis.services),
        seconds=API_ENABLEMENT_S,
        reason="newly enabled APIs",
        opts=pulumi.ResourceOptions(depends_on=apis.all()),
    )
    apis_ready = [*apis.all(), apis_settled]
    after_apis = pulumi.ResourceOptions(depends_on=apis_ready)
    storage = ModelStorage("storage", cfg, opts=after_apis)
    registry = ImageRegistry("registry", cfg, opts=after_apis)
    identity = Identity("identity", cfg, bucket_name=storage.bucket_name, api_keys=api_keys, opts=after_apis)
    outputs: dict[str, pulumi.Input[str]] = {
        "bucket": storage.bucket_name,
        "image_repository": registry.url,
        "runtime_service_account": identity.runtime.email,
        "batch_service_account": identity.batch.email,
        # The scheduler's identity: the deployer account acts as these three (deploy/bootstrap.sh).
        "invoker_service_account": identity.invoker.email,
    }
    if plan.release is None or cfg.image is None:
        # Bootstrap: the bucket and the registry must exist before a bundle can be uploaded and an
        # image pushed; the service is declared only once both are there.
        pulumi.log.warn(plan.reason)
        return outputs

    # Cloud Run checks at revision creation that the runtime account may read the secret; the
    # service and the job read the bucket as soon as they start.
    grants = [
        identity.api_keys_access,
        identity.models_reader,
        identity.data_writer,
        identity.batch_reader,
        identity.batch_writer,
    ]
    access_settled = PropagationWait(
        "access-settled",
        after=[grant.id for grant in grants],
        seconds=ACCESS_GRANT_S,
        reason="new IAM grants",
        opts=pulumi.ResourceOptions(depends_on=grants),
    )
    service = TtsService(
        "service",
        cfg,
        image=cfg.image,
        service_account=identity.runtime.email,
        api_keys_secret=identity.api_keys_secret.secret_id,
        api_keys_version=identity.api_keys_version.version,
        # The revision reads the secret and the bucket as soon as it starts.
        opts=pulumi.ResourceOptions(
            depends_on=[
                *apis_ready,
                identity.api_keys_access,
                identity.models_reader,
                identity.data_writer,
                access_settled,
            ]
        ),
    )
    edge = Edge("edge", cfg, service_name=service.service.name, opts=after_apis)
    monitoring = Monitoring("monitoring", cfg, opts=pulumi.ResourceOptions(depends_on=[*apis_ready, edge]))
    if cfg.billing_account:
        Budget(
            "budget",
            cfg,
            notification_channel=monitoring.channel.id,
            depends_on=apis_ready,
            opts=after_apis,
        )
    batch = BatchSchedule(
        "batch",
        cfg,
        image=cfg.image,
        service_account=identity.batch.email,
        invoker_account=identity.invoker.email,
        # An execution reads and writes the bucket as soon as it starts.
        opts=pulumi.ResourceOptions(
            depends_on=[*apis_ready, identity.batch_reader, identity.batch_writer, access_settled]
        ),
    )
    # Written only after the service and the job took the release: the next run starts from it.
    record = gcp.storage.BucketObject(
        "release",
        bucket=storage.bucket_name,
        name=releases.record_name(cfg),
        content=plan.release.to_json(),
        content_type="application/json",
        # Same object name: never create the replacement before deleting the old one (which would
        # then delete the new content: https://github.com/pulumi/pulumi-gcp/issues/152). A new
        # release replaces the object (`content` forces it); retain_on_delete makes that "delete" a
        # no-op, so the create simply overwrites it and there is never a moment without a record
        # (an interrupted run used to leave none; the bucket's versioning keeps every generation).
        opts=pulumi.ResourceOptions(
            depends_on=[service, batch], delete_before_replace=True, retain_on_delete=True
        ),
    )
    outputs.update(
        {
            "url": edge.url,
            "image": cfg.image,
            "model_version": cfg.model_version,
            "release_record": pulumi.Output.concat("gs://", record.bucket, "/", record.name),
            "load_balancer_ip": edge.address.address,
            "run_app_url": service.service.uri,
            "service": service.service.name,
            "batch_job": batch.job.name,
        }
    )
    return outputs
