"""Snapshot files over time: the compaction child that makes the next snapshot
(`CompactionRunner`), deleting a superseded snapshot once nothing reads it (`track`), and
clearing what a killed process left behind (`sweep`). The newest `KEEP_SNAPSHOTS` are kept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domain.errors import CompactionError
from domain.knobs import KEEP_SNAPSHOTS
from index.files import SNAPSHOTS, list_snapshots
from index.snapshot import Snapshot

__all__ = ["COMPACTION_DIR", "CompactionRunner", "sweep", "track"]

Progress = Callable[[str], None]
COMPACTION_DIR = "compaction"


class CompactionRunner:
    """Runs compaction in a child process at `nice` (or in this process: small stores and
    tests, no interpreter start-up); `kill` stops a running child (the store is closing)."""

    def __init__(self, data_dir: Path, *, in_process: bool, nice: int) -> None:
        self.data_dir = data_dir
        self.in_process = in_process
        self.nice = nice
        self._child: subprocess.Popen[str] | None = None

    def run(self, base: Path, work: Path, through: int, say: Progress) -> dict[str, Any]:
        """Compact snapshot `base` + the exported delta in `work` through log sequence
        `through`; returns the child's report (snapshot, folded_edges, seconds)."""
        if self.in_process:
            from index.compact import compact_snapshot  # noqa: PLC0415 - compaction only

            report = compact_snapshot(base, work, self.data_dir, through, progress=say)
            return {"snapshot": str(report.snapshot), "folded_edges": report.folded_edges,
                    "seconds": report.seconds}
        command = [sys.executable, "-m", "index.compact", "--data", str(self.data_dir),
                   "--base", str(base), "--work", str(work), "--through", str(through),
                   "--parent", str(os.getpid()), "--nice", str(self.nice)]
        env = {**os.environ, "POLARS_MAX_THREADS": "1"}
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
        self._child = child
        try:
            out, err = child.communicate()
        finally:
            self._child = None
        if child.returncode != 0:
            tail = "\n".join(err.strip().splitlines()[-5:])
            raise CompactionError(f"compaction through sequence {through} failed (exit "
                                  f"{child.returncode}): {tail}")
        for line in err.splitlines():
            say(line)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result

    def kill(self) -> None:
        child = self._child
        if child is not None:
            child.kill()


def track(data_dir: Path, snapshot: Snapshot) -> None:
    """Delete a superseded snapshot's files once nothing here reads it any more."""
    weakref.finalize(snapshot, _retire, data_dir, snapshot.path)

def sweep(data_dir: Path) -> None:
    """Remove what a killed process left behind: temporary snapshot directories, stale
    compaction work, and snapshots beyond the ones kept."""
    root = data_dir / SNAPSHOTS
    if root.is_dir():
        for temp in root.glob(".tmp-*"):
            shutil.rmtree(temp, ignore_errors=True)
    shutil.rmtree(data_dir / COMPACTION_DIR, ignore_errors=True)
    for old in list_snapshots(data_dir)[KEEP_SNAPSHOTS:]:
        shutil.rmtree(old, ignore_errors=True)


def _retire(data_dir: Path, path: Path) -> None:
    keep = list_snapshots(data_dir)[:KEEP_SNAPSHOTS]
    if path not in keep and path.exists():
        shutil.rmtree(path, ignore_errors=True)
