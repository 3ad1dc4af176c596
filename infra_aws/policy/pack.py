"""The AWS guard rails as policies (all mandatory: a violation stops the update)."""

from __future__ import annotations

from pulumi_policy import Policy

from infra.policy import builder
from infra_aws.policy import guardrails as g

STACK_CHECKS: dict[str, builder.StackCheck] = {
    "function-url-auth-matches-keys": lambda of: g.url_auth_matches_keys(of(g.FUNCTION), of(g.FUNCTION_URL)),
    "function-log-group-managed": lambda of: g.function_log_group_managed(of(g.FUNCTION), of(g.LOG_GROUP)),
    # The bootstrap run (no image yet) declares no function, so nothing to watch.
    "alarms-cover-functions": lambda of: g.alarms_cover_functions(of(g.FUNCTION), of(g.ALARM)),
}


def policies() -> list[Policy]:
    return builder.policies(g.RESOURCE_CHECKS, STACK_CHECKS, g.DESCRIPTIONS)
