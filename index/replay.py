"""Reading a live directory's log into a delta: the writer's start (and its swap after a
compaction), and `open_view`, a reader's consistent picture of a directory another process
may be writing (no lock; the log is append-only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from domain.errors import SnapshotError
from index.delta import Delta, DeltaView, apply_entry
from index.snapshot import Snapshot, open_snapshot
from index.store import Store

__all__ = ["open_view", "replay"]

Progress = Callable[[str], None]


def replay(snapshot: Snapshot, store: Store, progress: Progress | None = None,
            delta: Delta | None = None, after: int | None = None) -> Delta:
    """Apply every log entry after `after` (default: the snapshot's sequence) to `delta` (a
    new one over `snapshot` by default); a damaged or missing entry raises StoreCorrupt."""
    delta = delta or Delta(snapshot)
    start = snapshot.log_sequence if after is None else after
    for entries, entry in enumerate(store.entries(after=start), start=1):
        apply_entry(delta, entry)
        if progress and entries % 1000 == 0:
            progress(f"replayed {entries:,} log entries (sequence {entry.seq:,})")
    delta.set_store_rejects(store.reject_count())
    return delta


def open_view(data_dir: Path, *, verify: str = "size") -> DeltaView:
    """The newest snapshot plus every acknowledged entry after it, read-only (no lock: a
    writer may be running). Retries if a compaction swaps snapshots while this opens."""
    for attempt in range(3):
        try:
            snapshot = open_snapshot(data_dir, verify=verify)
            store = Store(data_dir, writable=False)
            try:
                return replay(snapshot, store).view()
            finally:
                store.close()
        except SnapshotError:
            if attempt == 2:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")
