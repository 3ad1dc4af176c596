"""Bounded waits where Google Cloud is eventually consistent and the provider does not wait.

Two places on a first `pulumi up` act on a change that has not spread yet:

- an API enabled a moment ago: its first calls may answer "API has not been used in project ... or
  it is disabled ... If you enabled this API recently, wait a few minutes for the action to
  propagate" (the Google provider's FAQ, "403 Service API disabled");
- a role granted a moment ago: "Changes to allow or deny policies typically propagate in 2 minutes,
  but could potentially take 7 minutes or longer"
  (https://cloud.google.com/iam/docs/access-change-propagation). Cloud Run checks at revision
  creation that the runtime account may read the API-key secret, so the service is created only
  after the wait.

Pulumi has no built-in sleep and `time_sleep`'s Pulumi port (pulumiverse-time) is a provider
plugin the pipeline would have to download, so this is a dynamic resource (run by the Python
provider that ships with the Pulumi CLI). It waits when it is created, and again only when what it
waits for changes (`after`): a re-run, or a run that changes nothing it guards, waits 0 s. Longer
than typical propagation is covered by re-running `pulumi up` (docs/deploy-gcp.md, First deploy): the failed
resource is retried and nothing created is touched.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi import dynamic

# The Google provider's FAQ: "wait a few minutes".
API_ENABLEMENT_S = 90
# IAM: "typically propagate in 2 minutes".
ACCESS_GRANT_S = 120


def wait_provider() -> dynamic.ResourceProvider:
    """The provider is pickled into the state and run by Pulumi's Python provider host, which does
    not have this repository on its path: a class defined here, in a function, is pickled by value
    (a module-level one would be pickled as a reference to `infra.propagation` and fail to load,
    https://github.com/pulumi/pulumi/issues/7453)."""

    class WaitProvider(dynamic.ResourceProvider):
        def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
            time.sleep(float(props["seconds"]))
            return dynamic.CreateResult(id_=str(props["reason"]), outs=props)

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
            # Only a change in what it guards waits again; a new duration applies from the next one.
            replaces = ["after"] if list(olds.get("after") or []) != list(news.get("after") or []) else []
            changed = bool(replaces) or any(olds.get(k) != news.get(k) for k in ("seconds", "reason"))
            return dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

        def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
            return dynamic.UpdateResult(outs=news)

    return WaitProvider()


class PropagationWait(dynamic.Resource, module="bn-xtts", name="PropagationWait"):
    """Created `seconds` after everything in `depends_on`; re-created (and so waits again) when
    `after`, the identities of what it guards, changes."""

    def __init__(
        self,
        name: str,
        *,
        after: pulumi.Input[Sequence[pulumi.Input[str]]],
        seconds: int,
        reason: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(wait_provider(), name, {"after": after, "seconds": seconds, "reason": reason}, opts)
