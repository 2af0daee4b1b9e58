"""Finding the live edges an incoming edge repeats, so re-ingest is idempotent by content.

An edge that repeats a live edge exactly (same src, dst, kind, event time and event id) is the
same assertion again: the build folds it, and live ingest does not append it either, whatever
file name or batch size it arrived under. Two lookups, both in numba:

- the snapshot: a binary search for dst in src's downstream CSR row (rows are sorted by
  neighbour), then kind and time;
- the delta: an open-addressing table of delta edges by a hash of (src, dst, kind, time),
  grown by doubling; each hit is verified against the delta's own arrays.

The event id and retraction of a hit are checked by the caller (rare: only real repeats).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory

__all__ = ["DeltaEdgeIndex", "snapshot_repeats"]

Array = npt.NDArray[Any]
_EMPTY = -1


@njit(nogil=True, cache=True, inline="always")
def _mix(src: int, dst: int, kind: int, time: int) -> np.uint64:  # pragma: no cover - numba
    h = np.uint64(src) * np.uint64(0x9E3779B97F4A7C15)
    h ^= np.uint64(dst) + np.uint64(0x632BE59BD9B4E019) + (h << np.uint64(6)) + (h >> np.uint64(2))
    h ^= np.uint64(kind) + np.uint64(0x85EBCA77C2B2AE63) + (h << np.uint64(6)) + (h >> np.uint64(2))
    h ^= np.uint64(time) + np.uint64(0xC2B2AE3D27D4EB4F) + (h << np.uint64(6)) + (h >> np.uint64(2))
    return h


@njit(nogil=True, cache=True)
def snapshot_repeats(indptr: Array, neighbor: Array, kind: Array, time: Array, src: Array,
                     dst: Array, edge_kind: Array, edge_time: Array,
                     out: Array) -> None:  # pragma: no cover - numba
    """out[i] = the downstream CSR position of a snapshot edge equal to edge i (src, dst,
    kind, time), else -1. Ids at or past the snapshot's node count are new nodes: no edge."""
    n = len(indptr) - 1
    for i in range(len(src)):
        out[i] = -1
        s, d = src[i], dst[i]
        if s >= n or d >= n:
            continue
        lo, hi = indptr[s], indptr[s + 1]
        while lo < hi:  # first position whose neighbour is >= d
            mid = (lo + hi) // 2
            if neighbor[mid] < d:
                lo = mid + 1
            else:
                hi = mid
        j = lo
        end = indptr[s + 1]
        while j < end and neighbor[j] == d:
            if kind[j] == edge_kind[i] and time[j] == edge_time[i]:
                out[i] = j
                break
            j += 1


@njit(nogil=True, cache=True)
def _insert(slots: Array, start: int, count: int, src: Array, dst: Array, kind: Array,
            time: Array) -> None:  # pragma: no cover - numba
    mask = np.uint64(len(slots) - 1)
    for e in range(start, start + count):
        at = _mix(src[e], dst[e], kind[e], time[e]) & mask
        while slots[at] != _EMPTY:
            at = (at + np.uint64(1)) & mask
        slots[at] = e


@njit(nogil=True, cache=True)
def _find(slots: Array, src: Array, dst: Array, kind: Array, time: Array, retracted: Array,
          n_edges: int, q_src: Array, q_dst: Array, q_kind: Array, q_time: Array,
          out: Array) -> None:  # pragma: no cover - numba
    mask = np.uint64(len(slots) - 1)
    never = np.iinfo(np.int64).max
    for i in range(len(q_src)):
        out[i] = -1
        at = _mix(q_src[i], q_dst[i], q_kind[i], q_time[i]) & mask
        while slots[at] != _EMPTY:
            e = slots[at]
            if (e < n_edges and src[e] == q_src[i] and dst[e] == q_dst[i]
                    and kind[e] == q_kind[i] and time[e] == q_time[i]
                    and retracted[e] == never):
                out[i] = e
                break
            at = (at + np.uint64(1)) & mask


class DeltaEdgeIndex:
    """Delta edges by (src, dst, kind, time); the writer adds, the writer looks up."""

    def __init__(self) -> None:
        self._slots = np.full(1024, _EMPTY, dtype=np.int64)
        self._count = 0

    def add(self, src: Array, dst: Array, kind: Array, time: Array, start: int,
            count: int) -> None:
        """Index delta edges [start, start + count) of the delta's arrays."""
        if 2 * (self._count + count) > len(self._slots):
            size = len(self._slots)
            while 2 * (self._count + count) > size:
                size *= 2
            self._slots = np.full(size, _EMPTY, dtype=np.int64)
            _insert(self._slots, 0, start, src, dst, kind, time)  # rehash what is there
        _insert(self._slots, start, count, src, dst, kind, time)
        self._count = start + count

    def find(self, src: Array, dst: Array, kind: Array, time: Array, retracted: Array,
             n_edges: int, q_src: Array, q_dst: Array, q_kind: Array, q_time: Array) -> Array:
        """For each query edge, a live delta edge equal to it (index), else -1."""
        out = np.empty(len(q_src), dtype=np.int64)
        _find(self._slots, src, dst, kind, time, retracted, n_edges, q_src, q_dst, q_kind,
              q_time, out)
        return out
