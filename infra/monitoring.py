"""Monitoring: uptime check through the load balancer, log-based metrics from the service's
structured logs, alert policies (service and batch job) and a dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig
from infra.schedule import batch_job_name
from infra.service import HEALTH_PATH

mon = gcp.monitoring

WINDOW = "300s"
RUN_REQUESTS = "run.googleapis.com/request_count"
RUN_LATENCIES = "run.googleapis.com/request_latencies"
RUN_INSTANCES = "run.googleapis.com/container/instance_count"
# Cloud Run job metrics, on the monitored resource cloud_run_job (label job_name): completed
# executions and completed task attempts, each counted by its `result` label ("failed" for a
# failure). https://cloud.google.com/run/docs/monitoring lists them for jobs; the metric
# reference is https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run
JOB_EXECUTIONS = "run.googleapis.com/job/completed_execution_count"
JOB_TASK_ATTEMPTS = "run.googleapis.com/job/completed_task_attempt_count"
FAILED = 'metric.label.result="failed"'
# Failed task attempts are counted over this window: a GPU attempt may run an hour.
RETRY_WINDOW = "3600s"
FIVE_XX_RATIO = 0.05


@dataclass(frozen=True)
class LogMetric:
    """A metric extracted from a numeric field of the service's JSON access-log lines."""

    suffix: str
    field: str
    unit: str
    description: str
    scale: float
    growth: float


LOG_METRICS = (
    LogMetric("ttfc_ms", "ttfc_ms", "ms", "Time to first audio chunk", scale=10.0, growth=1.3),
    LogMetric("rtf", "rtf", "1", "Real-time factor (synthesis time / audio time)", scale=0.01, growth=1.25),
)


def service_filter(cfg: DeployConfig) -> str:
    return f'resource.type="cloud_run_revision" AND resource.labels.service_name="{cfg.name}"'


def access_log_filter(cfg: DeployConfig, field: str) -> str:
    """Access-log lines that carry `field`; only they do, so the field itself selects them."""
    return f"{service_filter(cfg)} AND jsonPayload.{field}:*"


def cold_start_failure_filter(cfg: DeployConfig) -> str:
    """Cloud Run's own system log records an instance whose startup probe never passed."""
    system_log = f"projects/{cfg.project}/logs/run.googleapis.com%2Fvarlog%2Fsystem"
    return (
        f'{service_filter(cfg)} AND logName="{system_log}" AND '
        '((textPayload:"STARTUP" AND textPayload:"probe failed") OR '
        'textPayload:"The instance was not started")'
    )


def run_metric_filter(cfg: DeployConfig, metric: str, extra: str = "") -> str:
    f = (
        f'metric.type="{metric}" AND resource.type="cloud_run_revision" AND '
        f'resource.label.service_name="{cfg.name}"'
    )
    return f"{f} AND {extra}" if extra else f


def job_metric_filter(cfg: DeployConfig, metric: str, extra: str = "") -> str:
    f = (
        f'metric.type="{metric}" AND resource.type="cloud_run_job" AND '
        f'resource.label.job_name="{batch_job_name(cfg)}"'
    )
    return f"{f} AND {extra}" if extra else f


def _agg(aligner: str, reducer: str = "REDUCE_SUM", period: str = WINDOW) -> Any:
    return mon.AlertPolicyConditionConditionThresholdAggregationArgs(
        alignment_period=period, per_series_aligner=aligner, cross_series_reducer=reducer
    )


class Monitoring(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts:infra:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = cfg.project

        self.channel = mon.NotificationChannel(
            f"{name}-email",
            project=p,
            type="email",
            display_name=f"{cfg.name} on-call",
            labels={"email_address": cfg.alert_email},
            opts=child,
        )
        self.uptime = mon.UptimeCheckConfig(
            f"{name}-health",
            project=p,
            display_name=f"{cfg.name} /health via load balancer",
            period="60s",
            timeout="10s",
            checker_type="STATIC_IP_CHECKERS",
            http_check=mon.UptimeCheckConfigHttpCheckArgs(
                path=HEALTH_PATH,
                port=443,
                use_ssl=True,
                validate_ssl=True,
                request_method="GET",
                accepted_response_status_codes=[
                    mon.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(status_value=200)
                ],
            ),
            monitored_resource=mon.UptimeCheckConfigMonitoredResourceArgs(
                type="uptime_url", labels={"project_id": p, "host": cfg.domain}
            ),
            opts=child,
        )

        self.log_metrics = {
            m.suffix: gcp.logging.Metric(
                f"{name}-{m.suffix}",
                name=f"{cfg.name}_{m.suffix}",
                project=p,
                description=m.description,
                filter=access_log_filter(cfg, m.field),
                value_extractor=f"EXTRACT(jsonPayload.{m.field})",
                metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                    metric_kind="DELTA", value_type="DISTRIBUTION", unit=m.unit, display_name=m.description
                ),
                bucket_options=gcp.logging.MetricBucketOptionsArgs(
                    exponential_buckets=gcp.logging.MetricBucketOptionsExponentialBucketsArgs(
                        num_finite_buckets=40, growth_factor=m.growth, scale=m.scale
                    )
                ),
                opts=child,
            )
            for m in LOG_METRICS
        }
        self.cold_start_metric = gcp.logging.Metric(
            f"{name}-cold-start-failures",
            name=f"{cfg.name}_cold_start_failures",
            project=p,
            description="Instances whose startup probe on /health never passed",
            filter=cold_start_failure_filter(cfg),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA", value_type="INT64", unit="1"
            ),
            opts=child,
        )

        self.alerts = {
            "uptime": self._alert(
                name,
                cfg,
                "uptime",
                f"{cfg.name}: /health failing through the load balancer",
                self.uptime.uptime_check_id.apply(
                    lambda cid: (
                        'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND '
                        f'resource.type="uptime_url" AND metric.label.check_id="{cid}"'
                    )
                ),
                comparison="COMPARISON_LT",
                threshold=0.5,
                aggregation=_agg("ALIGN_FRACTION_TRUE", "REDUCE_MEAN"),
            ),
            "5xx": self._alert(
                name,
                cfg,
                "5xx",
                f"{cfg.name}: 5xx ratio above {FIVE_XX_RATIO:.0%}",
                run_metric_filter(cfg, RUN_REQUESTS, 'metric.label.response_code_class="5xx"'),
                comparison="COMPARISON_GT",
                threshold=FIVE_XX_RATIO,
                aggregation=_agg("ALIGN_RATE"),
                denominator=run_metric_filter(cfg, RUN_REQUESTS),
            ),
            "latency": self._alert(
                name,
                cfg,
                "latency",
                f"{cfg.name}: p95 request latency above {cfg.latency_alert_ms} ms",
                run_metric_filter(cfg, RUN_LATENCIES),
                comparison="COMPARISON_GT",
                threshold=cfg.latency_alert_ms,
                aggregation=_agg("ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
            ),
            "max-instances": self._alert(
                name,
                cfg,
                "max-instances",
                f"{cfg.name}: running at maxInstances ({cfg.max_instances})",
                run_metric_filter(cfg, RUN_INSTANCES),
                comparison="COMPARISON_GT",
                threshold=cfg.max_instances - 0.5,
                aggregation=_agg("ALIGN_MAX", period="60s"),
                duration="600s",
            ),
            "cold-start": self._alert(
                name,
                cfg,
                "cold-start",
                f"{cfg.name}: instances failing to start (startup probe on /health)",
                self.cold_start_metric.name.apply(
                    lambda n: (
                        f'metric.type="logging.googleapis.com/user/{n}" AND '
                        'resource.type="cloud_run_revision"'
                    )
                ),
                comparison="COMPARISON_GT",
                threshold=0,
                aggregation=_agg("ALIGN_SUM"),
                duration="0s",
            ),
            # An execution fails when one of its tasks failed all 1 + batchMaxRetries attempts
            # (function.batch exits non-zero only for failures a retry can fix): that task's
            # share of the manifests is not done.
            "batch-failed": self._alert(
                name,
                cfg,
                "batch-failed",
                f"{batch_job_name(cfg)}: batch execution failed (a task exhausted its retries)",
                job_metric_filter(cfg, JOB_EXECUTIONS, FAILED),
                comparison="COMPARISON_GT",
                threshold=0,
                aggregation=_agg("ALIGN_SUM"),
                duration="0s",
                doc=batch_runbook(cfg),
            ),
            # More failed attempts in an hour than one task may spend (batchMaxRetries, 0: any):
            # retries are being used up, across tasks or by one task on its way to failing.
            "batch-retries": self._alert(
                name,
                cfg,
                "batch-retries",
                f"{batch_job_name(cfg)}: more than {cfg.batch_max_retries} failed task attempts in an hour",
                job_metric_filter(cfg, JOB_TASK_ATTEMPTS, FAILED),
                comparison="COMPARISON_GT",
                threshold=cfg.batch_max_retries,
                aggregation=_agg("ALIGN_SUM", period=RETRY_WINDOW),
                duration="0s",
                severity="WARNING",
                doc=batch_runbook(cfg),
            ),
        }

        self.dashboard = mon.Dashboard(
            f"{name}-dashboard",
            project=p,
            dashboard_json=pulumi.Output.all(*[m.name for m in self.log_metrics.values()]).apply(
                lambda names: json.dumps(dashboard(cfg, names))
            ),
            opts=child,
        )
        self.register_outputs({"uptime_check": self.uptime.uptime_check_id})

    def _alert(
        self,
        name: str,
        cfg: DeployConfig,
        signal: str,
        title: str,
        metric_filter: pulumi.Input[str],
        *,
        comparison: str,
        threshold: float,
        aggregation: Any,
        denominator: str | None = None,
        duration: str = WINDOW,
        severity: str = "ERROR",
        doc: str | None = None,
    ) -> mon.AlertPolicy:
        return mon.AlertPolicy(
            f"{name}-{signal}",
            project=cfg.project,
            display_name=title,
            combiner="OR",
            severity=severity,
            notification_channels=[self.channel.id],
            user_labels={"app": "bn-xtts", "signal": signal.replace("-", "_")},
            documentation=mon.AlertPolicyDocumentationArgs(
                mime_type="text/markdown",
                content=doc or f"Service `{cfg.name}` in `{cfg.region}`. See README.md, section Deploy.",
            ),
            conditions=[
                mon.AlertPolicyConditionArgs(
                    display_name=title,
                    condition_threshold=mon.AlertPolicyConditionConditionThresholdArgs(
                        filter=metric_filter,
                        comparison=comparison,
                        threshold_value=threshold,
                        duration=duration,
                        aggregations=[aggregation],
                        denominator_filter=denominator,
                        denominator_aggregations=[aggregation] if denominator else None,
                        trigger=mon.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )


def batch_runbook(cfg: DeployConfig) -> str:
    job = batch_job_name(cfg)
    return (
        f"Cloud Run job `{job}` in `{cfg.region}`. Executions and their failed tasks: "
        f"`gcloud run jobs executions list --job {job} --region {cfg.region}`; a task's log names "
        "the error it retried on. Finished items are kept: executing the job again redoes only "
        "what is missing. See README.md, section Deploy."
    )


def _chart(
    title: str, metric_filter: str, aligner: str, reducer: str, group_by: list[str] | None = None
) -> Any:
    aggregation: dict[str, Any] = {
        "alignmentPeriod": "60s",
        "perSeriesAligner": aligner,
        "crossSeriesReducer": reducer,
    }
    if group_by:
        aggregation["groupByFields"] = group_by
    return {
        "title": title,
        "xyChart": {
            "dataSets": [
                {
                    "plotType": "LINE",
                    "timeSeriesQuery": {
                        "timeSeriesFilter": {"filter": metric_filter, "aggregation": aggregation}
                    },
                }
            ]
        },
    }


def dashboard(cfg: DeployConfig, log_metric_names: list[str]) -> dict[str, Any]:
    ttfc, rtf = (
        f'metric.type="logging.googleapis.com/user/{n}" AND resource.type="cloud_run_revision"'
        for n in log_metric_names
    )
    charts = [
        _chart(
            "Requests by status class",
            run_metric_filter(cfg, RUN_REQUESTS),
            "ALIGN_RATE",
            "REDUCE_SUM",
            ["metric.label.response_code_class"],
        ),
        _chart(
            "Request latency p95 (ms)",
            run_metric_filter(cfg, RUN_LATENCIES),
            "ALIGN_DELTA",
            "REDUCE_PERCENTILE_95",
        ),
        _chart(
            "Instances",
            run_metric_filter(cfg, RUN_INSTANCES),
            "ALIGN_MAX",
            "REDUCE_SUM",
            ["metric.label.state"],
        ),
        _chart("Time to first chunk p50 (ms)", ttfc, "ALIGN_DELTA", "REDUCE_PERCENTILE_50"),
        _chart("Time to first chunk p95 (ms)", ttfc, "ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
        _chart("Real-time factor p50", rtf, "ALIGN_DELTA", "REDUCE_PERCENTILE_50"),
        _chart("Real-time factor p95", rtf, "ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
        _chart(
            "Batch task attempts by result",
            job_metric_filter(cfg, JOB_TASK_ATTEMPTS),
            "ALIGN_SUM",
            "REDUCE_SUM",
            ["metric.label.result"],
        ),
    ]
    width = 6
    tiles = [
        {"xPos": (i % 2) * width, "yPos": (i // 2) * 4, "width": width, "height": 4, "widget": chart}
        for i, chart in enumerate(charts)
    ]
    return {
        "displayName": f"Bangla TTS ({cfg.name}, {cfg.stack})",
        "mosaicLayout": {"columns": 12, "tiles": tiles},
    }
