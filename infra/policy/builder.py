"""Guard rails as pulumi_policy policies, for both programs' packs (infra/policy, infra_aws/policy).

Each pack's guardrails module holds plain checks over resource properties (tested without Pulumi);
this turns them into policies, all mandatory: a violation stops the update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

Props = Mapping[str, Any]
ResourceCheck = Callable[[Props], list[str]]
# A check over the whole stack; it is handed `of(type)`: the properties of every resource of a type.
StackCheck = Callable[[Callable[[str], list[Props]]], list[str]]


def _resource_policy(
    name: str, checks: Mapping[str, Sequence[tuple[str, ResourceCheck]]], description: str
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        # Only this policy's checks: a value unknown during preview (which pulumi_policy turns
        # into an advisory "can't run during preview") then stops no other policy.
        for policy, check in checks.get(args.resource_type, []):
            if policy == name:
                for message in check(args.props):
                    report(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


def _stack_policy(name: str, check: StackCheck, description: str) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        def of(typ: str) -> list[Props]:
            return [r.props for r in args.resources if r.resource_type == typ]

        for message in check(of):
            report(message, None)

    return StackValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY
    )


def policies(
    resource_checks: Mapping[str, Sequence[tuple[str, ResourceCheck]]],
    stack_checks: Mapping[str, StackCheck],
    descriptions: Mapping[str, str],
) -> list[Policy]:
    """One policy per name in `resource_checks` (resource type -> [(policy name, check)]) and one
    per stack check; every policy's description from `descriptions`."""
    names = sorted({name for checks in resource_checks.values() for name, _ in checks})
    result: list[Policy] = [_resource_policy(n, resource_checks, descriptions[n]) for n in names]
    result.extend(_stack_policy(n, check, descriptions[n]) for n, check in stack_checks.items())
    return result
