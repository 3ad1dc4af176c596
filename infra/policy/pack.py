"""The guard rails as pulumi_policy policies (all mandatory: a violation stops the update)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy import guardrails


def _resource_policy(name: str) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        # Only this policy's checks: a value unknown during preview (which pulumi_policy turns
        # into an advisory "can't run during preview") then stops no other policy.
        for policy, check in guardrails.RESOURCE_CHECKS.get(args.resource_type, []):
            if policy == name:
                for message in check(args.props):
                    report(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=guardrails.DESCRIPTIONS[name],
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _alerts(args: StackValidationArgs, report: ReportViolation) -> None:
    alerts = [r.props for r in args.resources if r.resource_type == guardrails.ALERT]
    services = [r for r in args.resources if r.resource_type == guardrails.SERVICE]
    if services:  # the bootstrap run (no image yet) has nothing to watch
        for message in guardrails.alerts_cover_signals(alerts):
            report(message, None)


def _scale_to_zero(args: StackValidationArgs, report: ReportViolation) -> None:
    services = [r.props for r in args.resources if r.resource_type == guardrails.SERVICE]
    uptime = [r.props for r in args.resources if r.resource_type == guardrails.UPTIME]
    for message in guardrails.scale_to_zero_unprobed(services, uptime):
        report(message, None)


def policies() -> list[Policy]:
    names = sorted({name for checks in guardrails.RESOURCE_CHECKS.values() for name, _ in checks})
    result: list[Policy] = [_resource_policy(n) for n in names]
    for name, validate in (("alerts-cover-signals", _alerts), ("scale-to-zero-unprobed", _scale_to_zero)):
        result.append(
            StackValidationPolicy(
                name=name,
                description=guardrails.DESCRIPTIONS[name],
                validate=validate,
                enforcement_level=EnforcementLevel.MANDATORY,
            )
        )
    return result
