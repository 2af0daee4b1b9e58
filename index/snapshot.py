"""An opened, read-only snapshot: memory-mapped Arrow tables and zero-copy numpy views of them.

Opening maps the files and checks sizes against the manifest (a torn file is skipped in favour of
the previous snapshot); nothing is read until a query touches it, so `open` is fast at any scale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.errors import SnapshotError
from domain.time import NO_TIME
from index.files import (
    list_snapshots,
    numpy_view,
    read_ipc,
    read_manifest,
    single_chunk,
    verify_snapshot,
)
from index.keys import KeyIndex

__all__ = ["Adjacency", "Snapshot", "open_snapshot"]

Array = npt.NDArray[Any]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Adjacency:
    """CSR for one direction: neighbours of v are neighbor[indptr[v]:indptr[v + 1]]. The
    edge attributes (kind, event_time, recorded_at) are in downstream order: for the
    downstream CSR at the same position (`mapped` False), for the upstream one at
    `edge[position]`."""

    indptr: Array
    neighbor: Array
    kind: Array
    event_time: Array
    recorded_at: Array
    edge: Array
    mapped: bool


def _down(indptr: pa.Table, table: pa.Table, edge_dtype: type) -> Adjacency:
    return Adjacency(
        indptr=_pointers(indptr, "down"),
        neighbor=numpy_view(table.column("neighbor"), np.int32),
        kind=numpy_view(table.column("kind"), np.uint8),
        event_time=numpy_view(table.column("event_time"), np.int64),
        recorded_at=numpy_view(table.column("recorded_at"), np.int64),
        edge=np.zeros(0, dtype=edge_dtype), mapped=False,
    )


def _up(indptr: pa.Table, table: pa.Table, down: Adjacency) -> Adjacency:
    edge = table.column("edge")
    return Adjacency(
        indptr=_pointers(indptr, "up"),
        neighbor=numpy_view(table.column("neighbor"), np.int32),
        kind=down.kind, event_time=down.event_time, recorded_at=down.recorded_at,
        edge=numpy_view(edge, np.int32 if edge.type == pa.int32() else np.int64),
        mapped=True,
    )


def _pointers(indptr: pa.Table, column: str) -> Array:
    pointer_type = indptr.schema.field(column).type
    return numpy_view(indptr.column(column), np.int32 if pointer_type == pa.int32()
                      else np.int64)


class Snapshot:
    """One published snapshot directory, opened read-only."""

    def __init__(self, path: Path, *, verify: str = "size") -> None:
        self.path = path
        self.manifest = read_manifest(path)
        verify_snapshot(path, self.manifest, full=(verify == "full"))
        self.version: int = self.manifest["version"]
        self.log_sequence: int = self.manifest.get("log_sequence", 0)
        self.nodes = read_ipc(path / "nodes.arrow")
        self.node_count = self.nodes.num_rows
        self.edge_count: int = self.manifest["edge_count"]
        if self.node_count != self.manifest["node_count"]:
            raise SnapshotError(f"{path}: node table has {self.node_count} rows, manifest says "
                                f"{self.manifest['node_count']}")
        self.node_kinds: list[str] = self.manifest["node_kinds"]
        self.edge_kinds: list[str] = self.manifest["edge_kinds"]
        kind = single_chunk(self.nodes.column("kind"))
        self.node_kind = numpy_view(kind.indices, np.int8)
        self.node_keys: pa.Array = single_chunk(self.nodes.column("key"))
        indptr = read_ipc(path / "indptr.arrow")
        up = read_ipc(path / "up.arrow")
        edge_dtype = np.int32 if up.schema.field("edge").type == pa.int32() else np.int64
        self.down = _down(indptr, read_ipc(path / "down.arrow"), edge_dtype)
        self.up = _up(indptr, up, self.down)
        key_index = read_ipc(path / "key_index.arrow")
        key_hash = read_ipc(path / "key_hash.arrow")
        self.keys = KeyIndex(self.node_keys, numpy_view(key_index.column("by_key"), np.int32),
                             numpy_view(key_hash.column("slot"), np.int32))
        if len(self.down.neighbor) != self.edge_count:
            raise SnapshotError(f"{path}: edge arrays disagree with the manifest")
        for adjacency in (self.down, self.up):
            # O(1) bounds that keep a kernel inside its arrays whatever the files hold (their
            # contents are checksummed when they change: index.verified).
            pointers = adjacency.indptr
            if (len(pointers) != self.node_count + 1 or int(pointers[0]) != 0
                    or int(pointers[-1]) != self.edge_count):
                raise SnapshotError(f"{path}: CSR row pointers disagree with the manifest")
        self.sid = numpy_view(self.nodes.column("sid"), np.int32)
        retractions = read_ipc(path / "retractions.arrow")
        self.retracted_down = numpy_view(retractions.column("down"), np.int64)
        self.retracted_up = numpy_view(retractions.column("up"), np.int64)
        self.retracted_at = numpy_view(retractions.column("retracted_at"), np.int64)
        # Edges whose packing was undone (EPCIS DELETE), by down position; older snapshots
        # of this format have none.
        if "ended.arrow" in self.manifest["files"]:
            ended = read_ipc(path / "ended.arrow")
            self.ended_down = numpy_view(ended.column("down"), np.int64)
            self.ended_at = numpy_view(ended.column("ended_at"), np.int64)
        else:
            self.ended_down = self.ended_at = np.zeros(0, dtype=np.int64)

    @cached_property
    def local_of_sid(self) -> Array:
        """Snapshot id of each stable id (the inverse of `sid`; stable ids are 0..n-1)."""
        local = np.empty(self.node_count, dtype=np.int32)
        local[self.sid] = np.arange(self.node_count, dtype=np.int32)
        return local

    @cached_property
    def edges(self) -> pa.Table:
        """Edge records in downstream CSR order (src, dst ids; kind, times, source file/row)."""
        return read_ipc(self.path / "edges.arrow")

    @cached_property
    def max_out_degree(self) -> int:
        """The most downstream edges of one node."""
        return int(np.diff(self.down.indptr).max(initial=0)) if self.node_count else 0

    @cached_property
    def newest_record_time(self) -> int:
        """The latest record time of any edge or retraction here (NO_TIME: none)."""
        times = [NO_TIME]
        if self.edge_count:
            times.append(int(self.down.recorded_at.max()))
        if len(self.retracted_at):
            times.append(int(self.retracted_at.max()))
        return max(times)

    @cached_property
    def edge_quantity(self) -> Array:
        """Each edge's quantity in downstream CSR order, NaN where none was recorded (negative:
        a reversal or return). Read once per snapshot: the consignee kernels take it whole."""
        if not self.edge_count:
            return np.zeros(0, dtype=np.float64)
        column = self.edges.column("quantity")
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)

    @property
    def up_edge(self) -> Array:
        """Row in `edges` (and downstream CSR position) of each upstream CSR position."""
        return self.up.edge

    @cached_property
    def rejects(self) -> pa.Table:
        return read_ipc(self.path / "rejects.arrow")


def open_snapshot(data_dir: Path, *, verify: str = "size") -> Snapshot:
    """Open the newest loadable snapshot in `data_dir`; fall back past torn or corrupt ones."""
    if not data_dir.is_dir():
        raise SnapshotError(f"{data_dir}: no such data directory; build one with "
                            "`tracegraph build --nodes ... --edges ... --data DIR`")
    problems = []
    for candidate in list_snapshots(data_dir):
        try:
            snapshot = Snapshot(candidate, verify=verify)
        except SnapshotError as e:
            problems.append(str(e))
            continue
        for problem in problems:  # said once the fallback is known to work (else: the error)
            log.warning("skipped a newer snapshot: %s; answering from %s", problem, candidate)
        return snapshot
    detail = ("; ".join(problems)) if problems else "it holds no snapshot"
    raise SnapshotError(f"{data_dir}: no loadable snapshot ({detail})")
