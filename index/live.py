"""A live data directory: the durable store, the current snapshot + delta, one writer thread,
and compaction. `LiveStore` is the writer (ingest, retract, compact, views for queries); what
a group of batches becomes is planned by `index.group.plan_group` (each batch by `index.plan`),
snapshot files come and go through `index.retention`, and the log is read back by
`index.replay` (whose `open_view` is a reader's consistent picture of a directory another
process may be writing).

Write path (one thread owns it): batches queue up; the writer takes every batch waiting (group
commit), checks them together, writes every applied batch's log entry, batch id, new ids and
rejects in ONE WriteBatch with sync=True, then applies the entries to the delta, and only then
acknowledges. So an acknowledged batch is durable and already visible to queries.

Open: the newest loadable snapshot (a torn or corrupt one is skipped for the one before), then
the log after that snapshot's sequence number is replayed into the delta. A data directory built
by `tracegraph build` (snapshot, no store) is adopted: its nodes keep their ids, new nodes are
numbered after them.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.errors import (
    AuditUnverifiable,
    CompactionError,
    Conflict,
    Unavailable,
    WriteFailed,
)
from domain.knobs import GROUP_RECORDS
from index.build import BuildReport, EdgeArrays, assemble_snapshot
from index.delta import DeltaView
from index.faults import hit
from index.files import list_snapshots
from index.group import keep_rejects, plan_group
from index.ingest import (
    Ack,
    IngestBatch,
    RecordError,
)
from index.key_table import KeyTable
from index.quality_records import QualityRecords
from index.replay import apply_entry, open_view, replay
from index.retention import COMPACTION_DIR, CompactionRunner, sweep, track
from index.snapshot import Snapshot, open_snapshot
from index.store import Store
from trust.audit import AuditEvent, EncodedEvent
from trust.verify import tail_problem

__all__ = ["CompactionError", "LiveStore", "open_view"]

log = logging.getLogger(__name__)
Array = npt.NDArray[Any]
Progress = Callable[[str], None]


@dataclass
class _Pending:
    batch: IngestBatch
    future: Future[Ack] = field(default_factory=Future)


@dataclass
class _Barrier:
    """Resolved once every batch queued before it is committed (LiveStore.barrier)."""

    future: Future[None] = field(default_factory=Future)


_STOP = object()


def _empty_snapshot(data_dir: Path) -> Path:
    """Publish snapshot v1 with no nodes: a new store's starting point."""
    empty_i32 = np.zeros(0, dtype=np.int32)
    empty_i64 = np.zeros(0, dtype=np.int64)
    edges = EdgeArrays(src=empty_i32, dst=empty_i32, kind=np.zeros(0, dtype=np.uint8),
                       kind_names=[], event_time=empty_i64, recorded_at=empty_i64, quantity=[],
                       event_id=[], source=np.zeros(0, dtype=np.uint16), source_names=[],
                       source_row=empty_i64)
    nodes = pa.table({"key": pa.array([], pa.large_string()), "kind": pa.array([], pa.string()),
                      "product": pa.array([], pa.string()), "quantity": pa.array([], pa.float64()),
                      "uom": pa.array([], pa.string()),
                      "created_at": pa.array([], pa.timestamp("us", tz="UTC"))})
    return assemble_snapshot(nodes, edges, KeyTable(nodes.column("key").combine_chunks()),
                             data_dir).snapshot


class LiveStore:
    """The writer of a data directory. Thread-safe: any thread may ingest, query or compact."""

    def __init__(self, data_dir: Path, *, progress: Progress | None = None,
                 compact_edges: int = 0, compact_nice: int = 10,
                 compact_in_process: bool = False, audit_recovery: str | None = None) -> None:
        """`compact_edges` > 0 compacts in the background once the delta holds that many edges.
        Compaction runs in a child process at `compact_nice`; `compact_in_process` runs it in
        this process instead (small stores and tests: no interpreter start-up).

        The audit trail's tail is checked first (trust.verify.tail_problem): a store whose trail
        is missing or broken does not open (AuditUnverifiable) unless `audit_recovery` gives
        the reason to open it anyway, which is itself the next audit record."""
        self.data_dir = data_dir
        adopting = bool(list_snapshots(data_dir)) and not (data_dir / "store" / "CURRENT").exists()
        self.store = Store(data_dir, writable=True)
        if adopting and progress is not None:
            # Say it once, loudly: from here on `build` refuses this directory.
            progress(f"{data_dir} was made by `tracegraph build`: it now also holds a live store "
                     "(its snapshot is the base, its node ids are kept). Add data with "
                     "`tracegraph ingest` / `import` or the Ingest RPC; `build` into this "
                     "directory is refused from now on")
        self._runner = CompactionRunner(data_dir, in_process=compact_in_process,
                                        nice=compact_nice)
        try:
            sweep(data_dir)
            if not list_snapshots(data_dir):
                _empty_snapshot(data_dir)
            # The writer checks every file's SHA-256 (a restart is rare, and a snapshot corrupt
            # at the same size would otherwise be served): a bad one falls back to the previous.
            snapshot = open_snapshot(data_dir, verify="full")
            track(data_dir, snapshot)
            self._delta = replay(snapshot, self.store, progress)
            # A directory built by `tracegraph build` is adopted: its ids are taken.
            self._next_sid = max(self.store.next_sid, self._delta.n_nodes)
            self._last_seq = max(self.store.last_seq, self._delta.seq)
            self._check_audit(audit_recovery)
            if QualityRecords(self.store).make_whole() and progress is not None:
                progress("quality records: their columns (quality_columns) are built")
        except BaseException:
            self.store.close()
            raise
        self._queue: queue.Queue[Any] = queue.Queue()
        self._write_lock = threading.Lock()
        self._compact_lock = threading.Lock()
        self._failed: BaseException | None = None
        self._writing = False
        self._closing = threading.Event()
        self._writer = threading.Thread(target=self._run, name="tracegraph-writer", daemon=True)
        self._writer.start()
        self._compactor: threading.Thread | None = None
        if compact_edges > 0:
            self._compactor = threading.Thread(target=self._auto_compact, args=(compact_edges,),
                                               name="tracegraph-compactor", daemon=True)
            self._compactor.start()

    def _check_audit(self, recovery: str | None) -> None:
        problem = tail_problem(self.store)
        if problem is None:
            return
        if recovery is None or not recovery.strip():
            raise AuditUnverifiable(
                f"{self.data_dir}: {problem}. Nothing was changed. Run `tracegraph audit verify "
                f"--data {self.data_dir}` to see the damage; to open the store anyway, start "
                "`tracegraph serve --audit-recovery 'REASON'` once (the recovery is the next "
                "audit record)")
        log.warning("opening %s despite its audit trail (%s): %s", self.data_dir, problem,
                    recovery)
        self.store.write([], [AuditEvent(
            "audit.recovery", 0, "os", reason=recovery.strip(),
            details={"problem": problem, "from": 1, "through": self.store.last_seq})])

    # -- reading ------------------------------------------------------------------------------

    def view(self) -> DeltaView:
        """The current consistent view (snapshot + delta at the last acknowledged sequence)."""
        return self._delta.view()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    # -- ingest -------------------------------------------------------------------------------

    def submit(self, batch: IngestBatch) -> Future[Ack]:
        """Queue a batch; the future resolves once it is durable and visible (or rejected)."""
        if self._failed is not None:
            raise WriteFailed(f"the store stopped accepting writes after an error: "
                                f"{self._failed}")
        if self._closing.is_set():
            raise Unavailable("the store is closing")
        pending = _Pending(batch)
        self._queue.put(pending)
        return pending.future

    def barrier(self) -> Future[None]:
        """A future resolved once every batch submitted before this call is committed (or
        rejected): what a check of the applied data must wait for in a stream of batches."""
        if self._failed is not None:
            raise WriteFailed(f"the store stopped accepting writes after an error: "
                              f"{self._failed}")
        if self._closing.is_set():
            raise Unavailable("the store is closing")
        marker = _Barrier()
        self._queue.put(marker)
        return marker.future

    def ingest(self, batch: IngestBatch, timeout: float | None = 60) -> Ack:
        return self.submit(batch).result(timeout)

    def _run(self) -> None:
        carry: Any = None  # a batch that starts the next group
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is _STOP:
                return
            if isinstance(first, _Barrier):  # everything before it is committed
                first.future.set_result(None)
                continue
            group = [first]
            records = first.batch.records
            stop = False
            while records < GROUP_RECORDS:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                if isinstance(item, _Barrier) or item.batch.retractions or item.batch.ends:
                    # Retractions and ends are matched against what is applied: the batches
                    # before one are committed first, so a stream that adds an edge and then
                    # retracts it means what it says, however the batches group.
                    carry = item
                    break
                group.append(item)
                records += item.batch.records
            for pending, ack in self._settle(group):
                if isinstance(ack, BaseException):
                    pending.future.set_exception(ack)
                else:
                    pending.future.set_result(ack)
            if stop:
                return

    def _settle(self, group: list[_Pending]) -> list[tuple[_Pending, Ack | BaseException]]:
        """Commit a group. Input the checks did not foresee (an error before the write) must
        not stop the store: the group is retried batch by batch and the batch that fails is
        rejected with the error. A failure in or after the write leaves the store in an
        unknown state, so writing stops (restart to recover from the log)."""
        self._writing = False
        try:
            with self._write_lock:
                acks = self._commit_group([p.batch for p in group])
            return list(zip(group, acks, strict=True))
        except Exception as e:
            if self._writing:
                log.exception("ingest write failed; the store stops accepting writes")
                self._failed = e
                return [(p, WriteFailed(f"write failed: {e}")) for p in group]
            if len(group) > 1:
                return [pair for p in group for pair in self._settle([p])]
            batch = group[0].batch
            why = (str(e).strip().splitlines() or [type(e).__name__])[0]
            log.warning("batch %s rejected: %s", batch.batch_id, why)
            error = RecordError("batch", 0, "records", f"cannot be read: {why}")
            rejects: list[dict[str, Any]] = []
            keep_rejects(batch, [error], rejects, datetime.now(UTC))
            with self._write_lock:  # kept like every other reject
                self.store.commit([], [], [], rejects, self._next_sid, [AuditEvent(
                    "ingest.rejected", batch.user_id, batch.writer, keys=[batch.batch_id],
                    details={"source": batch.source, "errors": 1, "first": error.reason})])
                self._delta.set_store_rejects(self.store.reject_count())
            return [(group[0], Ack(batch.batch_id, "rejected", 0, errors=(error,),
                                   message=f"batch rejected, nothing applied: {why}"))]

    def _commit_group(self, batches: Sequence[IngestBatch]) -> list[Ack]:
        """Plan the group (index.group), write it as one synced write, apply it to the
        delta: only then are its batches acknowledged."""
        delta = self._delta
        now = self.store.clock.now()
        planned = plan_group(batches, delta, self.store.batch, self._next_sid, self._last_seq,
                             now, self.store.read)
        if planned.entries or planned.rejects or planned.audit:
            self._writing = True  # from here on a failure is the store's, not the input's
            self.store.commit(planned.entries, planned.batch_rows, planned.new_keys,
                              planned.rejects, planned.next_sid, planned.audit, now,
                              planned.side_puts)
            hit("after-commit")
            if planned.rejects:
                delta.set_store_rejects(self.store.reject_count())
        for entry in planned.entries:
            apply_entry(delta, entry)
        self._next_sid, self._last_seq = planned.next_sid, planned.seq
        return planned.acks

    def keep_rejects(self, rejects: Sequence[dict[str, Any]], source: str) -> None:
        """Durably record records a loader could not turn into nodes or edges (each with file,
        row, field, reason and the record), next to the ingest rejects."""
        if not rejects:
            return
        now = datetime.now(UTC).isoformat()
        rows = [{"batch": source, "writer": "loader", "at": now, **r} for r in rejects]
        with self._write_lock:
            self.store.commit([], [], [], rows, self._next_sid, [AuditEvent(
                "rejects.kept", 0, "loader", keys=[source], details={"records": len(rows)})])
            self._delta.set_store_rejects(self.store.reject_count())

    # -- trust records (users, tokens, audit), written like ingest: one writer --------------

    def read(self, family: str, key: bytes) -> bytes | None:
        return self.store.read(family, key)

    def read_many(self, family: str, keys: Sequence[bytes]) -> list[bytes | None]:
        return self.store.read_many(family, keys)

    def scan(self, family: str, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        return self.store.scan(family, start)

    def write(self, puts: list[tuple[str, bytes, bytes]],
              audit: Sequence[AuditEvent | EncodedEvent],
              expect: Sequence[tuple[str, bytes, bytes | None]] = ()) -> None:
        """Write identity records and audit records (trust.identity) as one synced write,
        serialized with ingest so the audit trail stays one chain. `expect`: (family, key,
        value) that must hold first (None: absent), else Conflict and nothing is written."""
        if self._failed is not None:
            raise WriteFailed(f"the store stopped accepting writes after an error: "
                              f"{self._failed}")
        with self._write_lock:
            for family, key, value in expect:
                if self.store.read(family, key) != value:
                    raise Conflict(f"{family} record {key!r} changed meanwhile (someone else "
                                   "acted on it first); read it again")
            self.store.write(puts, audit)

    def assertions(self, src: str, dst: str, kind: str, event_time: int | None = None,
                   event_id: str | None = None) -> list[tuple[int | None, str | None,
                                                           float | None]]:
        """The live assertions (event_time µs, event_id, quantity) of src -> dst of `kind`
        that a retraction with these fields would name; empty when it names none."""
        with self._write_lock:  # the writer does not change the delta meanwhile
            local = self._delta.lookup([src, dst])
            if local[0] < 0 or local[1] < 0:
                return []
            match = self._delta.match_retraction(int(local[0]), int(local[1]), kind,
                                                 event_time, event_id=event_id)
            return self._delta.assertions(match)

    def node(self, key: str) -> dict[str, Any]:
        """Node `key`'s attributes now (engine.graph.Graph.node; UnknownNode if none)."""
        from engine.graph import Graph  # noqa: PLC0415 - the engine reads what this writes

        return Graph(self.view().snapshot, self.view).node(key)

    # -- compaction ---------------------------------------------------------------------------

    def compact(self, progress: Progress | None = None) -> BuildReport | None:
        """Fold the delta into a new snapshot (in a child process), then swap it in. Queries
        and ingest continue meanwhile. Returns None when there is nothing to fold."""
        say = progress or (lambda _m: None)
        with self._compact_lock:
            with self._write_lock:
                delta = self._delta
                if delta.seq == delta.snapshot.log_sequence:
                    return None
                through = delta.seq
                work = self.data_dir / COMPACTION_DIR / f"through-{through}"
                shutil.rmtree(work, ignore_errors=True)
                from index.compact import export_delta  # noqa: PLC0415 - compaction only
                export_delta(delta, work)
                base = delta.snapshot.path
            hit("compact-start")
            say(f"compacting snapshot v{delta.snapshot.version} + {delta.n_edges:,} delta "
                f"edges through log sequence {through:,}")
            report = self._runner.run(base, work, through, say)
            snapshot = Snapshot(Path(report["snapshot"]))
            track(self.data_dir, snapshot)
            fresh = replay(snapshot, self.store)  # most of what arrived meanwhile ...
            with self._write_lock:  # ... and the rest, with the writer paused
                fresh = replay(snapshot, self.store, delta=fresh, after=fresh.seq)
                self._delta = fresh
            shutil.rmtree(work, ignore_errors=True)
            say(f"compacted into {snapshot.path} ({snapshot.node_count:,} nodes, "
                f"{snapshot.edge_count:,} edges) in {report['seconds']:.1f} s")
            return BuildReport(snapshot=snapshot.path, nodes=snapshot.node_count,
                               edges=snapshot.edge_count, rejected=0, folded_nodes=0,
                               folded_edges=report["folded_edges"], seconds=report["seconds"])

    def _auto_compact(self, threshold: int) -> None:
        while not self._closing.wait(1.0):
            if self._delta.n_edges >= threshold:
                try:
                    self.compact(progress=log.info)
                except Exception:
                    log.exception("background compaction failed; will retry")
                    self._closing.wait(30)

    def close(self) -> None:
        """Finish queued batches, stop compaction, release the store and its lock."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._queue.put(_STOP)
        self._writer.join()
        self._runner.kill()
        if self._compactor is not None:
            self._compactor.join()
        with self._compact_lock:
            self.store.close()

    def __enter__(self) -> LiveStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
