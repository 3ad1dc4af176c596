"""Alarms: CloudWatch alarms on the function's errors, throttles and duration, e-mailed through an
SNS topic.

With the Lambda Web Adapter an HTTP 5xx from the app is a successful invocation; Lambda's Errors
metric counts what the app cannot answer for itself: crashes, an init that never gets ready,
timeouts. Throttles counts requests refused for lack of concurrency (the reservation or the
account's pool). Duration near the timeout warns before requests start to be cut off.

The topic is not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS managed key
aws/sns (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services),
and an alarm notification carries nothing secret.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra_aws.config import DeployConfig

PERIOD_S = 300
# Duration alarm: p99 above this share of the timeout.
DURATION_FRACTION = 0.9
# ...in this many consecutive periods. A batch run lasts, by design, nearly the whole timeout and
# reports one Duration datapoint, in one period; a single breaching period is therefore expected
# and only a sustained one (requests, not the batch) alarms. A schedule more frequent than every
# DURATION_PERIODS x 5 minutes would keep this alarm on.
DURATION_PERIODS = 3


def duration_threshold_ms(cfg: DeployConfig) -> float:
    return DURATION_FRACTION * cfg.timeout_s * 1000


class FunctionAlarms(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        function_name: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts-aws:infra:FunctionAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(name, name=f"{cfg.name}-alarms", tags=cfg.tags, opts=child)
        # AWS e-mails a confirmation link first; nothing is delivered until it is followed.
        self.subscription = aws.sns.TopicSubscription(
            name, topic=self.topic.arn, protocol="email", endpoint=cfg.alert_email, opts=child
        )
        common: dict[str, Any] = {
            "namespace": "AWS/Lambda",
            "dimensions": {"FunctionName": function_name},
            "period": PERIOD_S,
            # No invocations is no problem (the function scales to zero).
            "treat_missing_data": "notBreaching",
            "alarm_actions": [self.topic.arn],
            "ok_actions": [self.topic.arn],
        }
        self.errors = aws.cloudwatch.MetricAlarm(
            f"{name}-errors",
            name=f"{cfg.name}-errors",
            alarm_description="Invocations failed: crash, init failure or timeout (logs: "
            f"{cfg.log_group_name})",
            metric_name="Errors",
            statistic="Sum",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=1,
            tags={**cfg.tags, "signal": "errors"},
            opts=child,
            **common,
        )
        self.throttles = aws.cloudwatch.MetricAlarm(
            f"{name}-throttles",
            name=f"{cfg.name}-throttles",
            alarm_description="Requests refused for lack of concurrency (reservedConcurrency or the "
            "account's Lambda quota)",
            metric_name="Throttles",
            statistic="Sum",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=1,
            tags={**cfg.tags, "signal": "throttles"},
            opts=child,
            **common,
        )
        self.duration = aws.cloudwatch.MetricAlarm(
            f"{name}-duration",
            name=f"{cfg.name}-duration",
            alarm_description=f"p99 duration above {DURATION_FRACTION:.0%} of the {cfg.timeout_s} s timeout "
            f"for {DURATION_PERIODS * PERIOD_S // 60} minutes",
            metric_name="Duration",
            extended_statistic="p99",
            comparison_operator="GreaterThanThreshold",
            threshold=duration_threshold_ms(cfg),
            evaluation_periods=DURATION_PERIODS,
            datapoints_to_alarm=DURATION_PERIODS,
            tags={**cfg.tags, "signal": "duration"},
            opts=child,
            **common,
        )
        self.register_outputs({"topic": self.topic.arn})
