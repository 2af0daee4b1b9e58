"""numba kernels of the genealogy drawing (engine.drawing): which rows of a walk are drawn,
which fold into count nodes, and where each drawn element goes.

Every array indexed by "row" follows the walk's breadth-first order (engine._kernels.traverse
with want_parent): `parent[r]` is the row that reached row r (-1 for a seed), so a parent's
row always comes before its children's. That order is what lets each pass be one loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory
from engine._kernels import MAX_TIME, _retracted_at, visible

Array = npt.NDArray[Any]

PASS_THROUGH = -2
"""State of a hidden row that is not folded: its children hang from its nearest drawn
ancestor."""
DRAWN = -1
"""State of a drawn row; a state >= 0 is the group (count node) the row folds into."""


@njit(nogil=True, cache=True)
def drawn_parents(parent: Array, hidden: Array) -> Array:  # pragma: no cover - numba
    """Per row, its nearest ancestor row that is not of a hidden kind (-1 for a seed): the
    node it hangs from in the drawing when cases and pallets are hidden."""
    n = len(parent)
    out = np.empty(n, dtype=np.int32)
    for r in range(n):
        p = parent[r]
        if p < 0:
            out[r] = -1
        elif hidden[p]:
            out[r] = out[p]
        else:
            out[r] = p
    return out


@njit(nogil=True, cache=True)
def fold_rows(parent: Array, hidden: Array, group: Array, shown: Array,
              state: Array) -> tuple[int, int]:  # pragma: no cover - numba
    """Decide each row's state (DRAWN, PASS_THROUGH or the group it folds into).

    `group[r]` is the group of a visible row (its drawn parent and kind); `shown[g]` how many
    members of group g are drawn, in walk order, before the rest fold into its count node.
    A row under a folded row folds into the same group (its subtree is inside the count
    node); a hidden row under a drawn one passes through. Seeds are always drawn. Returns
    how many rows are drawn and how many groups have a count node."""
    n = len(parent)
    rank = np.zeros(len(shown), dtype=np.int64)
    drawn = 0
    groups = 0
    for r in range(n):
        p = parent[r]
        if p < 0:
            state[r] = DRAWN
            drawn += 1
        elif state[p] >= 0:
            state[r] = state[p]
        elif hidden[r]:
            state[r] = PASS_THROUGH
        else:
            g = group[r]
            if rank[g] < shown[g]:
                state[r] = DRAWN
                drawn += 1
            else:
                state[r] = g
                if rank[g] == shown[g]:  # the group's first folded member
                    groups += 1
            rank[g] += 1
    return drawn, groups


@njit(nogil=True, cache=True)
def links_among(nodes: Array, indptr: Array, neighbor: Array, live: Any, position: Array,
                source: Array, target: Array) -> int:  # pragma: no cover - numba
    """The edges (this adjacency and its live delta, retracted ones skipped) between drawn
    nodes: `position[v]` is v's index among `nodes` or -1. Writes (source, target) indices;
    returns the count, or -1 when the out arrays are too small."""
    head, nxt, dnbr, dret, n_edges = (live.head, live.next_edge, live.neighbor,
                                      live.retracted_at, live.n_edges)
    rflag, rpos, rtime = live.retracted_flag, live.retracted_pos, live.retracted_time
    n_snap = len(indptr) - 1
    n = 0
    for i in range(len(nodes)):
        v = nodes[i]
        if v < n_snap:
            retracted = len(rpos) > 0 and rflag[v] != 0
            for e in range(indptr[v], indptr[v + 1]):
                j = position[neighbor[e]]
                if j < 0:
                    continue
                if retracted and not visible(_retracted_at(e, rpos, rtime), MAX_TIME):
                    continue
                if n >= len(source):
                    return -1
                source[n], target[n] = i, j
                n += 1
        if n_edges > 0 and v < len(head):
            e = head[v]
            while e >= 0:
                if e < n_edges and visible(dret[e], MAX_TIME):
                    j = position[dnbr[e]]
                    if j >= 0:
                        if n >= len(source):
                            return -1
                        source[n], target[n] = i, j
                        n += 1
                e = nxt[e]
    return n


@njit(nogil=True, cache=True)
def order_layers(layer: Array, n_layers: int, source: Array, target: Array,
                 sweeps: int) -> Array:  # pragma: no cover - numba
    """Barycentre ordering (Sugiyama's second phase): each layer sorted by the mean position
    of its neighbours in the layer above, then in the layer below, `sweeps` times. Returns
    each element's position within its layer (0, 1, ...). Elements start in the order
    given, which is walk order: children next to their parent before any sweep."""
    n = len(layer)
    pos = np.zeros(n, dtype=np.float64)
    count = np.zeros(n_layers, dtype=np.int64)
    for i in range(n):
        pos[i] = count[layer[i]]
        count[layer[i]] += 1
    # Adjacency of the drawing in both directions (CSR over elements).
    degree = np.zeros(n + 1, dtype=np.int64)
    for e in range(len(source)):
        degree[source[e] + 1] += 1
        degree[target[e] + 1] += 1
    for i in range(n):
        degree[i + 1] += degree[i]
    fill = degree[:-1].copy()
    other = np.empty(degree[n], dtype=np.int64)
    for e in range(len(source)):
        other[fill[source[e]]] = target[e]
        fill[source[e]] += 1
        other[fill[target[e]]] = source[e]
        fill[target[e]] += 1
    members = np.argsort(layer, kind="mergesort")
    starts = np.zeros(n_layers + 1, dtype=np.int64)
    for i in range(n):
        starts[layer[i] + 1] += 1
    for t in range(n_layers):
        starts[t + 1] += starts[t]
    bary = np.empty(n, dtype=np.float64)
    for sweep in range(2 * sweeps):
        down = sweep % 2 == 0
        for step in range(1, n_layers):
            t = step if down else n_layers - 1 - step
            near = t - 1 if down else t + 1
            for m in range(starts[t], starts[t + 1]):
                i = members[m]
                total, seen = 0.0, 0
                for a in range(degree[i], degree[i + 1]):
                    j = other[a]
                    if layer[j] == near:
                        total += pos[j]
                        seen += 1
                bary[i] = total / seen if seen > 0 else pos[i]
            block = members[starts[t]:starts[t + 1]]
            # Ties keep the current order: a stable sort on (barycentre, position).
            order = np.argsort(bary[block] * (n + 1) + pos[block] / (n + 1), kind="mergesort")
            for rank in range(len(order)):
                pos[block[order[rank]]] = rank
    return pos.astype(np.int64)
