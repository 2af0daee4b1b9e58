"""Units and what reaches them, by dense id, for checks over a whole population (qms
completeness, effectivity): the units of some products, when each was built (the latest event
time on an edge into it), and which of them a set of seed nodes reaches downstream (one
multi-seed walk per set, not one walk per unit)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from numba import njit

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory
from domain.schemas import TIMESTAMP
from domain.time import NO_TIME
from engine._kernels import MAX_TIME, _retracted_at, visible
from engine.algorithms import Walks, trace_ids
from engine.filters import Filter, kind_flags
from engine.scratch import Scratch
from engine.shipped import finished_flags, node_columns
from engine.view import View

__all__ = ["built_times", "coverage_table", "reached", "unit_ids"]

Array = npt.NDArray[Any]


def unit_ids(view: View, products: Iterable[str] | None, kinds: Sequence[str]) -> Array:
    """Dense ids of the nodes of `kinds` whose product is one of `products` (None: any)."""
    flags = kind_flags(view, kinds)[view.node_kind[: view.node_count]]
    chosen = finished_flags(view, products)
    if chosen is not None:
        flags &= chosen
    return np.flatnonzero(flags).astype(np.int32)


@njit(nogil=True, cache=True)
def _latest_in(ids: Array, indptr: Array, etime: Array, emap: Array, mapped: bool,
               live: Any, out: Array) -> None:  # pragma: no cover - numba
    """out[i]: the latest event time on a live (not retracted) edge into ids[i]; this
    adjacency is the upstream one and `live` its delta."""
    n_snap = len(indptr) - 1
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    for i in range(len(ids)):
        v = ids[i]
        best = NO_TIME
        if v < n_snap:
            retracted = len(rpos) > 0 and rflag[v] != 0
            for e in range(indptr[v], indptr[v + 1]):
                if retracted and not visible(_retracted_at(e, rpos, rtime), MAX_TIME):
                    continue
                t = etime[emap[e] if mapped else e]
                if t != NO_TIME and (best == NO_TIME or t > best):
                    best = t
        if live.n_edges > 0 and v < len(live.head):
            d = live.head[v]
            while d >= 0:
                if d < live.n_edges and visible(live.retracted_at[d], MAX_TIME):
                    t = live.event_time[d]
                    if t != NO_TIME and (best == NO_TIME or t > best):
                        best = t
                d = live.next_edge[d]
        out[i] = best


def built_times(view: View, ids: Array) -> Array:
    """Per id, the latest event time of an edge into it (when it was made or last had
    something put into it), NO_TIME when none has a time: a unit's build time."""
    up = view.snapshot.up
    out = np.empty(len(ids), dtype=np.int64)
    _latest_in(ids.astype(np.int32), up.indptr, up.event_time, up.edge, up.mapped,
               view.up_live, out)
    return out


def reached(view: View, seeds: Array, candidates: Array, flt: Filter, scratch: Scratch,
            walks: Walks, downstream: bool = True) -> Array:
    """Which `candidates` the seeds (themselves included) reach under `flt`, downstream (or
    upstream): one walk from all seeds at once (engine._kernels, as impact)."""
    if len(seeds) == 0:
        return np.zeros(len(candidates), dtype=np.bool_)
    adjacency = view.snapshot.down if downstream else view.snapshot.up
    trace_ids(view, adjacency, seeds.astype(np.int32), flt, scratch, walks)
    return np.asarray(scratch.marks[candidates] == scratch.epoch)


def coverage_table(view: View, products: Iterable[str] | None, kinds: Sequence[str],
                   checks: dict[str, Array], flt: Filter, scratch: Scratch, walks: Walks,
                   since: int = NO_TIME, reaches: dict[str, Array] | None = None) -> pa.Table:
    """One row per unit (a node of `kinds` with one of `products`) built at or after `since`
    (no build time: kept): key, product, built_at, and per check a bool column: do the
    check's seed ids reach the unit downstream (a seed reaches itself)? And per `reaches`
    entry: does the unit reach one of those ids downstream?"""
    ids = unit_ids(view, products, kinds)
    built = built_times(view, ids)
    if since != NO_TIME:
        keep = (built == NO_TIME) | (built >= since)
        ids, built = ids[keep], built[keep]
    columns: dict[str, Any] = {
        "key": view.keys(ids),
        "product": node_columns(view, ids, ("product",))["product"],
        "built_at": pa.array(built, pa.int64(), mask=built == NO_TIME).cast(TIMESTAMP),
    }
    for name, seeds in checks.items():
        columns[name] = pa.array(reached(view, seeds, ids, flt, scratch, walks))
    for name, targets in (reaches or {}).items():  # the unit reaches one: walk back from them
        columns[name] = pa.array(reached(view, targets, ids, flt, scratch, walks,
                                         downstream=False))
    return pa.table(columns)
