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

import copy
import functools
import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from engine import _kernels as k
from engine.scratch import Scratch, ScratchPool
from index.snapshot import Adjacency, Snapshot
from loaders.errors import (
    EmptySeeds,
    InvalidInput,
    NotConnected,
    QueryCancelled,
    ResultLimitExceeded,
    UnknownNode,
)

__all__ = ["Cancellation", "Direction", "Graph", "Impact"]

Array = npt.NDArray[Any]
Direction = Literal["downstream", "upstream"]
TimeLike = datetime | str | None

_DIRECTIONS: dict[str, Direction] = {
    "downstream": "downstream",
    "forward": "downstream",
    "where-used": "downstream",
    "upstream": "upstream",
    "backward": "upstream",
    "where-from": "upstream",
}
_NO_LIMIT = np.iinfo(np.int64).max
_MIN_TIME = k.MIN_TIME
_MAX_TIME = k.MAX_TIME
CONTAINER_KINDS = ("logistic_unit", "shipment", "customer")
_NO_KINDS = np.zeros(256, dtype=np.bool_)  # read-only placeholder when a filter is off
_NO_KINDS.flags.writeable = False
_KIND_TYPE = pa.dictionary(pa.int8(), pa.string())
_ROW_SCHEMA = pa.schema([("key", pa.large_string()), ("kind", _KIND_TYPE), ("depth", pa.int32())])
_VIA_SCHEMA = _ROW_SCHEMA.append(pa.field("via", pa.large_string()))


def _to_micros(value: TimeLike, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as e:
            raise InvalidInput(f"{name}: {value!r} is not an ISO 8601 time") from e
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name}: expected a datetime or ISO 8601 text, got "
                           f"{type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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


class Graph:
    """Queries over one opened snapshot. Thread-safe: each thread uses its own scratch space."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._scratch = ScratchPool(snapshot.node_count)
        self._warm_lock = threading.Lock()
        self._node_kind_index = {name: i for i, name in enumerate(snapshot.node_kinds)}
        self._kind_names = pa.array(snapshot.node_kinds, pa.string())
        self._edge_kind_index = {name: i for i, name in enumerate(snapshot.edge_kinds)}

    # -- public API ---------------------------------------------------------------------------

    @property
    def node_count(self) -> int:
        return int(self.snapshot.node_count)

    @property
    def edge_count(self) -> int:
        return self.snapshot.edge_count

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
        adjacency = self._adjacency(direction)
        flt = self._filter(max_depth, edge_kinds, node_kinds, since, until, as_of, limit)
        seeds = self._resolve(keys)
        scratch = self._scratch.get()
        count, n_seeds = self._run(adjacency, seeds, flt, scratch, want_parent=via,
                                   cancellation=cancellation)
        return self._rows(scratch, n_seeds, count, flt, via=via)

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
        adjacency = self._adjacency(direction)
        flt = self._filter(max_depth, edge_kinds, None, since, until, as_of, None)
        seeds = self._resolve(keys)
        count, n_seeds = self._run(adjacency, seeds, flt, self._scratch.get(),
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
        for direction in ("upstream", "downstream"):
            table = self.trace(key, direction, max_depth, edge_kinds, node_kinds, since, until,
                               as_of, limit, cancellation=cancellation)
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
        flt = self._filter(max_depth, edge_kinds, None, since, until, as_of, limit)
        seeds = self._resolve(keys)
        snap = self.snapshot
        scratch = self._scratch.get()
        count, n_seeds = self._run(snap.down, seeds, flt, scratch, want_parent=False,
                                   cancellation=cancellation)
        visited = scratch.queue[:count].copy()
        all_kinds = snap.node_kind[visited]
        per_kind = np.bincount(all_kinds[n_seeds:].astype(np.int64),
                               minlength=len(snap.node_kinds))
        present = np.flatnonzero(per_kind)
        by_kind = pa.table({
            "kind": pa.array([snap.node_kinds[i] for i in present], pa.string()),
            "nodes": pa.array(per_kind[present].astype(np.int64)),
        })
        shipments = self._of_kind(visited, all_kinds, "shipment")
        customers = self._of_kind(visited, all_kinds, "customer")
        ship_units, customer_units = self._tally(
            scratch, visited, flt, "serial", ("shipment", "customer"), shipments, customers)
        [customer_shipments] = self._tally(scratch, visited, flt, "shipment", ("customer",),
                                           customers)
        node_keys = snap.node_keys
        ship_order = np.lexsort((shipments, -ship_units))
        customer_order = np.lexsort((customers, -customer_units))
        return Impact(
            seeds=n_seeds,
            affected=count - n_seeds,
            by_kind=by_kind,
            by_shipment=pa.table({
                "shipment": node_keys.take(pa.array(shipments[ship_order])),
                "units": pa.array(ship_units[ship_order]),
            }),
            by_customer=pa.table({
                "customer": node_keys.take(pa.array(customers[customer_order])),
                "units": pa.array(customer_units[customer_order]),
                "shipments": pa.array(customer_shipments[customer_order]),
            }),
            rows=self._rows(scratch, n_seeds, count, flt, via=False) if rows else None,
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
        flt = self._filter(None, edge_kinds, None, since, until, as_of, None)
        ids = self._resolve([src_key, dst_key])
        source, target = int(ids[0]), int(ids[1])
        scratch = self._scratch.get()
        down = self.snapshot.down
        if source == target:
            chain = [source]
        else:
            self._run(down, ids[:1], flt, scratch, want_parent=True, target=target,
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
            e = self._first_edge(down, a, b, flt)
            edge_kind.append(self.snapshot.edge_kinds[int(down.kind[e])])
            t = int(down.event_time[e])
            edge_time.append(None if t == k.NO_TIME else t)
        ids_array = pa.array(np.asarray(chain, dtype=np.int32))
        return pa.table({
            "key": self.snapshot.node_keys.take(ids_array),
            "kind": self.snapshot.nodes.column("kind").take(ids_array),
            "edge_kind": pa.array(edge_kind, pa.string()),
            "event_time": pa.array(edge_time, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        })

    def node(self, key: str) -> dict[str, Any]:
        """A node's attributes: key, kind, product, quantity, uom, created_at."""
        node_id = int(self._resolve([key])[0])
        row: dict[str, Any] = self.snapshot.nodes.slice(node_id, 1).to_pylist()[0]
        row.pop("sid", None)
        return row

    def stats(self) -> dict[str, Any]:
        """Snapshot version and counts of nodes and edges by kind (counted once: a snapshot
        never changes, and counting reads every node and edge)."""
        return copy.deepcopy(self._stats)

    @functools.cached_property
    def _stats(self) -> dict[str, Any]:
        snap = self.snapshot
        node_counts = np.bincount(snap.node_kind.astype(np.int64), minlength=len(snap.node_kinds))
        edge_counts = np.bincount(snap.down.kind, minlength=len(snap.edge_kinds))
        return {
            "snapshot": str(snap.path),
            "version": snap.version,
            "created_at": snap.manifest["created_at"],
            "nodes": snap.node_count,
            "edges": snap.edge_count,
            "nodes_by_kind": dict(zip(snap.node_kinds, node_counts.tolist(), strict=True)),
            "edges_by_kind": dict(zip(snap.edge_kinds, edge_counts.tolist(), strict=True)),
            "rejected": snap.manifest["build"]["rejected"],
            "folded_edges": snap.manifest["build"]["folded_edges"],
        }

    def warm(self) -> None:
        """Compile (or load from cache) every kernel and touch the key index, so the first real
        query does not pay for it."""
        with self._warm_lock:
            self.snapshot.keys.warm()
            if self.node_count == 0:
                return
            first = self.snapshot.node_keys[0].as_py()
            for direction in ("downstream", "upstream"):
                self.trace(first, direction, max_depth=1, via=True)
                self.trace(first, direction, max_depth=1, node_kinds=[self.snapshot.node_kinds[0]],
                           edge_kinds=self.snapshot.edge_kinds[:1] or None, since="1970-01-01",
                           as_of=datetime.now(UTC))
            self.impact([first], max_depth=1)
            if self.edge_count:  # path() checks each step's edge with the kernels' filter
                down = self.snapshot.down
                k.edge_ok(0, down.kind, down.event_time, down.recorded_at, _NO_KINDS, False,
                          _MIN_TIME, _MAX_TIME, _MAX_TIME)

    # -- dense-id layer -----------------------------------------------------------------------

    def _adjacency(self, direction: str) -> Adjacency:
        try:
            name = _DIRECTIONS[direction]
        except (KeyError, TypeError):
            raise InvalidInput(
                f"direction {direction!r} is not one of downstream (forward, where-used) or "
                "upstream (backward, where-from)") from None
        return self.snapshot.down if name == "downstream" else self.snapshot.up

    def _resolve(self, keys: str | Sequence[str]) -> Array:
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
        ids = self.snapshot.keys.lookup(keys)
        if (ids[0] < 0) if len(ids) == 1 else (ids.min() < 0):
            first = int(np.argmax(ids < 0))
            key = keys[first]
            raise UnknownNode(key, self.snapshot.keys.suggest(key, int(ids[first])))
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

    def _filter(self, max_depth: int | None, edge_kinds: Iterable[str] | None,
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
        kind_allowed, filter_kinds = self._kind_mask(edge_kinds, self._edge_kind_index,
                                                     "edge kind")
        node_allowed, filter_nodes = self._kind_mask(node_kinds, self._node_kind_index,
                                                     "node kind")
        lo = _to_micros(since, "since")
        hi = _to_micros(until, "until")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidInput(f"since ({since}) is after until ({until})")
        as_of_us = _to_micros(as_of, "as_of")
        return _Filter(
            kind_allowed=kind_allowed, filter_kinds=filter_kinds,
            since=_MIN_TIME if lo is None else lo, until=_MAX_TIME if hi is None else hi,
            as_of=_MAX_TIME if as_of_us is None else as_of_us,
            node_allowed=node_allowed, filter_nodes=filter_nodes,
            max_depth=-1 if max_depth is None else max_depth,
            limit=_NO_LIMIT - 1 if limit is None else limit,
        )

    def _run(self, adj: Adjacency, seeds: Array, flt: _Filter, scratch: Scratch, *,
             want_parent: bool, target: int = -1,
             cancellation: Cancellation | None = None) -> tuple[int, int]:
        if cancellation is not None and cancellation.cancelled:
            raise QueryCancelled("query cancelled before it started")
        epoch = scratch.next_epoch()
        cancel = scratch.cancel if cancellation is None else cancellation.flag
        plain = (not want_parent and target < 0 and not flt.filter_nodes and not flt.filter_kinds
                 and flt.since == _MIN_TIME and flt.until == _MAX_TIME and flt.as_of == _MAX_TIME)
        if plain:
            count, n_seeds, matched = k.traverse_plain(
                adj.indptr, adj.neighbor, seeds, flt.max_depth, flt.limit, scratch.marks, epoch,
                scratch.queue, scratch.depth, cancel)
        else:
            count, n_seeds, matched = k.traverse(
                adj.indptr, adj.neighbor, adj.kind, adj.event_time, adj.recorded_at,
                seeds, flt.max_depth, flt.kind_allowed, flt.filter_kinds, flt.since, flt.until,
                flt.as_of, self.snapshot.node_kind, flt.node_allowed, flt.filter_nodes,
                flt.limit, target, scratch.marks, epoch, scratch.queue, scratch.depth,
                scratch.parent, want_parent, cancel,
            )
        if count == k.CANCELLED:
            raise QueryCancelled("query cancelled before it finished")
        if matched > flt.limit:
            raise ResultLimitExceeded(
                flt.limit,
                f"the answer has more than {flt.limit:,} rows; narrow it (max_depth, edge_kinds, "
                "node_kinds, since/until) or raise the limit",
            )
        return count, n_seeds

    def _rows(self, scratch: Scratch, n_seeds: int, count: int, flt: _Filter, *,
              via: bool) -> pa.Table:
        snap = self.snapshot
        n, key_bytes, via_bytes = k.select_rows(
            scratch.queue, n_seeds, count, snap.node_kind, flt.node_allowed, flt.filter_nodes,
            scratch.depth, scratch.parent, via, snap.keys.offsets, scratch.rows, scratch.codes,
            scratch.depths, scratch.parents, scratch.offsets, scratch.via_offsets,
        )
        key_off = scratch.offsets[: n + 1].copy()
        keys = np.empty(key_bytes, dtype=np.uint8)
        k.gather_keys(snap.keys.offsets, snap.keys.data, scratch.rows[:n], key_off, keys)
        codes = scratch.codes[:n].copy()
        depths = scratch.depths[:n].copy()
        arrays = [
            pa.LargeStringArray.from_buffers(n, pa.py_buffer(key_off), pa.py_buffer(keys)),
            pa.DictionaryArray.from_buffers(_KIND_TYPE, n, [None, pa.py_buffer(codes)],
                                            self._kind_names),
            pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(depths)]),
        ]
        if via:
            via_off = scratch.via_offsets[: n + 1].copy()
            via_keys = np.empty(via_bytes, dtype=np.uint8)
            k.gather_keys(snap.keys.offsets, snap.keys.data, scratch.parents[:n], via_off,
                          via_keys)
            arrays.append(pa.LargeStringArray.from_buffers(n, pa.py_buffer(via_off),
                                                           pa.py_buffer(via_keys)))
            return pa.Table.from_arrays(arrays, schema=_VIA_SCHEMA)
        return pa.Table.from_arrays(arrays, schema=_ROW_SCHEMA)

    def _tally(self, scratch: Scratch, visited: Array, flt: _Filter, item_kind: str,
               counted_kinds: Sequence[str], *targets: Array) -> list[Array]:
        """For each array of target nodes, how many affected `item_kind` nodes reach each
        target through containers (see `_kernels.tally_units`)."""
        snap = self.snapshot
        code = snap.kind_code(item_kind)
        if code < 0:
            return [np.zeros(len(t), dtype=np.int64) for t in targets]
        container = self._kind_flags(CONTAINER_KINDS)
        counted = self._kind_flags(counted_kinds)
        marks, stack, tally_marks, tally, reached, epoch0 = scratch.tally_arrays(len(visited))
        down = snap.down
        scratch.tally_epoch = k.tally_units(
            down.indptr, down.neighbor, down.kind, down.event_time, down.recorded_at,
            flt.kind_allowed, flt.filter_kinds, flt.since, flt.until, flt.as_of,
            snap.node_kind, scratch.marks, scratch.epoch, visited, code, container, counted,
            marks, epoch0, stack, tally_marks, tally, reached,
        )
        return [np.where(tally_marks[t] == epoch0, tally[t], 0) for t in targets]

    def _kind_flags(self, names: Sequence[str]) -> Array:
        flags = np.zeros(256, dtype=np.bool_)
        for name in names:
            if (code := self.snapshot.kind_code(name)) >= 0:
                flags[code] = True
        return flags

    def _of_kind(self, visited: Array, kinds: Array, kind: str) -> Array:
        code = self.snapshot.kind_code(kind)
        if code < 0:
            return np.zeros(0, dtype=np.int32)
        selected: Array = visited[kinds == code]
        return selected

    def _first_edge(self, adj: Adjacency, a: int, b: int, flt: _Filter) -> int:
        start, end = int(adj.indptr[a]), int(adj.indptr[a + 1])
        for e in np.flatnonzero(adj.neighbor[start:end] == b) + start:
            # The kernels' own edge filter, so the chain reports an edge the walk could take.
            if k.edge_ok(int(e), adj.kind, adj.event_time, adj.recorded_at, flt.kind_allowed,
                         flt.filter_kinds, flt.since, flt.until, flt.as_of):
                return int(e)
        raise AssertionError("internal: path step has no edge")  # the BFS just followed one
