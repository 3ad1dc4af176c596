"""Registry: the ECR repository the `lambda` image is pushed to, its lifecycle and its policy."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra_aws.config import DeployConfig
from infra_aws.preflight import Account

# Untagged images (a re-push's leftovers) go after this many days.
UNTAGGED_DAYS = 7
# Tagged images beyond the newest this many go: a rollback to any of the last releases is one
# `pulumi up -c image=...`. An image the function still runs must be among them (deleting it
# breaks the function's next cold start), which ten releases cover.
KEEP_TAGGED = 10


def lifecycle_policy() -> dict[str, Any]:
    """Rules are applied lowest priority first; a `tagged` rule needs a tag pattern ("*" matches
    every tag) and an `untagged` rule none
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html)."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"expire untagged images after {UNTAGGED_DAYS} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": UNTAGGED_DAYS,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the {KEEP_TAGGED} newest tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": KEEP_TAGGED,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def lambda_pull_policy(cfg: DeployConfig, account: Account) -> dict[str, Any]:
    """For a function in the repository's own account, the Lambda service pulls the image under
    the repository policy; the function's execution role needs no ECR permission
    (https://repost.aws/knowledge-center/lambda-ecr-image). Without this statement Lambda adds one
    itself on the first create, outside Pulumi's state. It is limited to this stack's function by
    `aws:sourceArn`, the condition Lambda's own statement carries
    (https://docs.aws.amazon.com/lambda/latest/dg/images-create.html, cross-account permissions);
    the function's ARN may carry a version qualifier. Checked for a same-account pull (issue 24):
    AWS documents the condition for the cross-account case only, but its own same-account template
    carries it too and was verified deployed (aws/aws-parallelcluster-ui#373, infrastructure/
    parallelcluster-ui.yaml: `aws:SourceArn: arn:...:lambda:REGION:ACCOUNT:function:*`), so it is
    kept, scoped to this stack's function."""
    function_arn = account.arn("lambda", cfg.region, f"function:{cfg.function_name}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LambdaECRImageRetrievalPolicy",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Condition": {"StringLike": {"aws:sourceArn": [function_arn, f"{function_arn}:*"]}},
            }
        ],
    }


class ImageRegistry(pulumi.ComponentResource):
    def __init__(
        self, name: str, cfg: DeployConfig, account: Account, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bn-xtts-aws:infra:ImageRegistry", name, None, opts)
        self.repository = aws.ecr.Repository(
            name,
            name=cfg.repository_name,
            # A tag names one build forever: a rollback or an audit can trust it, and a re-push
            # under a deployed tag cannot change what the next cold start pulls.
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            force_delete=False,
            tags=cfg.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.deletion_protection),
        )
        self.lifecycle = aws.ecr.LifecyclePolicy(
            name,
            repository=self.repository.name,
            policy=json.dumps(lifecycle_policy()),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.pull_policy = aws.ecr.RepositoryPolicy(
            name,
            repository=self.repository.name,
            policy=json.dumps(lambda_pull_policy(cfg, account)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = self.repository.repository_url
        self.register_outputs({"url": self.url})
