"""What the kernels read of the live delta (`LiveArrays`), and the numba helpers that link new
delta edges into per-node lists so a reader never sees a half-written list.

Adjacency of delta edges, per direction, is a linked list newest-first: head[v] is v's newest
delta edge, next[e] the one before it (-1 ends the list). A reader whose view covers edges
[0, n_edges) skips any edge >= n_edges it meets at the front of a list. Lists are linked in two
numba calls, `next` first (`chain`) and `head` second (`publish_heads`), so a reader that sees
a new head finds its `next` already written.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory

__all__ = ["LiveArrays", "chain", "grow", "publish_heads"]

Array = npt.NDArray[Any]


class LiveArrays(NamedTuple):
    """What a kernel reads of one direction of the delta (numba takes a NamedTuple in nopython
    mode: fields by name, never by position). Delta edges of node v, newest first: head[v],
    then next_edge[e]; only edges < n_edges belong to the view. The last three list retracted
    snapshot edges: retracted_flag[v] != 0 iff v has one; their sorted CSR positions and
    retraction times."""

    head: Array
    next_edge: Array
    neighbor: Array  # the other end of each delta edge (dst downstream, src upstream)
    kind: Array
    event_time: Array
    recorded_at: Array
    retracted_at: Array
    n_edges: int
    retracted_flag: Array
    retracted_pos: Array
    retracted_time: Array


@njit(nogil=True, cache=True)
def chain(head: Array, nxt: Array, ends: Array, start: int, count: int, last: Array,
           seen: Array, epoch: int) -> None:  # pragma: no cover - numba
    """Write next[e] for the new edges [start, start + count): each points at the edge before it
    in its node's list (an earlier new edge, else the current head). Leaves each node's newest
    edge in last[v] (valid where seen[v] == epoch). Does not touch `head`."""
    for e in range(start, start + count):
        v = ends[e]
        nxt[e] = last[v] if seen[v] == epoch else head[v]
        last[v] = e
        seen[v] = epoch


@njit(nogil=True, cache=True)
def publish_heads(head: Array, ends: Array, start: int, count: int,
                   last: Array) -> None:  # pragma: no cover - numba
    for e in range(start, start + count):
        head[ends[e]] = last[ends[e]]


def grow(array: Array, size: int, fill: Any = None) -> Array:
    """A copy of `array` with capacity for at least `size` items (doubling)."""
    capacity = max(size, 2 * len(array), 1024)
    grown = np.empty(capacity, dtype=array.dtype) if fill is None else np.full(
        capacity, fill, dtype=array.dtype)
    grown[: len(array)] = array
    return grown


