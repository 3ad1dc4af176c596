"""Preflight: what the program looks up in the project before it declares the service.

Everything here runs while the program runs, so `pulumi preview` already knows the answers and
refuses early, with a message that says what to do, instead of a `pulumi up` whose Cloud Run create
call fails half-way (the revision never passes its startup probe without a bundle; the service then
exists in Google Cloud but not in Pulumi's state, and the next run gets 409 "already exists").

The look-ups go through the Google provider's data sources (invokes), so they use the same
credentials and project as the update itself, and tests answer them from Pulumi's mocks
(`Mocks.call`, tests/infra/pulumi_harness.py):

- `gcp:storage/getBuckets`: does the stack's bucket exist yet (a brand-new project: no)?
- `gcp:storage/getBucketObjects` (with `match_glob` equal to the object name: an exact match):
  is the configured bundle's `manifest.json` there, and is there a release record?
- `gcp:storage/getBucketObjectContent`: the release record (infra/release.py).
- `gcp:artifactregistry/getDockerImage`: is the image pushed, and which digest is it?
- `gcp:cloudrunv2/getService`: is the service already deployed (asked only when the release record
  is missing: a stack whose service exists must never plan "foundation only", which deletes the edge)?
"""

from __future__ import annotations

from typing import Protocol

import pulumi_gcp as gcp

from infra.config import DeployConfig


class Lookups(Protocol):
    """What the program needs to know about the project (all synchronous, at preview time)."""

    def bucket_exists(self, cfg: DeployConfig) -> bool: ...

    def object_exists(self, cfg: DeployConfig, name: str) -> bool: ...

    def read_object(self, cfg: DeployConfig, name: str) -> str: ...

    def image_digest(self, cfg: DeployConfig, image: str) -> str | None:
        """`REPOSITORY/IMAGE@sha256:...` for an image in the stack's registry, None if absent."""
        ...

    def service_exists(self, cfg: DeployConfig) -> bool: ...


def registry_image_name(cfg: DeployConfig, image: str) -> str | None:
    """`server:TAG` or `server@sha256:...` for an image in the stack's own registry, else None."""
    prefix = f"{cfg.image_repository}/"
    return image[len(prefix) :] if image.startswith(prefix) else None


class ProviderLookups:
    """Lookups through the Google provider's data sources."""

    def bucket_exists(self, cfg: DeployConfig) -> bool:
        # A prefix listing of the project's buckets: an absent bucket is an empty list, not an
        # error (getBucket would fail the whole program on a brand-new project).
        found = gcp.storage.get_buckets(project=cfg.project, prefix=cfg.bucket_name)
        return any(b.name == cfg.bucket_name for b in (found.buckets or []))

    def object_exists(self, cfg: DeployConfig, name: str) -> bool:
        found = gcp.storage.get_bucket_objects(bucket=cfg.bucket_name, match_glob=_glob_literal(name))
        return any(o.name == name for o in (found.bucket_objects or []))

    def read_object(self, cfg: DeployConfig, name: str) -> str:
        return gcp.storage.get_bucket_object_content(bucket=cfg.bucket_name, name=name).content or ""

    def image_digest(self, cfg: DeployConfig, image: str) -> str | None:
        name = registry_image_name(cfg, image)
        if name is None:
            return None
        try:
            found = gcp.artifactregistry.get_docker_image(
                project=cfg.project, location=cfg.region, repository_id=cfg.name, image_name=name
            )
        except Exception:  # the data source fails when the image (or tag) does not exist
            return None
        return found.self_link or None

    def service_exists(self, cfg: DeployConfig) -> bool:
        try:
            gcp.cloudrunv2.get_service(name=cfg.name, location=cfg.region, project=cfg.project)
        except Exception as exc:
            # Absent is the data source's 404; anything else (no permission, API down) must not be
            # read as "absent", which would plan the edge's deletion.
            if "404" in str(exc) or "not found" in str(exc).lower():
                return False
            raise
        return True


def _glob_literal(name: str) -> str:
    """A match_glob that matches exactly `name` (object names here hold no glob characters, but
    escape them anyway: https://cloud.google.com/storage/docs/json_api/v1/objects/list#list-objects-and-prefixes-using-glob)."""
    return "".join(f"[{c}]" if c in "*?[]{}\\" else c for c in name)
