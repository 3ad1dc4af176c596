"""A PATH of stub command-line tools (one bash script answering as each of them) and a state
folder they read and write: what the deploy scripts and the pipeline steps run against."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path


class StubTools:
    def __init__(self, root: Path, script: str, tools: Sequence[str], folders: Sequence[str] = ()) -> None:
        self.root = root
        self.fake = root / "fake"  # the stubs' state ($FAKE): calls.log and whatever they keep
        self.bin = root / "bin"
        self.fake.mkdir(parents=True)
        self.bin.mkdir()
        for folder in folders:
            (self.fake / folder).mkdir(parents=True)
        for tool in tools:
            (self.bin / tool).write_text(script)
            (self.bin / tool).chmod(0o755)

    def calls(self) -> list[str]:
        log = self.fake / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def bash(self, *args: str) -> subprocess.CompletedProcess[str]:
        """bash with these arguments, in `root`, finding the stubs (and only system tools) on PATH."""
        return subprocess.run(
            ["bash", *args],
            cwd=self.root,
            env={"PATH": f"{self.bin}:/usr/bin:/bin", "FAKE": str(self.fake)},
            capture_output=True,
            text=True,
            check=False,
        )
