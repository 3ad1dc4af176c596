"""Batch schedule: an EventBridge Scheduler schedule that invokes the function with
`{"batch": {}}`, and the execution role it does so with.

The Lambda Web Adapter POSTs that non-HTTP event to the app's /events path; the app runs its
batch shard until near the function's timeout and the next run resumes where it stopped, so a
missed or failed run costs one interval, never work. Scheduler invokes Lambda asynchronously
(https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html): its retry policy
covers only delivering the event (a throttled or failed Invoke call), bounded here; what happens
after delivery is serving.py's async configuration (no Lambda retries).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra_aws.config import DeployConfig
from infra_aws.identity import assume_role_policy
from infra_aws.preflight import Account

BATCH_INPUT: dict[str, dict[str, str]] = {"batch": {}}
# Delivery retries (Scheduler allows 0..185 attempts over 60..86400 s,
# https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html): a few, within
# the hour, so an undeliverable run never piles onto the next one.
DELIVERY_RETRIES = 3
DELIVERY_MAX_AGE_S = 3600


def scheduler_policy(function_arn: str) -> dict[str, Any]:
    """The execution role may invoke this one function and nothing else
    (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeTheFunction",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": [function_arn],
            }
        ],
    }


class BatchSchedule(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: DeployConfig,
        account: Account,
        function_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bn-xtts-aws:infra:BatchSchedule", name, None, opts)
        assert cfg.batch_schedule is not None
        # Only Scheduler acting for this account may assume the role (the confused-deputy guard of
        # https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role).
        trust = assume_role_policy(
            "scheduler.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account.id}}
        )
        self.role = aws.iam.Role(
            name,
            name=f"{cfg.name}-scheduler",
            description=f"EventBridge Scheduler's role for the {cfg.function_name} batch runs",
            assume_role_policy=json.dumps(trust),
            tags=cfg.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.policy = aws.iam.RolePolicy(
            name,
            name="invoke",
            role=self.role.id,
            policy=pulumi.Output.from_input(function_arn).apply(
                lambda arn: json.dumps(scheduler_policy(arn))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.schedule = aws.scheduler.Schedule(
            name,
            name=f"{cfg.name}-batch",
            description="Bangla XTTS batch synthesis: resumes the batch shard",
            schedule_expression=cfg.batch_schedule,
            schedule_expression_timezone=cfg.batch_time_zone,
            # Run at the time the expression says, not somewhere in a window after it.
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            state="ENABLED",
            target=aws.scheduler.ScheduleTargetArgs(
                arn=function_arn,
                role_arn=self.role.arn,
                input=json.dumps(BATCH_INPUT),
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=DELIVERY_RETRIES,
                    maximum_event_age_in_seconds=DELIVERY_MAX_AGE_S,
                ),
            ),
            # The first run must find the role allowed to invoke.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
        )
        self.register_outputs({"schedule": self.schedule.name})
