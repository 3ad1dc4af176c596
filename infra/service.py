"""Service: the Cloud Run service that runs the serving image (L4 GPU, or CPU-only)."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig, tts_environment

run = gcp.cloudrunv2

PORT = 8080
HEALTH_PATH = "/health"
# Startup: /health answers 503 until the bundle is downloaded, verified and warmed up. Cloud Run
# allows a startup window (period x failures) of at most 240 s; use all of it.
STARTUP_PERIOD_S = 10
STARTUP_FAILURES = 24
LIVENESS_PERIOD_S = 30
LIVENESS_FAILURES = 3
GPU_RESOURCE = "nvidia.com/gpu"
# Only the external Application Load Balancer (and VPC-internal callers) reach the service.
INGRESS = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"


def resource_limits(cfg: DeployConfig) -> dict[str, str]:
    limits = {"cpu": str(cfg.cpu), "memory": cfg.memory_limit}
    if cfg.gpu:
        limits[GPU_RESOURCE] = "1"
    return limits


def container_env(
    cfg: DeployConfig, secret_id: pulumi.Input[str], secret_version: pulumi.Input[str]
) -> list[run.ServiceTemplateContainerEnvArgs]:
    env = [run.ServiceTemplateContainerEnvArgs(name=k, value=v) for k, v in tts_environment(cfg).items()]
    env.append(
        run.ServiceTemplateContainerEnvArgs(
            name="TTS_API_KEYS",
            value_source=run.ServiceTemplateContainerEnvValueSourceArgs(
                secret_key_ref=run.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                    secret=secret_id, version=secret_version
                )
            ),
        )
    )
    return env


class TtsService(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        *,
        image: str,
        service_account: pulumi.Input[str],
        api_keys_secret: pulumi.Input[str],
        api_keys_version: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts:infra:TtsService", name, None, opts)
        probe = run.ServiceTemplateContainerStartupProbeHttpGetArgs(path=HEALTH_PATH, port=PORT)
        self.service = run.Service(
            name,
            name=cfg.name,
            project=cfg.project,
            location=cfg.region,
            ingress=INGRESS,
            deletion_protection=cfg.deletion_protection,
            labels={"app": "bn-xtts", "stack": cfg.stack},
            # Service-level bounds, not the template's: a template's max_instance_count is per
            # revision, so during a rollout the old and the new revision could each run that many
            # (and hold that many GPUs of the quota). The service-level maximum is "combined ... for
            # all revisions receiving traffic", and takes effect at once, not at the next revision
            # (https://cloud.google.com/run/docs/configuring/max-instances; pulumi-gcp 10.2
            # cloudrunv2.ServiceScalingArgs). No scaling block on the template at all.
            scaling=run.ServiceScalingArgs(
                min_instance_count=cfg.min_instances, max_instance_count=cfg.max_instances
            ),
            template=run.ServiceTemplateArgs(
                service_account=service_account,
                execution_environment="EXECUTION_ENVIRONMENT_GEN2",
                timeout=f"{cfg.request_timeout_s}s",
                # Slots + wait queue + headroom (infra/config.py): /health, /voices and monitoring
                # calls never compete with syntheses for a slot, and an instance answers its own
                # 429 when the queue is full instead of Cloud Run scaling out or queueing at the edge.
                max_instance_request_concurrency=cfg.container_concurrency,
                node_selector=run.ServiceTemplateNodeSelectorArgs(accelerator=cfg.gpu_type)
                if cfg.gpu
                else None,
                gpu_zonal_redundancy_disabled=(not cfg.gpu_zonal_redundancy) if cfg.gpu else None,
                containers=[
                    run.ServiceTemplateContainerArgs(
                        name="tts",
                        image=image,
                        ports=run.ServiceTemplateContainerPortsArgs(name="http1", container_port=PORT),
                        envs=container_env(cfg, api_keys_secret, api_keys_version),
                        resources=run.ServiceTemplateContainerResourcesArgs(
                            limits=resource_limits(cfg),
                            # A GPU instance must keep its CPU allocated (instance-based billing);
                            # the CPU variant is billed per request and idles between them.
                            cpu_idle=not cfg.gpu,
                            startup_cpu_boost=True,
                        ),
                        startup_probe=run.ServiceTemplateContainerStartupProbeArgs(
                            http_get=probe,
                            initial_delay_seconds=0,
                            period_seconds=STARTUP_PERIOD_S,
                            timeout_seconds=5,
                            failure_threshold=STARTUP_FAILURES,
                        ),
                        liveness_probe=run.ServiceTemplateContainerLivenessProbeArgs(
                            http_get=run.ServiceTemplateContainerLivenessProbeHttpGetArgs(
                                path=HEALTH_PATH, port=PORT
                            ),
                            period_seconds=LIVENESS_PERIOD_S,
                            timeout_seconds=5,
                            failure_threshold=LIVENESS_FAILURES,
                        ),
                    )
                ],
            ),
            traffics=[run.ServiceTrafficArgs(type="TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", percent=100)],
            # The load balancer is the only way in and it carries no Google identity, so the
            # invoker IAM check is off; ingress above is what keeps the public out.
            invoker_iam_disabled=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"uri": self.service.uri, "name": self.service.name})
