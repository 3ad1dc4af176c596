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

Quality (README.md, section "Quality signals"): the service's access lines and the batch job's item
lines carry the quality checks' fields. Log-based metrics turn them into speaker similarity and speech
rate distributions and counts of checked and warned syntheses; one metric serves both sources, as each
point carries its log entry's monitored resource (cloud_run_revision or cloud_run_job), so charts and
alerts keep the service and the batch job apart. The warning-share alerts are opt-in
(qualityWarningShare): they are the only alerts on a log-based metric this program creates, and Cloud
Monitoring refuses such a policy until it knows the metric ("Cannot find metric(s) ... it could take
up to 10 minutes to become available", https://github.com/hashicorp/terraform-provider-google/issues/11102),
so a `pulumi up` that creates the metrics and the alerts together fails. Setting the key on a later run
creates them; every other alert watches a built-in metric or matches log lines (cold start).
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
RUN_REVISION = "cloud_run_revision"
RUN_JOB = "cloud_run_job"
# Log-based metrics this program creates are user metrics (logging.googleapis.com/user/<name>).
USER_METRIC = "logging.googleapis.com/user/"
# The quality alerts look at an hour of syntheses; an alerting policy aligns over 60 s..90,000 s
# (Aggregation.alignmentPeriod, https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies).
QUALITY_WINDOW = "3600s"
# A ratio condition cannot require a sample size, so a second condition does (AND): with fewer checked
# syntheses in the hour, one or two warned ones would already be a large share.
QUALITY_MIN_CHECKED = 20
# Monitoring's percentile reducers are the 5th, 50th, 95th and 99th
# (Aggregation.Reducer, https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies).
PERCENTILES = {"p5": "REDUCE_PERCENTILE_05", "p50": "REDUCE_PERCENTILE_50", "p95": "REDUCE_PERCENTILE_95"}


@dataclass(frozen=True)
class Exponential:
    """`count` buckets growing by `growth` from `scale`: for values spanning orders of magnitude."""

    scale: float
    growth: float
    count: int = 40

    def args(self) -> gcp.logging.MetricBucketOptionsArgs:
        return gcp.logging.MetricBucketOptionsArgs(
            exponential_buckets=gcp.logging.MetricBucketOptionsExponentialBucketsArgs(
                num_finite_buckets=self.count, growth_factor=self.growth, scale=self.scale
            )
        )


@dataclass(frozen=True)
class Linear:
    """`count` buckets `width` wide from `offset`: for a bounded range read at one resolution."""

    offset: float
    width: float
    count: int

    def args(self) -> gcp.logging.MetricBucketOptionsArgs:
        return gcp.logging.MetricBucketOptionsArgs(
            linear_buckets=gcp.logging.MetricBucketOptionsLinearBucketsArgs(
                num_finite_buckets=self.count, width=self.width, offset=self.offset
            )
        )


@dataclass(frozen=True)
class LogMetric:
    """A distribution of a numeric field of the service's JSON access-log lines; with `batch`, of the
    batch job's item lines too (the quality checks write the same fields in both)."""

    suffix: str
    field: str
    unit: str
    description: str
    buckets: Exponential | Linear
    batch: bool = False


LOG_METRICS = (
    LogMetric("ttfc_ms", "ttfc_ms", "ms", "Time to first audio chunk", Exponential(scale=10.0, growth=1.3)),
    LogMetric(
        "rtf",
        "rtf",
        "1",
        "Real-time factor (synthesis time / audio time)",
        Exponential(scale=0.01, growth=1.25),
    ),
    # A cosine, -1..1; 0.02-wide buckets give every percentile that resolution. A line whose value is
    # null (under 0.5 s of speech) records nothing: a failed EXTRACT is left out of the distribution
    # (LogMetric.valueExtractor, https://cloud.google.com/logging/docs/reference/v2/rest/v2/projects.metrics).
    LogMetric(
        "speaker_similarity",
        "speaker_similarity",
        "1",
        "Speaker similarity (cosine, output vs the reference voice)",
        Linear(offset=-1.0, width=0.02, count=100),
        batch=True,
    ),
    # Spoken characters per second, 0..40 in half-character steps; faster lands in the overflow bucket.
    LogMetric(
        "speech_rate",
        "speech_rate",
        "{char}/s",
        "Speech rate (spoken characters per second of speech)",
        Linear(offset=0.0, width=0.5, count=80),
        batch=True,
    ),
)


@dataclass(frozen=True)
class LogCounter:
    """A count (DELTA INT64) of the quality-checked lines, service and batch, that match `condition`;
    `labels` maps a label to the JSON field it is extracted from (a STRING label: a value that does
    not convert would silently become false or 0 in a BOOL or INT64 one, LogMetric.labelExtractors)."""

    suffix: str
    condition: str
    description: str
    labels: tuple[tuple[str, str], ...] = ()


# Every checked line has quality_warned, true or false; a warned one has it true (the same expression
# the runbook's log query uses, so the alert counts what that query shows).
QUALITY_CHECKED = LogCounter(
    "quality_checked",
    "jsonPayload.quality_warned:*",
    "Quality-checked syntheses (attempts over 1: retried with another seed)",
    labels=(("attempts", "quality_attempts"),),
)
QUALITY_WARNED = LogCounter(
    "quality_warned", "jsonPayload.quality_warned=true", "Quality-checked syntheses with a warning"
)
LOG_COUNTERS = (QUALITY_CHECKED, QUALITY_WARNED)


@dataclass(frozen=True)
class Source:
    """Where quality-checked syntheses come from; each has its own series and its own alert, so a
    large batch cannot dilute the service's warning share (or the other way round)."""

    name: str
    signal: str
    what: str
    resource_type: str


SERVICE = Source("service", "quality", "requests", RUN_REVISION)
BATCH = Source("batch", "batch-quality", "batch items", RUN_JOB)
QUALITY_SOURCES = (SERVICE, BATCH)


def service_filter(cfg: DeployConfig) -> str:
    return f'resource.type="cloud_run_revision" AND resource.labels.service_name="{cfg.name}"'


def access_log_filter(cfg: DeployConfig, field: str) -> str:
    """Access-log lines that carry `field`; only they do, so the field itself selects them."""
    return f"{service_filter(cfg)} AND jsonPayload.{field}:*"


def job_log_filter(cfg: DeployConfig) -> str:
    return f'resource.type="{RUN_JOB}" AND resource.labels.job_name="{batch_job_name(cfg)}"'


def quality_source_filter(cfg: DeployConfig, source: Source) -> str:
    """The lines of `source` that may carry the quality fields: the service's (only access lines
    do), the batch job's item lines."""
    if source is SERVICE:
        return service_filter(cfg)
    return f'{job_log_filter(cfg)} AND jsonPayload.event="item"'


def quality_log_filter(cfg: DeployConfig, condition: str) -> str:
    """Lines of either source that match `condition`. Every mix of AND and OR is parenthesised: the
    Logging query language does not give them SQL's precedence."""
    sources = " OR ".join(f"({quality_source_filter(cfg, s)})" for s in QUALITY_SOURCES)
    return f"({sources}) AND {condition}"


def log_metric_filter(cfg: DeployConfig, m: LogMetric) -> str:
    return quality_log_filter(cfg, f"jsonPayload.{m.field}:*") if m.batch else access_log_filter(cfg, m.field)


def user_metric_filter(name: str, resource_type: str) -> str:
    return f'metric.type="{USER_METRIC}{name}" AND resource.type="{resource_type}"'


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
                filter=log_metric_filter(cfg, m),
                value_extractor=f"EXTRACT(jsonPayload.{m.field})",
                metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                    metric_kind="DELTA", value_type="DISTRIBUTION", unit=m.unit, display_name=m.description
                ),
                bucket_options=m.buckets.args(),
                opts=child,
            )
            for m in LOG_METRICS
        }
        # Counters: no value extractor; DELTA INT64 counts the matching lines.
        self.log_metrics.update(
            {
                c.suffix: gcp.logging.Metric(
                    f"{name}-{c.suffix}",
                    name=f"{cfg.name}_{c.suffix}",
                    project=p,
                    description=c.description,
                    filter=quality_log_filter(cfg, c.condition),
                    label_extractors={key: f"EXTRACT(jsonPayload.{field})" for key, field in c.labels}
                    or None,
                    metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                        metric_kind="DELTA",
                        value_type="INT64",
                        unit="1",
                        display_name=c.description,
                        labels=[
                            gcp.logging.MetricMetricDescriptorLabelArgs(key=key, value_type="STRING")
                            for key, _ in c.labels
                        ]
                        or None,
                    ),
                    opts=child,
                )
                for c in LOG_COUNTERS
            }
        )
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

        if cfg.quality_warning_share is not None:
            for source in QUALITY_SOURCES:
                self.alerts[source.signal] = self._quality_alert(name, cfg, source, cfg.quality_warning_share)

        self.dashboard = mon.Dashboard(
            f"{name}-dashboard",
            project=p,
            dashboard_json=pulumi.Output.all(**{k: m.name for k, m in self.log_metrics.items()}).apply(
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
            [
                mon.AlertPolicyConditionArgs(
                    display_name=title,
                    condition_matched_log=mon.AlertPolicyConditionConditionMatchedLogArgs(filter=log_filter),
                )
            ],
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
        conditions: list[mon.AlertPolicyConditionArgs],
        *,
        combiner: str = "OR",
        severity: str = "ERROR",
        doc: str | None = None,
        alert_strategy: mon.AlertPolicyAlertStrategyArgs | None = None,
    ) -> mon.AlertPolicy:
        """One alert policy, to the alert e-mail, labelled with its signal."""
        return mon.AlertPolicy(
            f"{name}-{signal}",
            project=cfg.project,
            display_name=title,
            combiner=combiner,
            severity=severity,
            notification_channels=[self.channel.id],
            user_labels={"app": "bn-xtts", "signal": signal.replace("-", "_")},
            documentation=mon.AlertPolicyDocumentationArgs(
                mime_type="text/markdown",
                content=doc or f"Service `{cfg.name}` in `{cfg.region}`. See README.md, section Deploy.",
            ),
            conditions=conditions,
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
        condition = _threshold(
            title,
            metric_filter,
            comparison=comparison,
            threshold=threshold,
            aggregation=aggregation,
            denominator=denominator,
            duration=duration,
        )
        return self._policy(name, cfg, signal, title, [condition], severity=severity, doc=doc)

    def _quality_alert(self, name: str, cfg: DeployConfig, source: Source, share: float) -> mon.AlertPolicy:
        """Warned / checked syntheses of `source` over an hour above `share`, with at least
        QUALITY_MIN_CHECKED checked. Both filters name the metrics through their outputs, so the
        policy is created only after both metrics (still not enough on a first run: module doc)."""

        def of(suffix: str) -> pulumi.Output[str]:
            return self.log_metrics[suffix].name.apply(lambda n: user_metric_filter(n, source.resource_type))

        checked, warned = of(QUALITY_CHECKED.suffix), of(QUALITY_WARNED.suffix)
        per_hour = _agg("ALIGN_SUM", period=QUALITY_WINDOW)
        title = f"{cfg.name}: over {_percent(share)} of quality-checked {source.what} warned in an hour"
        conditions = [
            # A ratio: numerator and denominator share the aggregation (the API requires the same
            # alignment period and labels); REDUCE_SUM without grouping leaves one series each.
            _threshold(
                title,
                warned,
                comparison="COMPARISON_GT",
                threshold=share,
                aggregation=per_hour,
                denominator=checked,
                duration="0s",
            ),
            _threshold(
                f"at least {QUALITY_MIN_CHECKED} {source.what} checked in that hour",
                checked,
                comparison="COMPARISON_GT",
                threshold=QUALITY_MIN_CHECKED - 0.5,
                aggregation=per_hour,
                duration="0s",
            ),
        ]
        # AND: both at once, "even if they are met on completely different resources"
        # (ConditionCombinerType, https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies):
        # harmless here, as each condition reduces this source's series to one.
        return self._policy(
            name,
            cfg,
            source.signal,
            title,
            conditions,
            combiner="AND",
            severity="WARNING",
            doc=quality_runbook(cfg, source, share),
        )


def _threshold(
    title: str,
    metric_filter: pulumi.Input[str],
    *,
    comparison: str,
    threshold: float,
    aggregation: Any,
    denominator: pulumi.Input[str] | None = None,
    duration: str = WINDOW,
) -> mon.AlertPolicyConditionArgs:
    """A metric-threshold condition; with `denominator`, on the ratio filter / denominator (both
    aggregated alike, as the API requires for a ratio)."""
    return mon.AlertPolicyConditionArgs(
        display_name=title,
        condition_threshold=mon.AlertPolicyConditionConditionThresholdArgs(
            filter=metric_filter,
            comparison=comparison,
            threshold_value=threshold,
            duration=duration,
            aggregations=[aggregation],
            denominator_filter=denominator,
            denominator_aggregations=[aggregation] if denominator is not None else None,
            trigger=mon.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
        ),
    )


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


def batch_runbook(cfg: DeployConfig) -> str:
    job = batch_job_name(cfg)
    return (
        f"Cloud Run job `{job}` in `{cfg.region}`. Executions and their failed tasks: "
        f"`gcloud run jobs executions list --job {job} --region {cfg.region}`; a task's log names "
        "the error it retried on. Finished items are kept: executing the job again redoes only "
        "what is missing. See README.md, section Deploy."
    )


def quality_runbook(cfg: DeployConfig, source: Source, share: float) -> str:
    query = f"{quality_source_filter(cfg, source)} AND {QUALITY_WARNED.condition}"
    return (
        f"Over {_percent(share)} of the quality-checked {source.what} of `{cfg.name}` in the last hour "
        f"carried a quality warning (at least {QUALITY_MIN_CHECKED} checked). The codes, in "
        "`jsonPayload.quality_warnings`: `runaway` (a text piece hit its token budget instead of stopping), "
        "`speech_rate_low` / `speech_rate_high` (spoken characters per second out of range), "
        "`low_speaker_similarity` (the voice does not match the reference clip), `silent`, "
        "`long_silence`, `clipping`. `quality_attempts` over 1: the synthesis was already "
        "redone with another seed, and still warned.\n\n"
        f"Logs Explorer: `{query}`. Dashboard: the speaker similarity, speech rate, warning share and "
        "retry charts. A rise right after a release points at the image or the model bundle (README.md, "
        "section Deploy, Releases and rollback); one voice or one kind of text points at the input. "
        'See README.md, section "Quality signals".'
    )


def _series(
    metric_filter: str,
    aligner: str,
    reducer: str,
    group_by: list[str] | None = None,
    *,
    period: str = "60s",
    legend: str | None = None,
) -> dict[str, Any]:
    """One line (or one per group) of an xy chart."""
    return _dataset({"timeSeriesFilter": _part(metric_filter, aligner, reducer, group_by, period)}, legend)


def _ratio_series(
    numerator: str, denominator: str, aligner: str, reducer: str, *, period: str, legend: str | None = None
) -> dict[str, Any]:
    """numerator / denominator, both aggregated alike."""
    ratio = {
        "numerator": _part(numerator, aligner, reducer, None, period),
        "denominator": _part(denominator, aligner, reducer, None, period),
    }
    return _dataset({"timeSeriesFilterRatio": ratio}, legend)


def _part(
    metric_filter: str, aligner: str, reducer: str, group_by: list[str] | None, period: str
) -> dict[str, Any]:
    aggregation: dict[str, Any] = {
        "alignmentPeriod": period,
        "perSeriesAligner": aligner,
        "crossSeriesReducer": reducer,
    }
    if group_by:
        aggregation["groupByFields"] = group_by
    return {"filter": metric_filter, "aggregation": aggregation}


def _dataset(query: dict[str, Any], legend: str | None) -> dict[str, Any]:
    dataset: dict[str, Any] = {"plotType": "LINE", "timeSeriesQuery": query}
    if legend:
        dataset["legendTemplate"] = legend
    return dataset


def _xy(title: str, datasets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"title": title, "xyChart": {"dataSets": datasets}}


def _chart(
    title: str, metric_filter: str, aligner: str, reducer: str, group_by: list[str] | None = None
) -> Any:
    return _xy(title, [_series(metric_filter, aligner, reducer, group_by)])


def quality_charts(names: dict[str, str]) -> list[dict[str, Any]]:
    """Per source (service, batch): similarity and speech rate percentiles, the warning share the
    alert compares (per hour, as the alert aligns), and checked syntheses by attempts (over 1: retried)."""

    def of(suffix: str, source: Source) -> str:
        return user_metric_filter(names[suffix], source.resource_type)

    def percentiles(suffix: str, *which: str) -> list[dict[str, Any]]:
        return [
            _series(of(suffix, s), "ALIGN_DELTA", PERCENTILES[p], legend=f"{s.name} {p}")
            for s in QUALITY_SOURCES
            for p in which
        ]

    checked, warned = QUALITY_CHECKED.suffix, QUALITY_WARNED.suffix
    return [
        _xy("Speaker similarity p50 and p5 (cosine)", percentiles("speaker_similarity", "p50", "p5")),
        _xy(
            "Speech rate p5, p50, p95 (spoken characters per second)",
            percentiles("speech_rate", "p5", "p50", "p95"),
        ),
        _xy(
            "Quality warning share per hour (warned / checked)",
            [
                _ratio_series(
                    of(warned, s),
                    of(checked, s),
                    "ALIGN_SUM",
                    "REDUCE_SUM",
                    period=QUALITY_WINDOW,
                    legend=s.name,
                )
                for s in QUALITY_SOURCES
            ],
        ),
        _xy(
            "Quality-checked syntheses by attempts (over 1: retried with another seed)",
            [
                _series(
                    of(checked, s),
                    "ALIGN_SUM",
                    "REDUCE_SUM",
                    ["metric.label.attempts"],
                    legend=f"{s.name}, attempts ${{metric.labels.attempts}}",
                )
                for s in QUALITY_SOURCES
            ],
        ),
    ]


def dashboard(cfg: DeployConfig, log_metric_names: dict[str, str]) -> dict[str, Any]:
    ttfc, rtf = (user_metric_filter(log_metric_names[s], RUN_REVISION) for s in ("ttfc_ms", "rtf"))
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
        *quality_charts(log_metric_names),
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
