"""The guard rails as pulumi_policy policies (all mandatory: a violation stops the update)."""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra_aws.policy import guardrails as g


def _resource_policy(name: str) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        # Only this policy's checks: a value unknown during preview (which pulumi_policy turns
        # into an advisory "can't run during preview") then stops no other policy.
        for policy, check in g.RESOURCE_CHECKS.get(args.resource_type, []):
            if policy == name:
                for message in check(args.props):
                    report(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=g.DESCRIPTIONS[name],
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _of(args: StackValidationArgs, typ: str) -> list[g.Props]:
    return [r.props for r in args.resources if r.resource_type == typ]


def _stack_policy(name: str, check: Callable[[StackValidationArgs], list[str]]) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message in check(args):
            report(message, None)

    return StackValidationPolicy(
        name=name,
        description=g.DESCRIPTIONS[name],
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


STACK_CHECKS: dict[str, Callable[[StackValidationArgs], list[str]]] = {
    "function-url-auth-matches-keys": lambda a: g.url_auth_matches_keys(
        _of(a, g.FUNCTION), _of(a, g.FUNCTION_URL)
    ),
    "function-log-group-managed": lambda a: g.function_log_group_managed(
        _of(a, g.FUNCTION), _of(a, g.LOG_GROUP)
    ),
    # The bootstrap run (no image yet) declares no function, so nothing to watch.
    "alarms-cover-functions": lambda a: g.alarms_cover_functions(_of(a, g.FUNCTION), _of(a, g.ALARM)),
}


def policies() -> list[Policy]:
    names = sorted({name for checks in g.RESOURCE_CHECKS.values() for name, _ in checks})
    result: list[Policy] = [_resource_policy(n) for n in names]
    result.extend(_stack_policy(n, check) for n, check in STACK_CHECKS.items())
    return result
