"""Canonical tables -> a published, queryable snapshot.

Build order: resolve edge keys to node ids (unknown keys are rejected), fold duplicate edges
(same src, dst, kind and event time; the first recorded wins), number nodes for locality, sort
edges into CSR order both ways, write the files and publish them atomically.

Snapshot files (see `index.snapshot` for the reading side):
    nodes.arrow      key, kind, product, quantity, uom, created_at: one row per node id
    key_index.arrow  by_key: node ids in byte order of their keys (binary search by key)
    edges.arrow      the edge records in downstream CSR order, with their source file and row
    indptr.arrow     down, up: CSR row pointers (int32 while the edge count allows)
    down.arrow, up.arrow   neighbor, kind, event_time, recorded_at (null time = int64 min):
                     the kernel arrays, permuted into CSR order so filters read sequentially;
                     up.arrow also maps each upstream edge to its row in edges.arrow
    rejects.arrow    every input row that was not loaded, with file, row, field and reason
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from index.csr import csr_order, locality_order, narrow_indptr
from index.files import publish_snapshot
from loaders.canonical import Loaded, load_edges, load_nodes
from loaders.errors import InvalidInput
from loaders.schema import REJECTS_SCHEMA

__all__ = ["NO_TIME", "BuildReport", "build_from_files", "build_snapshot"]

NO_TIME = np.iinfo(np.int64).min
"""Kernel sentinel for an edge with no event time (Arrow null in edges.arrow)."""

Progress = Callable[[str], None]


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


def _epoch_us(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("us").fill_null(NO_TIME)


def _unknown_rejects(frame: pl.DataFrame, end: str) -> pl.DataFrame:
    record_columns = ["src", "dst", "kind", "event_time", "recorded_at", "quantity", "event_id"]
    return frame.select(
        pl.lit("edges").alias("table"),
        pl.col("__file").alias("file"),
        pl.col("__row").alias("row"),
        pl.lit(end).alias("field"),
        pl.format("unknown node {}: not in the node table", pl.col(end)).alias("reason"),
        pl.struct([pl.col(c).cast(pl.String) for c in record_columns]).struct.json_encode()
        .alias("record"),
    )


def _codes(values: pl.Series) -> tuple[list[str], pl.Series]:
    names = sorted(values.unique().to_list())
    if len(names) > 255:
        raise InvalidInput(f"too many distinct kinds ({len(names)}); at most 255 are supported")
    mapping = {name: i for i, name in enumerate(names)}
    return names, values.replace_strict(mapping, return_dtype=pl.UInt8)


def build_snapshot(
    nodes: Loaded,
    edges: Loaded,
    data_dir: Path,
    *,
    progress: Progress | None = None,
    order: str = "bfs",
    log_sequence: int = 0,
) -> BuildReport:
    """Build and publish a snapshot from validated node and edge frames (see `loaders`).

    `order` is "bfs" (ids in breadth-first order from the roots: the fast layout) or "input"
    (ids in node-table order, for comparison).
    """
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    node_frame = nodes.table
    n = node_frame.height
    if n == 0:
        raise InvalidInput("the node table has no valid rows; nothing to build")
    if n >= np.iinfo(np.int32).max:
        raise InvalidInput(f"{n:,} nodes exceed the 2^31 - 1 supported by int32 ids")

    say(f"resolving {edges.table.height:,} edge keys against {n:,} nodes")
    ids = node_frame.select(pl.col("key"), pl.int_range(n, dtype=pl.Int64).alias("__id"))
    joined = (
        edges.table.lazy()
        .join(ids.lazy().rename({"key": "src", "__id": "__src"}), on="src", how="left",
              maintain_order="left")
        .join(ids.lazy().rename({"key": "dst", "__id": "__dst"}), on="dst", how="left",
              maintain_order="left")
        .collect()
    )
    unknown_src = joined.filter(pl.col("__src").is_null())
    unknown_dst = joined.filter(pl.col("__src").is_not_null() & pl.col("__dst").is_null())
    resolved = joined.filter(pl.col("__src").is_not_null() & pl.col("__dst").is_not_null())
    del joined

    say("folding duplicate edges")
    before = resolved.height
    resolved = resolved.unique(
        subset=["__src", "__dst", "kind", "event_time"], keep="first", maintain_order=True
    )
    folded_edges = before - resolved.height

    node_kinds, node_kind_codes = _codes(node_frame["kind"])
    edge_kinds, edge_kind_codes = _codes(resolved["kind"]) if resolved.height else ([], None)
    src = resolved["__src"].to_numpy()
    dst = resolved["__dst"].to_numpy()

    say("numbering nodes for locality")
    if order == "bfs":
        new_to_old = locality_order(src, dst, n)
    elif order == "input":
        new_to_old = np.arange(n, dtype=np.int64)
    else:
        raise InvalidInput(f"unknown id order {order!r}; use 'bfs' or 'input'")
    old_to_new = np.empty(n, dtype=np.int64)
    old_to_new[new_to_old] = np.arange(n, dtype=np.int64)
    src_new = old_to_new[src]
    dst_new = old_to_new[dst]

    say("sorting edges into CSR order both ways")
    indptr_down, down_order = csr_order(src_new, dst_new, n)
    indptr_up, up_by_input = csr_order(dst_new, src_new, n)
    down_position = np.empty(len(down_order), dtype=np.int64)
    down_position[down_order] = np.arange(len(down_order), dtype=np.int64)
    up_edge = down_position[up_by_input]

    kind_codes = (edge_kind_codes.to_numpy() if edge_kind_codes is not None
                  else np.zeros(0, np.uint8))
    event_time = resolved.select(_epoch_us("event_time"))["event_time"].to_numpy()
    recorded_at = resolved.select(_epoch_us("recorded_at"))["recorded_at"].to_numpy()

    say("assembling snapshot tables")
    ts = pa.timestamp("us", tz="UTC")
    source_names, source_codes = (
        _codes(resolved["__file"]) if resolved.height else ([], pl.Series([], dtype=pl.UInt8))
    )
    edge_records = pa.table(
        {
            "src": pa.array(src_new[down_order].astype(np.int32)),
            "dst": pa.array(dst_new[down_order].astype(np.int32)),
            "kind": pa.DictionaryArray.from_arrays(
                pa.array(kind_codes[down_order]), pa.array(edge_kinds, pa.string())),
            "event_time": resolved["event_time"].to_arrow().cast(ts).take(down_order),
            "recorded_at": resolved["recorded_at"].to_arrow().cast(ts).take(down_order),
            "quantity": resolved["quantity"].to_arrow().take(down_order),
            "event_id": resolved["event_id"].to_arrow().cast(pa.string()).take(down_order),
            "source": pa.DictionaryArray.from_arrays(
                pa.array(source_codes.to_numpy()[down_order]), pa.array(source_names, pa.string())),
            "source_row": pa.array(resolved["__row"].to_numpy()[down_order]),
        }
    )
    down = pa.table(
        {
            "neighbor": pa.array(dst_new[down_order].astype(np.int32)),
            "kind": pa.array(kind_codes[down_order]),
            "event_time": pa.array(event_time[down_order]),
            "recorded_at": pa.array(recorded_at[down_order]),
        }
    )
    up = pa.table(
        {
            "neighbor": pa.array(src_new[up_by_input].astype(np.int32)),
            "kind": pa.array(kind_codes[up_by_input]),
            "event_time": pa.array(event_time[up_by_input]),
            "recorded_at": pa.array(recorded_at[up_by_input]),
            "edge": pa.array(up_edge.astype(np.int32 if len(up_edge) < 2**31 else np.int64)),
        }
    )
    indptr = pa.table({"down": narrow_indptr(indptr_down), "up": narrow_indptr(indptr_up)})
    taken = pa.array(new_to_old)
    node_arrow = node_frame.to_arrow()
    node_table = pa.table(
        {
            "key": node_arrow.column("key").cast(pa.large_string()).take(taken),
            "kind": pa.DictionaryArray.from_arrays(
                pa.array(node_kind_codes.to_numpy()[new_to_old].astype(np.int8)),
                pa.array(node_kinds, pa.string())),
            "product": node_arrow.column("product").cast(pa.string()).take(taken)
            .dictionary_encode(),
            "quantity": node_arrow.column("quantity").take(taken),
            "uom": node_arrow.column("uom").cast(pa.string()).take(taken).dictionary_encode(),
            "created_at": node_arrow.column("created_at").cast(ts).take(taken),
        }
    )
    say("indexing keys")
    by_key = pl.Series(node_table.column("key")).arg_sort().to_numpy().astype(np.int32)
    key_index = pa.table({"by_key": by_key})

    rejects = pl.concat(
        [nodes.rejects, edges.rejects, _unknown_rejects(unknown_src, "src"),
         _unknown_rejects(unknown_dst, "dst")],
        how="vertical_relaxed",
    )
    reject_table = rejects.to_arrow().cast(REJECTS_SCHEMA)
    reasons = rejects.group_by("reason").len().sort("len", descending=True)
    manifest: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(),
        "log_sequence": log_sequence,
        "node_count": n,
        "edge_count": resolved.height,
        "node_kinds": node_kinds,
        "edge_kinds": edge_kinds,
        "id_order": order,
        "build": {
            "rejected": rejects.height,
            "folded_nodes": nodes.folded,
            "folded_edges": folded_edges,
            "sources": sorted(set(source_names) | set(node_frame["__file"].unique().to_list())),
            "ignored_columns": {**nodes.ignored_columns, **edges.ignored_columns},
        },
    }
    say("writing and publishing the snapshot")
    path = publish_snapshot(
        data_dir,
        {
            "nodes": node_table,
            "key_index": key_index,
            "edges": edge_records,
            "indptr": indptr,
            "down": down,
            "up": up,
            "rejects": reject_table,
        },
        manifest,
    )
    return BuildReport(
        snapshot=path,
        nodes=n,
        edges=resolved.height,
        rejected=rejects.height,
        folded_nodes=nodes.folded,
        folded_edges=folded_edges,
        seconds=time.perf_counter() - started,
        reject_reasons=dict(zip(reasons["reason"].to_list(), reasons["len"].to_list(),
                                strict=True)),
        ignored_columns=manifest["build"]["ignored_columns"],
    )


def build_from_files(
    node_files: Sequence[Path],
    edge_files: Sequence[Path],
    data_dir: Path,
    *,
    progress: Progress | None = None,
    order: str = "bfs",
) -> BuildReport:
    """Read, validate and build: the `tracegraph build` command."""
    say = progress or (lambda _m: None)
    say(f"reading {len(node_files)} node file(s)")
    nodes = load_nodes(node_files)
    say(f"reading {len(edge_files)} edge file(s)")
    edges = load_edges(edge_files)
    return build_snapshot(nodes, edges, data_dir, progress=progress, order=order)
