"""Read and verify a model bundle directory (manifest.json + the files it lists)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from function.bundle_format import (
    FORMAT_VERSION,
    GRAPHS,
    MANIFEST,
    U8U8_WITHOUT_VNNI,
    RuntimeSpec,
    RuntimeSpecError,
    sha256_file,
)
from function.engine.errors import BundleError


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: dict[str, Any]
    runtime: RuntimeSpec

    @property
    def variant(self) -> str:
        return str(self.manifest["variant"])

    def path(self, name: str) -> Path:
        return self.root / name

    def graph(self, role: str) -> Path:
        return self.root / str(self.manifest["graphs"][role])


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(
            f"{path} not found: point the engine at a bundle directory written by `python -m export`"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}): rebuild or re-download the bundle") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{path} must hold a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{path} has format_version {version!r}, this engine reads {FORMAT_VERSION}: "
            "re-export the bundle with the exporter of this release"
        )
    for key in ("files", "graphs", "runtime", "variant"):
        if key not in manifest:
            raise BundleError(f"{path} lacks the {key!r} section: re-export the bundle")
    missing_graphs = [g for g in GRAPHS if g not in manifest["graphs"]]
    if missing_graphs:
        raise BundleError(f"{path} names no graph for {missing_graphs}: re-export the bundle")
    exact = manifest.get(U8U8_WITHOUT_VNNI, [])
    if not isinstance(exact, list) or not set(exact) <= set(GRAPHS):
        raise BundleError(
            f"{path}: {U8U8_WITHOUT_VNNI} must list graph roles of {list(GRAPHS)}, not {exact!r}"
        )
    return manifest


def load_bundle(root: Path, *, verify: bool = True) -> Bundle:
    """Read the manifest and check every listed file's size and sha256 (BundleError names the bad file).

    `verify=False` skips the sha256s (not the presence checks): for a bundle the storage layer has
    just verified on download, hashing 1-2 GB again would only slow the cold start.
    """
    root = Path(root)
    manifest = read_manifest(root)
    for name, meta in manifest["files"].items():
        path = root / name
        if not path.is_file():
            raise BundleError(
                f"bundle file {name} is missing from {root}: re-download or re-export the bundle"
            )
        if verify:
            size = path.stat().st_size
            if size != meta["size"]:
                raise BundleError(
                    f"bundle file {name} has {size} bytes, the manifest says {meta['size']}: corrupted"
                )
            if sha256_file(path) != meta["sha256"]:
                raise BundleError(f"bundle file {name} fails its sha256 check: corrupted, re-download it")
    for role, name in manifest["graphs"].items():
        if name not in manifest["files"]:
            raise BundleError(f"graph {role} ({name}) is not listed in the manifest's files")
    try:
        runtime = RuntimeSpec.from_dict(manifest["runtime"])
    except RuntimeSpecError as exc:
        raise BundleError(f"{root / MANIFEST}: {exc}") from None
    return Bundle(root=root, manifest=manifest, runtime=runtime)
