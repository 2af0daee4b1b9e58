"""Canonical tables -> a published, queryable snapshot.

Build order: resolve edge keys to node ids (unknown keys are rejected), fold duplicate edges
(same src, dst, kind and event time; the first recorded wins), number nodes for locality, sort
edges into CSR order both ways, write the files and publish them atomically.

Snapshot files (see `index.snapshot` for the reading side):
    nodes.arrow      key, kind, product, quantity, uom, created_at, sid: one row per node id;
                     sid is the node's stable id (its row in the build input, or the id the
                     store gave it), which never changes across snapshots
    key_index.arrow  by_key: node ids in byte order of their keys (binary search by key)
    key_hash.arrow   slot: open-addressing hash table of node ids by key (see key_table)
    edges.arrow      per edge in downstream CSR order: src id, quantity, event_id, source file
                     and row (dst, kind and times are in down.arrow at the same position);
                     LZ4-compressed, since only provenance lookups read it
    indptr.arrow     down, up: CSR row pointers (int32 while the edge count allows)
    down.arrow       neighbor, kind, event_time, recorded_at (null time = int64 min): the
                     kernel arrays, permuted into downstream CSR order so filters read
                     sequentially
    up.arrow         neighbor, edge: upstream CSR, each edge with its downstream position
                     (its row in down.arrow and edges.arrow, where its attributes are)
    retractions.arrow  retracted edges (kept as history) by down and up CSR position, with the
                     record time of the retraction; sorted by down position
    ended.arrow      edges whose packing was undone (EPCIS DELETE) by down CSR position, with
                     the event time it ended
    rejects.arrow    every input row that was not loaded, with file, row, field and reason
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from domain.errors import InvalidInput
from domain.schemas import REJECTS_SCHEMA
from domain.time import NEVER
from index.csr import (
    csr_order,
    duplicate_mask,
    fold_targets,
    inverse,
    locality_order,
    narrow_indptr,
    take,
)
from index.dirlock import lock_directory
from index.edge_batch import NO_TIME, ResolvedEdges, resolve_batch
from index.edge_columns import (
    EdgeArrays,
    EdgeColumns,
    encoded_take,
    kind_codes,
    other_event,
    sorted_codes,
    take_parts,
)
from index.files import SnapshotWriter
from index.key_table import KeyTable
from index.node_table import NodeTable, load_node_table
from loaders.canonical import no_rejects
from loaders.edge_files import EdgeRead, count_rows, edge_batch_reads

__all__ = [
    "NEVER",
    "NO_TIME",
    "BuildReport",
    "EdgeArrays",
    "assemble_snapshot",
    "build_from_files",
    "build_snapshot",
]

Progress = Callable[[str], None]
Array = npt.NDArray[Any]


@dataclass
class BuildReport:
    """What a build did: counts, where the snapshot went, what was rejected and why."""

    snapshot: Path
    nodes: int
    edges: int
    rejected: int
    folded_nodes: int
    folded_edges: int
    seconds: float
    reject_reasons: dict[str, int] = field(default_factory=dict)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)


_LARGE_BUILD = 50_000_000
"""Edges from which a build saves memory before time (about 2M units and up)."""

"""`retracted_at` of an edge that was never retracted."""


def build_snapshot(
    nodes: NodeTable,
    edge_reads: Iterable[EdgeRead],
    data_dir: Path,
    *,
    progress: Progress | None = None,
    order: str = "bfs",
    log_sequence: int = 0,
    expected_edges: int | None = None,
    loaded_at: datetime | None = None,
) -> BuildReport:
    """Build and publish a snapshot from validated nodes and batches of edges.

    `edge_reads` (`loaders.canonical.edge_batch_reads`) each read one batch of edges; three
    at a time run on worker threads, each followed by its validation and key resolution
    (`index.edge_batch.resolve_batch`). `loaded_at` is the default `recorded_at` (now).

    `order` is "bfs" (ids in breadth-first order from the roots: the fast layout) or "input"
    (ids in node-table order, for comparison). `expected_edges` (the input's row count, when
    known) sizes the edge arrays once.
    """
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    if order not in ("bfs", "input"):
        raise InvalidInput(f"unknown id order {order!r}; use 'bfs' or 'input'")
    n = nodes.table.num_rows
    if n == 0:
        raise InvalidInput("the node table has no valid rows; nothing to build")
    if n >= np.iinfo(np.int32).max:
        raise InvalidInput(f"{n:,} nodes exceed the 2^31 - 1 supported by int32 ids")
    node_files = nodes.files
    node_arrow, table = nodes.table, nodes.keys
    node_rejects, folded_nodes, node_ignored = nodes.rejects, nodes.folded, nodes.ignored
    # Only node_arrow and table are needed past this point (the caller should not hold
    # `nodes` either: at tens of millions of nodes they are gigabytes).
    del nodes

    columns = EdgeColumns(expected_edges)
    when = loaded_at or datetime.now(UTC)
    tasks = (partial(_read_and_resolve, read, when, table) for read in edge_reads)
    say(f"resolving edge rows against {n:,} nodes")
    for batch in _prefetched(tasks):
        columns.add(batch)
        _count(progress, columns.rows, expected_edges,
               f"resolved {columns.rows:,} edge rows against {n:,} nodes")
    kind_names, kind_codes = sorted_codes(list(columns.kinds), columns.kind.array())
    edges = EdgeArrays(
        src=columns.src.array(), dst=columns.dst.array(),
        kind=kind_codes, kind_names=kind_names,
        event_time=columns.event_time.array(), recorded_at=columns.recorded_at.array(),
        quantity=columns.quantity, event_id=columns.event_id,
        source=columns.source.array(), source_names=list(columns.sources),
        source_row=columns.source_row.array(),
    )
    rejects = pl.concat([node_rejects, *columns.rejects], how="vertical_relaxed")
    ignored = {**node_ignored, **columns.ignored}
    sources = sorted(set(edges.source_names) | set(node_files))
    del columns  # `edges` holds what assemble_snapshot needs, and releases it as it goes
    # Hand the node table and key table over without keeping a reference here: a Python call
    # moves its arguments into the callee, so assemble_snapshot can free them once written.
    handover = [node_arrow, table]
    del node_arrow, table
    return assemble_snapshot(
        handover.pop(0), edges, handover.pop(0), data_dir, progress=say, order=order,
        log_sequence=log_sequence, rejects=rejects, folded_nodes=folded_nodes,
        sources=sources, ignored=ignored, started=started)


def assemble_snapshot(
    node_table: pa.Table,
    edges: EdgeArrays,
    table: KeyTable,
    data_dir: Path,
    *,
    progress: Progress | None = None,
    order: str = "bfs",
    log_sequence: int = 0,
    rejects: pl.DataFrame | None = None,
    folded_nodes: int = 0,
    sources: Sequence[str] = (),
    ignored: dict[str, list[str]] | None = None,
    started: float | None = None,
) -> BuildReport:
    """Fold duplicate edges, number nodes for locality, sort both CSRs and publish.

    Row i of `node_table` (key, kind, product, quantity, uom, created_at) is the node with
    stable id i (`sid`); `table` is its key hash table in the same row order. `edges` is
    consumed: its per-edge arrays are released as they are used. The snapshot
    records each node's sid, so live ingest can keep referring to nodes by sid. Retracted
    edges (`edges.retracted_at`) are kept, never folded, and listed in retractions.arrow.
    """
    say = progress or (lambda _m: None)
    started = time.perf_counter() if started is None else started
    n = node_table.num_rows
    src, dst, kind_codes, event_time, recorded_at = edges.release()
    retracted = edges.retracted_at
    ended = edges.ended_at

    say("folding duplicate edges")
    indptr, by_src = csr_order(src, dst, n)
    fold_time = event_time
    if retracted is not None and (retracted != NEVER).any():
        # A retracted edge is history and a re-asserted one is new: neither folds into the
        # other. Each retracted edge gets its own negative pseudo-time (real times are >= 0 or
        # the NO_TIME sentinel), so it equals no other edge.
        fold_time = event_time.copy()
        gone = np.flatnonzero(retracted != NEVER)
        fold_time[gone] = NO_TIME + 1 + np.arange(len(gone), dtype=np.int64)
    dst_by_src = take(dst, by_src)
    repeat = duplicate_mask(indptr, dst_by_src, by_src, kind_codes, fold_time)
    if repeat.any():
        # Two events asserting one link are two assertions: a retraction of one (an EPCIS
        # errorDeclaration) must leave the other standing, so only repeats of the same
        # event_id fold.
        positions = np.flatnonzero(repeat)
        targets = fold_targets(indptr, dst_by_src, by_src, kind_codes, fold_time, repeat)
        other = other_event(edges.event_id, by_src[positions], targets)
        repeat[positions[other]] = False
        # The kept copy was known since the first copy was recorded: `as_of` between the two
        # record times must still see the link.
        folds = ~other
        np.minimum.at(recorded_at, targets[folds], recorded_at[by_src[positions[folds]]])
    del fold_time
    folded_edges = int(repeat.sum())
    kept = np.sort(by_src[~repeat]) if folded_edges else None
    if kept is not None:
        src, dst = src[kept], dst[kept]
        kind_codes, event_time, recorded_at = kind_codes[kept], event_time[kept], recorded_at[kept]
        if retracted is not None:
            retracted = retracted[kept]
        if ended is not None:
            ended = ended[kept]
        indptr, by_src = csr_order(src, dst, n)
        dst_by_src = take(dst, by_src)

    say("numbering nodes for locality")
    new_to_old = (locality_order(indptr, dst_by_src) if order == "bfs"
                  else np.arange(n, dtype=np.int64))
    del indptr, by_src, dst_by_src
    old_to_new = np.empty(n, dtype=np.int32)
    old_to_new[new_to_old] = np.arange(n, dtype=np.int32)
    src_new = take(old_to_new, src)
    dst_new = take(old_to_new, dst)
    del src, dst

    large = len(src_new) >= _LARGE_BUILD
    with SnapshotWriter(data_dir, max_pending_bytes=0 if large else 2 << 30) as writer:
        # Files are handed to the writer as soon as each is built (the disk works while the
        # next is computed) and what only that file needed is freed at once. A large build
        # writes the node tables first and builds each big edge table only once the one
        # before it is on disk (`one_at_a_time`), which is what keeps 10M units inside
        # 24 GiB; a smaller one computes the node tables while the edge tables go to disk.

        def one_at_a_time() -> None:
            if large:
                writer.drain()

        node_kinds: list[str] = []
        if large:
            say("writing node tables")
            node_kinds = _write_node_tables(writer, node_table, table, new_to_old, old_to_new)
            del node_table, table, new_to_old, old_to_new

        say("sorting edges into CSR order both ways")
        edge_count = len(src_new)
        indptr_down, down_order = csr_order(src_new, dst_new, n)
        indptr_up, up_by_input = csr_order(dst_new, src_new, n)
        writer.add("indptr", pa.table({"down": narrow_indptr(indptr_down),
                                       "up": narrow_indptr(indptr_up)}))
        del indptr_down, indptr_up

        say("writing edge tables")
        one_at_a_time()
        # Row of each downstream-ordered edge in the input (kept rows only when edges folded).
        record_index = down_order if kept is None else take(kept, down_order)
        del kept
        record_order = pa.array(record_index)
        source_codes = edges.source.astype(np.int32 if len(edges.source_names) > 65535
                                           else np.uint16)
        writer.add("edges", pa.table({
            "src": pa.array(take(src_new, down_order)),
            "quantity": take_parts(edges.quantity, pa.float64(), record_order),
            "event_id": take_parts(edges.event_id, pa.string(), record_order),
            "source": pa.DictionaryArray.from_arrays(
                pa.array(take(source_codes, record_index)),
                pa.array(edges.source_names, pa.string())),
            "source_row": pa.array(take(edges.source_row, record_index)),
        }), compress=True)
        del record_order, record_index, source_codes
        edges.source = edges.source_row = np.zeros(0, dtype=np.int32)
        edges.quantity = edges.event_id = []
        one_at_a_time()
        writer.add("down", pa.table({
            "neighbor": pa.array(take(dst_new, down_order)),
            "kind": pa.array(take(kind_codes, down_order)),
            "event_time": pa.array(take(event_time, down_order)),
            "recorded_at": pa.array(take(recorded_at, down_order)),
        }))
        del dst_new
        one_at_a_time()
        down_position = inverse(down_order)
        # Upstream edges keep only their neighbour and their downstream position: filtered
        # upstream walks read kind and times there (one more read per edge on walks that are
        # short), and the snapshot is 16 bytes per edge smaller.
        writer.add("up", pa.table({
            "neighbor": pa.array(take(src_new, up_by_input)),
            "edge": pa.array(take(down_position, up_by_input).astype(
                np.int32 if edge_count < 2**31 else np.int64)),
        }))
        del event_time, recorded_at, src_new, kind_codes
        retractions = _retractions(retracted, down_order, up_by_input, down_position)
        writer.add("retractions", retractions)
        writer.add("ended", _ended(ended, down_position))
        del down_position, down_order, up_by_input
        if not large:
            say("writing node tables")
            node_kinds = _write_node_tables(writer, node_table, table, new_to_old, old_to_new)

        if rejects is None:
            rejects = no_rejects()
        writer.add("rejects", rejects.to_arrow().cast(REJECTS_SCHEMA), compress=True)
        reasons = rejects.group_by("reason").len().sort("len", descending=True)
        ignored = ignored or {}
        manifest: dict[str, Any] = {
            "created_at": datetime.now(UTC).isoformat(),
            "log_sequence": log_sequence,
            "node_count": n,
            "edge_count": edge_count,
            "retracted_edges": retractions.num_rows,
            "node_kinds": node_kinds,
            "edge_kinds": edges.kind_names,
            "id_order": order,
            "build": {
                "rejected": rejects.height,
                "folded_nodes": folded_nodes,
                "folded_edges": folded_edges,
                "sources": list(sources),
                "ignored_columns": ignored,
            },
        }
        say("publishing the snapshot")
        path = writer.publish(manifest)
    return BuildReport(
        snapshot=path, nodes=n, edges=edge_count, rejected=rejects.height,
        folded_nodes=folded_nodes, folded_edges=folded_edges,
        seconds=time.perf_counter() - started,
        reject_reasons=dict(zip(reasons["reason"].to_list(), reasons["len"].to_list(),
                                strict=True)),
        ignored_columns=ignored,
    )


def _write_node_tables(writer: SnapshotWriter, node_table: pa.Table, table: KeyTable,
                       new_to_old: Array, old_to_new: Array) -> list[str]:
    """nodes.arrow, key_index.arrow and key_hash.arrow in the new id order; returns the node
    kind names (the dictionary of nodes.kind)."""
    n = node_table.num_rows
    node_kinds, node_kind_codes = kind_codes(node_table.column("kind"))
    taken = pa.array(new_to_old)
    ts = pa.timestamp("us", tz="UTC")
    keys = node_table.column("key").cast(pa.large_string()).take(taken).combine_chunks()
    writer.add("nodes", pa.table({
        "key": keys,
        "kind": pa.DictionaryArray.from_arrays(pa.array(node_kind_codes[new_to_old]),
                                               pa.array(node_kinds, pa.string())),
        "product": encoded_take(node_table.column("product"), new_to_old),
        "quantity": node_table.column("quantity").cast(pa.float64()).take(taken),
        "uom": encoded_take(node_table.column("uom"), new_to_old),
        "created_at": node_table.column("created_at").cast(ts).take(taken),
        "sid": pa.array(new_to_old.astype(np.int32)),
    }))
    writer.add("key_index", pa.table({
        "by_key": pl.Series(keys).arg_sort().to_numpy().astype(np.int32)}))
    writer.add("key_hash", pa.table({
        "slot": table.renumbered(old_to_new, keys).slots if n
        else np.zeros(0, dtype=np.int32)}))
    return node_kinds


def _ended(ended: Array | None, down_position: Array) -> pa.Table:
    """Ended edges (packing undone) by downstream CSR position, sorted, with the end time."""
    if ended is None or not (ended != NEVER).any():
        empty = np.zeros(0, dtype=np.int64)
        return pa.table({"down": empty, "ended_at": empty})
    edge_ids = np.flatnonzero(ended != NEVER)
    positions = down_position[edge_ids].astype(np.int64)
    order = np.argsort(positions)
    return pa.table({"down": positions[order], "ended_at": ended[edge_ids][order]})


def _retractions(retracted: Array | None, down_order: Array, up_by_input: Array,
                 down_position: Array) -> pa.Table:
    """Retracted edges by their downstream and upstream CSR positions, sorted by position."""
    if retracted is None or not (retracted != NEVER).any():
        empty = np.zeros(0, dtype=np.int64)
        return pa.table({"down": empty, "up": empty, "retracted_at": empty})
    up_position = np.empty(len(up_by_input), dtype=np.int64)
    up_position[up_by_input] = np.arange(len(up_by_input), dtype=np.int64)
    edge_ids = np.flatnonzero(retracted != NEVER)
    down_pos = down_position[edge_ids].astype(np.int64)
    order = np.argsort(down_pos)
    return pa.table({
        "down": down_pos[order],
        "up": up_position[edge_ids][order],
        "retracted_at": retracted[edge_ids][order],
    })


def _read_and_resolve(read: EdgeRead, loaded_at: datetime, table: KeyTable) -> ResolvedEdges:
    return resolve_batch(read(), loaded_at, table)


def _prefetched(tasks: Iterable[Callable[[], ResolvedEdges]],
                depth: int = 3) -> Iterator[ResolvedEdges]:
    """Run batch tasks (read, validate, resolve) `depth` at a time on worker threads while the
    caller collects the batches in order: Parquet decoding, polars and the numba probe all
    release the GIL. Three at a time measured faster than two on two cores (each task also
    waits on the GIL for its Python glue); at most `depth` + 1 batches are in memory."""
    iterator = iter(tasks)
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="edge-reader") as pool:
        pending: deque[Future[ResolvedEdges]] = deque()
        for task in iterator:
            pending.append(pool.submit(task))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _count(progress: Progress | None, done: int, total: int | None, message: str) -> None:
    """Report `done` of `total`: as counts to a progress that takes them (the CLI's progress
    bar has `count(done, total)`), else as one line of text."""
    counter = getattr(progress, "count", None)
    if callable(counter):
        counter(done, total)
    elif progress is not None:
        progress(message)


def _load_kernels() -> None:
    KeyTable(pa.array(["a", "b"], pa.large_string())).resolve(pa.array(["a"]))


def build_from_files(
    node_files: Sequence[Path],
    edge_files: Sequence[Path],
    data_dir: Path,
    *,
    progress: Progress | None = None,
    order: str = "bfs",
) -> BuildReport:
    """Read, validate and build: the `tracegraph build` command. The report's seconds count
    from here, node files included."""
    started = time.perf_counter()
    say = progress or (lambda _m: None)
    created = not data_dir.exists()
    lock = lock_directory(data_dir, "build")  # two builds into one directory: one fails
    try:
        return _build_locked(node_files, edge_files, data_dir, say, progress, order, started)
    except BaseException:
        if created:  # a failed build of a new directory leaves nothing behind
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    finally:
        lock.close()


def _build_locked(node_files: Sequence[Path], edge_files: Sequence[Path], data_dir: Path,
                  say: Callable[[str], None], progress: Progress | None, order: str,
                  started: float) -> BuildReport:
    if (data_dir / "store" / "CURRENT").is_file():
        raise InvalidInput(f"{data_dir} holds a live store (made by ingest, import or serve); "
                           "a build would replace what was ingested. Add these files with "
                           f"`tracegraph ingest --data {data_dir} NODES EDGES` (kept with the "
                           "log and its history), or build into a new directory")
    # Numba's first use in a process costs about half a second (it sets up its typing and
    # lowering registries) whichever kernel comes first; do it while the node files are read.
    threading.Thread(target=_load_kernels, name="load-kernels", daemon=True).start()
    say(f"reading {len(node_files)} node file(s)")
    report = build_snapshot(load_node_table(node_files), edge_batch_reads(edge_files), data_dir,
                            progress=progress, order=order,
                            expected_edges=count_rows(edge_files))
    report.seconds = time.perf_counter() - started
    return report
