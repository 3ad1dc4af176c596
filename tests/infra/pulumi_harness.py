"""The GCP program (infra/) under the shared mock harness (tests/pulumi_mocks.py).

The program's preview-time look-ups (infra/preflight.py) are Google provider invokes; `FakeCloud`
answers them from a small model of the project (which buckets, objects and images exist) and adds
the computed outputs the program reads to new resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from tests.pulumi_mocks import CallResult, Synth, run_program

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

    def created(self, args: pulumi.runtime.MockResourceArgs, state: dict[str, Any]) -> str | None:
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
        return None

    def call(self, token: str, args: dict[str, Any]) -> CallResult:
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


def synthesize(
    overrides: Mapping[str, str | None] | None = None,
    cloud: FakeCloud | None = None,
    *,
    allow_rollback: bool = False,
) -> Synth:
    """Build the whole stack with BASE_CONFIG plus `overrides` (None removes a key), against
    `cloud` (default: FakeCloud())."""
    from infra import config, stack

    return run_program(
        lambda: stack.build(config.from_pulumi(), config.api_keys_from_pulumi()),
        project="bn-xtts",
        config={**BASE_CONFIG, **(overrides or {})},
        secret_keys=["bn-xtts:apiKeys"],
        cloud=cloud or FakeCloud(),
        env={config.ALLOW_ROLLBACK_ENV: "1" if allow_rollback else None},
    )
