"""Wires the components together; returns the stack outputs."""

from __future__ import annotations

import pulumi

from infra.config import DeployConfig
from infra.edge import Edge
from infra.identity import Identity
from infra.monitoring import Monitoring
from infra.registry import ImageRegistry
from infra.schedule import BatchSchedule
from infra.service import TtsService
from infra.storage import ModelStorage


def build(cfg: DeployConfig, api_keys: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    storage = ModelStorage("storage", cfg)
    registry = ImageRegistry("registry", cfg)
    identity = Identity("identity", cfg, bucket_name=storage.bucket_name, api_keys=api_keys)
    outputs: dict[str, pulumi.Input[str]] = {
        "bucket": storage.bucket_name,
        "image_repository": registry.url,
        "runtime_service_account": identity.runtime.email,
        "batch_service_account": identity.batch.email,
    }
    if cfg.image is None:
        # Bootstrap: the registry must exist before the first image can be pushed to it.
        pulumi.log.warn(
            "bn-xtts:image is not set: created the bucket, registry and identities only. "
            "Push an image to the image_repository output, set bn-xtts:image and run `pulumi up` again."
        )
        return outputs

    service = TtsService(
        "service",
        cfg,
        image=cfg.image,
        service_account=identity.runtime.email,
        api_keys_secret=identity.api_keys_secret.secret_id,
        api_keys_version=identity.api_keys_version.version,
        # The revision reads the secret and the bucket as soon as it starts.
        opts=pulumi.ResourceOptions(
            depends_on=[identity.api_keys_access, identity.models_reader, identity.data_writer]
        ),
    )
    edge = Edge("edge", cfg, service_name=service.service.name)
    Monitoring("monitoring", cfg, opts=pulumi.ResourceOptions(depends_on=[edge]))
    batch = BatchSchedule(
        "batch",
        cfg,
        image=cfg.image,
        service_account=identity.batch.email,
        invoker_account=identity.invoker.email,
        # An execution reads and writes the bucket as soon as it starts.
        opts=pulumi.ResourceOptions(depends_on=[identity.batch_reader, identity.batch_writer]),
    )
    outputs.update(
        {
            "url": edge.url,
            "image": cfg.image,
            "load_balancer_ip": edge.address.address,
            "run_app_url": service.service.uri,
            "service": service.service.name,
            "batch_job": batch.job.name,
        }
    )
    return outputs
