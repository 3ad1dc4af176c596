"""The one mock harness both Pulumi programs (infra/ for GCP, infra_aws/ for AWS) are tested with:
the program runs in-process against `pulumi.runtime.set_mocks`, no Pulumi CLI and no cloud.

A provider's harness (tests/infra/pulumi_harness.py, tests/infra_aws/harness.py) supplies only what
differs: a fake of the cloud that answers the program's look-ups (`Cloud.call`) and the computed
outputs of the resources the program reads (`Cloud.created`). Everything else is here: recording
what was declared, the dependency graph (each registration's parent and explicit dependencies, so
tests can check ordering with `Synth.depends_on`), the lifecycle options, the warnings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

CallResult = tuple[dict[str, Any], list[tuple[str, str]] | None]


class Cloud(Protocol):
    def call(self, token: str, args: dict[str, Any]) -> CallResult:
        """A provider function (invoke): its result, or failures as (property, reason)."""
        ...

    def created(self, args: pulumi.runtime.MockResourceArgs, state: dict[str, Any]) -> str | None:
        """Adds the computed outputs of a new resource to `state`; returns its id (None: a default)."""
        ...


@dataclass
class Synth:
    """What the program declared: resources by type, the stack outputs and the dependency graph."""

    resources: list[pulumi.runtime.MockResourceArgs] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # urn -> (parent urn, explicit dependency urns)
    graph: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    # urn -> the lifecycle options it was registered with (protect, retain_on_delete, ...)
    options: dict[str, dict[str, bool]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> dict[str, Any]:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return dict(found[0].inputs)

    def named(self, typ: str, name: str) -> dict[str, Any]:
        (found,) = [r for r in self.of_type(typ) if r.name == name]
        return dict(found.inputs)

    def policy(self, typ: str, name: str, field_name: str = "policy") -> dict[str, Any]:
        """A JSON policy input, parsed."""
        return dict(json.loads(self.named(typ, name)[field_name]))

    def types(self) -> set[str]:
        return {r.typ for r in self.resources}

    def urn(self, typ: str, name: str | None = None) -> str:
        found = [u for u in self.graph if u.split("::")[-2].split("$")[-1] == typ]
        if name is not None:
            found = [u for u in found if u.endswith(f"::{name}")]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {found}"
        return found[0]

    def depends_on(self, urn: str) -> set[str]:
        """Everything that must exist before `urn` is created: its dependencies, its ancestors'
        (a child registers only after its parent, the parent after its dependencies), theirs in
        turn, and every child of a component it depends on (Pulumi waits for a component's
        children)."""
        seen: set[str] = set()
        todo = [urn]
        while todo:
            current = todo.pop()
            while current in self.graph:
                parent, own = self.graph[current]
                for dep in own:
                    for node in (dep, *self._descendants(dep)):
                        if node not in seen:
                            seen.add(node)
                            todo.append(node)
                current = parent
        return seen

    def _descendants(self, urn: str) -> list[str]:
        children = [u for u, (parent, _) in self.graph.items() if parent == urn]
        return [d for c in children for d in (c, *self._descendants(c))]


def unsecret(value: Any) -> Any:
    """A secret input arrives wrapped ({sig: secret, value: ...}); tests read the value."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return value["value"]
    return value


class _Recorder(pulumi.runtime.Mocks):
    """Echoes inputs back as state, plus the computed outputs `cloud` adds."""

    def __init__(self, cloud: Cloud, resources: list[pulumi.runtime.MockResourceArgs]) -> None:
        self.cloud = cloud
        self.resources = resources

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(args)
        state = dict(args.inputs)
        return self.cloud.created(args, state) or f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> CallResult:
        return self.cloud.call(args.token, dict(args.args))


class _RecordingMonitor(MockMonitor):
    """Records each registration's parent, explicit dependencies and lifecycle options."""

    def __init__(self, mocks: pulumi.runtime.Mocks, synth: Synth) -> None:
        super().__init__(mocks)
        self.synth = synth

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        self.synth.graph[response.urn] = (request.parent, list(request.dependencies))
        self.synth.options[response.urn] = {
            "protect": bool(request.protect),
            "retain_on_delete": bool(request.retainOnDelete),
            "delete_before_replace": bool(request.deleteBeforeReplace),
        }
        return response


class _WarningLog:
    """Pulumi's logger for the mocks: keeps the warnings, drops the rest."""

    def __init__(self, sink: list[str]) -> None:
        self.sink = sink

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.sink.append(msg)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def run_program(
    build: Callable[[], Mapping[str, Any]],
    *,
    project: str,
    config: Mapping[str, str | None],
    secret_keys: list[str],
    cloud: Cloud,
    env: Mapping[str, str | None] | None = None,
) -> Synth:
    """Run `build` (the program: it reads its stack config and returns the stack outputs) as
    stack `test` of `project`, with `config` (None: unset) and environment `env` (None: unset)
    for its duration, against `cloud`."""
    result = Synth()
    recorder = _Recorder(cloud, result.resources)
    pulumi.runtime.set_mocks(
        recorder,
        project=project,
        stack="test",
        preview=False,
        monitor=_RecordingMonitor(recorder, result),
        logger=_WarningLog(result.warnings),  # type: ignore[arg-type]
    )
    pulumi.runtime.set_all_config({k: v for k, v in config.items() if v is not None}, secret_keys=secret_keys)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        return pulumi.Output.all(**build()).apply(result.outputs.update)

    saved = {name: os.environ.get(name) for name in env or {}}
    try:
        _set_env(env or {})
        program()
    finally:
        _set_env(saved)
    return result


def _set_env(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def analyzer_port(pack: Path) -> str:
    """Starts a policy pack's entry point as `pulumi preview --policy-pack` does (its own process,
    in its folder) and returns the gRPC port it prints once it serves."""
    proc = subprocess.Popen(
        [sys.executable, str(pack / "__main__.py")], cwd=pack, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().decode().strip()
        assert port.isdigit(), proc.stderr.read().decode() if proc.stderr else port
        return port
    finally:
        proc.kill()
        proc.wait()
