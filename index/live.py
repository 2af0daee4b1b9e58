"""A live data directory: the durable store, the current snapshot + delta, one writer thread,
and compaction. `LiveStore` is the writer (ingest, retract, compact, views for queries);
`open_view` is a reader's consistent picture of a directory another process may be writing.

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

import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from domain.errors import CompactionError, SnapshotError, Unavailable, WriteFailed
from index.build import BuildReport, EdgeArrays, assemble_snapshot
from index.delta import Delta, DeltaView, apply_entry
from index.faults import hit
from index.files import SNAPSHOTS, list_snapshots
from index.ingest import (
    Ack,
    IngestBatch,
    RecordError,
    batch_digest,
    check_batch_id,
    epoch_micros,
    to_micros,
    validate_group,
)
from index.key_table import KeyTable, fill_misses
from index.log import EDGE_LOG_SCHEMA, NODE_LOG_SCHEMA, End, LogEntry, Retraction
from index.snapshot import Snapshot, open_snapshot
from index.store import Store
from loaders.schema import EDGE_KINDS, NODE_KINDS

__all__ = ["CompactionError", "LiveStore", "open_view"]

log = logging.getLogger(__name__)
Array = npt.NDArray[Any]
Progress = Callable[[str], None]
GROUP_RECORDS = 200_000  # most records one group commit takes
KEEP_SNAPSHOTS = 2  # the newest and one fallback; older ones go once no reader holds them
COMPACTION_DIR = "compaction"


@dataclass
class _Pending:
    batch: IngestBatch
    future: Future[Ack] = field(default_factory=Future)


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


def _replay(snapshot: Snapshot, store: Store, progress: Progress | None = None,
            delta: Delta | None = None, after: int | None = None) -> Delta:
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
                return _replay(snapshot, store).view()
            finally:
                store.close()
        except SnapshotError:
            if attempt == 2:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


class LiveStore:
    """The writer of a data directory. Thread-safe: any thread may ingest, query or compact."""

    def __init__(self, data_dir: Path, *, progress: Progress | None = None,
                 compact_edges: int = 0, compact_nice: int = 10,
                 compact_in_process: bool = False) -> None:
        """`compact_edges` > 0 compacts in the background once the delta holds that many edges.
        Compaction runs in a child process at `compact_nice`; `compact_in_process` runs it in
        this process instead (small stores and tests: no interpreter start-up)."""
        self.data_dir = data_dir
        adopting = bool(list_snapshots(data_dir)) and not (data_dir / "store" / "CURRENT").exists()
        self.store = Store(data_dir, writable=True)
        if adopting and progress is not None:
            # Say it once, loudly: from here on `build` refuses this directory.
            progress(f"{data_dir} was made by `tracegraph build`: it now also holds a live store "
                     "(its snapshot is the base, its node ids are kept). Add data with "
                     "`tracegraph ingest` / `import` or the Ingest RPC; `build` into this "
                     "directory is refused from now on")
        self._compact_nice = compact_nice
        self._compact_in_process = compact_in_process
        try:
            self._sweep()
            if not list_snapshots(data_dir):
                _empty_snapshot(data_dir)
            # The writer checks every file's SHA-256 (a restart is rare, and a snapshot corrupt
            # at the same size would otherwise be served): a bad one falls back to the previous.
            snapshot = open_snapshot(data_dir, verify="full")
            self._track(snapshot)
            self._delta = _replay(snapshot, self.store, progress)
            # A directory built by `tracegraph build` is adopted: its ids are taken.
            self._next_sid = max(self.store.next_sid, self._delta.n_nodes)
            self._last_seq = max(self.store.last_seq, self._delta.seq)
        except BaseException:
            self.store.close()
            raise
        self._queue: queue.Queue[Any] = queue.Queue()
        self._write_lock = threading.Lock()
        self._compact_lock = threading.Lock()
        self._failed: BaseException | None = None
        self._writing = False
        self._closing = threading.Event()
        self._child: subprocess.Popen[str] | None = None
        self._writer = threading.Thread(target=self._run, name="tracegraph-writer", daemon=True)
        self._writer.start()
        self._compactor: threading.Thread | None = None
        if compact_edges > 0:
            self._compactor = threading.Thread(target=self._auto_compact, args=(compact_edges,),
                                               name="tracegraph-compactor", daemon=True)
            self._compactor.start()

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

    def ingest(self, batch: IngestBatch, timeout: float | None = 60) -> Ack:
        return self.submit(batch).result(timeout)

    def _run(self) -> None:
        carry: Any = None  # a batch that starts the next group
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is _STOP:
                return
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
                if item.batch.retractions or item.batch.ends:
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
            self._keep_rejects(batch, [error], rejects, datetime.now(UTC))
            with self._write_lock:  # kept like every other reject
                self.store.commit([], [], [], rejects, self._next_sid)
                self._delta.set_store_rejects(self.store.reject_count())
            return [(group[0], Ack(batch.batch_id, "rejected", 0, errors=(error,),
                                   message=f"batch rejected, nothing applied: {why}"))]

    def _commit_group(self, batches: Sequence[IngestBatch]) -> list[Ack]:
        now = datetime.now(UTC)
        now_us = to_micros(now)
        assert now_us is not None
        delta = self._delta
        acks: list[Ack | None] = [None] * len(batches)
        digests: dict[int, str] = {}
        first_copy: dict[str, int] = {}  # batch id -> index of its first copy in this group
        repeats: list[int] = []  # later copies: answered once the first copy is decided
        rejects: list[dict[str, Any]] = []
        live: list[int] = []
        for i, batch in enumerate(batches):
            problem = check_batch_id(batch) or _shape_problem(batch)
            if problem is not None:
                acks[i] = self._rejected(batch, [problem], rejects, now)
                continue
            digest = digests[i] = batch_digest(batch)
            if batch.batch_id in first_copy:
                repeats.append(i)
                continue
            record = self.store.batch(batch.batch_id)
            if record is not None:
                acks[i] = self._duplicate(batch, (record.seq, record.digest), digest, rejects,
                                          now)
                continue
            first_copy[batch.batch_id] = i
            live.append(i)
        checked = validate_group([batches[i] for i in live], now) if live else []
        known_nodes = set(NODE_KINDS) | set(delta.node_kinds)
        known_edges = set(EDGE_KINDS) | set(delta.edge_kinds)
        group_new: list[_NewNodes] = []
        next_sid, seq = self._next_sid, self._last_seq
        entries: list[LogEntry] = []
        batch_rows: list[tuple[str, int, str]] = []
        new_keys: list[tuple[list[str], list[int]]] = []
        for i, check in zip(live, checked, strict=True):
            batch = batches[i]
            errors = check.errors
            plan = _Plan(delta, group_new, next_sid, known_nodes, known_edges)
            nodes = plan.nodes(check.nodes, errors)
            edges = plan.edges(check.edges, errors, now_us)
            retractions, retracted = plan.retractions(batch, errors)
            ends = plan.ends(batch, errors)
            applied_any = nodes.num_rows + edges.num_rows + len(retractions) + len(ends) > 0
            if errors and (batch.policy == "all" or not applied_any):
                acks[i] = self._rejected(batch, errors, rejects, now)
                continue
            seq += 1
            next_sid = plan.next_sid
            if plan.new is not None:
                group_new.append(plan.new)
            entries.append(LogEntry(seq=seq, batch=batch.batch_id, writer=batch.writer,
                                    recorded_at=now_us, nodes=nodes, edges=edges,
                                    retractions=tuple(retractions), digest=digests[i],
                                    ends=tuple(ends)))
            batch_rows.append((batch.batch_id, seq, digests[i]))
            if nodes.num_rows:
                new_keys.append((nodes.column("key").to_pylist(),
                                 nodes.column("sid").to_pylist()))
            self._keep_rejects(batch, errors, rejects, now)
            acks[i] = Ack(batch.batch_id, "applied", seq, nodes.num_rows, edges.num_rows,
                          retracted, tuple(errors),
                          f"applied at log sequence {seq}" + (
                              f"; {len(errors)} record(s) rejected" if errors else ""))
        for i in repeats:  # a batch sent twice in one group: the second copy follows the first
            batch, first = batches[i], acks[first_copy[batches[i].batch_id]]
            assert first is not None
            if first.outcome == "applied":
                acks[i] = self._duplicate(batch, (first.seq, digests[first_copy[batch.batch_id]]),
                                          digests[i], rejects, now)
            else:
                acks[i] = self._rejected(batch, list(first.errors), rejects, now)
        if entries or rejects:
            self._writing = True  # from here on a failure is the store's, not the input's
            self.store.commit(entries, batch_rows, new_keys, rejects, next_sid)
            hit("after-commit")
            if rejects:
                delta.set_store_rejects(self.store.reject_count())
        for entry in entries:
            apply_entry(delta, entry)
        self._next_sid, self._last_seq = next_sid, seq
        return [a for a in acks if a is not None]

    def _keep_rejects(self, batch: IngestBatch, errors: Sequence[RecordError],
                      rejects: list[dict[str, Any]], now: datetime) -> None:
        for error in errors:
            rejects.append({"batch": batch.batch_id, "writer": batch.writer,
                            "at": now.isoformat(), "table": error.table, "row": error.row,
                            "field": error.field, "reason": error.reason,
                            "record": _record(batch, error)})

    def _rejected(self, batch: IngestBatch, errors: list[RecordError],
                  rejects: list[dict[str, Any]], now: datetime) -> Ack:
        self._keep_rejects(batch, errors, rejects, now)
        first = errors[0]
        where = (f"{first.table} record {first.row}, " if first.row else "")
        return Ack(str(batch.batch_id), "rejected", 0, errors=tuple(errors),
                   message=f"batch rejected, nothing applied: {len(errors)} problem(s); first: "
                           f"{where}{first.field}: {first.reason}")

    def _duplicate(self, batch: IngestBatch, earlier: tuple[int, str], digest: str,
                   rejects: list[dict[str, Any]], now: datetime) -> Ack:
        seq, earlier_digest = earlier
        if earlier_digest == digest:
            return Ack(batch.batch_id, "duplicate", max(seq, 0),
                       message=f"duplicate: batch {batch.batch_id} was already applied"
                               + (f" at log sequence {seq}" if seq > 0 else ""))
        error = RecordError("batch", 0, "batch_id", f"batch id {batch.batch_id} was already "
                            "used for a batch with different content"
                            + (f" (log sequence {seq})" if seq > 0 else "")
                            + "; use a new sequence number")
        return self._rejected(batch, [error], rejects, now)

    def keep_rejects(self, rejects: Sequence[dict[str, Any]], source: str) -> None:
        """Durably record records a loader could not turn into nodes or edges (each with file,
        row, field, reason and the record), next to the ingest rejects."""
        if not rejects:
            return
        now = datetime.now(UTC).isoformat()
        rows = [{"batch": source, "writer": "loader", "at": now, **r} for r in rejects]
        with self._write_lock:
            self.store.commit([], [], [], rows, self._next_sid)
            self._delta.set_store_rejects(self.store.reject_count())

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
            report = self._run_compaction(base, work, through, say)
            snapshot = Snapshot(Path(report["snapshot"]))
            self._track(snapshot)
            fresh = _replay(snapshot, self.store)  # most of what arrived meanwhile ...
            with self._write_lock:  # ... and the rest, with the writer paused
                fresh = _replay(snapshot, self.store, delta=fresh, after=fresh.seq)
                self._delta = fresh
            shutil.rmtree(work, ignore_errors=True)
            say(f"compacted into {snapshot.path} ({snapshot.node_count:,} nodes, "
                f"{snapshot.edge_count:,} edges) in {report['seconds']:.1f} s")
            return BuildReport(snapshot=snapshot.path, nodes=snapshot.node_count,
                               edges=snapshot.edge_count, rejected=0, folded_nodes=0,
                               folded_edges=report["folded_edges"], seconds=report["seconds"])

    def _run_compaction(self, base: Path, work: Path, through: int,
                        say: Progress) -> dict[str, Any]:
        if self._compact_in_process:
            from index.compact import compact_snapshot  # noqa: PLC0415 - compaction only

            report = compact_snapshot(base, work, self.data_dir, through, progress=say)
            return {"snapshot": str(report.snapshot), "folded_edges": report.folded_edges,
                    "seconds": report.seconds}
        command = [sys.executable, "-m", "index.compact", "--data", str(self.data_dir),
                   "--base", str(base), "--work", str(work), "--through", str(through),
                   "--parent", str(os.getpid()), "--nice", str(self._compact_nice)]
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

    def _auto_compact(self, threshold: int) -> None:
        while not self._closing.wait(1.0):
            if self._delta.n_edges >= threshold:
                try:
                    self.compact(progress=log.info)
                except Exception:
                    log.exception("background compaction failed; will retry")
                    self._closing.wait(30)

    # -- snapshot files -----------------------------------------------------------------------

    def _track(self, snapshot: Snapshot) -> None:
        """Delete a superseded snapshot's files once nothing here reads it any more."""
        weakref.finalize(snapshot, _retire, self.data_dir, snapshot.path)

    def _sweep(self) -> None:
        """Remove what a killed process left behind: temporary snapshot directories, stale
        compaction work, and snapshots beyond the ones kept."""
        root = self.data_dir / SNAPSHOTS
        if root.is_dir():
            for temp in root.glob(".tmp-*"):
                shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(self.data_dir / COMPACTION_DIR, ignore_errors=True)
        for old in list_snapshots(self.data_dir)[KEEP_SNAPSHOTS:]:
            shutil.rmtree(old, ignore_errors=True)

    def close(self) -> None:
        """Finish queued batches, stop compaction, release the store and its lock."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._queue.put(_STOP)
        self._writer.join()
        child = self._child
        if child is not None:
            child.kill()
        if self._compactor is not None:
            self._compactor.join()
        with self._compact_lock:
            self.store.close()

    def __enter__(self) -> LiveStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _retire(data_dir: Path, path: Path) -> None:
    keep = list_snapshots(data_dir)[:KEEP_SNAPSHOTS]
    if path not in keep and path.exists():
        shutil.rmtree(path, ignore_errors=True)


def _shape_problem(batch: IngestBatch) -> RecordError | None:
    """Frames that cannot be node or edge tables at all (missing required columns)."""
    for table, frame, required in (("nodes", batch.nodes, ("key", "kind")),
                                   ("edges", batch.edges, ("src", "dst", "kind"))):
        if frame is None or frame.height == 0:
            continue
        missing = [c for c in required if c not in frame.columns]
        if missing:
            return RecordError(table, 0, missing[0], f"{table} lack required column(s) "
                               f"{', '.join(missing)} (have: {', '.join(frame.columns)})")
    return None


def _record(batch: IngestBatch, error: RecordError) -> str:
    """The rejected record as JSON (text values), so nothing is lost."""
    if error.row <= 0:
        return json.dumps({"batch": batch.batch_id, "records": batch.records})
    if error.table == "ends":
        e = batch.ends[error.row - 1]
        return json.dumps({"src": e.src, "dst": e.dst, "kind": e.kind, "at": str(e.at),
                           "event_time": None if e.event_time is None else str(e.event_time)})
    if error.table == "retractions":
        r = batch.retractions[error.row - 1]
        return json.dumps({"src": r.src, "dst": r.dst, "kind": r.kind, "reason": r.reason,
                           "event_time": None if r.event_time is None else str(r.event_time),
                           "event_id": r.event_id})
    frame = batch.nodes if error.table == "nodes" else batch.edges
    assert frame is not None
    row = frame.row(error.row - 1, named=True)
    return json.dumps({k: None if v is None else str(v) for k, v in row.items()})


class _NewNodes:
    """Nodes created by one accepted batch of a group: a hash table of their keys, their sids
    and kinds, so later records of the group resolve them without the delta."""

    def __init__(self, keys: pa.Array, sids: Array, kinds: pa.Array) -> None:
        self.table = KeyTable(keys)
        self.sids = sids
        self.kinds = kinds

    def fill(self, keys: pa.Array, sids: Array, kinds: Array | None = None) -> None:
        """Fill sids (and kind names) of `keys` still unresolved (-1) in `sids`."""
        found = np.full(len(keys), -1, dtype=np.int64)
        fill_misses(self.table.offsets, self.table.data, self.table.slots, keys, found)
        hit = (sids < 0) & (found >= 0)
        sids[hit] = self.sids[found[hit]]
        if kinds is not None and hit.any():
            kinds[hit] = np.asarray(self.kinds.take(pa.array(found[hit])).to_pylist(),
                                    dtype=object)


class _Plan:
    """Resolves one batch against the store, the delta and earlier batches of its group. All
    per-record work is vectorised (numba hash probes, numpy masks); Python runs per error."""

    def __init__(self, delta: Delta, group_new: list[_NewNodes], next_sid: int,
                 known_nodes: set[str], known_edges: set[str]) -> None:
        self.delta = delta
        self.group_new = group_new
        self.next_sid = next_sid
        self.known_nodes = known_nodes
        self.known_edges = known_edges
        self.new: _NewNodes | None = None

    def _resolve(self, keys: pa.Array, kinds: Array | None = None) -> Array:
        """Stable ids of keys (-1 where unknown): the store (snapshot + delta), this batch's
        new nodes, then the group's. With `kinds`, also each found node's kind name."""
        local = self.delta.resolve(keys)
        sids = np.where(local >= 0, self.delta.sid_of_local(np.maximum(local, 0)), -1)
        if kinds is not None and (local >= 0).any():
            view = self.delta.view()
            names = np.asarray(view.node_kinds, dtype=object)
            kinds[local >= 0] = names[view.node_kind[local[local >= 0]]]
        for new in ([self.new] if self.new else []) + self.group_new[::-1]:
            if (sids < 0).any():
                new.fill(keys, sids, kinds)
        return sids

    def nodes(self, frame: pl.DataFrame, errors: list[RecordError]) -> pa.Table:
        if frame.height == 0:
            return NODE_LOG_SCHEMA.empty_table()
        keys = _strings(frame["key"])
        kinds = frame["kind"].to_numpy().astype(object)
        before = np.full(frame.height, None, dtype=object)
        existing = self._resolve(keys, before) >= 0
        unknown = _unknown_mask(frame["kind"], self.known_nodes)
        clash = existing & ~unknown & (before != kinds)
        first = frame["key"].is_first_distinct().to_numpy()
        # A key repeated in the batch folds into its first row; with another kind it is an error.
        first_kind = frame.select(pl.col("kind").first().over("key"))["kind"].to_numpy()
        repeat_clash = ~first & ~existing & ~unknown & (first_kind != kinds)
        for i in np.flatnonzero(unknown | clash | repeat_clash).tolist():
            number = int(frame["__row"][i])
            if unknown[i]:
                errors.append(RecordError("nodes", number, "kind", _unknown(
                    "node kind", kinds[i], self.known_nodes)))
            else:
                was = before[i] if clash[i] else first_kind[i]
                errors.append(RecordError("nodes", number, "key", f"node {keys[i].as_py()!r} "
                                          f"already exists as a {was}, not a {kinds[i]}"))
        create = first & ~existing & ~unknown
        picked = frame.filter(pl.Series(create)) if not create.all() else frame
        sids = np.arange(self.next_sid, self.next_sid + picked.height, dtype=np.int32)
        self.next_sid += picked.height
        table = pa.table({
            "sid": pa.array(sids, pa.int32()),
            "key": _strings(picked["key"]).cast(pa.string()),
            "kind": picked["kind"].to_arrow().cast(pa.string()),
            "product": picked["product"].to_arrow().cast(pa.string()),
            "quantity": picked["quantity"].to_arrow().cast(pa.float64()),
            "uom": picked["uom"].to_arrow().cast(pa.string()),
            "created_at": epoch_micros(picked["created_at"], nulls=True),
        }, schema=NODE_LOG_SCHEMA)
        if picked.height:
            self.new = _NewNodes(_strings(picked["key"]), sids.astype(np.int64),
                                 table.column("kind").combine_chunks())
        return table

    def edges(self, frame: pl.DataFrame, errors: list[RecordError], now_us: int) -> pa.Table:
        if frame.height == 0:
            return EDGE_LOG_SCHEMA.empty_table()
        src, dst = self._resolve(_strings(frame["src"])), self._resolve(_strings(frame["dst"]))
        bad_src = src < 0
        bad_dst = (dst < 0) & ~bad_src
        loop = (src == dst) & ~bad_src & ~bad_dst
        bad_kind = _unknown_mask(frame["kind"], self.known_edges) & ~(bad_src | bad_dst | loop)
        keep = ~(bad_src | bad_dst | loop | bad_kind)
        for i in np.flatnonzero(~keep).tolist():
            row = frame.row(i, named=True)
            if bad_src[i]:
                problem = ("src", f"unknown node {row['src']!r}: not in the store and not "
                           "created by this batch")
            elif bad_dst[i]:
                problem = ("dst", f"unknown node {row['dst']!r}: not in the store and not "
                           "created by this batch")
            elif loop[i]:
                problem = ("dst", "self-loop: source and destination are the same node")
            else:
                problem = ("kind", _unknown("edge kind", row["kind"], self.known_edges))
            errors.append(RecordError("edges", row["__row"], *problem))
        picked = frame if keep.all() else frame.filter(pl.Series(keep))
        src, dst = src[keep], dst[keep]
        kinds = picked["kind"].to_arrow().cast(pa.string())
        times = epoch_micros(picked["event_time"])
        event_ids = picked["event_id"].to_arrow().cast(pa.string())
        # An edge the store already holds live (same link, time and event id) is the same
        # assertion again: not appended, so re-ingesting rows under another file name or batch
        # size adds nothing. Repeats within the batch fold into their first copy too.
        delta = self.delta
        repeat = delta.repeats(delta.local_of_sid(src), delta.local_of_sid(dst),
                               _plain_arrow(kinds), times.to_numpy(zero_copy_only=False),
                               _plain_arrow(event_ids))
        repeat |= _repeated_in_batch(src, dst, kinds, times, event_ids)
        if repeat.any():
            fresh = ~repeat
            src, dst, picked = src[fresh], dst[fresh], picked.filter(pl.Series(fresh))
            kinds, times = kinds.filter(pa.array(fresh)), times.filter(pa.array(fresh))
        return pa.table({
            "src": pa.array(src.astype(np.int32), pa.int32()),
            "dst": pa.array(dst.astype(np.int32), pa.int32()),
            "kind": kinds,
            "event_time": times,
            # The record time is this commit's, always: a client's own recorded_at would let
            # it back-date history, and `as_of` answers about the past would change afterwards.
            "recorded_at": pa.array(np.full(picked.height, now_us, dtype=np.int64)),
            "quantity": picked["quantity"].to_arrow().cast(pa.float64()),
            "event_id": picked["event_id"].to_arrow().cast(pa.string()),
        }, schema=EDGE_LOG_SCHEMA)

    def ends(self, batch: IngestBatch, errors: list[RecordError]) -> list[End]:
        """Ends of open edges (unpacking), checked like retractions."""
        return _ends(self, batch, errors)

    def retractions(self, batch: IngestBatch,
                    errors: list[RecordError]) -> tuple[list[Retraction], int]:
        out: list[Retraction] = []
        matched = 0
        for number, r in enumerate(batch.retractions, start=1):
            if not isinstance(r.reason, str) or not r.reason.strip():
                errors.append(RecordError("retractions", number, "reason",
                                          "a retraction needs a reason"))
                continue
            local = self.delta.lookup([r.src, r.dst])
            if local[0] < 0 or local[1] < 0:
                end, key = ("src", r.src) if local[0] < 0 else ("dst", r.dst)
                errors.append(RecordError("retractions", number, end,
                                          f"unknown node {key!r}"))
                continue
            when = to_micros(r.event_time)
            count = self.delta.retract(int(local[0]), int(local[1]), r.kind, when, 0,
                                       event_id=r.event_id, dry_run=True)
            if count == 0:
                errors.append(RecordError(
                    "retractions", number, "kind",
                    f"no live {r.kind!r} edge {r.src!r} -> {r.dst!r}"
                    + ("" if when is None else " at that event_time")
                    + ("" if r.event_id is None else f" asserted by event {r.event_id!r}")))
                continue
            sids = self.delta.sid_of_local(local)
            out.append(Retraction(int(sids[0]), int(sids[1]), r.kind, when, r.reason.strip(),
                                  r.event_id))
            matched += count
        return out, matched


def _plain_arrow(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _repeated_in_batch(src: Array, dst: Array, kinds: pa.Array, times: pa.Array,
                       event_ids: pa.Array) -> Array:
    """True for an edge equal to an earlier one of the same batch (the first copy stays)."""
    if len(src) < 2:
        return np.zeros(len(src), dtype=np.bool_)
    frame = pl.DataFrame({"s": src, "d": dst, "k": pl.Series(_plain_arrow(kinds)),
                          "t": pl.Series(_plain_arrow(times)),
                          "e": pl.Series(_plain_arrow(event_ids))})
    first = frame.select(pl.struct(pl.all()).is_first_distinct()).to_series().to_numpy()
    return np.asarray(~first, dtype=np.bool_)


def _unknown_mask(kinds: pl.Series, known: set[str]) -> Array:
    """True where a kind is not in `known`, checking each distinct kind once."""
    encoded = pc.dictionary_encode(kinds.to_arrow())
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    bad = np.array([name not in known for name in encoded.dictionary.to_pylist()] or [False])
    if not bad.any():
        return np.zeros(len(kinds), dtype=bool)
    mask: Array = bad[encoded.indices.to_numpy(zero_copy_only=False)]
    return mask


def _ends(plan: _Plan, batch: IngestBatch, errors: list[RecordError]) -> list[End]:
    out: list[End] = []
    for number, e in enumerate(batch.ends, start=1):
        local = plan.delta.lookup([e.src or e.dst, e.dst])
        if e.src is None:
            local[0] = -1  # every source into dst
        elif local[0] < 0:
            errors.append(RecordError("ends", number, "src", f"unknown node {e.src!r}"))
            continue
        if local[1] < 0:
            errors.append(RecordError("ends", number, "dst", f"unknown node {e.dst!r}"))
            continue
        when, at = to_micros(e.event_time), to_micros(e.at)
        assert at is not None
        if plan.delta.end(int(local[0]), int(local[1]), e.kind, when, at, dry_run=True) == 0:
            errors.append(RecordError("ends", number, "kind", f"no open {e.kind!r} edge "
                                      f"{e.src or 'from anything'!r} -> {e.dst!r} to end"))
            continue
        dst_sid = int(plan.delta.sid_of_local(local[1:])[0])
        src_sid = -1 if e.src is None else int(plan.delta.sid_of_local(local[:1])[0])
        out.append(End(src_sid, dst_sid, e.kind, when, at))
    return out


def _strings(column: pl.Series) -> pa.Array:
    """A validated (null-free) string column as one large_string Arrow array."""
    array = column.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def _unknown(what: str, value: str, known: set[str]) -> str:
    return f"unknown {what} {value!r}; known: {', '.join(sorted(known))}"
