"""Dense-id algorithms over one View: node ids in, node ids and counts out. No keys, no Arrow
(that is engine.graph's translation layer), no validation beyond what the kernels need (the
`Filter` is already checked). As in graphblas-algorithms, this is the `algorithms/` layer under
the key-speaking API.

Each walk writes into the caller's `Scratch` (one per thread): after `trace_ids`,
scratch.queue[:count] holds the visited nodes in breadth-first order, the seeds first, with
their depths in scratch.depth (and, when parents were asked for, scratch.parent: the queue
position of each node's parent), both in queue order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from domain.errors import NotConnected, QueryCancelled, ResultLimitExceeded
from engine import _kernels as k
from engine.filters import Filter, kind_flags
from engine.scratch import Scratch
from engine.view import EMPTY_LIVE, View
from index.faults import hit
from index.snapshot import Adjacency

__all__ = ["CONTAINER_KINDS", "Edges", "ImpactIds", "Walks", "impact_ids", "live_edges",
           "path_ids", "trace_ids"]

Array = npt.NDArray[Any]
CONTAINER_KINDS = ("logistic_unit", "shipment", "customer")
"""Kinds that hold units: a unit counts at every one of these its packaging reaches."""


class Walks:
    """Counters over a graph's walks (read by health and tests)."""

    def __init__(self) -> None:
        self.cancelled = 0
        """Walks a cancellation stopped inside the kernel (not before they began)."""


def trace_ids(view: View, adj: Adjacency, seeds: Array, flt: Filter, scratch: Scratch,
              walks: Walks, *, want_parent: bool = False, target: int = -1,
              cancel: Array | None = None) -> tuple[int, int]:
    """Walk from `seeds` over `adj` (and the view's delta) under `flt`; returns (count,
    n_seeds): scratch.queue[:count] is the visited set, the distinct seeds first. Stops at
    `target` when it is >= 0. Raises QueryCancelled when `cancel[0]` is set during the walk
    (the caller checks before it starts) and ResultLimitExceeded when more than flt.limit nodes
    match."""
    hit("before-walk")  # tests widen this window so a cancel lands while the walk runs
    epoch = scratch.next_epoch()
    flag = scratch.cancel if cancel is None else cancel
    # The plain kernel reads record times in CSR order: downstream only (upstream they are
    # at adj.edge[e]).
    if (not want_parent and target < 0 and not flt.filter_nodes
            and (flt.edges_unfiltered or (flt.only_as_of and not adj.mapped))):
        count, n_seeds, matched = k.traverse_plain(
            adj.indptr, adj.neighbor, adj.recorded_at, flt.as_of, seeds, flt.max_depth,
            flt.limit, scratch.marks, epoch, scratch.queue, scratch.depth, flag,
            view.live(adj) if view.changed else EMPTY_LIVE)
    else:
        count, n_seeds, matched = k.traverse(
            adj.indptr, adj.neighbor, adj.kind, adj.event_time, adj.recorded_at,
            adj.edge, adj.mapped, seeds, flt.max_depth, flt.kind_allowed, flt.filter_kinds,
            flt.since, flt.until, flt.as_of, view.node_kind, flt.node_allowed,
            flt.filter_nodes, flt.limit, target, scratch.marks, epoch, scratch.queue,
            scratch.depth, scratch.parent, want_parent, flag,
            view.live(adj),
        )
    if count == k.CANCELLED:
        walks.cancelled += 1
        raise QueryCancelled("query cancelled before it finished")
    if matched > flt.limit:
        raise ResultLimitExceeded(
            flt.limit,
            f"the answer has more than {flt.limit:,} rows; narrow it (max_depth, edge_kinds, "
            "node_kinds, since/until) or raise the limit",
        )
    return count, n_seeds


@dataclass(frozen=True)
class ImpactIds:
    """Downstream closure of many seeds, by dense id. `visited` is every reached node (seeds
    first); counts per node kind code exclude the seeds. Shipments and customers come with the
    affected units that reach each (and customers with their affected shipments), sorted by
    units descending, then id."""

    visited: Array
    n_seeds: int
    per_kind: Array
    shipments: Array
    shipment_units: Array
    customers: Array
    customer_units: Array
    customer_shipments: Array


def impact_ids(view: View, seeds: Array, flt: Filter, scratch: Scratch, walks: Walks,
               cancel: Array | None = None) -> ImpactIds:
    """The downstream closure of `seeds` with units tallied at shipments and customers."""
    count, n_seeds = trace_ids(view, view.snapshot.down, seeds, flt, scratch, walks,
                               cancel=cancel)
    visited = scratch.queue[:count].copy()
    kinds = view.node_kind[visited]
    per_kind = np.bincount(kinds[n_seeds:].astype(np.int64), minlength=len(view.node_kinds))
    shipments = _of_kind(view, visited, kinds, "shipment")
    customers = _of_kind(view, visited, kinds, "customer")
    ship_units, customer_units = _tally(view, scratch, visited, flt, "serial",
                                        ("shipment", "customer"), shipments, customers)
    [customer_shipments] = _tally(view, scratch, visited, flt, "shipment", ("customer",),
                                  customers)
    ship_order = np.lexsort((shipments, -ship_units))
    customer_order = np.lexsort((customers, -customer_units))
    return ImpactIds(visited, n_seeds, per_kind, shipments[ship_order], ship_units[ship_order],
                     customers[customer_order], customer_units[customer_order],
                     customer_shipments[customer_order])


def path_ids(view: View, source: int, target: int, flt: Filter, scratch: Scratch, walks: Walks,
             cancel: Array | None = None) -> tuple[Array, Array, Array]:
    """A shortest downstream chain source -> target: (node ids, edge kind code of the edge
    into each node, its event time), the first entries of the last two being -1 and NO_TIME
    (no edge leads to the source). Each step's edge is one the walk follows under `flt`
    (engine._kernels.edge_between). Raises NotConnected (with no message: the caller names
    the keys)."""
    if source == target:
        return (np.array([source], dtype=np.int32), np.array([-1], dtype=np.int64),
                np.array([k.NO_TIME], dtype=np.int64))
    down = view.snapshot.down
    count, _ = trace_ids(view, down, np.array([source], dtype=np.int32), flt, scratch, walks,
                         want_parent=True, target=target, cancel=cancel)
    if scratch.marks[target] != scratch.epoch:
        raise NotConnected("")
    positions = [count - 1]  # the walk stops right after it enqueues the target
    while scratch.parent[positions[-1]] >= 0:
        positions.append(int(scratch.parent[positions[-1]]))
    positions.reverse()
    ids = scratch.queue[positions].astype(np.int32)
    codes = np.full(len(ids), -1, dtype=np.int64)
    times = np.full(len(ids), k.NO_TIME, dtype=np.int64)
    live = view.down_live
    for i in range(1, len(ids)):
        e = k.edge_between(int(ids[i - 1]), int(ids[i]), down.indptr, down.neighbor, down.kind,
                           down.event_time, down.recorded_at, flt.kind_allowed,
                           flt.filter_kinds, flt.since, flt.until, flt.as_of, live)
        if e < -1:
            d = k.delta_edge(e)
            codes[i], times[i] = live.kind[d], live.event_time[d]
        elif e >= 0:
            codes[i], times[i] = down.kind[e], down.event_time[e]
        else:
            raise AssertionError("internal: a path step has no edge")  # the walk just took one
    return ids, codes, times


def _tally(view: View, scratch: Scratch, visited: Array, flt: Filter, item_kind: str,
           counted_kinds: Sequence[str], *targets: Array) -> list[Array]:
    """For each array of target nodes, how many affected `item_kind` nodes reach each target
    through containers (see `_kernels.tally_units`); reads the marks of the walk just done."""
    code = view.kind_code(item_kind)
    if code < 0:
        return [np.zeros(len(t), dtype=np.int64) for t in targets]
    container = kind_flags(view, CONTAINER_KINDS)
    counted = kind_flags(view, counted_kinds)
    marks, stack, tally_marks, tally, reached, epoch0 = scratch.tally_arrays(len(visited))
    down = view.snapshot.down
    scratch.tally_epoch = k.tally_units(
        down.indptr, down.neighbor, down.kind, down.event_time, down.recorded_at,
        flt.kind_allowed, flt.filter_kinds, flt.since, flt.until, flt.as_of,
        view.node_kind, scratch.marks, scratch.epoch, visited, code, container, counted,
        marks, epoch0, stack, tally_marks, tally, reached, view.down_live,
    )
    return [np.where(tally_marks[t] == epoch0, tally[t], 0) for t in targets]


def _of_kind(view: View, visited: Array, kinds: Array, kind: str) -> Array:
    code = view.kind_code(kind)
    if code < 0:
        return np.zeros(0, dtype=np.int32)
    selected: Array = visited[kinds == code]
    return selected


@dataclass(frozen=True)
class Edges:
    """Edge columns by dense id (one row per edge)."""

    src: Array
    dst: Array
    kind: Array  # codes into view.edge_kinds
    time: Array
    quantity: Array  # float, NaN = none
    ended: Array  # when the link ended (unpacked), NEVER = still holds


def live_edges(view: View) -> Edges:
    """Every live (not retracted) edge of `view`: snapshot edges then delta edges."""
    snap = view.snapshot
    down = snap.down
    src = np.repeat(np.arange(snap.node_count, dtype=np.int32), np.diff(down.indptr))
    quantity = snap.edges.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64) \
        if snap.edge_count else np.zeros(0)
    keep = np.ones(snap.edge_count, dtype=bool)
    live = view.down_live
    if len(live.retracted_pos):  # retracted snapshot edges (as of now)
        keep[live.retracted_pos] = False
    ended = np.full(snap.edge_count, k.NEVER, dtype=np.int64)
    delta = view.delta
    ended_pos, ended_at = ((delta.ended_pos, delta.ended_at) if delta is not None
                           else (snap.ended_down, snap.ended_at))
    ended[ended_pos] = ended_at
    parts = [(src[keep], down.neighbor[keep], down.kind[keep], down.event_time[keep],
              quantity[keep], ended[keep])]
    if delta is not None and delta.n_edges:
        n = delta.n_edges
        alive = live.retracted_at[:n] == k.NEVER
        # Upstream, a delta edge's neighbour is its source.
        parts.append((delta.up.neighbor[:n][alive], live.neighbor[:n][alive],
                      live.kind[:n][alive], live.event_time[:n][alive],
                      delta.edge_quantity[:n][alive], delta.edge_ended[:n][alive]))
    columns = [np.concatenate([p[i] for p in parts]) for i in range(6)]
    return Edges(columns[0].astype(np.int32), columns[1].astype(np.int32),
                 columns[2].astype(np.uint8), columns[3].astype(np.int64),
                 columns[4].astype(np.float64), columns[5].astype(np.int64))
