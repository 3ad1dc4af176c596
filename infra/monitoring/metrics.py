"""What is watched: the metric types and filters of the service, the edge and the batch job, the
log-based metrics made from the structured logs, and the quality signals sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi_gcp as gcp

from infra.config import DeployConfig
from infra.schedule import batch_job_name

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


def aggregation(aligner: str, reducer: str = "REDUCE_SUM", period: str = WINDOW) -> Any:
    return mon.AlertPolicyConditionConditionThresholdAggregationArgs(
        alignment_period=period, per_series_aligner=aligner, cross_series_reducer=reducer
    )
