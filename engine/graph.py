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

import itertools
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
from domain.errors import (
    EmptySeeds,
    InvalidInput,
    NotConnected,
    QueryCancelled,
    ResultLimitExceeded,
    UnknownNode,
)
from domain.time import TimeLike, to_micros
from engine import _kernels as k
from engine.scratch import Scratch, ScratchPool
from index.delta import DeltaView, LiveArrays
from index.faults import hit
from index.snapshot import Adjacency, Snapshot

__all__ = ["Cancellation", "Direction", "Graph", "Impact", "View"]

Array = npt.NDArray[Any]
_NO_LIMIT = np.iinfo(np.int64).max
_MIN_TIME = k.MIN_TIME
_MAX_TIME = k.MAX_TIME
CONTAINER_KINDS = ("logistic_unit", "shipment", "customer")
_NO_KINDS = np.zeros(256, dtype=np.bool_)  # read-only placeholder when a filter is off
_NO_KINDS.flags.writeable = False
_KIND_TYPE = pa.dictionary(pa.int8(), pa.string())
_NODE_FIELDS = ("key", "kind", "product", "quantity", "uom", "created_at")
_ROW_SCHEMA = pa.schema([("key", pa.large_string()), ("kind", _KIND_TYPE), ("depth", pa.int32())])
_VIA_SCHEMA = _ROW_SCHEMA.append(pa.field("via", pa.large_string()))


class Cancellation:
    """A stop flag a running query polls (every few thousand nodes). Set it from any thread,
    for example when a gRPC call is cancelled or its deadline passes; the query then raises
    QueryCancelled. One Cancellation belongs to one request."""

    def __init__(self) -> None:
        self.flag = np.zeros(1, dtype=np.uint8)

    def cancel(self) -> None:
        self.flag[0] = 1

    @property
    def cancelled(self) -> bool:
        return bool(self.flag[0])


@dataclass(frozen=True)
class _Filter:
    """Validated, kernel-ready edge and node filters."""

    kind_allowed: Array
    filter_kinds: bool
    since: int
    until: int
    as_of: int
    node_allowed: Array
    filter_nodes: bool
    max_depth: int
    limit: int


_UNFILTERED = _Filter(
    kind_allowed=_NO_KINDS, filter_kinds=False, since=_MIN_TIME, until=_MAX_TIME,
    as_of=_MAX_TIME, node_allowed=_NO_KINDS, filter_nodes=False, max_depth=-1,
    limit=_NO_LIMIT - 1,
)


@dataclass(frozen=True)
class Impact:
    """Downstream closure of many seeds: counts first, then the rows.

    `by_kind`: kind, nodes. `by_shipment`: shipment key, units (affected serials packed or
    shipped directly into a container of that shipment). `by_customer`: customer key, units,
    shipments. `rows`: key, kind, depth (None when rows were not asked for).
    """

    seeds: int
    affected: int
    by_kind: pa.Table
    by_shipment: pa.Table
    by_customer: pa.Table
    rows: pa.Table | None


_EMPTY_I32 = np.zeros(0, dtype=np.int32)
_EMPTY_I64 = np.zeros(0, dtype=np.int64)
_EMPTY_LIVE = LiveArrays(_EMPTY_I32, _EMPTY_I32, _EMPTY_I32, np.zeros(0, dtype=np.uint8),
                         _EMPTY_I64, _EMPTY_I64, _EMPTY_I64, 0, np.zeros(0, dtype=np.uint8),
                         _EMPTY_I64, _EMPTY_I64)
_EMPTY_KEYS = (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8))


class View:
    """Everything one query reads: a snapshot and the delta at one log sequence number
    (immutable once made: a query that walks twice, like hourglass, reads one View, so both
    walks see the same log sequence). `Graph.view()` gives the current one."""

    def __init__(self, snapshot: Snapshot, delta: DeltaView | None) -> None:
        self.snapshot = snapshot
        self.delta = delta
        if delta is None:
            self.node_count = int(snapshot.node_count)
            self.edge_count = snapshot.edge_count
            self.node_kind: Array = snapshot.node_kind
            self.node_kinds: tuple[str, ...] = tuple(snapshot.node_kinds)
            self.edge_kinds: tuple[str, ...] = tuple(snapshot.edge_kinds)
            self.down_live, self.up_live = _EMPTY_LIVE, _EMPTY_LIVE
            self.delta_keys = _EMPTY_KEYS
            self.changed = False
        else:
            self.node_count = delta.n_nodes
            self.edge_count = snapshot.edge_count + delta.n_edges
            self.node_kind = delta.node_kind
            self.node_kinds, self.edge_kinds = delta.node_kinds, delta.edge_kinds
            self.down_live, self.up_live = delta.down, delta.up
            self.delta_keys = (delta.key_offsets, delta.key_data)
            self.changed = delta.changed
        self.node_kind_index = {name: i for i, name in enumerate(self.node_kinds)}
        self.edge_kind_index = {name: i for i, name in enumerate(self.edge_kinds)}
        self.kind_names = pa.array(self.node_kinds, pa.string())
        self.seq = snapshot.log_sequence if delta is None else delta.seq

    def kind_code(self, name: str) -> int:
        return self.node_kind_index.get(name, -1)

    def live(self, adj: Adjacency) -> LiveArrays:
        return self.down_live if adj is self.snapshot.down else self.up_live

    def lookup(self, keys: Sequence[str]) -> Array:
        ids = self.snapshot.keys.lookup(keys) if self.snapshot.node_count else np.full(
            len(keys), -1, dtype=np.int32)
        if self.delta is not None and self.delta.n_nodes > self.delta.n_snap:
            # Misses keep their negative insertion point (for suggestions) unless found here.
            self.delta.resolve_new(pa.array(list(keys), pa.large_string()), ids)
        return ids

    def key_of(self, node: int) -> str:
        if node < self.snapshot.node_count:
            return str(self.snapshot.node_keys[node].as_py())
        assert self.delta is not None
        return str(self.delta.new_node(node)["key"])


class Graph:
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
        self.walks_cancelled = 0
        """Walks a cancellation stopped inside the kernel (not before they began)."""

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
    ) -> pa.Table:
        """Nodes reachable from `keys`: columns key, kind, depth (and via: one predecessor key
        on a shortest chain, when asked). See the module docstring for the filters."""
        return self._trace_in(self._state(), keys, direction, max_depth, edge_kinds,
                              node_kinds, since, until, as_of, limit, via, cancellation)

    def _trace_in(self, st: View, keys: str | Sequence[str], direction: str,
                  max_depth: int | None, edge_kinds: Iterable[str] | None,
                  node_kinds: Iterable[str] | None, since: TimeLike, until: TimeLike,
                  as_of: TimeLike, limit: int | None, via: bool,
                  cancellation: Cancellation | None) -> pa.Table:
        """`trace` on one given view (so callers that walk twice read one log sequence)."""
        adjacency = self._adjacency(st, direction)
        flt = self._filter(st, max_depth, edge_kinds, node_kinds, since, until, as_of, limit)
        seeds = self._resolve(st, keys)
        scratch = self._scratch.get(st.node_count)
        count, n_seeds = self._run(st, adjacency, seeds, flt, scratch, want_parent=via,
                                   cancellation=cancellation)
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
        flt = self._filter(st, max_depth, edge_kinds, None, since, until, as_of, None)
        seeds = self._resolve(st, keys)
        count, n_seeds = self._run(st, adjacency, seeds, flt, self._scratch.get(st.node_count),
                                   want_parent=False, cancellation=cancellation)
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
        for direction in ("upstream", "downstream"):
            table = self._trace_in(st, key, direction, max_depth, edge_kinds, node_kinds, since,
                                   until, as_of, limit, False, cancellation)
            labels = pa.array([direction] * table.num_rows, pa.string()).dictionary_encode()
            parts.append(table.add_column(0, "direction", labels))
        return pa.concat_tables(parts, promote_options="permissive")

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
    ) -> Impact:
        """Downstream closure of many seeds, deduplicated, with counts by node kind, shipment
        and customer; `rows=False` skips materialising the affected rows' keys."""
        st = self._state()
        flt = self._filter(st, max_depth, edge_kinds, None, since, until, as_of, limit)
        seeds = self._resolve(st, keys)
        scratch = self._scratch.get(st.node_count)
        count, n_seeds = self._run(st, st.snapshot.down, seeds, flt, scratch, want_parent=False,
                                   cancellation=cancellation)
        visited = scratch.queue[:count].copy()
        all_kinds = st.node_kind[visited]
        per_kind = np.bincount(all_kinds[n_seeds:].astype(np.int64),
                               minlength=len(st.node_kinds))
        present = np.flatnonzero(per_kind)
        by_kind = pa.table({
            "kind": pa.array([st.node_kinds[i] for i in present], pa.string()),
            "nodes": pa.array(per_kind[present].astype(np.int64)),
        })
        shipments = self._of_kind(st, visited, all_kinds, "shipment")
        customers = self._of_kind(st, visited, all_kinds, "customer")
        ship_units, customer_units = self._tally(
            st, scratch, visited, flt, "serial", ("shipment", "customer"), shipments, customers)
        [customer_shipments] = self._tally(st, scratch, visited, flt, "shipment", ("customer",),
                                           customers)
        ship_order = np.lexsort((shipments, -ship_units))
        customer_order = np.lexsort((customers, -customer_units))
        return Impact(
            seeds=n_seeds,
            affected=count - n_seeds,
            by_kind=by_kind,
            by_shipment=pa.table({
                "shipment": self._keys(st, shipments[ship_order]),
                "units": pa.array(ship_units[ship_order]),
            }),
            by_customer=pa.table({
                "customer": self._keys(st, customers[customer_order]),
                "units": pa.array(customer_units[customer_order]),
                "shipments": pa.array(customer_shipments[customer_order]),
            }),
            rows=self._rows(st, scratch, n_seeds, count, flt, via=False) if rows else None,
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
        flt = self._filter(st, None, edge_kinds, None, since, until, as_of, None)
        ids = self._resolve(st, [src_key, dst_key])
        source, target = int(ids[0]), int(ids[1])
        scratch = self._scratch.get(st.node_count)
        down = st.snapshot.down
        if source == target:
            chain = [source]
        else:
            self._run(st, down, ids[:1], flt, scratch, want_parent=True, target=target,
                      cancellation=cancellation)
            if scratch.marks[target] != scratch.epoch:
                raise NotConnected(
                    f"{dst_key!r} is not downstream of {src_key!r} under the given filters")
            chain = [target]
            while chain[-1] != source:
                chain.append(int(scratch.parent[chain[-1]]))
            chain.reverse()
        edge_kind: list[str | None] = [None]
        edge_time: list[int | None] = [None]
        for a, b in itertools.pairwise(chain):
            code, t = self._first_edge(st, a, b, flt)
            edge_kind.append(st.edge_kinds[code])
            edge_time.append(None if t == k.NO_TIME else t)
        chain_ids = np.asarray(chain, dtype=np.int32)
        kinds = pa.array([st.node_kinds[c] for c in st.node_kind[chain_ids]], pa.string())
        return pa.table({
            "key": self._keys(st, chain_ids),
            "kind": kinds.dictionary_encode().cast(_KIND_TYPE),  # one kind type everywhere
            "edge_kind": pa.array(edge_kind, pa.string()),
            "event_time": pa.array(edge_time, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        })

    def node(self, key: str) -> dict[str, Any]:
        """A node's attributes: key, kind, product, quantity, uom, created_at."""
        st = self._state()
        node_id = int(self._resolve(st, [key])[0])
        if node_id >= st.snapshot.node_count:
            assert st.delta is not None
            return {name: st.delta.new_node(node_id).get(name) for name in _NODE_FIELDS}
        row: dict[str, Any] = st.snapshot.nodes.slice(node_id, 1).to_pylist()[0]
        row.pop("sid", None)
        return row

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
            # path() checks each step's edge with the kernels' filter.
            down = st.snapshot.down
            k.edge_ok(0, down.kind, down.event_time, down.recorded_at, _NO_KINDS, False,
                      _MIN_TIME, _MAX_TIME, _MAX_TIME)
            k.visible(k.NEVER, _MAX_TIME)

    # -- dense-id layer -----------------------------------------------------------------------

    def _adjacency(self, st: View, direction: str) -> Adjacency:
        name = direction_of(direction)
        return st.snapshot.down if name == "downstream" else st.snapshot.up

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

    def _kind_mask(self, names: Iterable[str] | None, index: dict[str, int],
                   what: str) -> tuple[Array, bool]:
        if names is None:
            return _NO_KINDS, False
        mask = np.zeros(256, dtype=np.bool_)
        if isinstance(names, str):
            names = [names]
        names = list(names)
        if not names:
            raise InvalidInput(f"{what} filter is empty; pass None for no filter")
        for name in names:
            if name not in index:
                raise InvalidInput(f"unknown {what} {name!r}; this graph has: "
                                   f"{', '.join(sorted(index)) or 'none'}")
            mask[index[name]] = True
        return mask, True

    def _filter(self, st: View, max_depth: int | None, edge_kinds: Iterable[str] | None,
                node_kinds: Iterable[str] | None, since: TimeLike, until: TimeLike,
                as_of: TimeLike, limit: int | None) -> _Filter:
        if (max_depth is None and edge_kinds is None and node_kinds is None and since is None
                and until is None and as_of is None and limit is None):
            return _UNFILTERED
        if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, int)
                                      or max_depth < 0):
            raise InvalidInput(f"max_depth must be a non-negative integer, got {max_depth!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise InvalidInput(f"limit must be a positive integer, got {limit!r}")
        kind_allowed, filter_kinds = self._kind_mask(edge_kinds, st.edge_kind_index,
                                                     "edge kind")
        node_allowed, filter_nodes = self._kind_mask(node_kinds, st.node_kind_index,
                                                     "node kind")
        lo = to_micros(since, "since")
        hi = to_micros(until, "until")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidInput(f"since ({since}) is after until ({until})")
        as_of_us = to_micros(as_of, "as_of")
        return _Filter(
            kind_allowed=kind_allowed, filter_kinds=filter_kinds,
            since=_MIN_TIME if lo is None else lo, until=_MAX_TIME if hi is None else hi,
            as_of=_MAX_TIME if as_of_us is None else as_of_us,
            node_allowed=node_allowed, filter_nodes=filter_nodes,
            max_depth=-1 if max_depth is None else max_depth,
            limit=_NO_LIMIT - 1 if limit is None else limit,
        )

    def _run(self, st: View, adj: Adjacency, seeds: Array, flt: _Filter, scratch: Scratch, *,
             want_parent: bool, target: int = -1,
             cancellation: Cancellation | None = None) -> tuple[int, int]:
        if cancellation is not None and cancellation.cancelled:
            raise QueryCancelled("query cancelled before it started")
        hit("before-walk")  # tests widen this window so a cancel lands while the walk runs
        epoch = scratch.next_epoch()
        cancel = scratch.cancel if cancellation is None else cancellation.flag
        plain = (not want_parent and target < 0 and not flt.filter_nodes and not flt.filter_kinds
                 and flt.since == _MIN_TIME and flt.until == _MAX_TIME and flt.as_of == _MAX_TIME
                 and not st.changed)
        if plain:
            count, n_seeds, matched = k.traverse_plain(
                adj.indptr, adj.neighbor, seeds, flt.max_depth, flt.limit, scratch.marks, epoch,
                scratch.queue, scratch.depth, cancel)
        else:
            count, n_seeds, matched = k.traverse(
                adj.indptr, adj.neighbor, adj.kind, adj.event_time, adj.recorded_at,
                adj.edge, adj.mapped, seeds, flt.max_depth, flt.kind_allowed, flt.filter_kinds,
                flt.since, flt.until,
                flt.as_of, st.node_kind, flt.node_allowed, flt.filter_nodes,
                flt.limit, target, scratch.marks, epoch, scratch.queue, scratch.depth,
                scratch.parent, want_parent, cancel, st.live(adj),
            )
        if count == k.CANCELLED:
            self.walks_cancelled += 1
            raise QueryCancelled("query cancelled before it finished")
        if matched > flt.limit:
            raise ResultLimitExceeded(
                flt.limit,
                f"the answer has more than {flt.limit:,} rows; narrow it (max_depth, edge_kinds, "
                "node_kinds, since/until) or raise the limit",
            )
        return count, n_seeds

    def _rows(self, st: View, scratch: Scratch, n_seeds: int, count: int, flt: _Filter, *,
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
            pa.DictionaryArray.from_buffers(_KIND_TYPE, n, [None, pa.py_buffer(codes)],
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
            return pa.Table.from_arrays(arrays, schema=_VIA_SCHEMA)
        return pa.Table.from_arrays(arrays, schema=_ROW_SCHEMA)

    def _tally(self, st: View, scratch: Scratch, visited: Array, flt: _Filter,
               item_kind: str, counted_kinds: Sequence[str], *targets: Array) -> list[Array]:
        """For each array of target nodes, how many affected `item_kind` nodes reach each
        target through containers (see `_kernels.tally_units`)."""
        code = st.kind_code(item_kind)
        if code < 0:
            return [np.zeros(len(t), dtype=np.int64) for t in targets]
        container = self._kind_flags(st, CONTAINER_KINDS)
        counted = self._kind_flags(st, counted_kinds)
        marks, stack, tally_marks, tally, reached, epoch0 = scratch.tally_arrays(len(visited))
        down = st.snapshot.down
        scratch.tally_epoch = k.tally_units(
            down.indptr, down.neighbor, down.kind, down.event_time, down.recorded_at,
            flt.kind_allowed, flt.filter_kinds, flt.since, flt.until, flt.as_of,
            st.node_kind, scratch.marks, scratch.epoch, visited, code, container, counted,
            marks, epoch0, stack, tally_marks, tally, reached, st.down_live,
        )
        return [np.where(tally_marks[t] == epoch0, tally[t], 0) for t in targets]

    def _kind_flags(self, st: View, names: Sequence[str]) -> Array:
        flags = np.zeros(256, dtype=np.bool_)
        for name in names:
            if (code := st.kind_code(name)) >= 0:
                flags[code] = True
        return flags

    def _of_kind(self, st: View, visited: Array, kinds: Array, kind: str) -> Array:
        code = st.kind_code(kind)
        if code < 0:
            return np.zeros(0, dtype=np.int32)
        selected: Array = visited[kinds == code]
        return selected

    def _keys(self, st: View, ids: Array) -> pa.Array:
        """Keys of node ids as a large_string array (snapshot and delta nodes alike)."""
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        if not st.delta or not (ids >= st.snapshot.node_count).any():
            return st.snapshot.node_keys.take(pa.array(ids)) if len(ids) else pa.array(
                [], pa.large_string())
        return pa.array([st.key_of(int(i)) for i in ids], pa.large_string())

    def _first_edge(self, st: View, a: int, b: int, flt: _Filter) -> tuple[int, int]:
        """(kind code, event time) of an edge a -> b the kernels would follow under `flt`."""
        adj = st.snapshot.down
        live = st.down_live
        if a < st.snapshot.node_count:
            start, end = int(adj.indptr[a]), int(adj.indptr[a + 1])
            rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
            for e in np.flatnonzero(adj.neighbor[start:end] == b) + start:
                # The kernels' own edge filter, so the chain reports an edge the walk could take.
                if not k.edge_ok(int(e), adj.kind, adj.event_time, adj.recorded_at,
                                 flt.kind_allowed, flt.filter_kinds, flt.since, flt.until,
                                 flt.as_of):
                    continue
                if len(rpos) and rflag[a]:
                    i = int(np.searchsorted(rpos, e))
                    retracted = int(rtime[i]) if i < len(rpos) and rpos[i] == e else k.NEVER
                    if not k.visible(retracted, flt.as_of):
                        continue
                return int(adj.kind[e]), int(adj.event_time[e])
        head, nxt, neighbor, kind = live.head, live.next_edge, live.neighbor, live.kind
        etime, erec, ret, n_edges = (live.event_time, live.recorded_at, live.retracted_at,
                                     live.n_edges)
        d = int(head[a]) if a < len(head) else -1
        while d >= 0:
            if (d < n_edges and neighbor[d] == b and k.visible(int(ret[d]), flt.as_of)
                    and k.edge_ok(d, kind, etime, erec, flt.kind_allowed, flt.filter_kinds,
                                  flt.since, flt.until, flt.as_of)):
                return int(kind[d]), int(etime[d])
            d = int(nxt[d])
        raise AssertionError("internal: path step has no edge")  # the BFS just followed one


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
