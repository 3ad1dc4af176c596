"""APIs: the Google Cloud services the stack uses, enabled by the program instead of by hand.

`disable_on_destroy=False`: a `pulumi destroy` (or dropping one from this list) never switches an
API off under whatever else in the project uses it. Every other component depends on these
resources, so a first `pulumi up` on a project with none of them enabled creates nothing before
its API is on. `serviceusage.googleapis.com` (which enables the others) and
`cloudresourcemanager.googleapis.com` must already be on: deploy/bootstrap.sh enables them, and
new projects have them by default.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import DeployConfig

BASE_APIS = (
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
)
BUDGET_API = "billingbudgets.googleapis.com"


def required_apis(cfg: DeployConfig) -> tuple[str, ...]:
    return BASE_APIS + ((BUDGET_API,) if cfg.billing_account else ())


class Apis(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: DeployConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bn-xtts:infra:Apis", name, None, opts)
        self.services = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=cfg.project,
                service=api,
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in required_apis(cfg)
        }
        self.register_outputs({"apis": sorted(self.services)})

    def all(self) -> list[pulumi.Resource]:
        return list(self.services.values())
