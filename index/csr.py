"""Compressed sparse rows and the locality-preserving id order, built with numba.

`csr_order` is a stable counting sort (O(nodes + edges)); `locality_order` numbers nodes in
breadth-first order from the roots, so that nodes a traversal visits together sit close in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory

__all__ = [
    "csr_order",
    "duplicate_mask",
    "fold_targets",
    "inverse",
    "locality_order",
    "narrow_indptr",
    "take",
]

Array = npt.NDArray[Any]


@njit(cache=True)
def _counting_order(keys: Array, n: int, order: Array) -> Array:  # pragma: no cover - numba
    """Fill `order` with input positions sorted stably by key; return indptr."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    for k in keys:
        indptr[k + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    position = indptr[:-1].copy()
    for e in range(len(keys)):
        k = keys[e]
        order[position[k]] = e
        position[k] += 1
    return indptr


def csr_order(row: Array, col: Array, n: int) -> tuple[Array, Array]:
    """Order edges by (row, col) with two stable counting sorts; return (indptr, order).

    `indptr` is int64 with n + 1 entries; `order[i]` is the input position of the i-th edge
    (int32 while the edge count allows, else int64).
    """
    # int32 positions while they fit: half the memory traffic of every later gather
    dtype = np.int64 if len(row) >= np.iinfo(np.int32).max else np.int32
    by_col = np.empty(len(col), dtype=dtype)
    _counting_order(col, n, by_col)
    by_row = np.empty(len(row), dtype=dtype)
    indptr = _counting_order(take(row, by_col), n, by_row)
    return indptr, take(by_col, by_row)


@njit(parallel=True, nogil=True, cache=True)
def _take(values: Array, index: Array, out: Array) -> None:  # pragma: no cover - numba
    for i in prange(len(index)):
        out[i] = values[index[i]]


@njit(parallel=True, nogil=True, cache=True)
def _inverse(order: Array, out: Array) -> None:  # pragma: no cover - numba
    for i in prange(len(order)):
        out[order[i]] = i


def inverse(order: Array) -> Array:
    """The inverse of a permutation (out[order[i]] = i), in its dtype, on both cores."""
    out = np.empty(len(order), dtype=order.dtype)
    if len(order):
        _inverse(order, out)
    return out


def take(values: Array, index: Array) -> Array:
    """values[index] on both cores (numpy's fancy indexing runs on one). At tens of millions of
    edges the build is mostly such gathers, bound by random memory reads."""
    out = np.empty(len(index), dtype=values.dtype)
    if len(index):
        _take(values, index, out)
    return out


@njit(cache=True)
def _bfs_numbering(indptr: Array, indices: Array, indegree: Array) -> Array:  # pragma: no cover
    n = len(indptr) - 1
    order = np.empty(n, dtype=np.int64)
    seen = np.zeros(n, dtype=np.bool_)
    tail = 0
    # Roots first, in input order, then everything reachable from them level by level; nodes
    # only on cycles are picked up afterwards, each starting a BFS of its own.
    for v in range(n):
        if indegree[v] == 0:
            seen[v] = True
            order[tail] = v
            tail += 1
    head = 0
    start = 0
    while True:
        while head < tail:
            v = order[head]
            head += 1
            for e in range(indptr[v], indptr[v + 1]):
                w = indices[e]
                if not seen[w]:
                    seen[w] = True
                    order[tail] = w
                    tail += 1
        while start < n and seen[start]:
            start += 1
        if start == n:
            break
        seen[start] = True
        order[tail] = start
        tail += 1
    return order


def locality_order(indptr: Array, indices: Array) -> Array:
    """New position -> old id, breadth-first from the roots along a CSR adjacency."""
    indegree = np.bincount(indices, minlength=len(indptr) - 1)
    return np.asarray(_bfs_numbering(indptr, indices, indegree))


@njit(cache=True)
def duplicate_mask(indptr: Array, col: Array, order: Array, kind: Array,
                   time: Array) -> Array:  # pragma: no cover - numba
    """Edges in CSR order (`order[i]`: input position of the i-th; rows sorted by `col`, ties
    in input order): True for an edge that repeats an earlier edge of its row with the same
    col, kind and time. `kind` and `time` are in input order and read only where a row has
    the same col twice, which is rare."""
    repeat = np.zeros(len(col), dtype=np.bool_)
    for v in range(len(indptr) - 1):
        start = indptr[v]
        end = indptr[v + 1]
        run = start
        while run < end:
            stop = run + 1
            while stop < end and col[stop] == col[run]:
                stop += 1
            for i in range(run + 1, stop):
                for j in range(run, i):
                    if (not repeat[j] and kind[order[j]] == kind[order[i]]
                            and time[order[j]] == time[order[i]]):
                        repeat[i] = True
                        break
            run = stop
    return repeat


@njit(cache=True)
def fold_targets(indptr: Array, col: Array, order: Array, kind: Array, time: Array,
                 repeat: Array) -> Array:  # pragma: no cover - numba
    """For each edge `duplicate_mask` marked (in CSR order), the input position of the earlier
    edge it repeats (the same run, col, kind and time, not itself a repeat)."""
    out = np.empty(int(repeat.sum()), dtype=np.int64)
    k = 0
    for v in range(len(indptr) - 1):
        for i in range(indptr[v], indptr[v + 1]):
            if not repeat[i]:
                continue
            j = i - 1
            while True:  # the run of equal cols starts at or after indptr[v]
                if (col[j] == col[i] and not repeat[j] and kind[order[j]] == kind[order[i]]
                        and time[order[j]] == time[order[i]]):
                    break
                j -= 1
            out[k] = order[j]
            k += 1
    return out


def narrow_indptr(indptr: Array) -> Array:
    """indptr as int32 while the edge count allows (half the bytes), else int64."""
    if indptr[-1] < np.iinfo(np.int32).max:
        return indptr.astype(np.int32)
    return indptr
