"""Containment window: given a suspect node (a line, a sterilisation load, a supplier lot) and a
time window, the units whose genealogy passes through it inside the window, and how the scope
grows as the window widens.

Material passes through the suspect by its out-edges: an out-edge at event time t carries
what the suspect held at t downstream. The window keeps the out-edges with t in
[since, until]; the units are the nodes of the unit kinds downstream of those edges' targets
(walked without a time filter: what came after). The growth curve takes the suspect's
out-edges in time order and says, at each distinct time, how many units that time's edges add
to those of all earlier ones: where the curve starts is the first bad, where the window ends
the last good.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.schemas import TIMESTAMP
from engine import _kernels as k
from engine.algorithms import Walks
from engine.filters import NO_LIMIT, Filter, kind_flags
from engine.scratch import Scratch
from engine.view import View

__all__ = ["CONTAINMENT_SCHEMA", "containment"]

Array = npt.NDArray[Any]

CONTAINMENT_SCHEMA = pa.schema([
    pa.field("event_time", TIMESTAMP), pa.field("edges", pa.int64()),
    pa.field("units_added", pa.int64()), pa.field("units_total", pa.int64()),
])


def _out_edges(view: View, node: int, flt: Filter) -> tuple[Array, Array]:
    """(targets, event times) of `node`'s live out-edges of the allowed kinds, recorded by
    as_of, with an event time in [since, until] (edges without one are left out: they say
    nothing of when)."""
    targets, times = [], []
    snap, live = view.snapshot, view.down_live
    if node < snap.node_count:
        down = snap.down
        start, end = int(down.indptr[node]), int(down.indptr[node + 1])
        pos = np.arange(start, end)
        attr = down.edge[pos] if down.mapped else pos
        keep = np.ones(len(pos), dtype=bool)
        if flt.filter_kinds:
            keep &= flt.kind_allowed[down.kind[attr]]
        keep &= down.recorded_at[attr] <= flt.as_of
        if len(live.retracted_pos) and live.retracted_flag[node]:
            at = np.searchsorted(live.retracted_pos, pos)
            at = np.minimum(at, len(live.retracted_pos) - 1)
            hit = live.retracted_pos[at] == pos
            keep &= ~(hit & (live.retracted_time[at] <= flt.as_of))
        targets.append(down.neighbor[pos][keep])
        times.append(down.event_time[attr][keep])
    if live.n_edges and node < len(live.head):
        e = int(live.head[node])
        extra_t, extra_w = [], []
        while e >= 0:
            if (e < live.n_edges and (live.retracted_at[e] == k.NEVER
                                      or live.retracted_at[e] > flt.as_of)
                    and live.recorded_at[e] <= flt.as_of
                    and (not flt.filter_kinds or flt.kind_allowed[live.kind[e]])):
                extra_w.append(int(live.neighbor[e]))
                extra_t.append(int(live.event_time[e]))
            e = int(live.next_edge[e])
        targets.append(np.array(extra_w, dtype=np.int32))
        times.append(np.array(extra_t, dtype=np.int64))
    w = np.concatenate(targets) if targets else np.zeros(0, dtype=np.int32)
    t = np.concatenate(times) if times else np.zeros(0, dtype=np.int64)
    inside = (t != k.NO_TIME) & (t >= flt.since) & (t <= flt.until)
    return w[inside].astype(np.int32), t[inside]


def containment(view: View, suspect: int, flt: Filter, unit_kinds: tuple[str, ...],
                scratch: Scratch, walks: Walks,
                cancel: Array | None = None) -> tuple[pa.Table, Array]:
    """(the growth curve, CONTAINMENT_SCHEMA; the unit ids inside the window)."""
    targets, times = _out_edges(view, suspect, flt)
    order = np.argsort(times, kind="stable")
    targets, times = targets[order], times[order]
    units = kind_flags(view, unit_kinds)
    epoch = scratch.next_epoch()  # one epoch for the whole curve: each walk adds what is new
    scratch.marks[suspect] = epoch  # never walk back through the suspect itself
    walk = Filter(flt.kind_allowed, flt.filter_kinds, k.MIN_TIME, k.MAX_TIME, flt.as_of,
                  flt.node_allowed, False, -1, NO_LIMIT)
    down = view.snapshot.down
    live = view.down_live
    flag = scratch.cancel if cancel is None else cancel
    found: list[Array] = []
    curve_t, curve_edges, curve_added = [], [], []
    for when in np.unique(times).tolist():
        seeds = targets[times == when]
        count, _, _ = k.traverse(
            down.indptr, down.neighbor, down.kind, down.event_time, down.recorded_at,
            down.edge, down.mapped, seeds, walk.max_depth, walk.kind_allowed,
            walk.filter_kinds, walk.since, walk.until, walk.as_of, view.node_kind,
            walk.node_allowed, False, walk.limit, -1, scratch.marks, epoch, scratch.queue,
            scratch.depth, scratch.parent, False, flag, live)
        if count == k.CANCELLED:
            walks.cancelled += 1
            from domain.errors import QueryCancelled  # noqa: PLC0415 - the rare path

            raise QueryCancelled("query cancelled before it finished")
        new = scratch.queue[:count]
        new = new[units[view.node_kind[new]]]
        found.append(new.copy())
        curve_t.append(when)
        curve_edges.append(len(seeds))
        curve_added.append(len(new))
    added = np.array(curve_added, dtype=np.int64)
    curve = pa.table({
        "event_time": pa.array(np.array(curve_t, dtype=np.int64), pa.int64()).cast(TIMESTAMP),
        "edges": pa.array(np.array(curve_edges, dtype=np.int64)),
        "units_added": pa.array(added), "units_total": pa.array(np.cumsum(added)),
    }, schema=CONTAINMENT_SCHEMA)
    ids = np.concatenate(found) if found else np.zeros(0, dtype=np.int32)
    return curve, ids
