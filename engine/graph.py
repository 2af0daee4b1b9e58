"""The typed query API over one snapshot: node keys in, Arrow tables out.

Three layers, as in graphblas-algorithms: numba kernels on dense ids (`engine._kernels`), this
module's private helpers on dense ids, and the public methods that translate keys, validate every
argument and raise `TraceError`s that name what was wrong.

Semantics shared by the queries:
- direction "downstream" follows material flow (where-used), "upstream" goes against it
  (where-from); the aliases forward/where-used and backward/where-from are accepted.
- `edge_kinds` restricts which edges are followed; `node_kinds` restricts which nodes are
  returned (traversal still passes through other kinds, so lot -> work order -> serial works).
- `since`/`until` keep edges whose event time lies in the window (inclusive); an edge with no
  event time is kept, since a recall must not miss a unit for lack of a timestamp.
- `as_of` keeps edges recorded at or before that time: the answer we would have given then.
- `limit` bounds the returned rows; a bigger answer raises `ResultLimitExceeded`.
- Seeds are not returned. Rows come in breadth-first order (non-decreasing depth).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.direction import Direction, direction_of
from domain.errors import EmptySeeds, InvalidInput, NotConnected, UnknownNode
from domain.schemas import (
    BY_CUSTOMER_SCHEMA,
    BY_KIND_SCHEMA,
    BY_SHIPMENT_SCHEMA,
    HOURGLASS_SCHEMA,
    KIND_TYPE,
    NODE_FIELDS,
    PATH_SCHEMA,
    TRACE_SCHEMA,
    TRACE_VIA_SCHEMA,
)
from domain.time import TimeLike
from engine import _kernels as k
from engine.algorithms import Walks, impact_ids, path_ids, trace_ids
from engine.cancellation import Cancellation, cancel_flag
from engine.columns import EDGE_COLUMNS, check_columns, edge_columns, with_columns
from engine.drawing import DrawingQueries
from engine.filters import Filter, make_filter
from engine.population import PopulationQueries
from engine.recall_queries import RecallQueries
from engine.scratch import Scratch, ScratchPool
from engine.shipped import finished_flags, shipped_quantities
from engine.time_respecting import time_respecting_ids
from engine.view import View
from index.attributes import overlay
from index.delta import DeltaView
from index.snapshot import Adjacency, Snapshot

__all__ = ["Cancellation", "Direction", "Graph", "Impact", "View"]

Array = npt.NDArray[Any]


_DIRECTIONS = pa.array(["upstream", "downstream"], pa.string())  # hourglass order


@dataclass(frozen=True)
class Impact:
    """Downstream closure of many seeds: counts first, then the rows.

    `by_kind`: kind, nodes. `by_shipment`: shipment key, quantity (the net quantity of
    affected finished units that reached it: a lot shipped as 40 EA counts 40, a serial 1,
    reversals and returns net; engine.shipped counts the same per row), unknown_quantity
    (finished units that reached it with no quantity recorded: lots, counted apart, never
    guessed), units (affected serials, each 1). `by_customer`: customer key, the same, and
    shipments. Sorted by quantity, most first. `rows`: key, kind, depth (None when rows were
    not asked for).
    """

    seeds: int
    affected: int
    by_kind: pa.Table
    by_shipment: pa.Table
    by_customer: pa.Table
    rows: pa.Table | None


class Graph(RecallQueries, PopulationQueries, DrawingQueries):
    """Queries over a snapshot and, for a live store, its delta. Thread-safe: each thread uses
    its own scratch space, and each query reads one view (the delta at one log sequence)."""

    def __init__(self, snapshot: Snapshot,
                 views: Callable[[], DeltaView] | None = None) -> None:
        self._views = views
        if views is None and len(snapshot.retracted_at):
            # Retracted edges must be checked: read them through a (still empty) delta.
            from index.delta import Delta  # noqa: PLC0415 - only snapshots with retractions
            fixed = Delta(snapshot).view()
            self._views = lambda: fixed
        self._static = View(snapshot, None) if self._views is None else None
        self._cached: View | None = None
        self._scratch = ScratchPool(snapshot.node_count)
        self._warm_lock = threading.Lock()
        self._walks = Walks()

    @property
    def walks_cancelled(self) -> int:
        """Walks a cancellation stopped inside the kernel (not before they began)."""
        return self._walks.cancelled

    def _state(self) -> View:
        if self._views is None:
            assert self._static is not None
            return self._static
        view = self._views()
        state = self._cached
        if state is None or state.delta is not view:
            state = View(view.snapshot, view)
            self._cached = state
        return state

    # -- public API ---------------------------------------------------------------------------

    def view(self) -> View:
        """The current View: snapshot and delta at the newest acknowledged log sequence."""
        return self._state()

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot the current view reads (a live store swaps it after compaction)."""
        return self._state().snapshot

    @property
    def node_count(self) -> int:
        return self._state().node_count

    @property
    def edge_count(self) -> int:
        return self._state().edge_count

    @property
    def node_kinds(self) -> tuple[str, ...]:
        """Node kind names; a row's kind code indexes this (for the current view)."""
        return self._state().node_kinds

    @property
    def log_sequence(self) -> int:
        """The last log sequence number the current view covers."""
        return self._state().seq

    def trace(
        self,
        keys: str | Sequence[str],
        direction: str = "downstream",
        max_depth: int | None = None,
        edge_kinds: Iterable[str] | None = None,
        node_kinds: Iterable[str] | None = None,
        since: TimeLike = None,
        until: TimeLike = None,
        as_of: TimeLike = None,
        limit: int | None = None,
        via: bool = False,
        cancellation: Cancellation | None = None,
        time_respecting: bool = False,
        columns: Sequence[str] = (),
        products: Iterable[str] | None = None,
    ) -> pa.Table:
        """Nodes reachable from `keys`: columns key, kind, depth (and via: one predecessor key
        on a shortest chain, when asked). See the module docstring for the filters.
        `time_respecting`: only walks along which event times never go back
        (engine.time_respecting; depth is then the edges of the walk that reached the node
        first in time). `columns`: node attributes to add (engine.columns.COLUMNS);
        `products`: keep only rows whose node carries one of these products."""
        st = self._state()
        check_columns(columns)
        by_edge = any(c in EDGE_COLUMNS for c in columns)
        if by_edge and time_respecting:
            raise InvalidInput("edge_kind and event_time columns name the edge from the node a "
                               "row was reached from on a shortest chain; a time-respecting "
                               "trace has none: drop one of them")
        table = self._trace_in(st, keys, direction, max_depth, edge_kinds, node_kinds, since,
                               until, as_of, limit, via or by_edge, cancellation,
                               time_respecting)
        if not columns and products is None:
            return table
        scratch = self._scratch.get(st.node_count)
        ids = scratch.rows[: table.num_rows].copy()
        edges = None
        if by_edge:
            flt = make_filter(st, max_depth, edge_kinds, node_kinds, since, until, as_of,
                              limit)
            edges = edge_columns(st, ids, scratch.parents[: table.num_rows].copy(),
                                 direction_of(direction) == "downstream", flt)
            if not via:
                table = table.drop_columns(["via"])
        return with_columns(st, table, ids, columns, products, edges)

    def _trace_in(self, st: View, keys: str | Sequence[str], direction: str,
                  max_depth: int | None, edge_kinds: Iterable[str] | None,
                  node_kinds: Iterable[str] | None, since: TimeLike, until: TimeLike,
                  as_of: TimeLike, limit: int | None, via: bool,
                  cancellation: Cancellation | None,
                  time_respecting: bool = False) -> pa.Table:
        """`trace` on one given view (so callers that walk twice read one log sequence)."""
        adjacency = self._adjacency(st, direction)
        flt = make_filter(st, max_depth, edge_kinds, node_kinds, since, until, as_of, limit)
        seeds = self._resolve(st, keys)
        scratch = self._scratch.get(st.node_count)
        if time_respecting:
            if via:
                raise InvalidInput("via does not combine with a time-respecting trace")
            count, n_seeds = time_respecting_ids(
                st, adjacency, seeds, flt, scratch, self._walks,
                direction_of(direction) == "downstream", cancel_flag(cancellation))
            return self._rows(st, scratch, n_seeds, count, flt, via=False)
        count, n_seeds = trace_ids(st, adjacency, seeds, flt, scratch, self._walks,
                                   want_parent=via, cancel=cancel_flag(cancellation))
        return self._rows(st, scratch, n_seeds, count, flt, via=via)

    def count(
        self,
        keys: str | Sequence[str],
        direction: str = "downstream",
        max_depth: int | None = None,
        edge_kinds: Iterable[str] | None = None,
        since: TimeLike = None,
        until: TimeLike = None,
        as_of: TimeLike = None,
        cancellation: Cancellation | None = None,
    ) -> int:
        """How many nodes `trace` would return (no node filter, no limit), without building
        the rows: the cheapest "how far does this reach" question."""
        st = self._state()
        adjacency = self._adjacency(st, direction)
        flt = make_filter(st, max_depth, edge_kinds, None, since, until, as_of, None)
        seeds = self._resolve(st, keys)
        count, n_seeds = trace_ids(st, adjacency, seeds, flt, self._scratch.get(st.node_count),
                                   self._walks, cancel=cancel_flag(cancellation))
        return count - n_seeds

    def hourglass(
        self,
        key: str,
        max_depth: int | None = None,
        edge_kinds: Iterable[str] | None = None,
        node_kinds: Iterable[str] | None = None,
        since: TimeLike = None,
        until: TimeLike = None,
        as_of: TimeLike = None,
        limit: int | None = None,
        cancellation: Cancellation | None = None,
    ) -> pa.Table:
        """Upstream and downstream of one node in one call: columns direction, key, kind, depth.
        `limit` applies to each direction."""
        if not isinstance(key, str):
            raise InvalidInput("hourglass takes one key (a string)")
        parts = []
        st = self._state()  # both halves from one view: one log sequence, even while ingesting
        for code, direction in enumerate(_DIRECTIONS.to_pylist()):
            table = self._trace_in(st, key, direction, max_depth, edge_kinds, node_kinds, since,
                                   until, as_of, limit, False, cancellation)
            labels = pa.DictionaryArray.from_arrays(
                pa.array(np.full(table.num_rows, code, dtype=np.int32)), _DIRECTIONS)
            parts.append(table.add_column(0, HOURGLASS_SCHEMA.field("direction"), labels))
        return pa.concat_tables(parts)

    def impact(
        self,
        keys: Sequence[str],
        max_depth: int | None = None,
        edge_kinds: Iterable[str] | None = None,
        since: TimeLike = None,
        until: TimeLike = None,
        as_of: TimeLike = None,
        limit: int | None = None,
        rows: bool = True,
        cancellation: Cancellation | None = None,
        unit_products: Iterable[str] | None = None,
    ) -> Impact:
        """Downstream closure of many seeds, deduplicated, with counts by node kind, shipment
        and customer; `rows=False` skips materialising the affected rows' keys.
        `unit_products`: the products whose lots and serials are finished units (master data
        level "finished"); None counts every shipped lot and serial."""
        st = self._state()
        flt = make_filter(st, max_depth, edge_kinds, None, since, until, as_of, limit)
        seeds = self._resolve(st, keys)
        scratch = self._scratch.get(st.node_count)
        found = impact_ids(st, seeds, flt, scratch, self._walks, cancel_flag(cancellation))
        present = np.flatnonzero(found.per_kind)
        by_kind = pa.table({
            "kind": pa.array([st.node_kinds[i] for i in present], pa.string()),
            "nodes": pa.array(found.per_kind[present].astype(np.int64)),
        }, schema=BY_KIND_SCHEMA)
        count = len(found.visited)
        eligible = finished_flags(st, unit_products)
        (ship_qty, ship_unknown), (cust_qty, cust_unknown) = shipped_quantities(
            st, found.visited, scratch, flt, eligible, found.shipments, found.customers)
        ships = np.lexsort((found.shipments, -found.shipment_units, -ship_qty))
        custs = np.lexsort((found.customers, -found.customer_units, -cust_qty))
        return Impact(
            seeds=found.n_seeds,
            affected=count - found.n_seeds,
            by_kind=by_kind,
            by_shipment=pa.table({
                "shipment": st.keys(found.shipments[ships]),
                "quantity": pa.array(ship_qty[ships], pa.float64()),
                "unknown_quantity": pa.array(ship_unknown[ships], pa.int64()),
                "units": pa.array(found.shipment_units[ships], pa.int64()),
            }, schema=BY_SHIPMENT_SCHEMA),
            by_customer=pa.table({
                "customer": st.keys(found.customers[custs]),
                "quantity": pa.array(cust_qty[custs], pa.float64()),
                "unknown_quantity": pa.array(cust_unknown[custs], pa.int64()),
                "units": pa.array(found.customer_units[custs], pa.int64()),
                "shipments": pa.array(found.customer_shipments[custs], pa.int64()),
            }, schema=BY_CUSTOMER_SCHEMA),
            rows=(self._rows(st, scratch, found.n_seeds, count, flt, via=False) if rows
                  else None),
        )

    def path(
        self,
        src_key: str,
        dst_key: str,
        edge_kinds: Iterable[str] | None = None,
        since: TimeLike = None,
        until: TimeLike = None,
        as_of: TimeLike = None,
        cancellation: Cancellation | None = None,
    ) -> pa.Table:
        """A shortest downstream chain from src to dst: one row per node from src to dst with
        the kind and event time of the edge that led to it (null on the first row).
        Raises NotConnected when dst is not downstream of src."""
        st = self._state()
        flt = make_filter(st, None, edge_kinds, None, since, until, as_of, None)
        ids = self._resolve(st, [src_key, dst_key])
        try:
            chain, codes, times = path_ids(st, int(ids[0]), int(ids[1]), flt,
                                           self._scratch.get(st.node_count), self._walks,
                                           cancel_flag(cancellation))
        except NotConnected:
            raise NotConnected(f"{dst_key!r} is not downstream of {src_key!r} under the given "
                               "filters") from None
        edge_kinds_ = [None if c < 0 else st.edge_kinds[c] for c in codes.tolist()]
        kinds = pa.array([st.node_kinds[c] for c in st.node_kind[chain]], pa.string())
        return pa.table({
            "key": st.keys(chain),
            "kind": kinds.dictionary_encode().cast(KIND_TYPE),  # one kind type everywhere
            "edge_kind": pa.array(edge_kinds_, pa.string()),
            "event_time": pa.array([None if t == k.NO_TIME else t for t in times.tolist()],
                                   pa.int64()).cast(PATH_SCHEMA.field("event_time").type),
        }, schema=PATH_SCHEMA)

    def node(self, key: str) -> dict[str, Any]:
        """A node's attributes: key, kind, product, quantity, uom, created_at (with the
        changes corrections made since the snapshot)."""
        st = self._state()
        node_id = int(self._resolve(st, [key])[0])
        changes = st.delta.attributes if st.delta is not None else {}
        if node_id >= st.snapshot.node_count:
            assert st.delta is not None
            return overlay({name: st.delta.new_node(node_id).get(name) for name in NODE_FIELDS},
                           changes.get(node_id))  # a delta node's stable id is its id
        row: dict[str, Any] = st.snapshot.nodes.slice(node_id, 1).to_pylist()[0]
        sid = row.pop("sid", None)
        return overlay(row, changes.get(int(st.snapshot.sid[node_id]) if sid is None
                                        else int(sid)))

    def stats(self) -> dict[str, Any]:
        """Snapshot version, log sequence, and counts of nodes and edges by kind (snapshot and
        live delta together; retracted edges are counted, as history)."""
        st = self._state()
        snap = st.snapshot
        base = _snapshot_stats(snap)
        node_counts = np.bincount(st.node_kind[: st.node_count].astype(np.int64),
                                  minlength=len(st.node_kinds))
        edges_by_kind = dict(base["edges_by_kind"])
        if st.delta is not None and st.delta.n_edges:
            delta = st.delta
            edge_counts = np.bincount(delta.down.kind[: delta.n_edges],
                                      minlength=len(st.edge_kinds))
            for name, n in zip(st.edge_kinds, edge_counts.tolist(), strict=True):
                edges_by_kind[name] = edges_by_kind.get(name, 0) + n
        return {
            "snapshot": base["snapshot"], "version": base["version"],
            "created_at": base["created_at"], "nodes": st.node_count, "edges": st.edge_count,
            "nodes_by_kind": dict(sorted(zip(st.node_kinds, node_counts.tolist(),
                                             strict=True))),
            "edges_by_kind": dict(sorted((k, v) for k, v in edges_by_kind.items() if v)),
            # One count everywhere: the build's rejects plus the store's (import, ingest).
            "rejected": base["rejected"] + (0 if st.delta is None else st.delta.store_rejects),
            "folded_edges": base["folded_edges"],
            "log_sequence": st.seq,
            "delta_edges": 0 if st.delta is None else st.delta.n_edges,
            "retracted_edges": (len(snap.retracted_at) if st.delta is None
                                else st.delta.retracted_edges),
        }

    def warm(self) -> None:
        """Compile (or load from cache) every kernel and touch the key index, so the first real
        query does not pay for it."""
        with self._warm_lock:
            st = self._state()
            st.snapshot.keys.warm()
            if st.node_count == 0:
                return
            first = st.key_of(0)
            for direction in ("downstream", "upstream"):
                self.trace(first, direction, max_depth=1, via=True)
                self.trace(first, direction, max_depth=1, node_kinds=[st.node_kinds[0]],
                           edge_kinds=list(st.edge_kinds[:1]) or None, since="1970-01-01",
                           as_of=datetime.now(UTC))
            self.impact([first], max_depth=1)

    # -- dense-id layer -----------------------------------------------------------------------

    def _adjacency(self, st: View, direction: str) -> Adjacency:
        name = direction_of(direction)
        return st.snapshot.down if name == "downstream" else st.snapshot.up

    def unknown_keys(self, keys: Sequence[str]) -> dict[str, list[str]]:
        """The keys of `keys` that name no node, each with up to a few similar keys the graph
        has (a typo's likely meaning)."""
        if not keys:
            return {}
        st = self._state()
        ids = st.lookup(list(keys))
        return {key: list(st.snapshot.keys.suggest(key, int(i)) if st.snapshot.node_count
                          else ())
                for key, i in zip(keys, ids.tolist(), strict=True) if i < 0}

    def _resolve(self, st: View, keys: str | Sequence[str]) -> Array:
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, Sequence):
            keys = list(keys)
        if len(keys) == 0:
            raise EmptySeeds("no seed keys given: a query needs at least one node key")
        for key in keys:
            if not isinstance(key, str):
                raise InvalidInput(f"node keys are strings; got {type(key).__name__} {key!r}")
            if key == "" or key != key.strip():
                raise InvalidInput(f"malformed node key {key!r}: empty or padded with spaces")
        ids = st.lookup(keys)
        if (ids[0] < 0) if len(ids) == 1 else (ids.min() < 0):
            first = int(np.argmax(ids < 0))
            key = keys[first]
            suggestions = (st.snapshot.keys.suggest(key, int(ids[first]))
                           if st.snapshot.node_count else ())
            raise UnknownNode(key, suggestions)
        return ids

    def _rows(self, st: View, scratch: Scratch, n_seeds: int, count: int, flt: Filter, *,
              via: bool) -> pa.Table:
        snap = st.snapshot
        delta_offsets, delta_data = st.delta_keys
        n, key_bytes, via_bytes = k.select_rows(
            scratch.queue, n_seeds, count, st.node_kind, flt.node_allowed, flt.filter_nodes,
            scratch.depth, scratch.parent, via, snap.keys.offsets, delta_offsets, scratch.rows,
            scratch.codes, scratch.depths, scratch.parents, scratch.offsets, scratch.via_offsets,
        )
        key_off = scratch.offsets[: n + 1].copy()
        keys = np.empty(key_bytes, dtype=np.uint8)
        k.gather_keys(snap.keys.offsets, snap.keys.data, delta_offsets, delta_data,
                      scratch.rows[:n], key_off, keys)
        codes = scratch.codes[:n].copy()
        depths = scratch.depths[:n].copy()
        arrays = [
            pa.LargeStringArray.from_buffers(n, pa.py_buffer(key_off), pa.py_buffer(keys)),
            pa.DictionaryArray.from_buffers(KIND_TYPE, n, [None, pa.py_buffer(codes)],
                                            st.kind_names),
            pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(depths)]),
        ]
        if via:
            via_off = scratch.via_offsets[: n + 1].copy()
            via_keys = np.empty(via_bytes, dtype=np.uint8)
            k.gather_keys(snap.keys.offsets, snap.keys.data, delta_offsets, delta_data,
                          scratch.parents[:n], via_off, via_keys)
            arrays.append(pa.LargeStringArray.from_buffers(n, pa.py_buffer(via_off),
                                                           pa.py_buffer(via_keys)))
            return pa.Table.from_arrays(arrays, schema=TRACE_VIA_SCHEMA)
        return pa.Table.from_arrays(arrays, schema=TRACE_SCHEMA)

_STATS: weakref.WeakKeyDictionary[Snapshot, dict[str, Any]] = weakref.WeakKeyDictionary()


def _snapshot_stats(snap: Snapshot) -> dict[str, Any]:
    """Counts of one snapshot (computed once: a snapshot never changes, and counting reads
    every node and edge)."""
    if (cached := _STATS.get(snap)) is not None:
        return cached
    edge_counts = np.bincount(snap.down.kind, minlength=len(snap.edge_kinds))
    stats = _STATS[snap] = {
        "snapshot": str(snap.path),
        "version": snap.version,
        "created_at": snap.manifest["created_at"],
        "nodes": snap.node_count,
        "edges": snap.edge_count,
        "edges_by_kind": dict(zip(snap.edge_kinds, edge_counts.tolist(), strict=True)),
        "rejected": snap.manifest["build"]["rejected"],
        "folded_edges": snap.manifest["build"]["folded_edges"],
    }
    return stats
