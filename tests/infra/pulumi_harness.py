"""Runs the Pulumi program in-process against mocks: no Pulumi CLI, no cloud.

The program's preview-time look-ups (infra/preflight.py) are Google provider invokes; `FakeCloud`
answers them (`Mocks.call`) from a small model of the project: which buckets, objects and images
exist. The mock monitor also records each registration's parent and explicit dependencies, so tests
can check ordering (`Synth.depends_on`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

PROJECT = "tts-prod-123"
BUCKET = f"{PROJECT}-bn-tts-models"
REPOSITORY = f"us-central1-docker.pkg.dev/{PROJECT}/bn-tts"
IMAGE_TAG = f"{REPOSITORY}/server:0123abc"
DIGEST = "sha256:" + "ab" * 32
IMAGE_DIGEST = f"{REPOSITORY}/server@{DIGEST}"

BASE_CONFIG = {
    "gcp:project": PROJECT,
    "gcp:region": "us-central1",
    "bn-xtts:image": IMAGE_TAG,
    "bn-xtts:domain": "tts.example.com",
    "bn-xtts:alertEmail": "oncall@example.com",
    "bn-xtts:apiKeys": "key-aaaaaaaaaaaaaaaa,key-bbbbbbbbbbbbbbbb",
    "bn-xtts:batchSchedule": "0 3 * * *",
}

GET_BUCKETS = "gcp:storage/getBuckets:getBuckets"
GET_OBJECTS = "gcp:storage/getBucketObjects:getBucketObjects"
GET_CONTENT = "gcp:storage/getBucketObjectContent:getBucketObjectContent"
GET_IMAGE = "gcp:artifactregistry/getDockerImage:getDockerImage"
GET_PROJECT = "gcp:organizations/getProject:getProject"
GET_SERVICE = "gcp:cloudrunv2/getService:getService"


@dataclass
class FakeCloud:
    """The project as the program's look-ups see it. Default: the bucket exists, the default bundle
    (bn-xtts v1, every variant) is uploaded, `server:0123abc` is pushed, nothing is deployed."""

    buckets: set[str] = field(default_factory=lambda: {BUCKET})
    objects: dict[str, str] = field(
        default_factory=lambda: {
            f"models/bn-xtts/v1/{v}/manifest.json": "{}" for v in ("fp32", "fp16", "int8")
        }
    )
    # image reference (tag or digest form, as configured) -> digest form
    images: dict[str, str] = field(
        default_factory=lambda: {IMAGE_TAG: IMAGE_DIGEST, IMAGE_DIGEST: IMAGE_DIGEST}
    )
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Cloud Run services that exist (by name): what a stack deployed before.
    services: set[str] = field(default_factory=set)

    def deployed(self, image: str, model_version: str, history: list[tuple[str, str]] | None = None) -> None:
        """Put a release record in the bucket, as a previous `pulumi up` would have."""
        body = {
            "version": 1,
            "image": image,
            "modelVersion": model_version,
            "history": [{"image": i, "modelVersion": m} for i, m in history or []],
        }
        self.objects["deploy/test/release.json"] = json.dumps(body)

    def call(self, token: str, args: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append((token, dict(args)))
        if token == GET_BUCKETS:
            found = [b for b in sorted(self.buckets) if b.startswith(args.get("prefix", ""))]
            return {
                "buckets": [
                    {"name": b, "labels": {}, "location": "US-CENTRAL1", "selfLink": b} for b in found
                ]
            }, []
        if token == GET_OBJECTS:
            if args["bucket"] not in self.buckets:
                return {}, [("bucket", f"googleapi: Error 404: bucket {args['bucket']} not found")]
            glob = args.get("matchGlob", "")
            name = "".join(c[1] if c.startswith("[") else c for c in _glob_chars(glob))
            found = [name] if name in self.objects else []
            return {
                "bucket": args["bucket"],
                "bucketObjects": [
                    {
                        "name": n,
                        "contentType": "application/json",
                        "mediaLink": n,
                        "selfLink": n,
                        "storageClass": "STANDARD",
                    }
                    for n in found
                ],
            }, []
        if token == GET_CONTENT:
            if args["name"] not in self.objects:
                return {}, [("name", "googleapi: Error 404: No such object")]
            return {"bucket": args["bucket"], "name": args["name"], "content": self.objects[args["name"]]}, []
        if token == GET_IMAGE:
            registry = f"{args['location']}-docker.pkg.dev/{args['project']}/{args['repositoryId']}"
            ref = f"{registry}/{args['imageName']}"
            if ref not in self.images:
                return {}, [("imageName", f"googleapi: Error 404: {ref} not found")]
            return {"selfLink": self.images[ref], "name": ref, "imageName": args["imageName"]}, []
        if token == GET_SERVICE:
            if args["name"] not in self.services:
                return {}, [("name", f"googleapi: Error 404: service {args['name']} not found")]
            return {"name": args["name"], "location": args["location"], "uri": "https://x.a.run.app"}, []
        if token == GET_PROJECT:
            return {
                "projectId": args.get("projectId", PROJECT),
                "number": "123456789012",
                "name": PROJECT,
            }, []
        return {}, []


def _glob_chars(glob: str) -> list[str]:
    out, i = [], 0
    while i < len(glob):
        if glob[i] == "[" and i + 2 < len(glob) and glob[i + 2] == "]":
            out.append(glob[i : i + 3])
            i += 3
        else:
            out.append(glob[i])
            i += 1
    return out


@dataclass
class Synth:
    """What the program declared: resources by type, the stack outputs and the dependency graph."""

    resources: list[pulumi.runtime.MockResourceArgs]
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

    def types(self) -> set[str]:
        return {r.typ for r in self.resources}

    def urn(self, typ: str, name: str | None = None) -> str:
        found = [u for u in self.graph if u.split("::")[-2].split("$")[-1] == typ]
        if name is not None:
            found = [u for u in found if u.endswith(f"::{name}")]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {found}"
        return found[0]

    def depends_on(self, urn: str) -> set[str]:
        """Everything created before `urn` can be: its dependencies, its ancestors' (a child
        registers only once its parent has, and the parent only once its dependencies exist), and
        theirs in turn, as URNs."""
        seen: set[str] = set()
        todo = [urn]
        while todo:
            current = todo.pop()
            while current in self.graph:
                parent, own = self.graph[current]
                for dep in own:
                    if dep not in seen:
                        seen.add(dep)
                        todo.append(dep)
                current = parent
        return seen


class _Recorder(pulumi.runtime.Mocks):
    """Echoes inputs back as state, plus the computed outputs the program reads."""

    def __init__(self, cloud: FakeCloud) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self.cloud = cloud

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
            state["uptimeCheckId"] = f"{args.name}-check"
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return self.cloud.call(args.token, dict(args.args))


class RecordingMonitor(MockMonitor):
    """Records each registration's parent and explicit dependencies (both harnesses use it)."""

    def __init__(
        self,
        mocks: pulumi.runtime.Mocks,
        graph: dict[str, tuple[str, list[str]]],
        options: dict[str, dict[str, bool]] | None = None,
    ) -> None:
        super().__init__(mocks)
        self.graph = graph
        self.options = {} if options is None else options

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method name)
        response = super().RegisterResource(request)
        self.graph[response.urn] = (request.parent, list(request.dependencies))
        self.options[response.urn] = {
            "protect": bool(request.protect),
            "retain_on_delete": bool(request.retainOnDelete),
            "delete_before_replace": bool(request.deleteBeforeReplace),
        }
        return response


class WarningLog:
    """Pulumi's logger for the mocks: keeps the warnings, drops the rest."""

    def __init__(self, sink: list[str]) -> None:
        self.sink = sink

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.sink.append(msg)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def synthesize(
    overrides: Mapping[str, str | None] | None = None,
    cloud: FakeCloud | None = None,
    *,
    allow_rollback: bool = False,
) -> Synth:
    """Build the whole stack with BASE_CONFIG plus `overrides` (None removes a key), against
    `cloud` (default: FakeCloud())."""
    import os

    from infra import config, stack

    values = {**BASE_CONFIG, **(overrides or {})}
    recorder = _Recorder(cloud or FakeCloud())
    result = Synth(recorder.resources)
    monitor = RecordingMonitor(recorder, result.graph, result.options)
    pulumi.runtime.set_mocks(
        recorder,
        project="bn-xtts",
        stack="test",
        preview=False,
        monitor=monitor,
        logger=WarningLog(result.warnings),  # type: ignore[arg-type]
    )
    pulumi.runtime.set_all_config(
        {k: v for k, v in values.items() if v is not None}, secret_keys=["bn-xtts:apiKeys"]
    )
    previous = os.environ.pop(config.ALLOW_ROLLBACK_ENV, None)
    if allow_rollback:
        os.environ[config.ALLOW_ROLLBACK_ENV] = "1"

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        outputs = stack.build(config.from_pulumi(), config.api_keys_from_pulumi())
        return pulumi.Output.all(**outputs).apply(result.outputs.update)

    try:
        program()
    finally:
        os.environ.pop(config.ALLOW_ROLLBACK_ENV, None)
        if previous is not None:
            os.environ[config.ALLOW_ROLLBACK_ENV] = previous
    return result
