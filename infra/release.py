"""Release: which image and model version the stack deploys, from one source of truth.

The source of truth is the release record `gs://<bucket>/deploy/<stack>/release.json`: the image
(by digest) and model version of the last successful `pulumi up`, and the releases before it. The
program writes it (a BucketObject, updated only after the service and the job are) and reads it
back at the start of every run. Why there and not in the stack file: the pipeline deploys with
`pulumi up -c bn-xtts:image=...`, which saves the value into *its own checkout's* copy of
`Pulumi.<stack>.yaml` and throws it away with the build, so the file in git (or on a laptop) keeps
naming an older release; an ordinary `pulumi up` from that file used to roll the service back
without a word. The bucket is shared by every runner, versioned (every record generation is kept),
and readable at preview time with the deployer's own credentials.

A run deploys, for the image and for the model version separately:
- the configured value when it is new (never deployed before): a release;
- the recorded value when the stack does not set one: a plain `pulumi up` keeps what is deployed;
- never, without `BN_XTTS_ALLOW_ROLLBACK=1` for that run, a value the record lists as an *earlier*
  release: the run stops, naming the key, the deployed value and the two ways forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from infra.config import ALLOW_ROLLBACK_ENV, NAMESPACE, DeployConfig
from infra.preflight import Lookups, registry_image_name
from infra.stack_config import ConfigError

RECORD_VERSION = 1
# Earlier releases remembered (older ones may come back without the rollback flag).
HISTORY_KEPT = 50


@dataclass(frozen=True)
class Release:
    image: str
    model_version: str
    # Earlier (image, model_version) pairs, oldest first.
    history: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        """Stable text: an unchanged release rewrites nothing (no diff on a no-op `pulumi up`)."""
        body = {
            "version": RECORD_VERSION,
            "image": self.image,
            "modelVersion": self.model_version,
            "history": [{"image": i, "modelVersion": m} for i, m in self.history],
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Release:
        try:
            body = json.loads(text)
            history = tuple((str(h["image"]), str(h["modelVersion"])) for h in body.get("history", []))
            return cls(str(body["image"]), str(body["modelVersion"]), history)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{NAMESPACE}:image",
                f"the release record {where} is not valid ({exc}); restore a good generation "
                f"(`gcloud storage ls --all-versions {where}`) or delete it to start a new history",
            ) from None

    def advanced_to(self, image: str, model_version: str) -> Release:
        """The record after deploying (image, model_version) over this release."""
        if (image, model_version) == (self.image, self.model_version):
            return self
        history = [*self.history, (self.image, self.model_version)]
        return Release(image, model_version, tuple(history[-HISTORY_KEPT:]))


def record_name(cfg: DeployConfig) -> str:
    return f"deploy/{cfg.stack}/release.json"


def record_url(cfg: DeployConfig) -> str:
    return f"gs://{cfg.bucket_name}/{record_name(cfg)}"


@dataclass(frozen=True)
class Plan:
    """What this run deploys: `cfg` with the resolved image and model version, and the record
    to write once the service and the job are updated (None: foundation only)."""

    cfg: DeployConfig
    release: Release | None
    reason: str = ""


def plan(cfg: DeployConfig, lookups: Lookups) -> Plan:
    """Decide what to deploy, or raise ConfigError (naming the key) before anything is declared."""
    if not lookups.bucket_exists(cfg):
        # A brand-new project: nothing can be deployed before the bucket and the registry exist,
        # and nothing that exists can be lost (this stack creates the bucket).
        return Plan(
            replace(cfg, image=None),
            None,
            f"gs://{cfg.bucket_name} does not exist yet: this run creates the bucket, the registry, the "
            "accounts and the APIs only. Upload a bundle and push an image, then run `pulumi up` again "
            "(docs/deploy-gcp.md).",
        )
    current = None
    if lookups.object_exists(cfg, record_name(cfg)):
        current = Release.from_json(lookups.read_object(cfg, record_name(cfg)), record_url(cfg))
    elif not (cfg.image is not None and cfg.model_version_set) and lookups.service_exists(cfg):
        # The record went missing (an interrupted replacement, `pulumi stack rename`, a clean-up)
        # while the service runs. Planning "foundation only" would delete the whole edge, and a
        # configured image alone would silently deploy the default model version.
        raise ConfigError(
            f"{NAMESPACE}:image",
            f"the release record {record_url(cfg)} is missing, but the service {cfg.name} is deployed: "
            "this run would not know what runs and would delete the load balancer. Restore the "
            f"record's last generation: `gcloud storage ls --all-versions {record_url(cfg)}`, then "
            f"`gcloud storage cp {record_url(cfg)}#GENERATION {record_url(cfg)}`; or name the release "
            "in full for this run: `pulumi up -c bn-xtts:image=IMAGE -c bn-xtts:modelVersion=VERSION` "
            "(pipeline: _MODEL_VERSION)",
        )

    image = _resolve_image(cfg, lookups, current)
    if image is None:
        return Plan(
            cfg,
            None,
            f"{NAMESPACE}:image is not set and nothing is deployed yet: created the foundation only. "
            "Build and push an image (cloudbuild.yaml) and run `pulumi up` with it.",
        )
    model_version = _resolve_model_version(cfg, current)
    resolved = replace(cfg, image=image, model_version=model_version)
    if not lookups.object_exists(resolved, resolved.manifest_path):
        bundle = f"gs://{resolved.bucket_name}/{resolved.model_prefix}"
        raise ConfigError(
            f"{NAMESPACE}:modelVersion",
            f"gs://{resolved.bucket_name}/{resolved.manifest_path} is missing, so the service would never "
            f"pass its startup probe: upload the bundle first, e.g. `deploy/upload-bundle.sh "
            f"bundles/{resolved.model_name}-{model_version} {bundle}` (manifests last), or run the "
            "pipeline with _CHECKPOINT_URI and _MODEL_VERSION; then run `pulumi up` again",
        )
    if current is None and cfg.quality_warning_share is not None:
        # infra/monitoring/: the warning-share alerts watch log-based metrics this first deploy
        # creates, and Cloud Monitoring refuses an alert on a metric it does not know yet.
        raise ConfigError(
            f"{NAMESPACE}:qualityWarningShare",
            "cannot be set on the first deploy: its alerts watch log-based metrics this run creates, and "
            "Cloud Monitoring refuses an alert on a metric until it knows it (up to 10 minutes). Deploy "
            "without it (`pulumi config rm qualityWarningShare`), then set it and run `pulumi up` again",
        )
    release = current.advanced_to(image, model_version) if current else Release(image, model_version)
    return Plan(resolved, release)


def _resolve_image(cfg: DeployConfig, lookups: Lookups, current: Release | None) -> str | None:
    key = f"{NAMESPACE}:image"
    if cfg.image is None:
        return current.image if current else None
    image = cfg.image
    _check_target(cfg, key, image)
    if registry_image_name(cfg, image) is not None:
        digest = lookups.image_digest(cfg, image)
        if digest is None:
            raise ConfigError(
                key,
                f"{image} is not in Artifact Registry: build and push it first (cloudbuild.yaml builds "
                "and pushes the commit's image), then run `pulumi up` again",
            )
        image = digest  # deploy by digest: what runs is exactly what was pushed
    if current is not None:
        _refuse_rollback(cfg, key, image, current.image, {i for i, _ in current.history})
    return image


def _check_target(cfg: DeployConfig, key: str, image: str) -> None:
    """cloudbuild.yaml names each build's image for its target (server-gpu, server-cpu): the CPU
    image on an L4 service would fall back to nothing (onnxruntime without CUDA) and the GPU image
    on CPU would not start. Images named before the target was part of the name pass unchecked."""
    name = registry_image_name(cfg, image)
    if name is None:
        return
    repository = name.split("@", 1)[0].split(":", 1)[0]
    want, other = ("gpu", "cpu") if cfg.gpu else ("cpu", "gpu")
    if repository.endswith(f"-{other}"):
        raise ConfigError(
            key,
            f"{image} is the {other.upper()} image, and this stack runs on "
            f"{'an ' + cfg.gpu_type if cfg.gpu else 'CPU'}: deploy the {repository[: -len(other)]}{want} "
            f"image (the pipeline builds it with _TARGET={want})",
        )


def _resolve_model_version(cfg: DeployConfig, current: Release | None) -> str:
    if not cfg.model_version_set and current is not None:
        return current.model_version
    if current is not None:
        key = f"{NAMESPACE}:modelVersion"
        _refuse_rollback(cfg, key, cfg.model_version, current.model_version, {m for _, m in current.history})
    return cfg.model_version


def _refuse_rollback(cfg: DeployConfig, key: str, wanted: str, deployed: str, earlier: set[str]) -> None:
    if wanted == deployed or wanted not in earlier or cfg.allow_rollback:
        return
    name = key.split(":", 1)[1]
    raise ConfigError(
        key,
        f"{wanted} is an earlier release; {deployed} is deployed (release record {record_url(cfg)}). "
        f"To keep what is deployed: `pulumi config rm {name}` (or set it to {deployed}). "
        f"To roll back on purpose: `{ALLOW_ROLLBACK_ENV}=1 pulumi up` (pipeline: _ALLOW_ROLLBACK=true)",
    )
