"""Time-respecting traces (engine._time_kernels): downstream, follow an edge only if its event
time is at or after the time the material reached its source; upstream, only if at or before
the time it left towards the seeds. The seeds start at `since` (downstream) or `until`
(upstream), else at the beginning or the end of time. Rows as a plain trace's (key, kind,
depth: the edges on the walk that gave the node its best time)."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from domain.errors import InvalidInput, QueryCancelled, ResultLimitExceeded
from engine import _kernels as k
from engine import _time_kernels as tk
from engine.algorithms import Walks
from engine.filters import Filter
from engine.scratch import Scratch
from engine.view import View
from index.snapshot import Adjacency

__all__ = ["time_respecting_ids"]

Array = npt.NDArray[Any]


def time_respecting_ids(view: View, adj: Adjacency, seeds: Array, flt: Filter,
                        scratch: Scratch, walks: Walks, downstream: bool,
                        cancel: Array | None = None) -> tuple[int, int]:
    """(n, n_seeds): scratch.queue[:n] holds the reached node ids in first-reached order,
    seeds first, and scratch.depth[:n] their hop counts.
    Honours the filter's edge kinds, time window, as_of and limit (node kinds are the row
    builder's); max_depth does not combine with it (a node's best time may come by a longer
    walk than its shortest one)."""
    if flt.max_depth >= 0:
        raise InvalidInput("max_depth does not combine with a time-respecting trace (a node's "
                           "earliest arrival may come by a longer walk); drop one of them")
    epoch = scratch.next_epoch()
    state, ring = scratch.time_arrays()
    start = ((flt.since if flt.since != k.MIN_TIME else k.MIN_TIME) if downstream
             else (flt.until if flt.until != k.MAX_TIME else k.MAX_TIME))
    count, n_seeds = tk.time_respecting(
        adj.indptr, adj.neighbor, adj.kind, adj.event_time, adj.recorded_at, adj.edge,
        adj.mapped, seeds, start, downstream, flt.kind_allowed, flt.filter_kinds, flt.since,
        flt.until, flt.as_of, state, epoch, scratch.queue, scratch.depth, ring,
        scratch.cancel if cancel is None else cancel, view.live(adj))
    if count == k.CANCELLED:
        walks.cancelled += 1
        raise QueryCancelled("query cancelled before it finished")
    rest = scratch.queue[n_seeds:count]
    matched = (int(flt.node_allowed[view.node_kind[rest]].sum()) if flt.filter_nodes
               else len(rest))
    if matched > flt.limit:
        raise ResultLimitExceeded(flt.limit, f"the answer has more than {flt.limit:,} rows; "
                                  "narrow it or raise the limit")
    return count, n_seeds
