"""Runs the Pulumi program in-process against mocks: no Pulumi CLI, no cloud."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

PROJECT = "tts-prod-123"

BASE_CONFIG = {
    "gcp:project": PROJECT,
    "gcp:region": "us-central1",
    "bn-xtts:image": "us-central1-docker.pkg.dev/tts-prod-123/bn-tts/server:0123abc",
    "bn-xtts:domain": "tts.example.com",
    "bn-xtts:alertEmail": "oncall@example.com",
    "bn-xtts:apiKeys": "key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb",
    "bn-xtts:batchSchedule": "0 3 * * *",
}


@dataclass
class Synth:
    """What the program declared: resources by type, and the stack outputs."""

    resources: list[pulumi.runtime.MockResourceArgs]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> dict[str, Any]:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return dict(found[0].inputs)

    def types(self) -> set[str]:
        return {r.typ for r in self.resources}


class _Recorder(pulumi.runtime.Mocks):
    """Echoes inputs back as state, plus the computed outputs the program reads."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        state = dict(args.inputs)
        if args.typ == "gcp:serviceaccount/account:Account":
            state["email"] = f"{args.inputs['accountId']}@{PROJECT}.iam.gserviceaccount.com"
        elif args.typ == "gcp:cloudrunv2/service:Service":
            state["uri"] = f"https://{args.inputs['name']}-abc123-uc.a.run.app"
        elif args.typ == "gcp:secretmanager/secretVersion:SecretVersion":
            state["version"] = "1"
        elif args.typ == "gcp:compute/globalAddress:GlobalAddress":
            state["address"] = "203.0.113.10"
        elif args.typ == "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            state["uptimeCheckId"] = "health-check-1"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def synthesize(overrides: Mapping[str, str | None] | None = None) -> Synth:
    """Build the whole stack with BASE_CONFIG plus `overrides` (None removes a key)."""
    from infra import config, stack

    values = {**BASE_CONFIG, **(overrides or {})}
    recorder = _Recorder()
    pulumi.runtime.set_mocks(recorder, project="bn-xtts", stack="test", preview=False)
    pulumi.runtime.set_all_config(
        {k: v for k, v in values.items() if v is not None}, secret_keys=["bn-xtts:apiKeys"]
    )
    result = Synth(recorder.resources)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        outputs = stack.build(config.from_pulumi(), config.api_keys_from_pulumi())
        return pulumi.Output.all(**outputs).apply(result.outputs.update)

    program()
    return result
