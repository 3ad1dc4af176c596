"""Cloud Build's substitutions against the stack they deploy, before anything is built or pushed.

`_REGION`, `_REPOSITORY` and `_BUCKET` name where the image is pushed and the bundle read; the stack
(`Pulumi.<stack>.yaml`, committed for the trigger) names where the service runs. A trigger created
with the defaults for a stack outside us-central1, or with another `bn-xtts:name`, pushed to a
registry that does not exist (issue 24). Usage (cloudbuild.yaml, step `stack-check`):

    python deploy/check_substitutions.py STACK PROJECT_ID REGION REPOSITORY BUCKET
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

DEFAULT_NAME = "bn-tts"  # infra/config.py's bn-xtts:name default


def mismatches(stack_file: Path, project: str, region: str, repository: str, bucket: str) -> list[str]:
    config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    name = str(config.get("bn-xtts:name", DEFAULT_NAME))
    want = {
        "_REGION": str(config.get("gcp:region", "")),
        "_REPOSITORY": name,
        "_BUCKET": f"{project}-{name}-models",  # infra/config.py DeployConfig.bucket_name
    }
    given = {"_REGION": region, "_REPOSITORY": repository, "_BUCKET": bucket}
    return [f"{k}={given[k]} but the stack wants {k}={v}" for k, v in want.items() if v and given[k] != v]


def main(argv: list[str]) -> int:
    stack, project, region, repository, bucket = argv
    stack_file = Path(f"Pulumi.{stack}.yaml")
    if not stack_file.is_file():
        print(
            f"{stack_file} is not in the source: commit it for the trigger (docs/deploy-gcp.md)",
            file=sys.stderr,
        )
        return 1
    wrong = mismatches(stack_file, project, region, repository, bucket)
    for line in wrong:
        print(f"substitution mismatch: {line}", file=sys.stderr)
    if wrong:
        print(
            "set the trigger's substitutions to the stack's values (gcloud builds triggers update ... "
            "--update-substitutions=_REGION=...,_REPOSITORY=...,_BUCKET=...)",
            file=sys.stderr,
        )
        return 1
    print(f"substitutions match {stack_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
