"""Common cause for complaint units, worked by hand and checked against networkx on
hypothesis genealogies: which upstream nodes the complaints share (k), how many of the
production population each reaches (K), and the hypergeometric p-value and lift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import hypergeom

from domain.errors import InvalidInput
from engine import Graph
from index.ingest import IngestBatch
from tests.conftest import opened_store


def _graph(folder: Path, nodes: dict[str, tuple[str, str | None]],
           edges: list[tuple[str, str]]) -> Graph:
    live = opened_store(folder)
    live.ingest(IngestBatch("t", 1, pl.DataFrame({
        "key": list(nodes), "kind": [k for k, _ in nodes.values()],
        "product": [p for _, p in nodes.values()]}), pl.DataFrame({
            "src": [e[0] for e in edges], "dst": [e[1] for e in edges],
            "kind": ["consumed"] * len(edges)}) if edges else None))
    return Graph(live.view().snapshot, live.view)


def test_a_sub_assembly_lot_in_few_units_but_most_complaints_ranks_first(
        tmp_path: Path) -> None:
    units = [f"sn:{i}" for i in range(20)]
    nodes: dict[str, tuple[str, str | None]] = {
        "lot:bulk": ("lot", None), "lot:sub7": ("lot", None),
        **dict.fromkeys(units, ("serial", "gtin:P")),
        **{f"other:{i}": ("serial", "gtin:Q") for i in range(30)}}
    edges = [("lot:bulk", u) for u in units] + [("lot:bulk", f"other:{i}") for i in range(30)]
    edges += [("lot:sub7", u) for u in ("sn:0", "sn:1", "sn:2", "sn:3", "sn:10")]
    graph = _graph(tmp_path / "data", nodes, edges)
    rows = graph.common_cause(["sn:0", "sn:1", "sn:2", "sn:3", "sn:5"]).to_pylist()
    assert [r["key"] for r in rows] == ["lot:sub7", "lot:bulk"]
    sub, bulk = rows
    assert (sub["shared"], sub["downstream_population"], sub["population"],
            sub["complaints"]) == (4, 5, 20, 5)
    assert sub["p_value"] == pytest.approx(hypergeom.sf(3, 20, 5, 5))
    assert sub["lift"] == pytest.approx((4 / 5) / (5 / 20))
    # In every unit of the product: no evidence at all (the other product's units don't count).
    assert (bulk["shared"], bulk["downstream_population"], bulk["p_value"]) == (5, 20, 1.0)
    assert graph.common_cause(["sn:0"], min_shared=1).num_rows == 2
    with pytest.raises(InvalidInput, match="no product"):
        graph.common_cause(["lot:bulk"])


@st.composite
def genealogies(draw: st.DrawFn) -> tuple[dict[str, tuple[str, str | None]],
                                          list[tuple[str, str]], list[str]]:
    n_lots, n_units = draw(st.integers(1, 6)), draw(st.integers(2, 14))
    lots = [f"lot:{i}" for i in range(n_lots)]
    units = [f"sn:{i}" for i in range(n_units)]
    nodes: dict[str, tuple[str, str | None]] = dict.fromkeys(lots, ("lot", None))
    for u in units:
        nodes[u] = ("serial", draw(st.sampled_from(["gtin:P", "gtin:Q"])))
    edges = []
    for i, lot in enumerate(lots):  # lots feed later lots and units: a DAG
        for target in draw(st.lists(st.sampled_from(lots[i + 1:] + units), max_size=6,
                                    unique=True)):
            edges.append((lot, target))
    complaints = draw(st.lists(st.sampled_from(units), min_size=1, max_size=5, unique=True))
    return nodes, edges, complaints


@settings(max_examples=60, deadline=None)
@given(genealogy=genealogies())
def test_counts_and_p_values_match_networkx(tmp_path_factory: pytest.TempPathFactory,
                                            genealogy: Any) -> None:
    nodes, edges, complaints = genealogy
    graph = _graph(tmp_path_factory.mktemp("cc") / "data", nodes, edges)
    rows = graph.common_cause(complaints, min_shared=1, limit=1000).to_pylist()
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    products = {nodes[c][1] for c in complaints}
    population = {k for k, (kind, p) in nodes.items() if kind == "serial" and p in products}
    population |= set(complaints)
    n, big_n = len(complaints), len(population)
    expected = {}
    for u in set().union(*(nx.ancestors(g, c) for c in complaints)) - set(complaints):
        k = sum(u in nx.ancestors(g, c) for c in complaints)
        big_k = len(nx.descendants(g, u) & population)
        expected[u] = (k, big_k, float(hypergeom.sf(k - 1, big_n, big_k, n)))
    got = {r["key"]: (r["shared"], r["downstream_population"], r["p_value"]) for r in rows}
    assert set(got) == set(expected)
    for key, (k, big_k, p) in expected.items():
        assert got[key][:2] == (k, big_k), key
        assert got[key][2] == pytest.approx(p), key
    assert [r["p_value"] for r in rows] == sorted(r["p_value"] for r in rows)


def test_the_common_cause_command(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    units = [f"sn:{i}" for i in range(6)]
    nodes: dict[str, tuple[str, str | None]] = {
        "lot:a": ("lot", None), **dict.fromkeys(units, ("serial", "gtin:P"))}
    _graph(tmp_path / "data", nodes, [("lot:a", "sn:0"), ("lot:a", "sn:1")])
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "server.cli", "common-cause", "sn:0", "sn:1",
                           "--data", str(tmp_path / "data"), "--format", "json"],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert (row["key"], row["shared"], row["downstream_population"]) == ("lot:a", 2, 2)
    empty = subprocess.run([sys.executable, "-m", "server.cli", "common-cause", "--data",
                            str(tmp_path / "data")], capture_output=True, text=True,
                           timeout=120, check=False, env={**os.environ, "PYTHONPATH": str(root)})
    assert empty.returncode == 1
    assert "complaint units" in empty.stderr
