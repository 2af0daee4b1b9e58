"""The drawn genealogy (engine.drawing): worked by hand on a lot with many serials, and checked
against networkx on hypothesis genealogies: every reached node is drawn, folded into exactly
one count node, or passed through (a hidden kind); every drawn edge is a real chain of the
graph; the budget holds; layers follow the walk's depths."""

from __future__ import annotations

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

KINDS = ("lot", "serial", "logistic_unit", "shipment", "customer")


def _graph(folder: Path, nodes: dict[str, str], edges: list[tuple[str, str]],
           *, compact: bool = False) -> Graph:
    live = opened_store(folder)
    ack = live.ingest(IngestBatch("t", 1, pl.DataFrame({"key": list(nodes),
                                                        "kind": list(nodes.values())}),
                                  pl.DataFrame({"src": [e[0] for e in edges],
                                                "dst": [e[1] for e in edges],
                                                "kind": ["consumed"] * len(edges)},
                                               schema={"src": pl.String, "dst": pl.String,
                                                       "kind": pl.String})
                                  if edges else None))
    assert ack.outcome == "applied", ack.message
    if compact:
        live.compact()
    return Graph(live.view().snapshot, live.view)


def _lot_with_serials(folder: Path, serials: int, *, compact: bool = False) -> Graph:
    nodes = {"lot:A": "lot", **{f"sn:{i:03d}": "serial" for i in range(serials)},
             "case:1": "logistic_unit", "case:2": "logistic_unit", "ship:1": "shipment",
             "ship:2": "shipment", "cust:X": "customer"}
    edges = [("lot:A", f"sn:{i:03d}") for i in range(serials)]
    edges += [(f"sn:{i:03d}", "case:1" if i % 2 else "case:2") for i in range(serials)]
    edges += [("case:1", "ship:1"), ("case:2", "ship:2"), ("ship:1", "cust:X"),
              ("ship:2", "cust:X")]
    return _graph(folder / "data", nodes, edges, compact=compact)


@pytest.mark.parametrize("compact", [False, True], ids=["live", "snapshot"])
def test_a_big_fan_out_folds_into_one_count_node(tmp_path: Path, compact: bool) -> None:
    graph = _lot_with_serials(tmp_path, 40, compact=compact)
    drawing = graph.drawing("lot:A", max_elements=30)
    nodes = drawing.nodes.to_pylist()
    assert drawing.reached == 46
    assert [n["key"] for n in nodes if n["key"]] == ["lot:A"]
    (count,) = [n for n in nodes if n["key"] is None]
    assert count["label"] == ("40 serials · 2 logistic_units · 2 shipments · 1 customer")
    assert count["count"] == 40
    assert count["parent_key"] == "lot:A"
    assert drawing.edges.to_pylist() == [{"source": "n0", "target": "g0", "tree": True}]
    # With the budget for it, every serial is drawn.
    assert graph.drawing("lot:A").nodes.num_rows == 46


def test_hidden_kinds_bring_the_customers_up(tmp_path: Path) -> None:
    graph = _lot_with_serials(tmp_path, 40)
    drawing = graph.drawing("lot:A", hide_kinds=["serial", "logistic_unit"], max_elements=30)
    nodes = {n["id"]: n for n in drawing.nodes.to_pylist()}
    assert sorted(n["key"] for n in nodes.values()) == ["cust:X", "lot:A", "ship:1", "ship:2"]
    edges = {(nodes[e["source"]]["key"], nodes[e["target"]]["key"], e["tree"])
             for e in drawing.edges.to_pylist()}
    # The customer hangs from the shipment that reached it first; the other shipment's
    # direct edge to it is drawn as a link.
    assert ("lot:A", "ship:1", True) in edges
    assert ("lot:A", "ship:2", True) in edges
    assert {(s, t) for s, t, _ in edges if t == "cust:X"} == {("ship:1", "cust:X"),
                                                              ("ship:2", "cust:X")}
    layers = {n["key"]: n["layer"] for n in nodes.values()}
    assert layers["lot:A"] < layers["ship:1"] == layers["ship:2"] < layers["cust:X"]


def test_an_expanded_node_shows_its_members(tmp_path: Path) -> None:
    graph = _lot_with_serials(tmp_path, 40)
    drawing = graph.drawing("lot:A", max_elements=30, expand=["lot:A"])
    keys = [k for k in drawing.nodes.column("key").to_pylist() if k]
    assert sum(k.startswith("sn:") for k in keys) == 40


def test_a_wide_layer_wraps_onto_rows_without_overlap(tmp_path: Path) -> None:
    graph = _lot_with_serials(tmp_path, 30)
    nodes = graph.drawing("lot:A").nodes.to_pylist()
    serials = [n for n in nodes if n["kind"] == "serial"]
    assert len({n["y"] for n in serials}) == 3  # 12 + 12 + 6
    assert len({(n["x"], n["y"]) for n in nodes}) == len(nodes)
    below = min(n["y"] for n in nodes if n["kind"] == "logistic_unit")
    assert below > max(n["y"] for n in serials)


def test_upstream_puts_the_seed_at_the_bottom(tmp_path: Path) -> None:
    graph = _lot_with_serials(tmp_path, 4)
    nodes = {n["key"]: n for n in graph.drawing("cust:X", direction="upstream").nodes.to_pylist()}
    assert nodes["cust:X"]["y"] > nodes["ship:1"]["y"] > nodes["lot:A"]["y"]


def test_an_hourglass_puts_upstream_above_and_downstream_below_one_seed(
        tmp_path: Path) -> None:
    graph = _lot_with_serials(tmp_path, 4)
    drawing = graph.drawing("case:1", direction="hourglass")
    nodes = {n["key"]: n for n in drawing.nodes.to_pylist()}
    assert sum(1 for n in drawing.nodes.to_pylist() if n["key"] == "case:1") == 1
    assert drawing.reached == 6  # lot, 2 serials above; ship:1, cust:X below; the seed once
    assert nodes["lot:A"]["y"] < nodes["sn:001"]["y"] < nodes["case:1"]["y"]
    assert nodes["case:1"]["y"] < nodes["ship:1"]["y"] < nodes["cust:X"]["y"]
    assert (nodes["sn:001"]["upstream"], nodes["ship:1"]["upstream"],
            nodes["case:1"]["upstream"]) == (True, False, False)
    ids = {n["id"]: n["key"] for n in drawing.nodes.to_pylist()}
    flows = {(ids[e["source"]], ids[e["target"]]) for e in drawing.edges.to_pylist()}
    assert {("sn:001", "case:1"), ("sn:003", "case:1"), ("case:1", "ship:1"),
            ("ship:1", "cust:X")} <= flows


def test_unknown_keys_are_refused_by_name(tmp_path: Path) -> None:
    graph = _lot_with_serials(tmp_path, 4)
    with pytest.raises(Exception, match="lot:B"):
        graph.drawing("lot:B")
    with pytest.raises(Exception, match="sn:999"):
        graph.drawing("lot:A", expand=["sn:999"])


@st.composite
def genealogies(draw: st.DrawFn) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Layered by kind (lot -> serial -> logistic unit -> shipment -> customer), edges only
    to later layers, so the walk's depths are not the layers of the kinds."""
    layers = [[f"{kind}:{i}" for i in range(draw(st.integers(1, 12 if kind == "serial" else 4)))]
              for kind in KINDS]
    nodes = {key: kind for kind, layer in zip(KINDS, layers, strict=True) for key in layer}
    later = [[key for layer in layers[i + 1:] for key in layer] for i in range(len(layers))]
    edges = []
    for i, layer in enumerate(layers[:-1]):
        for key in layer:
            for target in draw(st.lists(st.sampled_from(later[i]), max_size=5, unique=True)):
                edges.append((key, target))
    return nodes, edges


@settings(max_examples=60, deadline=None)
@given(genealogy=genealogies(), budget=st.integers(10, 60),
       hide=st.lists(st.sampled_from(KINDS[1:4]), max_size=2, unique=True),
       downstream=st.booleans())
def test_drawings_account_for_every_node_and_draw_real_chains(
        tmp_path_factory: pytest.TempPathFactory, genealogy: Any, budget: int,
        hide: list[str], downstream: bool) -> None:
    nodes, edges = genealogy
    graph = _graph(tmp_path_factory.mktemp("draw") / "data", nodes, edges)
    seed = "lot:0" if downstream else "customer:0"
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges if downstream else [(b, a) for a, b in edges])
    reached = {seed} | nx.descendants(g, seed)
    drawing = graph.drawing(seed, direction="downstream" if downstream else "upstream",
                            hide_kinds=hide, max_elements=budget)
    assert drawing.reached == len(reached)
    rows = drawing.nodes.to_pylist()
    drawn = {n["key"] for n in rows if n["key"] is not None}
    assert seed in drawn
    assert drawn <= reached
    assert not any(nodes[k] in hide for k in drawn - {seed})
    # Every reached node is drawn, folded into one count node, or of a hidden kind that
    # passes through; count nodes count what they fold, by kind.
    folded = sum(int(part.split(" ")[0].replace(",", "")) for n in rows if n["key"] is None
                 for part in n["label"].split(" · "))
    hidden_through = len(reached) - len(drawn) - folded
    assert 0 <= hidden_through <= sum(nodes[k] in hide for k in reached)
    # Every edge is a real chain the way material flows: a direct edge, or (a tree edge) a
    # path whose inner nodes are hidden; a count node hangs from its parent key.
    flow = nx.DiGraph(edges)
    flow.add_nodes_from(nodes)
    by_id = {n["id"]: n for n in rows}
    for edge in drawing.edges.to_pylist():
        source, target = by_id[edge["source"]], by_id[edge["target"]]
        walked_from, reached_node = (source, target) if downstream else (target, source)
        assert walked_from["key"] is not None
        assert reached_node["upstream"] is (not downstream)
        if reached_node["key"] is None:
            assert reached_node["parent_key"] == walked_from["key"]
            continue
        assert nx.has_path(flow, source["key"], target["key"])
        if not edge["tree"]:
            assert flow.has_edge(source["key"], target["key"])
        assert walked_from["depth"] < reached_node["depth"] or not edge["tree"]
    # The budget holds whenever a drawing of one node per group could meet it.
    if drawing.threshold > 1:
        assert drawing.elements <= budget
    # No two elements share a place.
    places = [(n["x"], n["y"]) for n in rows]
    assert len(places) == len(set(places))
