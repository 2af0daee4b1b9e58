"""Private numba kernels: plain loops over contiguous arrays of dense ids. No objects, no raises.

Visited marks are epoch-stamped: node v is visited in the current query iff marks[v] == epoch, so
no per-query clearing over all nodes is needed. `queue`, `depth` and `parent` are scratch arrays
of node count length that are only read where written; the caller (engine.scratch) owns them.

Edge filter (shared by every kernel): an edge is followed iff its kind is allowed (or kinds are
unfiltered), its event time is unknown or within [since, until], and it was recorded at or
before as_of.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

Array = npt.NDArray[Any]

NO_TIME = np.iinfo(np.int64).min
CANCEL_CHECK_EVERY = 4096

# Kernel return codes in the `count` slot.
CANCELLED = -2


@njit(nogil=True, cache=True, inline="always")
def _edge_ok(e: int, ekind: Array, etime: Array, erec: Array, kind_allowed: Array,
             filter_kinds: bool, since: int, until: int, as_of: int) -> bool:  # pragma: no cover
    if filter_kinds and not kind_allowed[ekind[e]]:
        return False
    t = etime[e]
    if t != NO_TIME and (t < since or t > until):
        return False
    return erec[e] <= as_of


@njit(nogil=True, cache=True)
def traverse(
    indptr: Array, neighbor: Array, ekind: Array, etime: Array, erec: Array,
    seeds: Array, max_depth: int,
    kind_allowed: Array, filter_kinds: bool, since: int, until: int, as_of: int,
    node_kind: Array, node_allowed: Array, filter_nodes: bool,
    limit: int, target: int,
    marks: Array, epoch: int, queue: Array, depth: Array, parent: Array, want_parent: bool,
    cancel: Array,
) -> tuple[int, int, int]:  # pragma: no cover - numba
    """Breadth-first visited-set traversal from `seeds`.

    Returns (count, n_seeds, matched): queue[:count] holds every visited node in BFS order, the
    distinct seeds first; `matched` counts non-seed nodes whose kind passes the node filter. If
    matched exceeds `limit` the walk stops early with matched = limit + 1. If `target` (>= 0) is
    reached the walk stops at once. count == CANCELLED if cancel[0] was set during the walk.
    """
    count = 0
    for s in seeds:
        if marks[s] != epoch:
            marks[s] = epoch
            depth[s] = 0
            if want_parent:
                parent[s] = -1
            queue[count] = s
            count += 1
    n_seeds = count
    matched = 0
    head = 0
    while head < count:
        v = queue[head]
        head += 1
        if (head & (CANCEL_CHECK_EVERY - 1)) == 0 and cancel[0] != 0:
            return CANCELLED, n_seeds, matched
        d = depth[v]
        if max_depth >= 0 and d >= max_depth:
            continue
        for e in range(indptr[v], indptr[v + 1]):
            w = neighbor[e]
            if marks[w] == epoch:
                continue
            if not _edge_ok(e, ekind, etime, erec, kind_allowed, filter_kinds, since, until,
                            as_of):
                continue
            marks[w] = epoch
            depth[w] = d + 1
            if want_parent:
                parent[w] = v
            queue[count] = w
            count += 1
            if not filter_nodes or node_allowed[node_kind[w]]:
                matched += 1
                if matched > limit:
                    return count, n_seeds, matched
            if w == target:
                return count, n_seeds, matched
    return count, n_seeds, matched


@njit(nogil=True, cache=True)
def select_rows(queue: Array, start: int, count: int, node_kind: Array, node_allowed: Array,
                filter_nodes: bool, out: Array) -> int:  # pragma: no cover - numba
    """Copy queue[start:count] into `out`, keeping nodes whose kind is allowed; return length."""
    n = 0
    for i in range(start, count):
        v = queue[i]
        if not filter_nodes or node_allowed[node_kind[v]]:
            out[n] = v
            n += 1
    return n


@njit(nogil=True, cache=True)
def cone_counts(
    indptr: Array, neighbor: Array, ekind: Array, etime: Array, erec: Array,
    kind_allowed: Array, filter_kinds: bool, since: int, until: int, as_of: int,
    node_kind: Array, affected: Array, affected_epoch: int,
    targets: Array, serial_kind: int, container: Array, shipment_kind: int,
    marks: Array, epoch0: int, unit_marks: Array, stack: Array,
    units_out: Array, shipments_out: Array,
) -> int:  # pragma: no cover - numba
    """For each target t, walk upstream (this adjacency is the upstream one) through affected
    nodes only. units_out[i]: distinct affected serials with a followed edge into a container
    node (logistic unit, shipment, customer) of t's cone; shipments_out[i]: shipments in the
    cone. Uses epochs epoch0 + i on both mark arrays; returns the next free epoch."""
    epoch = epoch0
    for i in range(len(targets)):
        t = targets[i]
        marks[t] = epoch
        stack[0] = t
        top = 1
        units = 0
        shipments = 0
        while top > 0:
            top -= 1
            v = stack[top]
            if node_kind[v] == shipment_kind:
                shipments += 1
            is_container = container[node_kind[v]]
            for e in range(indptr[v], indptr[v + 1]):
                u = neighbor[e]
                if affected[u] != affected_epoch:
                    continue
                if not _edge_ok(e, ekind, etime, erec, kind_allowed, filter_kinds, since, until,
                                as_of):
                    continue
                if is_container and node_kind[u] == serial_kind and unit_marks[u] != epoch:
                    unit_marks[u] = epoch
                    units += 1
                if marks[u] != epoch:
                    marks[u] = epoch
                    stack[top] = u
                    top += 1
        units_out[i] = units
        shipments_out[i] = shipments
        epoch += 1
    return epoch
