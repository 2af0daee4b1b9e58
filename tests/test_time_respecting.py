"""Time-respecting traces: material only moves forward in time. Worked by hand, and checked
against a brute-force oracle (every simple path of networkx, kept if its event times never go
back) on hypothesis genealogies, downstream and upstream, with the live delta and after
compaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from engine import Graph
from index.ingest import IngestBatch
from tests.conftest import opened_store


def _day(d: int | None) -> str | None:
    return None if d is None else f"2026-01-{d:02d}T00:00:00Z"


def _graph(folder: Path, nodes: list[str], edges: list[tuple[str, str, int | None]],
           *, compact: bool = False) -> Graph:
    live = opened_store(folder)
    live.ingest(IngestBatch("t", 1, pl.DataFrame({"key": nodes, "kind": ["lot"] * len(nodes)}),
                            pl.DataFrame({"src": [e[0] for e in edges],
                                          "dst": [e[1] for e in edges],
                                          "kind": ["consumed"] * len(edges),
                                          "event_time": [_day(e[2]) for e in edges]},
                                         schema={"src": pl.String, "dst": pl.String,
                                                 "kind": pl.String, "event_time": pl.String})
                            if edges else None))
    if compact:
        live.compact()
    return Graph(live.view().snapshot, live.view)


def test_material_does_not_travel_back_in_time(tmp_path: Path) -> None:
    # a -(3)-> b -(1)-> c: b was made from a on the 3rd; c from b on the 1st (before: not a's).
    # a -(2)-> d -(5)-> c: through d, a's material does reach c.  x -(-)-> b: no time, passes.
    nodes = ["a", "b", "c", "d", "e", "x"]
    edges: list[tuple[str, str, int | None]] = [
        ("a", "b", 3), ("b", "c", 1), ("a", "d", 2), ("d", "e", 1), ("x", "b", None)]
    graph = _graph(tmp_path / "data", nodes, edges)
    plain = set(graph.trace("a").column("key").to_pylist())
    timed = set(graph.trace("a", time_respecting=True).column("key").to_pylist())
    assert plain == {"b", "c", "d", "e"}
    assert timed == {"b", "d"}
    up = set(graph.trace("c", "upstream", time_respecting=True).column("key").to_pylist())
    assert up == {"b", "x"}  # a's edge into b came after b left for c
    assert set(graph.trace("x", time_respecting=True).column("key").to_pylist()) == {"b", "c"}
    late = graph.trace("a", time_respecting=True, since="2026-01-03T00:00:00Z")
    assert set(late.column("key").to_pylist()) == {"b"}  # only material from the 3rd on
    with pytest.raises(InvalidInput, match="max_depth"):
        graph.trace("a", time_respecting=True, max_depth=2)
    with pytest.raises(InvalidInput, match="via"):
        graph.trace("a", time_respecting=True, via=True)


def _oracle(nodes: list[str], edges: list[tuple[str, str, int | None]], seed: str,
            downstream: bool) -> set[str]:
    g = nx.MultiDiGraph()
    g.add_nodes_from(nodes)
    for src, dst, day in edges:
        if downstream:
            g.add_edge(src, dst, t=day)
        else:
            g.add_edge(dst, src, t=day)
    reached = set()
    for target in nodes:
        if target == seed:
            continue
        for path in nx.all_simple_edge_paths(g, seed, target):
            times = [g.edges[e]["t"] for e in path if g.edges[e]["t"] is not None]
            ordered = times == sorted(times) if downstream else times == sorted(times,
                                                                                reverse=True)
            if ordered:
                reached.add(target)
                break
    return reached


@st.composite
def genealogies(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str, int | None]]]:
    n = draw(st.integers(2, 7))
    nodes = [f"n{i}" for i in range(n)]
    edges = draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes),
                                    st.one_of(st.none(), st.integers(1, 6))), max_size=12))
    return nodes, [e for e in edges if e[0] != e[1]]


@settings(max_examples=50, deadline=None)
@given(genealogy=genealogies(), data=st.data())
def test_matches_a_brute_force_oracle(tmp_path_factory: pytest.TempPathFactory,
                                      genealogy: Any, data: st.DataObject) -> None:
    nodes, edges = genealogy
    seed = data.draw(st.sampled_from(nodes))
    compact = data.draw(st.booleans())
    graph = _graph(tmp_path_factory.mktemp("tr") / "data", nodes, edges, compact=compact)
    for direction in ("downstream", "upstream"):
        got = set(graph.trace(seed, direction, time_respecting=True).column("key").to_pylist())
        assert got == _oracle(nodes, edges, seed, direction == "downstream"), direction
