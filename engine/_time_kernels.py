"""Private numba kernel of time-respecting traces: material only moves forward in time.

Downstream, a node's label is the earliest time material from the seeds can be there; an edge
v -> w at event time t is followed only if t >= label[v] (material cannot leave before it
arrived), and w's label becomes t. Upstream it is the mirror: a node's label is the latest
time its material can have left towards the seeds; an edge w -> v at t is followed only if
t <= label[v]. An edge with no event time passes and keeps the label. Labels only improve, so
a node is queued again only when its label improves (label-correcting, FIFO): every node
reachable by a time-respecting walk is found, with its best label.
Same conventions as engine._kernels (dense ids, epoch marks, snapshot CSR + live delta).
"""

from __future__ import annotations

from typing import Any

import numpy.typing as npt
from numba import njit

from domain.knobs import CANCEL_CHECK_EVERY
from engine._kernels import (
    CANCELLED,
    MAX_TIME,
    MIN_TIME,
    NO_TIME,
    _retracted_at,
    edge_ok,
    visible,
)

Array = npt.NDArray[Any]


@njit(nogil=True, cache=True, inline="always")
def _relax(w: int, t: int, v_label: int, v_hops: int, forward: bool, marks: Array,
           epoch: int, label: Array, hops: Array, order: Array, n_order: int, ring: Array,
           queued: Array, tail: int, size: int) -> tuple[int, int, int]:  # pragma: no cover
    """Offer w the label that edge time t (NO_TIME: none) gives it; returns (n_order, tail,
    enqueued)."""
    if t == NO_TIME:
        new = v_label
    elif forward:
        if t < v_label:
            return n_order, tail, 0
        new = t
    else:
        if t > v_label:
            return n_order, tail, 0
        new = t
    if marks[w] != epoch:
        marks[w] = epoch
        order[n_order] = w
        n_order += 1
        label[w] = new
        hops[w] = v_hops + 1
    elif (forward and new < label[w]) or (not forward and new > label[w]):
        label[w] = new
        hops[w] = v_hops + 1
    else:
        return n_order, tail, 0
    if queued[w] != epoch:
        queued[w] = epoch
        ring[tail] = w
        tail = (tail + 1) % size
        return n_order, tail, 1
    return n_order, tail, 0


@njit(nogil=True, cache=True)
def time_respecting(
    indptr: Array, neighbor: Array, ekind: Array, etime: Array, erec: Array,
    emap: Array, mapped: bool, seeds: Array, start: int, forward: bool,
    kind_allowed: Array, filter_kinds: bool, since: int, until: int, as_of: int,
    marks: Array, queued: Array, epoch: int, label: Array, hops: Array, order: Array,
    ring: Array, cancel: Array, live: Any,
) -> tuple[int, int]:  # pragma: no cover - numba
    """Time-respecting walk from `seeds`, each labelled `start`. Returns (n, n_seeds):
    order[:n] holds every reached node in first-reached order, the distinct seeds first;
    label[v] and hops[v] (valid where marks[v] == epoch) its best time and the number of
    edges on the walk that gave it. n == CANCELLED if cancel[0] was set during the walk."""
    n_snap = len(indptr) - 1
    size = len(ring)
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    dhead, dnext, dnbr = live.head, live.next_edge, live.neighbor
    dkind, dtime, drec, dret, n_edges = (live.kind, live.event_time, live.recorded_at,
                                         live.retracted_at, live.n_edges)
    check_edges = filter_kinds or since != MIN_TIME or until != MAX_TIME or as_of != MAX_TIME
    n_order = 0
    head = 0
    tail = 0
    pending = 0
    for s in seeds:
        if marks[s] != epoch:
            marks[s] = epoch
            queued[s] = epoch
            label[s] = start
            hops[s] = 0
            order[n_order] = s
            n_order += 1
            ring[tail] = s
            tail = (tail + 1) % size
            pending += 1
    n_seeds = n_order
    steps = 0
    while pending > 0:
        v = ring[head]
        head = (head + 1) % size
        pending -= 1
        queued[v] = 0  # off the queue (epochs start at 1): it may come back
        steps += 1
        if (steps & (CANCEL_CHECK_EVERY - 1)) == 0 and cancel[0] != 0:
            return CANCELLED, n_seeds
        v_label, v_hops = label[v], hops[v]
        if v < n_snap:
            retracted = len(rpos) > 0 and rflag[v] != 0
            for e in range(indptr[v], indptr[v + 1]):
                a = emap[e] if mapped else e
                if check_edges and not edge_ok(a, ekind, etime, erec, kind_allowed,
                                               filter_kinds, since, until, as_of):
                    continue
                if retracted and not visible(_retracted_at(e, rpos, rtime), as_of):
                    continue
                n_order, tail, added = _relax(neighbor[e], etime[a], v_label, v_hops, forward,
                                              marks, epoch, label, hops, order, n_order,
                                              ring, queued, tail, size)
                pending += added
        if n_edges > 0 and v < len(dhead):
            e = dhead[v]
            while e >= 0:
                if e < n_edges and visible(dret[e], as_of) and edge_ok(
                        e, dkind, dtime, drec, kind_allowed, filter_kinds, since, until,
                        as_of):
                    n_order, tail, added = _relax(dnbr[e], dtime[e], v_label, v_hops,
                                                  forward, marks, epoch, label, hops, order,
                                                  n_order, ring, queued, tail, size)
                    pending += added
                e = dnext[e]
    return n_order, n_seeds
