"""Policy pack entry point: `pulumi preview --policy-pack policy` from infra_aws/ (or `pulumi up ...`)."""

import sys
from pathlib import Path

# Pulumi runs this file as a script; the package import needs the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import PolicyPack

from infra_aws.policy.pack import policies

PolicyPack(name="bn-xtts-aws-guardrails", policies=policies())
