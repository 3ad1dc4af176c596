"""Schedule: the batch-synthesis Cloud Run Job (same image) and the Cloud Scheduler trigger.

The job runs as its own account (`infra/identity.py`: reads models/, voices/ and batch/in/,
writes batch/out/, no access to the API keys) and gets no TTS_API_KEYS: it serves no HTTP."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig, tts_environment
from infra.service import resource_limits
from infra.storage import BATCH_IN_PREFIX, BATCH_OUT_PREFIX

run = gcp.cloudrunv2

BATCH_COMMAND = ["python", "-m", "function.batch"]
RUN_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# What the job shares with the service's environment: the model, the voices, the logging, and the
# reference-clip size limit (TTS_MAX_REQUEST_BYTES, so a clip the API refuses is refused here too).
# Not the HTTP-only limits (TTS_MAX_CONCURRENT_REQUESTS; TTS_MAX_TEXT_CHARS, where the job has its
# own TTS_BATCH_MAX_TEXT_CHARS), and never TTS_API_KEYS.
SHARED_ENV = (
    "TTS_MODEL_PATH",
    "TTS_MODEL_VARIANT",
    "TTS_ENABLE_GPU",
    "TTS_CACHE_DIR",
    "TTS_VOICES_PATH",
    "TTS_LOG_LEVEL",
    "TTS_MAX_REQUEST_BYTES",
    "GOOGLE_CLOUD_PROJECT",
)


def batch_job_name(cfg: DeployConfig) -> str:
    return f"{cfg.name}-batch"


def batch_environment(cfg: DeployConfig) -> dict[str, str]:
    """The job's environment: the shared TTS_* set plus where manifests come from and results go."""
    shared = tts_environment(cfg)
    bucket = f"gs://{cfg.bucket_name}"
    return {
        **{k: shared[k] for k in SHARED_ENV},
        "TTS_BATCH_INPUT": f"{bucket}/{BATCH_IN_PREFIX.rstrip('/')}",
        "TTS_BATCH_OUTPUT": f"{bucket}/{BATCH_OUT_PREFIX.rstrip('/')}",
    }


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
        env = batch_environment(cfg)
        job_name = batch_job_name(cfg)
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
                    # function.batch exits non-zero only for failures a retry can fix.
                    max_retries=cfg.batch_max_retries,
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
