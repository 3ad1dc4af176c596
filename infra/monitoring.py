"""Monitoring: the edge watched without waking the GPU, log-based metrics from the service's
structured logs, alert policies (service, edge and batch job) and a dashboard.

Scale to zero holds: with minInstances 0 nothing scheduled reaches the container. An uptime check
on /health every minute from every checker region kept an L4 instance up around the clock (and a
cold instance failed the check's 10 s timeout). Instead:
- an uptime check on a path Cloud Armor answers itself (infra/edge.py EDGE_PROBE_PATH, 403): DNS,
  the certificate, the load balancer and the security policy, every 5 minutes, never the service;
- an alert on that check's SSL certificate expiry (a managed certificate that stops renewing, e.g.
  after DNS moved away);
- an alert on the load balancer's own 5xx ratio (loadbalancing.googleapis.com/https/request_count):
  what clients saw, including backend connection failures the service never logged;
- the /health uptime check through the load balancer only with minInstances >= 1, where an instance
  is up anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig
from infra.edge import EDGE_PROBE_PATH, EDGE_PROBE_STATUS
from infra.schedule import batch_job_name
from infra.service import HEALTH_PATH

mon = gcp.monitoring

WINDOW = "300s"
RUN_REQUESTS = "run.googleapis.com/request_count"
RUN_LATENCIES = "run.googleapis.com/request_latencies"
RUN_INSTANCES = "run.googleapis.com/container/instance_count"
# Instances by `state`: "active" serve requests, "idle" are kept warm (minInstances) or winding
# down; only active instances count against "running at maxInstances"
# (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run).
ACTIVE = 'metric.label.state="active"'
# Global external Application Load Balancer metrics, monitored resource https_lb_rule; the
# response_code_class label is an integer (200, 300, 400, 500)
# (https://cloud.google.com/load-balancing/docs/metrics).
LB_REQUESTS = "loadbalancing.googleapis.com/https/request_count"
UPTIME_PASSED = "monitoring.googleapis.com/uptime_check/check_passed"
# Days left on the certificate an uptime check with validate_ssl saw
# (https://cloud.google.com/monitoring/uptime-checks/uptime-alerting-policies).
SSL_DAYS_LEFT = "monitoring.googleapis.com/uptime_check/time_until_ssl_cert_expires"
CERT_ALERT_DAYS = 14
EDGE_PROBE_PERIOD = "300s"
# A log-match alert notifies at most once per this period and closes after this long without a match.
LOG_ALERT_RATE = "300s"
LOG_ALERT_AUTO_CLOSE = "1800s"
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


def lb_metric_filter(cfg: DeployConfig, extra: str = "") -> str:
    f = (
        f'metric.type="{LB_REQUESTS}" AND resource.type="https_lb_rule" AND '
        f'resource.label.url_map_name="{cfg.name}-https"'
    )
    return f"{f} AND {extra}" if extra else f


def uptime_filter(metric: str, check_id: str) -> str:
    return f'metric.type="{metric}" AND resource.type="uptime_url" AND metric.label.check_id="{check_id}"'


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
        self.edge_probe = self._uptime_check(
            f"{name}-edge",
            cfg,
            f"{cfg.name} edge (Cloud Armor answers {EDGE_PROBE_PATH}; never the service)",
            path=EDGE_PROBE_PATH,
            status=EDGE_PROBE_STATUS,
            period=EDGE_PROBE_PERIOD,
        )
        # With minInstances >= 1 an instance is up anyway: checking /health through the load
        # balancer costs nothing more and proves the service answers. With 0 it would keep one up.
        self.uptime: mon.UptimeCheckConfig | None = None
        if cfg.min_instances >= 1:
            self.uptime = self._uptime_check(
                f"{name}-health", cfg, f"{cfg.name} /health via load balancer", path=HEALTH_PATH, status=200
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
        self.alerts: dict[str, mon.AlertPolicy] = {
            "edge": self._uptime_alert(
                name,
                cfg,
                "edge",
                f"{cfg.name}: edge probe failing (DNS, certificate, load balancer or Cloud Armor)",
                self.edge_probe,
                period="900s",
            ),
            "certificate": self._alert(
                name,
                cfg,
                "certificate",
                f"{cfg.name}: TLS certificate for {cfg.domain} expires in under {CERT_ALERT_DAYS} days",
                self.edge_probe.uptime_check_id.apply(lambda cid: uptime_filter(SSL_DAYS_LEFT, cid)),
                comparison="COMPARISON_LT",
                threshold=CERT_ALERT_DAYS,
                aggregation=_agg("ALIGN_MIN", "REDUCE_MIN", period="1200s"),
                duration="600s",
                severity="WARNING",
            ),
            "edge-5xx": self._alert(
                name,
                cfg,
                "edge-5xx",
                f"{cfg.name}: load balancer 5xx ratio above {FIVE_XX_RATIO:.0%}",
                lb_metric_filter(cfg, "metric.label.response_code_class=500"),
                comparison="COMPARISON_GT",
                threshold=FIVE_XX_RATIO,
                aggregation=_agg("ALIGN_RATE"),
                denominator=lb_metric_filter(cfg),
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
                f"{cfg.name}: running at maxInstances ({cfg.max_instances} active)",
                run_metric_filter(cfg, RUN_INSTANCES, ACTIVE),
                comparison="COMPARISON_GT",
                threshold=cfg.max_instances - 0.5,
                aggregation=_agg("ALIGN_MAX", period="60s"),
                duration="600s",
            ),
            # A log-match condition, not a threshold on a log-based metric: a brand-new log-based
            # metric takes minutes to become visible to Cloud Monitoring, and an alert policy
            # created on it in the same `pulumi up` fails on a fresh project. A log-match condition
            # references no metric, so the first run succeeds; it notifies at most every
            # LOG_ALERT_RATE (https://cloud.google.com/logging/docs/alerting/log-based-alerts).
            "cold-start": self._log_alert(
                name,
                cfg,
                "cold-start",
                f"{cfg.name}: instances failing to start (startup probe on /health)",
                cold_start_failure_filter(cfg),
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
        if self.uptime is not None:
            self.alerts["uptime"] = self._uptime_alert(
                name, cfg, "uptime", f"{cfg.name}: /health failing through the load balancer", self.uptime
            )
        self.register_outputs({"edge_probe": self.edge_probe.uptime_check_id})

    def _uptime_check(
        self, name: str, cfg: DeployConfig, title: str, *, path: str, status: int, period: str = "60s"
    ) -> mon.UptimeCheckConfig:
        return mon.UptimeCheckConfig(
            name,
            project=cfg.project,
            display_name=title,
            period=period,
            timeout="10s",
            checker_type="STATIC_IP_CHECKERS",
            http_check=mon.UptimeCheckConfigHttpCheckArgs(
                path=path,
                port=443,
                use_ssl=True,
                validate_ssl=True,
                request_method="GET",
                accepted_response_status_codes=[
                    mon.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(status_value=status)
                ],
            ),
            monitored_resource=mon.UptimeCheckConfigMonitoredResourceArgs(
                type="uptime_url", labels={"project_id": cfg.project, "host": cfg.domain}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _log_alert(
        self, name: str, cfg: DeployConfig, signal: str, title: str, log_filter: str
    ) -> mon.AlertPolicy:
        return self._policy(
            name,
            cfg,
            signal,
            title,
            mon.AlertPolicyConditionArgs(
                display_name=title,
                condition_matched_log=mon.AlertPolicyConditionConditionMatchedLogArgs(filter=log_filter),
            ),
            alert_strategy=mon.AlertPolicyAlertStrategyArgs(
                notification_rate_limit=mon.AlertPolicyAlertStrategyNotificationRateLimitArgs(
                    period=LOG_ALERT_RATE
                ),
                auto_close=LOG_ALERT_AUTO_CLOSE,
            ),
        )

    def _policy(
        self,
        name: str,
        cfg: DeployConfig,
        signal: str,
        title: str,
        condition: mon.AlertPolicyConditionArgs,
        *,
        severity: str = "ERROR",
        doc: str | None = None,
        alert_strategy: mon.AlertPolicyAlertStrategyArgs | None = None,
    ) -> mon.AlertPolicy:
        """One alert policy on one condition, to the alert e-mail, labelled with its signal."""
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
            conditions=[condition],
            alert_strategy=alert_strategy,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _uptime_alert(
        self,
        name: str,
        cfg: DeployConfig,
        signal: str,
        title: str,
        check: mon.UptimeCheckConfig,
        *,
        period: str = WINDOW,
    ) -> mon.AlertPolicy:
        """Fires when under half of an uptime check's probes pass over `period`."""
        return self._alert(
            name,
            cfg,
            signal,
            title,
            check.uptime_check_id.apply(lambda cid: uptime_filter(UPTIME_PASSED, cid)),
            comparison="COMPARISON_LT",
            threshold=0.5,
            aggregation=_agg("ALIGN_FRACTION_TRUE", "REDUCE_MEAN", period=period),
            duration=period,
        )

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
        return self._policy(
            name,
            cfg,
            signal,
            title,
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
            ),
            severity=severity,
            doc=doc,
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
            "Load balancer requests by status class (what clients saw)",
            lb_metric_filter(cfg),
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
