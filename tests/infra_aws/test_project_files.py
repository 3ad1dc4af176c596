"""The AWS program's Pulumi project files agree with the code: the project name is the config
namespace, the virtualenv is the repository's, and the example stack documents every key with
values the program accepts."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from infra_aws import config

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "infra_aws"
_COMMENTED_KEY = re.compile(r"^\s*#\s*(bn-xtts-aws:[A-Za-z]+):\s*(\S.*?)\s*(#.*)?$")


def _example() -> tuple[dict[str, str], dict[str, str]]:
    """(active settings, commented-out ones) of Pulumi.example.yaml."""
    text = (PROGRAM / "Pulumi.example.yaml").read_text()
    active = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in yaml.safe_load(text)["config"].items()
    }
    commented = {m.group(1): m.group(2) for line in text.splitlines() if (m := _COMMENTED_KEY.match(line))}
    return active, commented


def test_project_name_is_the_config_namespace_and_the_venv_is_the_repositorys() -> None:
    project = yaml.safe_load((PROGRAM / "Pulumi.yaml").read_text())
    assert project["name"] == config.NAMESPACE
    assert project["runtime"]["name"] == "python"
    assert (PROGRAM / project["runtime"]["options"]["virtualenv"]).resolve() == ROOT / ".venv"
    assert "main" not in project  # __main__.py beside Pulumi.yaml
    pack = yaml.safe_load((PROGRAM / "policy" / "PulumiPolicy.yaml").read_text())
    assert (PROGRAM / "policy" / pack["runtime"]["options"]["virtualenv"]).resolve() == ROOT / ".venv"


def test_the_example_documents_every_key_and_nothing_else() -> None:
    active, commented = _example()
    documented = {k.split(":", 1)[1] for k in (*active, *commented) if k.startswith(f"{config.NAMESPACE}:")}
    assert documented == set(config.KNOWN_KEYS)
    assert "aws:region" in active


def test_the_example_parses_and_its_values_are_the_defaults() -> None:
    active, commented = _example()
    ours = {k.split(":", 1)[1]: v for k, v in active.items() if k.startswith(f"{config.NAMESPACE}:")}
    example = config.parse_config(
        ours.get, {"region": active["aws:region"]}.get, stack="prod", provided=active.keys()
    )
    defaults = config.parse_config(
        {"alertEmail": ours["alertEmail"]}.get, {"region": active["aws:region"]}.get, stack="prod"
    )
    assert example == defaults
    # The commented-out examples are valid too (with the keys a public URL needs).
    extra = {k.split(":", 1)[1]: v for k, v in commented.items()}
    with_all = config.parse_config(
        {**ours, **extra, "authType": "NONE"}.get,
        {"region": active["aws:region"]}.get,
        stack="prod",
        has_api_keys=True,
    )
    assert with_all.batch_schedule == "cron(0 3 * * ? *)" and with_all.reserved_concurrency == 5
    assert with_all.image is not None and with_all.image.tag == "0123abc"
