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

Quality (docs/quality.md): the service's access lines and the batch job's item
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
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig
from infra.edge import EDGE_PROBE_PATH, EDGE_PROBE_STATUS
from infra.monitoring.dashboard import dashboard
from infra.monitoring.metrics import (
    ACTIVE,
    CERT_ALERT_DAYS,
    EDGE_PROBE_PERIOD,
    FAILED,
    FIVE_XX_RATIO,
    JOB_EXECUTIONS,
    JOB_TASK_ATTEMPTS,
    LOG_ALERT_AUTO_CLOSE,
    LOG_ALERT_RATE,
    LOG_COUNTERS,
    LOG_METRICS,
    QUALITY_CHECKED,
    QUALITY_MIN_CHECKED,
    QUALITY_SOURCES,
    QUALITY_WARNED,
    QUALITY_WINDOW,
    RETRY_WINDOW,
    RUN_INSTANCES,
    RUN_LATENCIES,
    RUN_REQUESTS,
    SSL_DAYS_LEFT,
    UPTIME_PASSED,
    WINDOW,
    Source,
    aggregation,
    cold_start_failure_filter,
    job_metric_filter,
    lb_metric_filter,
    log_metric_filter,
    quality_log_filter,
    quality_source_filter,
    run_metric_filter,
    uptime_filter,
    user_metric_filter,
)
from infra.schedule import batch_job_name
from infra.service import HEALTH_PATH

mon = gcp.monitoring


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
                aggregation=aggregation("ALIGN_MIN", "REDUCE_MIN", period="1200s"),
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
                aggregation=aggregation("ALIGN_RATE"),
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
                aggregation=aggregation("ALIGN_RATE"),
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
                aggregation=aggregation("ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
            ),
            "max-instances": self._alert(
                name,
                cfg,
                "max-instances",
                f"{cfg.name}: running at maxInstances ({cfg.max_instances} active)",
                run_metric_filter(cfg, RUN_INSTANCES, ACTIVE),
                comparison="COMPARISON_GT",
                threshold=cfg.max_instances - 0.5,
                aggregation=aggregation("ALIGN_MAX", period="60s"),
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
                aggregation=aggregation("ALIGN_SUM"),
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
                aggregation=aggregation("ALIGN_SUM", period=RETRY_WINDOW),
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
                content=doc
                or f"Service `{cfg.name}` in `{cfg.region}`. See docs/deploy-gcp.md in the repository.",
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
            aggregation=aggregation("ALIGN_FRACTION_TRUE", "REDUCE_MEAN", period=period),
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
        per_hour = aggregation("ALIGN_SUM", period=QUALITY_WINDOW)
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
        "what is missing. See docs/deploy-gcp.md in the repository."
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
        "retry charts. A rise right after a release points at the image or the model bundle "
        "(docs/deploy-gcp.md, Releases and rollback); one voice or one kind of text points at the input. "
        'See docs/quality.md, "Quality signals", in the repository.'
    )
