"""`pulumi up` entry point (infra_aws/Pulumi.yaml: main is this directory)."""

import sys
from pathlib import Path

# Pulumi runs this file as a script with infra_aws/ on sys.path; the package imports need the root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra_aws import config, stack

for key, value in stack.build(config.from_pulumi(), config.api_keys_from_pulumi()).items():
    pulumi.export(key, value)
