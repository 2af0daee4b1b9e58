"""The genealogy half of a consignee list (engine.shipped), worked by hand on a small recall and
checked against a plain-Python walk on hypothesis-made genealogies: which affected lots and
serials reached which shipments and customers, how many, when."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx
import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from engine import Graph
from index.ingest import IngestBatch
from index.live import LiveStore

NODES = {
    "lot:bad": "lot", "lot:good": "lot", "wo:1": "work_order", "wo:2": "work_order",
    "sn:1": "serial", "sn:2": "serial", "sn:3": "serial", "sn:4": "serial",
    "lot:fin": "lot", "lot:prod": "lot", "case:1": "logistic_unit", "pal:1": "logistic_unit",
    "ship:1": "shipment", "ship:2": "shipment", "ship:3": "shipment", "ship:4": "shipment",
    "ship:5": "shipment",
    "cust:a": "customer", "cust:b": "customer",
}
T = "2026-02-0{}T10:00:00Z"
EDGES = [
    ("lot:bad", "wo:1", "consumed", T.format(1), None),
    ("lot:good", "wo:2", "consumed", T.format(1), None),
    ("lot:bad", "wo:2", "consumed", T.format(1), None),
    ("wo:1", "sn:1", "produced", T.format(2), None),
    ("wo:1", "sn:2", "produced", T.format(2), None),
    ("wo:1", "sn:4", "produced", T.format(2), None),
    ("wo:2", "lot:fin", "produced", T.format(2), 100.0),
    ("lot:prod", "sn:1", "split", T.format(2), None),  # sn:1's own lot (same product)
    ("lot:bad", "sn:2", "consumed", T.format(2), None),  # a component lot: not sn:2's lot
    ("sn:1", "case:1", "packed", T.format(3), None),
    ("sn:2", "case:1", "packed", T.format(3), None),
    ("sn:3", "case:1", "packed", T.format(3), None),  # not from the bad lot
    ("case:1", "pal:1", "packed", T.format(3), None),
    ("pal:1", "ship:1", "shipped", T.format(4), None),
    ("ship:1", "cust:a", "delivered", T.format(6), None),
    ("lot:fin", "ship:2", "shipped", T.format(5), 40.0),
    ("ship:2", "cust:b", "delivered", T.format(7), None),
    ("lot:fin", "ship:3", "shipped", T.format(5), 25.0),
    ("ship:3", "cust:a", "delivered", T.format(8), None),
    ("sn:4", "ship:4", "shipped", T.format(5), None),  # a shipment with no customer recorded
    # Reversals (SAP 602 against 601): 5 of ship:3's 25 came back; ship:5 was cancelled.
    ("lot:fin", "ship:3", "shipped", T.format(9), -5.0),
    ("lot:fin", "ship:5", "shipped", T.format(5), 10.0),
    ("ship:5", "cust:b", "delivered", T.format(6), None),
    ("lot:fin", "ship:5", "shipped", T.format(6), -10.0),
]


def _load(live: LiveStore, nodes: dict[str, str], edges: list[tuple[Any, ...]],
          batch: int = 1) -> Graph:
    ack = live.ingest(IngestBatch("t", batch, pl.DataFrame({
        "key": list(nodes), "kind": list(nodes.values()),
        "product": ["gtin:09506000134352" if k.startswith(("sn:", "lot:fin", "lot:prod"))
                    else None
                    for k in nodes],
        "uom": ["EA" if k == "lot:fin" else None for k in nodes]}), pl.DataFrame(
        {"src": [e[0] for e in edges], "dst": [e[1] for e in edges],
         "kind": [e[2] for e in edges], "event_time": [e[3] for e in edges],
         "quantity": [e[4] for e in edges]},
        schema={"src": pl.String, "dst": pl.String, "kind": pl.String,
                "event_time": pl.String, "quantity": pl.Float64})))
    assert ack.outcome == "applied", ack.message
    return Graph(live.view().snapshot, live.view)


@pytest.fixture
def graph(tmp_path: Path) -> Any:
    with LiveStore(tmp_path / "data") as live:
        yield _load(live, NODES, EDGES)


def test_a_hand_worked_recall(graph: Graph) -> None:
    rows = sorted(graph.shipped(["lot:bad"]).to_pylist(),
                  key=lambda r: (str(r["customer"]), str(r["shipment"]), r["item"]))
    day = lambda d: datetime(2026, 2, d, 10, tzinfo=UTC)  # noqa: E731
    assert [(r["customer"], r["shipment"], r["item"], r["item_kind"], r["quantity"],
             r["ship_time"]) for r in rows] == [
        (None, "ship:4", "sn:4", "serial", 1.0, day(5)),
        ("cust:a", "ship:1", "sn:1", "serial", 1.0, day(4)),
        ("cust:a", "ship:1", "sn:2", "serial", 1.0, day(4)),
        ("cust:a", "ship:3", "lot:fin", "lot", 20.0, day(5)),  # 25 shipped, 5 reversed
        ("cust:b", "ship:2", "lot:fin", "lot", 40.0, day(5)),
    ]
    by = {(r["customer"], r["item"]): r for r in rows}
    assert by[("cust:b", "lot:fin")]["lot"] == "lot:fin"
    assert by[("cust:b", "lot:fin")]["uom"] == "EA"
    assert by[("cust:a", "sn:1")]["serial"] == "sn:1"
    assert by[("cust:a", "sn:1")]["lot"] == "lot:prod"
    assert by[("cust:a", "sn:2")]["lot"] is None
    assert by[("cust:a", "sn:1")]["product"] == "gtin:09506000134352"
    assert "sn:3" not in {r["item"] for r in rows}  # in the same case, not from the bad lot
    assert "ship:5" not in {r["shipment"] for r in rows}  # fully reversed: not a consignee
    assert graph.shipped(["lot:good"]).column("item").to_pylist() == ["lot:fin", "lot:fin"]
    assert graph.shipped(["sn:3"]).to_pylist()[0]["customer"] == "cust:a"
    before = graph.shipped(["lot:bad"], as_of="2000-01-01T00:00:00Z")
    assert before.num_rows == 0


def test_trace_rows_carry_attribute_columns_and_filter_by_product(graph: Graph) -> None:
    table = graph.trace("lot:bad", columns=["product", "uom", "lot", "serial", "quantity"],
                        products=["gtin:09506000134352"])
    rows = {r["key"]: r for r in table.to_pylist()}
    assert set(rows) == {"sn:1", "sn:2", "sn:4", "lot:fin"}  # only the product's nodes
    assert (rows["sn:1"]["lot"], rows["sn:1"]["serial"]) == ("lot:prod", "sn:1")
    assert (rows["lot:fin"]["lot"], rows["lot:fin"]["serial"], rows["lot:fin"]["uom"]) == (
        "lot:fin", None, "EA")
    assert table.column_names == ["key", "kind", "depth", "product", "quantity", "uom", "lot",
                                  "serial"]
    with pytest.raises(InvalidInput, match="unknown column"):
        graph.trace("lot:bad", columns=["expiry"])


def test_trace_rows_carry_the_edge_that_led_to_them(graph: Graph) -> None:
    day = lambda d: datetime(2026, 2, d, 10, tzinfo=UTC)  # noqa: E731
    down = {r["key"]: (r["edge_kind"], r["event_time"])
            for r in graph.trace("lot:bad", columns=["edge_kind", "event_time"]).to_pylist()}
    assert down["sn:1"] == ("produced", day(2))  # from wo:1
    assert down["wo:2"] == ("consumed", day(1))
    assert down["case:1"] == ("packed", day(3))
    up = graph.trace("sn:1", "upstream", columns=["edge_kind"], via=True)
    rows = {r["key"]: (r["edge_kind"], r["via"]) for r in up.to_pylist()}
    assert rows["wo:1"] == ("produced", "sn:1")
    assert rows["lot:bad"] == ("consumed", "wo:1")
    assert up.column_names == ["key", "kind", "depth", "via", "edge_kind"]
    # Without via asked for, the rows do not carry it.
    assert "via" not in graph.trace("sn:1", "upstream", columns=["edge_kind"]).column_names
    with pytest.raises(InvalidInput, match="time-respecting"):
        graph.trace("lot:bad", columns=["event_time"], time_respecting=True)


CONTAINERS = ("logistic_unit", "shipment", "customer")


def _oracle(nodes: dict[str, str], edges: list[tuple[Any, ...]],
            seeds: list[str]) -> dict[tuple[Any, ...], float]:
    """(customer, shipment, item) -> quantity, by a plain walk over networkx. Each edge of an
    item into an affected container is a branch with that edge's quantity (none: a serial
    counts 1, a lot is unknown, NaN); a branch reaches its container and every affected
    container below it. A customer's row names each shipment it was reached from in the
    branch, or none when no shipment led there (and then only if no branch reached it
    through a shipment); a shipment that led to no customer has a row of its own. Rows add
    their branches; a serial counts at most 1. Totals may be zero or negative (a reversal
    larger than its posting is a return): the test checks what the engine makes of them."""
    g = nx.MultiDiGraph()
    g.add_nodes_from(nodes)
    for src, dst, _, _, qty in edges:
        g.add_edge(src, dst, quantity=qty)
    affected = set(seeds).union(*(nx.descendants(g, s) for s in seeds))
    ok = {n for n in affected if nodes[n] in CONTAINERS}
    out: dict[tuple[Any, ...], float] = {}
    for item in affected:
        if nodes[item] not in ("lot", "serial"):
            continue
        unit = 1.0 if nodes[item] == "serial" else math.nan
        rows: list[tuple[Any, Any, float]] = []  # (customer, shipment, branch quantity)
        for _, first, data in g.out_edges(item, data=True):
            if first not in ok:
                continue
            qty = data["quantity"] if data["quantity"] is not None else unit
            if nodes[first] == "customer":
                rows.append((first, None, qty))
                continue
            reached = {first} | nx.descendants(g.subgraph(ok), first)
            expanded = {n for n in reached if nodes[n] != "customer"}
            for customer in (n for n in reached if nodes[n] == "customer"):
                ships = {v for v in expanded
                         if g.has_edge(v, customer) and nodes[v] == "shipment"}
                rows += [(customer, ship, qty) for ship in ships or {None}]
            for ship in (n for n in reached if nodes[n] == "shipment"):
                if not any(g.has_edge(ship, c) for c in reached if nodes[c] == "customer"):
                    rows.append((None, ship, qty))
        through = {c for c, ship, _ in rows if c is not None and ship is not None}
        sums: dict[tuple[Any, ...], float] = {}
        for customer, ship, qty in rows:
            if ship is None and customer in through:
                continue
            sums[(customer, ship, item)] = sums.get((customer, ship, item), 0.0) + qty
        for key, total in sums.items():
            out[key] = min(total, 1.0) if nodes[item] == "serial" else total
    return out


@st.composite
def genealogies(draw: st.DrawFn) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    n_lots, n_serials = draw(st.integers(1, 4)), draw(st.integers(0, 8))
    n_cases, n_ships, n_custs = draw(st.integers(0, 3)), draw(st.integers(1, 3)), draw(
        st.integers(1, 2))
    nodes = {**{f"lot:{i}": "lot" for i in range(n_lots)},
             **{f"sn:{i}": "serial" for i in range(n_serials)},
             **{f"case:{i}": "logistic_unit" for i in range(n_cases)},
             **{f"ship:{i}": "shipment" for i in range(n_ships)},
             **{f"cust:{i}": "customer" for i in range(n_custs)}}
    lower = [k for k, v in nodes.items() if v in ("lot", "serial")]
    upper = [k for k, v in nodes.items() if v in CONTAINERS]
    edges = []
    for sn in (k for k in lower if k.startswith("sn:")):
        edges.append((draw(st.sampled_from([k for k in lower if k.startswith("lot:")])), sn,
                      "produced", T.format(1), None))
    for item in lower:
        for target in draw(st.lists(st.sampled_from(upper), max_size=3)):
            # A negative quantity is a reversal (SAP 602 against 601): it nets.
            # Distinct times: two postings, not one assertion repeated (which folds).
            qty = draw(st.one_of(st.none(), st.sampled_from([5.0, 40.0, -5.0, -40.0])))
            edges.append((item, target, "packed", f"2026-02-02T10:{len(edges):02d}:00Z", qty))
    for container in (k for k in upper if not k.startswith("cust:")):
        for target in draw(st.lists(st.sampled_from(
                [k for k in upper if k > container or k.startswith("cust:")]), max_size=2,
                unique=True)):
            edges.append((container, target, "shipped", T.format(3), None))
    return nodes, edges


@settings(max_examples=60, deadline=None)
@given(genealogy=genealogies(), data=st.data())
def test_shipped_rows_match_a_plain_walk(tmp_path_factory: pytest.TempPathFactory,
                                         genealogy: tuple[dict[str, str], list[Any]],
                                         data: st.DataObject) -> None:
    nodes, edges = genealogy
    seeds = data.draw(st.lists(st.sampled_from(sorted(nodes)), min_size=1, max_size=3,
                               unique=True))
    with LiveStore(tmp_path_factory.mktemp("shipped") / "data") as live:
        graph = _load(live, nodes, edges)
        rows = graph.shipped(seeds).to_pylist()
    expected = _oracle(nodes, edges, seeds)
    got = {(r["customer"], r["shipment"], r["item"]): r["quantity"] for r in rows}
    assert len(rows) == len(got)  # one row per (customer, shipment, item)
    counted = {k for k, q in expected.items() if math.isnan(q) or q > 0}
    # A negative total at a customer is a return: it comes off that customer's other rows of
    # the item (latest first), so there a row may shrink or go, and the item's total at the
    # customer is what was shipped less what came back.
    returns: dict[tuple[Any, Any], float] = {}
    for (customer, _, item), q in expected.items():
        if customer is not None and q < 0:
            returns[(customer, item)] = returns.get((customer, item), 0.0) - q
    if returns:
        event("a customer returned some of an item")
    assert set(got) <= counted
    for key in counted - set(got):
        assert (key[0], key[2]) in returns, key  # only a return takes a row away
    for key, quantity in got.items():
        want = expected[key]
        if math.isnan(want):
            assert quantity is None, key
        elif (key[0], key[2]) in returns:
            assert 0 < quantity <= want, key
        else:
            assert quantity == want, key
    for (customer, item), back in returns.items():
        shipped = [q for k, q in expected.items()
                   if (k[0], k[2]) == (customer, item) and k in counted]
        if any(math.isnan(q) for q in shipped):
            continue  # unknown stays unknown
        kept = sum(q for k, q in got.items() if (k[0], k[2]) == (customer, item))
        assert kept == max(sum(shipped) - back, 0.0), (customer, item)


def test_impact_counts_quantities_by_hand(graph: Graph) -> None:
    impact = graph.impact(["lot:bad"], rows=False)
    customers = {r["customer"]: (r["quantity"], r["unknown_quantity"], r["units"])
                 for r in impact.by_customer.to_pylist()}
    # cust:a: sn:1 and sn:2 (1 each) and 20 of lot:fin (25, 5 reversed); cust:b: 40, and
    # ship:5's 10 were reversed. `units` still counts serials.
    assert customers == {"cust:a": (22.0, 0, 2), "cust:b": (40.0, 0, 0)}
    shipments = {r["shipment"]: r["quantity"] for r in impact.by_shipment.to_pylist()}
    assert shipments == {"ship:1": 2.0, "ship:2": 40.0, "ship:3": 20.0, "ship:4": 1.0,
                         "ship:5": 0.0}
    assert impact.by_customer.column("customer").to_pylist() == ["cust:b", "cust:a"]
    # Finished units by product level: another product's units count nothing.
    other = graph.impact(["lot:bad"], rows=False, unit_products=["gtin:00000000000000"])
    assert set(other.by_customer.column("quantity").to_pylist()) == {0.0}
    same = graph.impact(["lot:bad"], rows=False, unit_products=["gtin:09506000134352"])
    assert same.by_customer.equals(impact.by_customer)


@settings(max_examples=60, deadline=None)
@given(genealogy=genealogies(), data=st.data())
def test_impact_quantities_match_a_plain_walk(tmp_path_factory: pytest.TempPathFactory,
                                              genealogy: tuple[dict[str, str], list[Any]],
                                              data: st.DataObject) -> None:
    """Each edge of an affected item into an affected container is a branch with its
    quantity; every shipment and customer the branch reaches gets it (none recorded: a
    serial counts 1, a lot counts as unknown)."""
    nodes, edges = genealogy
    seeds = data.draw(st.lists(st.sampled_from(sorted(nodes)), min_size=1, max_size=3,
                               unique=True))
    with LiveStore(tmp_path_factory.mktemp("impact") / "data") as live:
        graph = _load(live, nodes, edges)
        impact = graph.impact(seeds, rows=False)
    g = nx.MultiDiGraph()
    g.add_nodes_from(nodes)
    for src, dst, _, _, qty in edges:
        g.add_edge(src, dst, quantity=qty)
    affected = set(seeds).union(*(nx.descendants(g, s) for s in seeds))
    ok = {n for n in affected if nodes[n] in CONTAINERS}
    want: dict[str, list[float]] = {n: [0.0, 0] for n in affected
                                    if nodes[n] in ("shipment", "customer")}
    for item in (n for n in affected if nodes[n] in ("lot", "serial")):
        for _, first, edge in g.out_edges(item, data=True):
            if first not in ok:
                continue
            qty = edge["quantity"]
            if qty is None and nodes[item] == "serial":
                qty = 1.0
            for reached in {first} | nx.descendants(g.subgraph(ok), first):
                if reached in want:
                    if qty is None:
                        want[reached][1] += 1
                    else:
                        want[reached][0] += qty
    got = {r["shipment"]: [r["quantity"], r["unknown_quantity"]]
           for r in impact.by_shipment.to_pylist()}
    got |= {r["customer"]: [r["quantity"], r["unknown_quantity"]]
            for r in impact.by_customer.to_pylist()}
    assert got == want


def test_an_item_in_many_shipments_counts_in_each(tmp_path: Path) -> None:
    """More branches than the first buffer holds (64): the tally grows it and counts anew."""
    ships = [f"ship:{i}" for i in range(70)]
    nodes = {"lot:x": "lot", "cust:a": "customer", **dict.fromkeys(ships, "shipment")}
    edges = [("lot:x", s, "shipped", f"2026-02-02T10:{i:02d}:00Z", 2.0)
             for i, s in enumerate(ships[:60])]
    edges += [("lot:x", s, "shipped", f"2026-02-02T11:{i:02d}:00Z", 2.0)
              for i, s in enumerate(ships[60:])]
    edges += [(s, "cust:a", "delivered", T.format(6), None) for s in ships]
    with LiveStore(tmp_path / "data") as live:
        impact = _load(live, nodes, edges).impact(["lot:x"], rows=False)
    assert impact.by_customer.to_pylist()[0]["quantity"] == 140.0
    assert set(impact.by_shipment.column("quantity").to_pylist()) == {2.0}
