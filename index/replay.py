"""Reading a live directory's log into a delta: the writer's start (and its swap after a
compaction), and `open_view`, a reader's consistent picture of a directory another process
may be writing (no lock; the log is append-only)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from domain.errors import SnapshotError
from index.delta import Delta, DeltaView
from index.log import LogEntry
from index.snapshot import Snapshot, open_snapshot
from index.store import Store

__all__ = ["apply_entry", "open_view", "replay"]

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


def apply_entry(delta: Delta, entry: LogEntry) -> int:
    """Apply one log entry (acknowledged or replayed) to the delta; returns edges retracted."""
    if entry.nodes.num_rows:
        delta.add_nodes(entry.nodes)
    edges = entry.edges
    if edges.num_rows:
        delta.add_edges(
            delta.local_of_sid(edges.column("src").to_numpy()),
            delta.local_of_sid(edges.column("dst").to_numpy()),
            edges.column("kind").combine_chunks(),
            edges.column("event_time").to_numpy(),
            edges.column("recorded_at").to_numpy(),
            edges.column("quantity").to_numpy(zero_copy_only=False),
            edges.column("event_id").combine_chunks(),
            entry.batch,
        )
    retracted = 0
    for r in entry.retractions:
        src, dst = delta.local_of_sid(np.array([r.src, r.dst]))
        match = delta.match_retraction(int(src), int(dst), r.kind, r.event_time,
                                       event_id=r.event_id)
        retracted += delta.retract(match, entry.recorded_at)
    for e in entry.ends:
        dst = int(delta.local_of_sid(np.array([e.dst]))[0])
        src = -1 if e.src < 0 else int(delta.local_of_sid(np.array([e.src]))[0])
        delta.end(delta.match_end(src, dst, e.kind, e.event_time), e.at)
    for change in entry.extra.get("attributes", ()):
        delta.attributes.set(int(change["sid"]), change["field"], change["value"])
    delta.set_seq(entry.seq)
    return retracted
