"""Containment windows, worked by hand and checked against networkx on hypothesis genealogies:
the units downstream of a suspect's out-edges inside a time window, and the growth curve as the
window widens (each distinct time adds what the earlier ones did not reach)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Graph
from index.ingest import IngestBatch
from tests.conftest import opened_store


def _day(d: int | None) -> str | None:
    return None if d is None else f"2026-01-{d:02d}T00:00:00Z"


def _graph(folder: Path, nodes: dict[str, str], edges: list[tuple[str, str, int | None]],
           *, compact: bool = False) -> Graph:
    live = opened_store(folder)
    ack = live.ingest(IngestBatch("t", 1, pl.DataFrame({"key": list(nodes),
                                                  "kind": list(nodes.values())}),
                            pl.DataFrame({"src": [e[0] for e in edges],
                                          "dst": [e[1] for e in edges],
                                          "kind": ["consumed"] * len(edges),
                                          "event_time": [_day(e[2]) for e in edges]},
                                         schema={"src": pl.String, "dst": pl.String,
                                                 "kind": pl.String, "event_time": pl.String})
                            if edges else None))
    assert ack.outcome == "applied", ack.message
    if compact:  # the snapshot's CSR instead of the live delta
        live.compact()
    return Graph(live.view().snapshot, live.view)


def test_a_sterilisation_load_window(tmp_path: Path) -> None:
    # The load processed wo:1 on the 2nd, wo:2 on the 5th, wo:3 on the 9th; each made units.
    nodes = {"load": "sterilization_load", "wo:1": "work_order", "wo:2": "work_order",
             "wo:3": "work_order", **{f"sn:{i}": "serial" for i in range(6)}}
    edges: list[tuple[str, str, int | None]] = [
        ("load", "wo:1", 2), ("load", "wo:2", 5), ("load", "wo:3", 9),
        ("wo:1", "sn:0", 3), ("wo:1", "sn:1", 3), ("wo:2", "sn:2", 6), ("wo:2", "sn:1", 6),
        ("wo:3", "sn:3", 10), ("wo:3", "sn:4", 10), ("wo:3", "sn:5", 10)]
    graph = _graph(tmp_path / "data", nodes, edges)
    curve, units = graph.containment("load")
    assert [(r["edges"], r["units_added"], r["units_total"]) for r in curve.to_pylist()] == [
        (1, 2, 2), (1, 1, 3), (1, 3, 6)]  # sn:1 came through both wo:1 and wo:2: once
    assert sorted(units.column("key").to_pylist()) == [f"sn:{i}" for i in range(6)]
    _, window = graph.containment("load", since=_day(4), until=_day(8))
    assert sorted(window.column("key").to_pylist()) == ["sn:1", "sn:2"]
    _, lots = graph.containment("load", unit_kinds=("work_order",))
    assert sorted(lots.column("key").to_pylist()) == ["wo:1", "wo:2", "wo:3"]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "server.cli", "containment", "load", "--data",
                           str(tmp_path / "data"), "--since", _day(4) or "", "--format",
                           "json"], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert [r["units_total"] for r in json.loads(done.stdout)] == [2, 5]


@st.composite
def genealogies(draw: st.DrawFn) -> tuple[dict[str, str], list[tuple[str, str, int | None]]]:
    n = draw(st.integers(2, 9))
    nodes = {f"n{i}": draw(st.sampled_from(["serial", "lot", "work_order"]))
             for i in range(n)}
    names = sorted(nodes)
    edges = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names),
                                    st.one_of(st.none(), st.integers(1, 9))), max_size=14))
    return nodes, [e for e in edges if e[0] != e[1]]


@settings(max_examples=60, deadline=None)
@given(genealogy=genealogies(), data=st.data())
def test_matches_networkx(tmp_path_factory: pytest.TempPathFactory, genealogy: Any,
                          data: st.DataObject) -> None:
    nodes, edges = genealogy
    suspect = data.draw(st.sampled_from(sorted(nodes)))
    lo, hi = sorted(data.draw(st.tuples(st.integers(1, 9), st.integers(1, 9))))
    graph = _graph(tmp_path_factory.mktemp("cw") / "data", nodes, edges,
                   compact=data.draw(st.booleans()))
    curve, units = graph.containment(suspect, since=_day(lo), until=_day(hi))
    g = nx.MultiDiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from((s, d) for s, d, _ in edges)
    rest = g.copy()
    rest.remove_node(suspect)  # never back through the suspect
    firsts = sorted({(t, d) for s, d, t in edges if s == suspect and t is not None
                     and lo <= t <= hi})
    reached: set[str] = set()
    totals = []
    for t in sorted({t for t, _ in firsts}):
        for _, target in (f for f in firsts if f[0] == t):
            reached |= {target} | nx.descendants(rest, target)
        totals.append(sum(nodes[n] == "serial" for n in reached))
    assert [r["units_total"] for r in curve.to_pylist()] == totals
    assert set(units.column("key").to_pylist()) == {n for n in reached
                                                    if nodes[n] == "serial"}
