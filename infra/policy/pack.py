"""The GCP guard rails as policies (all mandatory: a violation stops the update)."""

from __future__ import annotations

from pulumi_policy import Policy

from infra.policy import builder
from infra.policy import guardrails as g

STACK_CHECKS: dict[str, builder.StackCheck] = {
    # The bootstrap run (no image yet) declares no service, so nothing to watch.
    "alerts-cover-signals": lambda of: g.alerts_cover_signals(of(g.ALERT)) if of(g.SERVICE) else [],
    "scale-to-zero-unprobed": lambda of: g.scale_to_zero_unprobed(of(g.SERVICE), of(g.UPTIME)),
}


def policies() -> list[Policy]:
    return builder.policies(g.RESOURCE_CHECKS, STACK_CHECKS, g.DESCRIPTIONS)
