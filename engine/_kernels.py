"""Private numba kernels: plain loops over contiguous arrays of dense ids. No objects, no raises.

Visited marks are epoch-stamped: node v is visited in the current query iff marks[v] == epoch, so
no per-query clearing over all nodes is needed. `queue`, `depth` and `parent` are scratch arrays
of node count length that are only read where written; the caller (engine.scratch) owns them.
Both are kept in queue order: `depth[i]` is the depth of `queue[i]`; when parents are asked
for, `parent[i]` is the queue position of the node that reached queue[i] (-1 for a seed).
Writing them in queue order is sequential; by node id each would be another random memory
access per visited node. The edge of each step of a path is found after the walk by
`edge_between`, with the walk's own edge filter: recording it during the walk (a store per
visited node inside the scan) made wide walks 1.5x to 3x slower at 1M units.

Edge filter (shared by every kernel): an edge is followed iff its kind is allowed (or kinds are
unfiltered), its event time is unknown or within [since, until], it was recorded at or before
as_of, and it was not retracted by then (as_of unbounded: not retracted at all).

The general kernels read the snapshot CSR and the live delta together (`live`, see
index.delta.LiveArrays); `traverse_plain` walks the snapshot's runs of consecutive ids and reads
the delta only at the nodes it touches.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory
from domain.knobs import CANCEL_CHECK_EVERY
from domain.time import NEVER as _NEVER
from domain.time import NO_TIME as _NO_TIME

Array = npt.NDArray[Any]

NO_TIME = _NO_TIME  # an edge without an event time (domain.time)
MIN_TIME = NO_TIME + 1  # `since` when unbounded
MAX_TIME = _NEVER  # `until` and `as_of` when unbounded
NEVER = _NEVER  # `retracted_at` of an edge that is not retracted (domain.time)

_NO_KINDS = np.zeros(256, dtype=np.bool_)  # kind_allowed when kinds are not filtered

# Kernel return codes in the `count` slot.
CANCELLED = -2


@njit(nogil=True, cache=True, inline="always")
def delta_edge(d: int) -> int:  # pragma: no cover - numba
    """The code `edge_between` gives delta edge d (its own inverse: delta_edge(delta_edge(d))
    == d); snapshot edges are their downstream position (>= 0), -1 is none."""
    return -2 - d


@njit(nogil=True, cache=True, inline="always")
def edge_ok(e: int, ekind: Array, etime: Array, erec: Array, kind_allowed: Array,
             filter_kinds: bool, since: int, until: int, as_of: int) -> bool:  # pragma: no cover
    # Each array is read only when its filter is on: unfiltered walks touch no edge attributes.
    if filter_kinds and not kind_allowed[ekind[e]]:
        return False
    if since != MIN_TIME or until != MAX_TIME:
        t = etime[e]
        if t != NO_TIME and (t < since or t > until):
            return False
    return as_of == MAX_TIME or erec[e] <= as_of


@njit(nogil=True, cache=True, inline="always")
def visible(retracted_at: int, as_of: int) -> bool:  # pragma: no cover - numba
    """A retracted edge is followed only by queries as of a time before its retraction."""
    return retracted_at == NEVER or (as_of != MAX_TIME and retracted_at > as_of)


@njit(nogil=True, cache=True, inline="always")
def _retracted_at(e: int, pos: Array, times: Array) -> int:  # pragma: no cover - numba
    i = np.searchsorted(pos, e)
    if i < len(pos) and pos[i] == e:
        return int(times[i])
    return NEVER


@njit(nogil=True, cache=True, inline="always")
def _scan_live(v: int, live: Any, ekind: Array, kind_allowed: Array, filter_kinds: bool,
               since: int, until: int, as_of: int, marks: Array, epoch: int, queue: Array,
               count: int) -> int:  # pragma: no cover - numba
    """_scan over v's delta edges (newest first; edges beyond the view are skipped)."""
    head, nxt, neighbor = live.head, live.next_edge, live.neighbor
    dkind, dtime, drec, dret, n_edges = (live.kind, live.event_time, live.recorded_at,
                                         live.retracted_at, live.n_edges)
    if v >= len(head):
        return count
    e = head[v]
    while e >= 0:
        if e < n_edges:
            w = neighbor[e]
            if (marks[w] != epoch and visible(dret[e], as_of)
                    and edge_ok(e, dkind, dtime, drec, kind_allowed, filter_kinds, since, until,
                                as_of)):
                marks[w] = epoch
                queue[count] = w
                count += 1
        e = nxt[e]
    return count


@njit(nogil=True, cache=True, inline="always")
def _scan(start: int, end: int, neighbor: Array, marks: Array, epoch: int, queue: Array,
          count: int) -> int:  # pragma: no cover - numba
    """Mark and enqueue the unvisited neighbours at [start, end); returns the new count."""
    for e in range(start, end):
        w = neighbor[e]
        if marks[w] != epoch:
            marks[w] = epoch
            queue[count] = w
            count += 1
    return count


@njit(nogil=True, cache=True, inline="always")
def _scan_filtered(start: int, end: int, neighbor: Array, ekind: Array, etime: Array,
                   erec: Array, emap: Array, mapped: bool, kind_allowed: Array,
                   filter_kinds: bool, since: int, until: int, as_of: int, marks: Array,
                   epoch: int, queue: Array, count: int, retracted: bool, rpos: Array,
                   rtime: Array) -> int:  # pragma: no cover - numba
    """_scan over the edges that pass the edge filter (and, when `retracted` says this node
    has retracted edges, are visible at as_of). With `mapped`, edge e's attributes are at
    emap[e] (the upstream CSR reads the downstream arrays)."""
    only_as_of = not filter_kinds and since == MIN_TIME and until == MAX_TIME
    for e in range(start, end):
        w = neighbor[e]
        a = emap[e] if mapped else e
        # `as_of` alone tested inline (see engine._ship_kernels.ship_pairs: through edge_ok
        # LLVM loads each edge's kind and event time ahead of the branches).
        if marks[w] != epoch and ((erec[a] <= as_of) if only_as_of else edge_ok(
                a, ekind, etime, erec, kind_allowed, filter_kinds, since, until, as_of)) and (
                not retracted or visible(_retracted_at(e, rpos, rtime), as_of)):
            marks[w] = epoch
            queue[count] = w
            count += 1
    return count


@njit(nogil=True, cache=True)
def traverse(
    indptr: Array, neighbor: Array, ekind: Array, etime: Array, erec: Array,
    emap: Array, mapped: bool, seeds: Array, max_depth: int,
    kind_allowed: Array, filter_kinds: bool, since: int, until: int, as_of: int,
    node_kind: Array, node_allowed: Array, filter_nodes: bool,
    limit: int, target: int,
    marks: Array, epoch: int, queue: Array, depth: Array, parent: Array, want_parent: bool,
    cancel: Array, live: Any,
) -> tuple[int, int, int]:  # pragma: no cover - numba
    """Breadth-first visited-set traversal from `seeds` over the snapshot CSR plus the live
    delta `live` (see index.delta.LiveArrays; empty arrays when there is none). The snapshot
    edge attributes are read at emap[e] when `mapped` (see index.snapshot.Adjacency).

    Returns (count, n_seeds, matched): queue[:count] holds every visited node in BFS order, the
    distinct seeds first; `matched` counts non-seed nodes whose kind passes the node filter. If
    matched exceeds `limit` the walk stops early (matched > limit). If `target` (>= 0) is
    reached the walk stops at once. count == CANCELLED if cancel[0] was set during the walk.
    """
    # Decide once whether edges need checking: with no edge filter the loop must not touch the
    # attribute arrays at all (LLVM would otherwise speculate their loads: 5x slower walks).
    check_edges = filter_kinds or since != MIN_TIME or until != MAX_TIME or as_of != MAX_TIME
    n_snap = len(indptr) - 1
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    has_retracted = len(rpos) > 0
    has_delta = live.n_edges > 0
    count = 0
    for s in seeds:
        if marks[s] != epoch:
            marks[s] = epoch
            depth[count] = 0
            if want_parent:
                parent[count] = -1
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
        d = depth[head - 1]
        if max_depth >= 0 and d >= max_depth:
            continue
        found = count
        if v < n_snap:
            start = indptr[v]
            end = indptr[v + 1]
            retracted = has_retracted and rflag[v] != 0
            if check_edges or retracted:
                found = _scan_filtered(start, end, neighbor, ekind, etime, erec, emap, mapped,
                                       kind_allowed, filter_kinds, since, until, as_of, marks,
                                       epoch, queue, count, retracted, rpos, rtime)
            else:
                found = _scan(start, end, neighbor, marks, epoch, queue, count)
        if has_delta:
            found = _scan_live(v, live, live.kind, kind_allowed, filter_kinds, since, until,
                               as_of, marks, epoch, queue, found)
        if want_parent or filter_nodes or target >= 0:
            for i in range(count, found):
                w = queue[i]
                depth[i] = d + 1
                if want_parent:
                    parent[i] = head - 1
                if not filter_nodes or node_allowed[node_kind[w]]:
                    matched += 1
                if w == target:
                    return i + 1, n_seeds, matched
        else:
            # The common case, kept branch-free so the loop stays tight.
            for i in range(count, found):
                depth[i] = d + 1
            matched += found - count
        count = found
        if matched > limit:
            return count, n_seeds, matched
    return count, n_seeds, matched


@njit(nogil=True, cache=True)
def edge_between(a: int, b: int, indptr: Array, neighbor: Array, ekind: Array, etime: Array,
                 erec: Array, kind_allowed: Array, filter_kinds: bool, since: int, until: int,
                 as_of: int, live: Any) -> int:  # pragma: no cover - numba
    """An edge a -> b of the downstream adjacency that `traverse` follows under this filter:
    its downstream position, or delta_edge(d) for delta edge d, or -1 when there is none.
    Snapshot edges first, in CSR order (the order the walk scans them), then the delta's."""
    if a < len(indptr) - 1:
        rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
        retracted = len(rpos) > 0 and rflag[a] != 0
        for e in range(indptr[a], indptr[a + 1]):
            if (neighbor[e] == b and edge_ok(e, ekind, etime, erec, kind_allowed, filter_kinds,
                                             since, until, as_of)
                    and (not retracted or visible(_retracted_at(e, rpos, rtime), as_of))):
                return e
    if live.n_edges > 0 and a < len(live.head):
        d = live.head[a]
        while d >= 0:
            if (d < live.n_edges and live.neighbor[d] == b
                    and visible(live.retracted_at[d], as_of)
                    and edge_ok(d, live.kind, live.event_time, live.recorded_at, kind_allowed,
                                filter_kinds, since, until, as_of)):
                return delta_edge(d)
            d = live.next_edge[d]
    return -1


@njit(nogil=True, cache=True)
def traverse_plain(
    indptr: Array, neighbor: Array, erec: Array, as_of: int, seeds: Array, max_depth: int,
    limit: int, marks: Array, epoch: int, queue: Array, depth: Array, cancel: Array,
    live: Any,
) -> tuple[int, int, int]:  # pragma: no cover - numba
    """`traverse` with no edge filter but `as_of`, no node filter, parents or target: the
    common recall query, as one tight loop (the general kernel's branches cost it up to 2x,
    and 30x with `as_of` on the widest lot at 1M units).

    Level by level: queue[lo:hi] holds the nodes at depth d. Ids are numbered breadth-first
    (index.csr.locality_order), so a level is mostly runs of consecutive ids, and a run's
    edges are one contiguous CSR range: the inner loop walks a whole run's edges with no
    per-node branch, and writes each neighbour unconditionally (advancing the queue only for a
    new one), which keeps it free of mispredicted branches. Depths are filled per level.
    Same order and depths as a node-by-node BFS (tests/test_kernels.py); at 1M units 1.4x
    faster on the widest lot and 2.5x on a hundred median lots. `queue` needs one slot more
    than the node count: an edge to a visited node still writes at queue[count]. `erec` is
    read only when `as_of` is bounded.

    The live delta (`live`, EMPTY_LIVE when none) is read node by node where it matters: a
    node the delta added, one with delta edges and one with retracted edges end a run and are
    walked alone, their snapshot edges then their delta edges, as `traverse` walks every
    node. A live store's delta touches few nodes, so its walks stay on the runs (a one-edge
    delta sent every walk to `traverse`: 30x slower on the widest lot at 1M units)."""
    n_snap = len(indptr) - 1
    head, n_edges = live.head, live.n_edges
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    has_delta = n_edges > 0 or len(head) > n_snap
    has_retracted = len(rpos) > 0
    count = 0
    for s in seeds:
        if marks[s] != epoch:
            marks[s] = epoch
            depth[count] = 0
            queue[count] = s
            count += 1
    n_seeds = count
    lo = 0
    hi = count
    d = 0
    next_check = CANCEL_CHECK_EVERY
    while lo < hi and (max_depth < 0 or d < max_depth):
        d += 1
        i = lo
        while i < hi:
            if i >= next_check:
                next_check = i + CANCEL_CHECK_EVERY
                if cancel[0] != 0:
                    return CANCELLED, n_seeds, count - n_seeds
                if count - n_seeds > limit:
                    return count, n_seeds, count - n_seeds
            v = queue[i]
            if (has_delta or has_retracted) and _alone(v, n_snap, head, rflag, has_delta,
                                                       has_retracted):
                if v < n_snap:
                    retracted = has_retracted and rflag[v] != 0
                    for e in range(indptr[v], indptr[v + 1]):
                        w = neighbor[e]
                        if (marks[w] != epoch and (as_of == MAX_TIME or erec[e] <= as_of)
                                and (not retracted
                                     or visible(_retracted_at(e, rpos, rtime), as_of))):
                            marks[w] = epoch
                            queue[count] = w
                            count += 1
                count = _scan_live(v, live, live.kind, _NO_KINDS, False, MIN_TIME, MAX_TIME,
                                   as_of, marks, epoch, queue, count)
                i += 1
                continue
            last = i
            # A run ends at the next poll too: the widest lot is a few long runs, and a cancel
            # must not wait for a whole one (the extra compare costs nothing measurable).
            stop = min(hi, next_check)
            while last + 1 < stop and queue[last + 1] == queue[last] + 1 and not (
                    (has_delta or has_retracted) and _alone(queue[last + 1], n_snap, head,
                                                            rflag, has_delta, has_retracted)):
                last += 1
            if as_of == MAX_TIME:
                for e in range(indptr[queue[i]], indptr[queue[last] + 1]):
                    w = neighbor[e]
                    fresh = marks[w] != epoch
                    marks[w] = epoch
                    queue[count] = w
                    count += fresh
            else:
                # An edge recorded after as_of neither marks nor counts its neighbour; the
                # loop stays free of branches all the same.
                for e in range(indptr[queue[i]], indptr[queue[last] + 1]):
                    w = neighbor[e]
                    seen = erec[e] <= as_of
                    fresh = seen and marks[w] != epoch
                    marks[w] = epoch if seen else marks[w]
                    queue[count] = w
                    count += fresh
            i = last + 1
        depth[hi:count] = d
        lo = hi
        hi = count
    return count, n_seeds, count - n_seeds


@njit(nogil=True, cache=True, inline="always")
def _alone(v: int, n_snap: int, head: Array, rflag: Array, has_delta: bool,
           has_retracted: bool) -> bool:  # pragma: no cover - numba
    """Must traverse_plain walk v by itself (the delta added it or gave it edges, or some of
    its snapshot edges are retracted)?"""
    if v >= n_snap:
        return True
    if has_retracted and rflag[v] != 0:
        return True
    return has_delta and v < len(head) and head[v] >= 0


@njit(nogil=True, cache=True, inline="always")
def _key_length(v: int, n_snap: int, key_offsets: Array,
                delta_offsets: Array) -> int:  # pragma: no cover - numba
    if v < n_snap:
        return int(key_offsets[v + 1] - key_offsets[v])
    return int(delta_offsets[v - n_snap + 1] - delta_offsets[v - n_snap])


@njit(nogil=True, cache=True)
def select_rows(
    queue: Array, start: int, count: int, node_kind: Array, node_allowed: Array,
    filter_nodes: bool, depth: Array, parent: Array, want_parent: bool, key_offsets: Array,
    delta_offsets: Array,
    rows: Array, codes: Array, depths: Array, parents: Array, offsets: Array,
    via_offsets: Array,
) -> tuple[int, int, int]:  # pragma: no cover - numba
    """Result rows for queue[start:count], keeping nodes whose kind is allowed: fills rows,
    codes, depths (and parents), plus the key offsets of the rows (and of their parents).
    Returns (rows, key bytes, via key bytes); `gather_keys` then copies the bytes. Keys of
    nodes the delta added (ids >= len(key_offsets) - 1) are in `delta_offsets`."""
    n_snap = len(key_offsets) - 1
    n = 0
    total = 0
    via_total = 0
    offsets[0] = 0
    via_offsets[0] = 0
    for i in range(start, count):
        v = queue[i]
        if filter_nodes and not node_allowed[node_kind[v]]:
            continue
        rows[n] = v
        codes[n] = node_kind[v]
        depths[n] = depth[i]
        total += _key_length(v, n_snap, key_offsets, delta_offsets)
        offsets[n + 1] = total
        if want_parent:
            p = queue[parent[i]]
            parents[n] = p
            via_total += _key_length(p, n_snap, key_offsets, delta_offsets)
            via_offsets[n + 1] = via_total
        n += 1
    return n, total, via_total


@njit(nogil=True, cache=True)
def gather_keys(key_offsets: Array, key_data: Array, delta_offsets: Array, delta_data: Array,
                ids: Array, offsets: Array, out: Array) -> None:  # pragma: no cover - numba
    """Copy the key bytes of `ids` into `out` at `offsets` (from select_rows). Runs of
    consecutive ids, the norm with locality-ordered ids, are copied as one block."""
    n = len(ids)
    n_snap = len(key_offsets) - 1
    i = 0
    while i < n:
        if ids[i] >= n_snap:  # a node the delta added: its key is in the delta's buffers
            d = ids[i] - n_snap
            start = delta_offsets[d]
            end = delta_offsets[d + 1]
            out[offsets[i]: offsets[i] + (end - start)] = delta_data[start:end]
            i += 1
            continue
        j = i + 1
        while j < n and ids[j] == ids[j - 1] + 1 and ids[j] < n_snap:
            j += 1
        start = key_offsets[ids[i]]
        end = key_offsets[ids[j - 1] + 1]
        out[offsets[i]: offsets[i] + (end - start)] = key_data[start:end]
        i = j


@njit(nogil=True, cache=True)
def tally_units(
    indptr: Array, neighbor: Array, ekind: Array, etime: Array, erec: Array,
    kind_allowed: Array, filter_kinds: bool, since: int, until: int, as_of: int,
    node_kind: Array, affected: Array, affected_epoch: int, visited: Array,
    item_kind: int, container: Array, counted: Array,
    marks: Array, epoch0: int, stack: Array, tally_marks: Array, tally: Array,
    reached: Array, live: Any,
) -> int:  # pragma: no cover - numba
    """Count affected items at the containers their packaging reaches (this adjacency is the
    downstream one, `live` its delta).

    An item is an affected node of `item_kind` (serial: a unit) with a followed edge into an
    affected container (a node whose kind is flagged in `container`: logistic unit, shipment,
    customer). From each item the walk goes downstream through affected containers only; every
    distinct node it reaches whose kind is flagged in `counted` gets tally += 1 (tally is valid
    where tally_marks == epoch0). Each item uses its own epoch on `marks` (epoch0 + 1, ...);
    returns the next free epoch. An item packed into the same single container as the item
    before it reuses that walk's result (`reached`): ten units of a case walk once.
    """
    # One loop with one place that pushes a node's containers, written out here: as a helper
    # taking these arrays it cost a reference count per array per call, 10x the walk itself.
    check_edges = filter_kinds or since != MIN_TIME or until != MAX_TIME or as_of != MAX_TIME
    head, nxt, dnbr = live.head, live.next_edge, live.neighbor
    dkind, dtime, drec, dret, n_edges = (live.kind, live.event_time, live.recorded_at,
                                         live.retracted_at, live.n_edges)
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    n_snap = len(indptr) - 1
    epoch = epoch0 + 1
    last_first = -1
    n_reached = 0
    for i in range(len(visited)):
        u = visited[i]
        if node_kind[u] != item_kind:
            continue
        v = u
        top = 0
        first = True  # v is the item itself (it may come round again on a cycle)
        while True:
            if not first and counted[node_kind[v]]:
                if tally_marks[v] != epoch0:
                    tally_marks[v] = epoch0
                    tally[v] = 0
                tally[v] += 1
                reached[n_reached] = v
                n_reached += 1
            # Push v's unmarked affected containers over followed snapshot and delta edges.
            if v < n_snap:
                retracted = len(rpos) > 0 and rflag[v] != 0
                for e in range(indptr[v], indptr[v + 1]):
                    w = neighbor[e]
                    if (not container[node_kind[w]] or affected[w] != affected_epoch
                            or marks[w] == epoch):
                        continue
                    if check_edges and not edge_ok(e, ekind, etime, erec, kind_allowed,
                                                   filter_kinds, since, until, as_of):
                        continue
                    if retracted and not visible(_retracted_at(e, rpos, rtime), as_of):
                        continue
                    marks[w] = epoch
                    stack[top] = w
                    top += 1
            if n_edges > 0 and v < len(head):
                e = head[v]
                while e >= 0:
                    if e < n_edges:
                        w = dnbr[e]
                        if (container[node_kind[w]] and affected[w] == affected_epoch
                                and marks[w] != epoch and visible(dret[e], as_of)
                                and edge_ok(e, dkind, dtime, drec, kind_allowed, filter_kinds,
                                            since, until, as_of)):
                            marks[w] = epoch
                            stack[top] = w
                            top += 1
                    e = nxt[e]
            if first:
                first = False
                if top == 0:
                    break  # not packed into anything affected
                if top == 1 and stack[0] == last_first:
                    for j in range(n_reached):
                        tally[reached[j]] += 1
                    break
                last_first = stack[0] if top == 1 else -1
                n_reached = 0
            if top == 0:
                break
            top -= 1
            v = stack[top]
        epoch += 1
    return epoch


@njit(nogil=True, cache=True)
def row_edges(ids: Array, parents: Array, downstream: bool, indptr: Array, neighbor: Array,
              ekind: Array, etime: Array, erec: Array, kind_allowed: Array,
              filter_kinds: bool, since: int, until: int, as_of: int, live: Any,
              kind_out: Array, time_out: Array) -> None:  # pragma: no cover - numba
    """The edge that led to each row: kind code and event time of the edge between the row's
    node ids[i] and the node it was reached from, parents[i] (downstream: parent -> node;
    upstream: node -> parent), one the walk follows under this filter (edge_between). -1 and
    NO_TIME where there is none (a seed's row)."""
    for i in range(len(ids)):
        kind_out[i], time_out[i] = -1, NO_TIME
        if parents[i] < 0:
            continue
        a, b = (parents[i], ids[i]) if downstream else (ids[i], parents[i])
        e = edge_between(a, b, indptr, neighbor, ekind, etime, erec, kind_allowed,
                         filter_kinds, since, until, as_of, live)
        if e >= 0:
            kind_out[i], time_out[i] = ekind[e], etime[e]
        elif e < -1:
            d = delta_edge(e)
            kind_out[i], time_out[i] = live.kind[d], live.event_time[d]
