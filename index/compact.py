"""Compaction: fold a snapshot and its delta into the next snapshot.

The live store exports the delta at sequence C (new nodes, delta edges, retractions, all by
stable id) into a work directory, then runs `python -m index.compact` in a child process, niced,
so that the build (seconds of CPU and GIL-holding Python) does not stall the queries and ingest
of the serving process. The child reads the base snapshot by memory map, builds, and publishes
the new snapshot atomically with `log_sequence = C`; it prints one JSON line with the result.
The parent then opens the new snapshot and replays the log after C onto a fresh delta.

The child dies with its parent (PR_SET_PDEATHSIG), so a killed server leaves no compaction
running; its temporary directory is swept when the store next opens.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from index.attributes import apply_to_nodes
from index.build import NEVER, BuildReport, EdgeArrays, Progress, assemble_snapshot
from index.delta import Delta
from index.files import read_ipc, write_ipc
from index.key_table import KeyTable
from index.snapshot import Snapshot

__all__ = ["compact_snapshot", "export_delta"]

Array = npt.NDArray[Any]
_TS = pa.timestamp("us", tz="UTC")


def export_delta(delta: Delta, work: Path) -> None:
    """Write what the delta adds to `work`: nodes.arrow, edges.arrow, retracted.arrow."""
    work.mkdir(parents=True, exist_ok=True)
    nodes = delta.new_nodes()
    write_ipc(work / "nodes.arrow", nodes.set_column(
        nodes.schema.get_field_index("created_at"), "created_at",
        nodes.column("created_at").cast(_TS)))
    columns = delta.edge_columns()
    event_ids, sources, source_rows = delta.provenance()
    kind_names = np.array(delta.edge_kinds, dtype=object)
    write_ipc(work / "edges.arrow", pa.table({
        "src": pa.array(delta.sid_of_local(columns["src"])),
        "dst": pa.array(delta.sid_of_local(columns["dst"])),
        "kind": pa.array(kind_names[columns["kind"]].tolist() if len(columns["kind"]) else [],
                         pa.string()),
        "event_time": pa.array(columns["event_time"]),
        "recorded_at": pa.array(columns["recorded_at"]),
        "retracted_at": pa.array(columns["retracted_at"]),
        "ended_at": pa.array(columns["ended_at"]),
        "quantity": pa.array(columns["quantity"]),
        "event_id": event_ids,
        "source": sources,
        "source_row": pa.array(source_rows),
    }))
    positions, times = delta.snapshot_retractions()
    write_ipc(work / "retracted.arrow", pa.table({"down": positions, "retracted_at": times}))
    ended_positions, ended_times, _ = delta.ended()
    write_ipc(work / "ended.arrow", pa.table({"down": ended_positions, "ended_at": ended_times}))
    changes = delta.attributes.log
    write_ipc(work / "attributes.arrow", pa.table({
        "sid": pa.array([c[0] for c in changes], pa.int32()),
        "field": pa.array([c[1] for c in changes], pa.string()),
        "value": pa.array([json.dumps(c[2]) for c in changes], pa.string())}))


def compact_snapshot(base: Path, work: Path, data_dir: Path, through: int, *,
                     progress: Progress | None = None) -> BuildReport:
    """Build and publish the snapshot of `base` plus the exported delta in `work`."""
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    snap = Snapshot(base)
    say(f"reading snapshot v{snap.version} ({snap.node_count:,} nodes, {snap.edge_count:,} "
        "edges) and the delta")
    new_nodes = read_ipc(work / "nodes.arrow")
    delta_edges = read_ipc(work / "edges.arrow")
    retracted = read_ipc(work / "retracted.arrow")

    by_sid = pa.array(snap.local_of_sid)
    old = snap.nodes
    node_table = pa.concat_tables([
        pa.table({
            "key": old.column("key").take(by_sid),
            "kind": old.column("kind").cast(pa.string()).take(by_sid),
            "product": old.column("product").cast(pa.string()).take(by_sid),
            "quantity": old.column("quantity").take(by_sid),
            "uom": old.column("uom").cast(pa.string()).take(by_sid),
            "created_at": old.column("created_at").take(by_sid),
        }),
        new_nodes.drop(["sid"]).cast(pa.schema([
            ("key", pa.large_string()), ("kind", pa.string()), ("product", pa.string()),
            ("quantity", pa.float64()), ("uom", pa.string()), ("created_at", _TS)])),
    ]).combine_chunks()
    changed = work / "attributes.arrow"
    if changed.exists():  # node attributes set by corrections since the snapshot
        rows = read_ipc(changed).to_pylist()
        node_table = apply_to_nodes(node_table, [(r["sid"], r["field"], json.loads(r["value"]))
                                                 for r in rows])
    expected = np.arange(snap.node_count, snap.node_count + new_nodes.num_rows)
    if not np.array_equal(new_nodes.column("sid").to_numpy(), expected):
        raise AssertionError("internal: delta node ids do not follow the snapshot's")

    # Edge kinds: the union, codes renumbered to sorted names (stable manifests).
    delta_kinds = delta_edges.column("kind").to_numpy(zero_copy_only=False)
    names = sorted(set(snap.edge_kinds) | set(delta_kinds.tolist()))
    code = {name: i for i, name in enumerate(names)}
    base_remap = np.array([code[n] for n in snap.edge_kinds] or [0], dtype=np.uint8)
    records = snap.edges
    down = snap.down
    m0 = snap.edge_count
    retracted_at = None
    if retracted.num_rows or (delta_edges.column("retracted_at").to_numpy() != NEVER).any():
        retracted_at = np.full(m0 + delta_edges.num_rows, NEVER, dtype=np.int64)
        retracted_at[retracted.column("down").to_numpy()] = retracted.column(
            "retracted_at").to_numpy()
        retracted_at[m0:] = delta_edges.column("retracted_at").to_numpy()
    ended = read_ipc(work / "ended.arrow")
    ended_at = None
    if ended.num_rows or (delta_edges.column("ended_at").to_numpy() != NEVER).any():
        ended_at = np.full(m0 + delta_edges.num_rows, NEVER, dtype=np.int64)
        ended_at[ended.column("down").to_numpy()] = ended.column("ended_at").to_numpy()
        ended_at[m0:] = delta_edges.column("ended_at").to_numpy()
    base_sources = records.column("source").combine_chunks()
    source_names = [*base_sources.dictionary.to_pylist()]
    delta_sources = delta_edges.column("source").to_pylist()
    index_of = {name: i for i, name in enumerate(source_names)}
    for name in dict.fromkeys(delta_sources):
        index_of.setdefault(name, len(source_names))
        if len(source_names) < len(index_of):
            source_names.append(name)
    src_local = records.column("src").to_numpy()
    edges = EdgeArrays(
        src=np.concatenate([snap.sid[src_local], delta_edges.column("src").to_numpy()]),
        dst=np.concatenate([snap.sid[down.neighbor], delta_edges.column("dst").to_numpy()]),
        kind=np.concatenate([base_remap[down.kind] if m0 else np.zeros(0, np.uint8),
                             np.array([code[k] for k in delta_kinds], dtype=np.uint8)]),
        kind_names=names,
        event_time=np.concatenate([down.event_time,
                                   delta_edges.column("event_time").to_numpy()]),
        recorded_at=np.concatenate([down.recorded_at,
                                    delta_edges.column("recorded_at").to_numpy()]),
        quantity=[records.column("quantity").combine_chunks(),
                  delta_edges.column("quantity").combine_chunks()],
        event_id=[records.column("event_id").combine_chunks(),
                  delta_edges.column("event_id").combine_chunks()],
        source=np.concatenate([base_sources.indices.to_numpy(zero_copy_only=False).astype(
            np.int32), np.array([index_of[s] for s in delta_sources], dtype=np.int32)]),
        source_names=source_names,
        source_row=np.concatenate([records.column("source_row").to_numpy(),
                                   delta_edges.column("source_row").to_numpy()]),
        retracted_at=retracted_at,
        ended_at=ended_at,
    )
    keys = node_table.column("key").combine_chunks()
    say("hashing keys")
    table = KeyTable(keys)
    rejects = pl.from_arrow(snap.rejects)
    assert isinstance(rejects, pl.DataFrame)
    build = snap.manifest["build"]
    return assemble_snapshot(
        node_table, edges, table, data_dir, progress=say, log_sequence=through,
        rejects=rejects, folded_nodes=build["folded_nodes"],
        sources=sorted(set(build["sources"]) | {"ingest"}),
        ignored=build["ignored_columns"], started=started)


def _die_with_parent(parent: int) -> None:
    """Linux: get SIGKILL when the parent dies; exit now if it already has."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m index.compact")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--through", type=int, required=True)
    parser.add_argument("--parent", type=int, default=0)
    parser.add_argument("--nice", type=int, default=10)
    args = parser.parse_args(argv)
    if args.parent:
        _die_with_parent(args.parent)
    if args.nice:
        os.nice(args.nice)
    report = compact_snapshot(args.base, args.work, args.data, args.through,
                              progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps({"snapshot": str(report.snapshot), "nodes": report.nodes,
                      "edges": report.edges, "folded_edges": report.folded_edges,
                      "seconds": report.seconds}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
