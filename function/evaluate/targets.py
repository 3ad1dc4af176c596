"""What is evaluated: each `--bundle` directory (one variant, or a parent of variants) becomes one
target per variant, labelled `<bundle name>/<variant>`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from function.bundle_format import MANIFEST, VARIANTS


class TargetError(ValueError):
    """A bundle or variant asked for is not there; the message names it."""


@dataclass(frozen=True)
class Target:
    bundle: str  # the bundle directory's name (a variant directory: its parent's)
    variant: str
    path: Path  # the variant directory

    @property
    def label(self) -> str:
        return f"{self.bundle}/{self.variant}"


def parse_variants(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    names = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in names if v not in VARIANTS]
    if not names or bad:
        raise TargetError(
            f"--variants {raw!r}: name variants among {', '.join(VARIANTS)}, separated by commas"
        )
    return names


def find_targets(bundles: Sequence[Path], variants: Sequence[str] | None) -> list[Target]:
    """A variant directory is taken as it is; `variants` picks among a parent's (default: every one
    it holds, in VARIANTS order)."""
    targets: list[Target] = []
    for root in bundles:
        if (root / MANIFEST).is_file():
            targets.append(Target(root.resolve().parent.name, _variant(root), root))
            continue
        if not root.is_dir():
            raise TargetError(f"--bundle {root}: no such directory")
        present = [v for v in VARIANTS if (root / v / MANIFEST).is_file()]
        if not present:
            raise TargetError(
                f"--bundle {root}: neither a variant directory ({MANIFEST}) nor a bundle holding "
                f"{'/, '.join(VARIANTS)}/ (build one with `python -m export build`)"
            )
        missing = [v for v in variants or () if v not in present]
        if missing:
            raise TargetError(
                f"--bundle {root} has no {', '.join(missing)} variant (it holds {', '.join(present)})"
            )
        targets += [Target(root.resolve().name, v, root / v) for v in (variants or present)]
    labels = [t.label for t in targets]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise TargetError(
            f"{', '.join(twice)} named more than once: bundles are told apart by their directory "
            "names, so give them different ones"
        )
    return targets


def _variant(path: Path) -> str:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TargetError(f"--bundle {path}: {MANIFEST} cannot be read ({exc})") from None
    variant = manifest.get("variant") if isinstance(manifest, dict) else None
    return variant if isinstance(variant, str) and variant else path.resolve().name
