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

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory
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


QUEUED = 1 << 31
"""Bit of state[v, 1] set while v is on the queue; the low 31 bits are its hop count and the
high 32 bits the epoch that marks it reached."""
HOPS = QUEUED - 1


@njit(nogil=True, cache=True)
def time_respecting(
    indptr: Array, neighbor: Array, ekind: Array, etime: Array, erec: Array,
    emap: Array, mapped: bool, seeds: Array, start: int, forward: bool,
    kind_allowed: Array, filter_kinds: bool, since: int, until: int, as_of: int,
    state: Array, epoch: int, order: Array, depth: Array, ring: Array, cancel: Array,
    live: Any,
) -> tuple[int, int]:  # pragma: no cover - numba
    """Time-respecting walk from `seeds`, each labelled `start`. Returns (n, n_seeds):
    order[:n] holds every reached node in first-reached order, the distinct seeds first,
    and depth[:n] the number of edges on the walk that gave each its best time (state[v, 0]
    holds the time, valid where v's row carries this epoch). n == CANCELLED if cancel[0] was
    set during the walk."""
    n_snap = len(indptr) - 1
    size = len(ring)
    stamp = epoch << 32
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
        if (state[s, 1] >> 32) != stamp >> 32:
            state[s, 0] = start
            state[s, 1] = stamp | QUEUED
            order[n_order] = s
            n_order += 1
            ring[tail] = s
            tail += 1
            if tail == size:
                tail = 0
            pending += 1
    n_seeds = n_order
    steps = 0
    while pending > 0:
        v = ring[head]
        head += 1
        if head == size:
            head = 0
        pending -= 1
        flags = state[v, 1] & ~QUEUED  # off the queue: it may come back
        state[v, 1] = flags
        steps += 1
        if (steps & (CANCEL_CHECK_EVERY - 1)) == 0 and cancel[0] != 0:
            return CANCELLED, n_seeds
        v_label, v_hops = state[v, 0], flags & HOPS
        # The snapshot's edges of v, then its live ones, through one relax step below:
        # written once, in the loop (a helper function costs 4x here, in array reference
        # counting per call).
        e, end = (indptr[v], indptr[v + 1]) if v < n_snap else (0, 0)
        retracted = e < end and len(rpos) > 0 and rflag[v] != 0
        d = dhead[v] if n_edges > 0 and v < len(dhead) else -1
        while True:
            if e < end:
                a = emap[e] if mapped else e
                skip = (check_edges and not edge_ok(a, ekind, etime, erec, kind_allowed,
                                                    filter_kinds, since, until, as_of)) or (
                    retracted and not visible(_retracted_at(e, rpos, rtime), as_of))
                w, t = neighbor[e], etime[a]
                e += 1
                if skip:
                    continue
            elif d >= 0:
                c = d
                d = dnext[d]
                if c >= n_edges or not visible(dret[c], as_of) or not edge_ok(
                        c, dkind, dtime, drec, kind_allowed, filter_kinds, since, until, as_of):
                    continue
                w, t = dnbr[c], dtime[c]
            else:
                break
            # Relax: the label edge time t gives w (no time: v's own), if it is better.
            if t == NO_TIME:
                new = v_label
            elif (t < v_label) if forward else (t > v_label):
                continue
            else:
                new = t
            w_flags = state[w, 1]
            if (w_flags >> 32) != stamp >> 32:
                order[n_order] = w
                n_order += 1
            elif (new >= state[w, 0]) if forward else (new <= state[w, 0]):
                continue
            state[w, 0] = new
            state[w, 1] = stamp | QUEUED | (v_hops + 1)
            if w_flags & QUEUED and (w_flags >> 32) == stamp >> 32:
                continue  # already waiting: it will go with the better label
            ring[tail] = w
            tail += 1
            if tail == size:
                tail = 0
            pending += 1
    for i in range(n_order):
        depth[i] = state[order[i], 1] & HOPS
    return n_order, n_seeds
