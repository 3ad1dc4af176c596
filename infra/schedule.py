"""Schedule: the batch-synthesis Cloud Run Job (same image) and the Cloud Scheduler trigger."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig, tts_environment
from infra.service import resource_limits
from infra.storage import BATCH_PREFIX

run = gcp.cloudrunv2

BATCH_COMMAND = ["python", "-m", "function.batch"]
RUN_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def run_job_uri(cfg: DeployConfig, job_name: str) -> str:
    """Cloud Run Admin API v2 `jobs.run`, which the scheduler calls with an OAuth token."""
    return f"https://run.googleapis.com/v2/projects/{cfg.project}/locations/{cfg.region}/jobs/{job_name}:run"


class BatchSchedule(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        *,
        image: str,
        service_account: pulumi.Input[str],
        invoker_account: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts:infra:BatchSchedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env = {**tts_environment(cfg), "TTS_BATCH_PATH": f"gs://{cfg.bucket_name}/{BATCH_PREFIX}"}
        job_name = f"{cfg.name}-batch"
        self.job = run.Job(
            name,
            name=job_name,
            project=cfg.project,
            location=cfg.region,
            deletion_protection=cfg.deletion_protection,
            labels={"app": "bn-xtts", "stack": cfg.stack},
            template=run.JobTemplateArgs(
                task_count=cfg.batch_tasks,
                parallelism=cfg.batch_parallelism,
                template=run.JobTemplateTemplateArgs(
                    service_account=service_account,
                    execution_environment="EXECUTION_ENVIRONMENT_GEN2",
                    timeout=f"{cfg.batch_task_timeout_s}s",
                    max_retries=1,
                    node_selector=run.JobTemplateTemplateNodeSelectorArgs(accelerator=cfg.gpu_type)
                    if cfg.gpu
                    else None,
                    # GPU jobs are billed and quota-checked as "no zonal redundancy".
                    gpu_zonal_redundancy_disabled=True if cfg.gpu else None,
                    containers=[
                        run.JobTemplateTemplateContainerArgs(
                            name="batch",
                            image=image,
                            commands=BATCH_COMMAND,
                            envs=[
                                run.JobTemplateTemplateContainerEnvArgs(name=k, value=v)
                                for k, v in env.items()
                            ],
                            resources=run.JobTemplateTemplateContainerResourcesArgs(
                                limits=resource_limits(cfg)
                            ),
                        )
                    ],
                ),
            ),
            opts=child,
        )
        self.trigger: gcp.cloudscheduler.Job | None = None
        if cfg.batch_schedule is None:
            self.register_outputs({"job": self.job.name})
            return

        # The invoker may start this one job and nothing else.
        self.invoker_binding = run.JobIamMember(
            f"{name}-invoker",
            project=cfg.project,
            location=cfg.region,
            name=self.job.name,
            role="roles/run.invoker",
            member=pulumi.Output.from_input(invoker_account).apply(lambda e: f"serviceAccount:{e}"),
            opts=child,
        )
        self.trigger = gcp.cloudscheduler.Job(
            f"{name}-trigger",
            name=f"{cfg.name}-batch-trigger",
            project=cfg.project,
            region=cfg.region,
            description="Starts the batch synthesis job",
            schedule=cfg.batch_schedule,
            time_zone=cfg.batch_time_zone,
            attempt_deadline="180s",
            retry_config=gcp.cloudscheduler.JobRetryConfigArgs(retry_count=1),
            http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                http_method="POST",
                uri=self.job.name.apply(lambda n: run_job_uri(cfg, n)),
                # Google APIs take OAuth access tokens (OIDC tokens are for Cloud Run URLs).
                oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(
                    service_account_email=invoker_account, scope=RUN_SCOPE
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.invoker_binding]),
        )
        self.register_outputs({"job": self.job.name, "trigger": self.trigger.name})
