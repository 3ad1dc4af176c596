"""The function's log group, `/aws/lambda/<function>`, created by the program with a retention.

Lambda creates that group itself on the first invocation when it does not exist yet, with no
retention (logs kept forever) and outside Pulumi's state; a later `pulumi up` creating it would then
fail with ResourceAlreadyExistsException. So the group is declared here and the function waits for
it (serving.py: depends_on), and the function's role may not create log groups (identity.py).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra_aws.config import DeployConfig


class FunctionLogGroup(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: DeployConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("bn-xtts-aws:infra:FunctionLogGroup", name, None, opts)
        self.log_group = aws.cloudwatch.LogGroup(
            name,
            name=cfg.log_group_name,
            retention_in_days=cfg.log_retention_days,
            tags=cfg.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"log_group": self.log_group.name})
