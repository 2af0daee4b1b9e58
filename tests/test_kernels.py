"""The run-by-run traversal kernel against a plain node-by-node BFS: the same visit order and
depths (the rows' order and depth column depend on them), depth limits, an `as_of` cut on
record times, and no write past the queue's one spare slot."""

from __future__ import annotations

from collections import deque

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import _kernels as k
from engine.view import EMPTY_LIVE


def _bfs(indptr: list[int], neighbor: list[int], seeds: list[int],
         max_depth: int, recorded: list[int] | None = None,
         as_of: int = k.MAX_TIME) -> tuple[list[int], list[int]]:
    seen: set[int] = set()
    order: list[int] = []
    depth: list[int] = []
    todo: deque[tuple[int, int]] = deque()
    for s in seeds:
        if s not in seen:
            seen.add(s)
            todo.append((s, 0))
    while todo:
        v, d = todo.popleft()
        order.append(v)
        depth.append(d)
        if 0 <= max_depth <= d:
            continue
        for e in range(indptr[v], indptr[v + 1]):
            w = neighbor[e]
            if recorded is not None and recorded[e] > as_of:
                continue
            if w not in seen:
                seen.add(w)
                todo.append((w, d + 1))
    return order, depth


@st.composite
def _graphs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 40))
    # Edges to nearby ids make the runs of consecutive ids the kernel batches; far ones,
    # repeats and cycles make it meet visited nodes.
    near = st.tuples(st.integers(0, n - 1), st.integers(-3, 3))
    pairs = draw(st.lists(st.one_of(near, st.tuples(st.integers(0, n - 1),
                                                    st.integers(-n, n))), max_size=4 * n))
    edges = sorted((v, (v + step) % n) for v, step in pairs)
    indptr = np.zeros(n + 1, dtype=np.int32)
    for v, _ in edges:
        indptr[v + 1] += 1
    indptr = np.cumsum(indptr).astype(np.int32)
    neighbor = np.array([w for _, w in edges], dtype=np.int32)
    seeds = np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4)),
                     dtype=np.int32)
    recorded = np.array(draw(st.lists(st.integers(0, 5), min_size=len(neighbor),
                                      max_size=len(neighbor))), dtype=np.int64)
    return indptr, neighbor, seeds, recorded


@settings(max_examples=300, deadline=None)
@given(graph=_graphs(), max_depth=st.integers(-1, 4),
       as_of=st.one_of(st.just(k.MAX_TIME), st.integers(-1, 5)))
def test_plain_kernel_matches_node_by_node_bfs(
        graph: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], max_depth: int,
        as_of: int) -> None:
    """Same order and depths, over the edges recorded at or before `as_of` only."""
    indptr, neighbor, seeds, recorded = graph
    n = len(indptr) - 1
    marks = np.zeros(n, dtype=np.uint32)
    queue = np.full(n + 2, -7, dtype=np.int32)  # one spare slot plus a sentinel
    depth = np.empty(n, dtype=np.int32)
    count, n_seeds, matched = k.traverse_plain(indptr, neighbor, recorded, as_of, seeds,
                                               max_depth, 2**62, marks, 1, queue, depth,
                                               np.zeros(1, np.uint8), EMPTY_LIVE)
    order, depths = _bfs(indptr.tolist(), neighbor.tolist(), seeds.tolist(), max_depth,
                         recorded.tolist(), as_of)
    assert queue[:count].tolist() == order
    assert depth[:count].tolist() == depths
    assert n_seeds == len(set(seeds.tolist()))
    assert matched == count - n_seeds
    assert queue[n + 1] == -7


def test_ci_runs_hypothesis_derandomized() -> None:
    """CI=true selects the reproducible profile (tests/conftest.py)."""
    import os

    from hypothesis import settings

    ci = os.environ.get("CI", "").lower() in ("true", "1")
    assert settings.default.derandomize is ci
