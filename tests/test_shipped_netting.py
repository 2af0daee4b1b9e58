"""The netting of branch pairs into consignee rows (engine._row_kernels.net_item, numba)
against the polars it replaced, on real ship_pairs output of generated genealogies with
fractional, negative, unknown and tied quantities and times: the same rows in the same order,
quantities equal to the last bit (a recall case's pinned SHA-256 depends on them); and the
rows an item takes from the first serial of its case held to its own walk (the stores are
compacted at random: only a snapshot's edges are shared that way). And a case diff by dense id
against the same diff by key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain.time import NO_TIME, from_micros
from engine import _ship_kernels as sk
from engine.filters import make_filter
from engine.shipped import ShippedRows, _net_returns, ship_pairs
from engine.view import View
from index.live import LiveStore
from recall.cases import Answer, compare
from tests.test_shipped import _load, genealogies

QUANTITIES = [None, 0.1, 0.2, 0.3, 2.5, 40.0, 1e-3, -0.1, -0.7, -40.0, 7.125]
TIMES = ["2026-02-02T10:00:00Z", "2026-02-02T11:00:00Z", None]


@st.composite
def fractional(draw: st.DrawFn) -> tuple[dict[str, str], list[tuple[Any, ...]], int]:
    """A genealogy of tests.test_shipped with its item edges' quantities and times redrawn
    (fractions that round, ties, none), and where to split its edges into two ingests."""
    nodes, edges = draw(genealogies())
    redrawn = []
    for src, dst, kind, time, qty in edges:
        if kind == "packed":
            redrawn.append((src, dst, kind, draw(st.sampled_from([time, *TIMES])),
                            draw(st.sampled_from(QUANTITIES))))
        else:
            redrawn.append((src, dst, kind, time, qty))
    # Serials of lot:0 packed into case:0 alone, which goes to a customer: items whose one
    # branch is the same walk (ship_pairs keeps it for the next).
    if "case:0" in nodes and draw(st.booleans()):
        for i in range(draw(st.integers(2, 4))):
            nodes[f"sn:extra{i}"] = "serial"
            redrawn.append(("lot:0", f"sn:extra{i}", "produced", "2026-02-01T10:00:00Z", None))
            redrawn.append((f"sn:extra{i}", "case:0", "packed", draw(st.sampled_from(TIMES)),
                            draw(st.sampled_from(QUANTITIES))))
        redrawn.append(("case:0", "ship:0", "shipped", "2026-02-03T10:00:00Z", None))
        redrawn.append(("ship:0", "cust:0", "delivered", "2026-02-04T10:00:00Z", None))
    return nodes, redrawn, draw(st.integers(0, len(redrawn)))


def _polars_net(view: View, pairs: Any) -> ShippedRows:
    """The polars netting engine.shipped used before net_item (the oracle)."""
    items, targets, via, qty, when, branch, target = pairs
    role = target[view.node_kind[targets]]
    is_customer = role == sk.CUSTOMER
    via_shipment = target[view.node_kind[via]] == sk.SHIPMENT
    serial_code = view.kind_code("serial")
    qty = qty.copy()
    qty[np.isnan(qty) & (view.node_kind[items] == serial_code)] = 1.0
    times = np.where(when == NO_TIME, np.iinfo(np.int64).max, when)
    cust = np.flatnonzero(is_customer)
    frame = pl.DataFrame({
        "item": items[cust], "customer": targets[cust],
        "shipment": np.where(via_shipment[cust], via[cust], -1).astype(np.int32),
        "quantity": qty[cust], "ship_time": times[cust], "branch": branch[cust]})
    ship = np.flatnonzero(~is_customer)
    shipped = pl.DataFrame({"item": items[ship], "customer": np.full(len(ship), -1, np.int32),
                            "shipment": targets[ship], "quantity": qty[ship],
                            "ship_time": times[ship], "branch": branch[ship]})
    frame = frame.filter((pl.col("shipment") >= 0)
                         | (pl.col("shipment").max().over("item", "customer") < 0))
    frame = pl.concat([frame, shipped.join(frame.select("item", "shipment"),
                                           on=["item", "shipment"], how="anti")])
    counted = pl.col("quantity").is_nan() | (pl.col("quantity") > 0)
    frame = (frame.unique(["customer", "shipment", "item", "branch"], keep="first",
                          maintain_order=True)
             .group_by(["customer", "shipment", "item"], maintain_order=True)
             .agg(pl.col("quantity").sum(),
                  pl.coalesce(pl.col("ship_time").filter(counted).min(),
                              pl.col("ship_time").min()).alias("ship_time")))
    summed = frame["quantity"].to_numpy()
    serial = view.node_kind[frame["item"].to_numpy()] == serial_code
    quantity = np.where(serial & (summed > 1), 1.0, summed)
    customer, shipment, item, ship_time = (
        frame[c].to_numpy() for c in ("customer", "shipment", "item", "ship_time"))
    returned = (quantity < 0) & (customer >= 0)
    if returned.any():
        quantity = _net_returns(view, customer, shipment, item, quantity, ship_time, returned)
    keep = np.isnan(quantity) | (quantity > 0)
    return ShippedRows(view, customer[keep], shipment[keep], item[keep], quantity[keep],
                       ship_time[keep])


def _answers(live: LiveStore, nodes: dict[str, str], edges: list[tuple[Any, ...]],
             cut: int, compact: bool) -> tuple[Any, datetime]:
    """The genealogy ingested in two batches (then compacted into a snapshot: the kernels
    read a snapshot's edges apart from the delta's), and the record time of the first (a
    time before any when it has no edge)."""
    graph = _load(live, nodes, edges[:cut])
    recorded = graph.view().down_live.recorded_at[: graph.view().down_live.n_edges]
    between = from_micros(int(recorded.max())) if len(recorded) else datetime(2000, 1, 1,
                                                                              tzinfo=UTC)
    graph = _load(live, nodes, edges[cut:], batch=2)  # nodes again: no change
    if compact:
        live.compact()
    return graph, between


@settings(max_examples=60, deadline=None)
@given(genealogy=fractional(), data=st.data())
def test_net_item_matches_polars(tmp_path_factory: pytest.TempPathFactory,
                                  genealogy: tuple[dict[str, str], list[Any], int],
                                  data: st.DataObject) -> None:
    nodes, edges, cut = genealogy
    seeds = data.draw(st.lists(st.sampled_from(sorted(nodes)), min_size=1, max_size=3,
                               unique=True))
    if "sn:extra0" in nodes:
        seeds = sorted({*seeds, "lot:0"})
    with LiveStore(tmp_path_factory.mktemp("netting") / "data") as live:
        graph, between = _answers(live, nodes, edges, cut, data.draw(st.booleans()))
        view = graph.view()
        ids = graph._resolve(view, seeds)
        for as_of in (None, between):
            flt = make_filter(view, None, None, None, None, None, as_of, None)
            pairs, got = ship_pairs(view, ids, flt, graph._scratch.get(view.node_count),
                                    graph._walks)
            want = _polars_net(view, pairs)
            assert got.table.equals(graph.shipped(seeds, as_of=as_of))  # pairs not kept
            if (got.quantity < 1).any():
                event("a fraction")
            for column in ("customer", "shipment", "item", "ship_time"):
                assert getattr(got, column).tolist() == getattr(want, column).tolist(), column
            assert np.array_equal(got.quantity, want.quantity, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(genealogy=fractional(), data=st.data())
def test_a_diff_by_id_is_the_diff_by_key(tmp_path_factory: pytest.TempPathFactory,
                                         genealogy: tuple[dict[str, str], list[Any], int],
                                         data: st.DataObject) -> None:
    """Two answers of one view compare by dense id; the same answers read as of different
    views (a compaction between them) compare by key: the same diff, and both the plain set
    difference of the keyed rows."""
    nodes, edges, cut = genealogy
    seeds = data.draw(st.lists(st.sampled_from(sorted(nodes)), min_size=1, max_size=3,
                               unique=True))
    with LiveStore(tmp_path_factory.mktemp("diff") / "data") as live:
        graph, between = _answers(live, nodes, edges, cut, data.draw(st.booleans()))
        before = Answer(between.isoformat(), 0, 0, graph.shipped_rows(seeds, as_of=between))
        after = Answer(datetime.now(UTC).isoformat(), 0, 0, graph.shipped_rows(seeds))
        by_id = compare(before, after)
        view = after.found.view
        elsewhere = replace(after, found=replace(after.found,
                                                 view=View(view.snapshot, view.delta)))
        by_key = compare(before, elsewhere)
    assert by_id.summary() == by_key.summary()
    assert by_id.by_customer.equals(by_key.by_customer)
    key = ["customer", "shipment", "item"]

    def rows(table: Any) -> set[tuple[Any, ...]]:
        return {tuple(r[k] for k in key) for r in table.to_pylist()}

    old, new = rows(before.rows), rows(after.rows)
    for diff in (by_id, by_key):
        assert rows(diff.added.to_arrow()) == new - old
        assert rows(diff.removed.to_arrow()) == old - new
        assert diff.added.height == len(new - old)
    if new != old:
        event("the answers differ")


def test_serials_of_one_case_share_its_walk(tmp_path: Any) -> None:
    """Serials packed into one case take the case's rows from the first serial's walk
    (engine._ship_kernels.ship_pairs keeps them per case): each with its own quantity, a lot
    in the same case with its own unit, a serial with a second branch walked on its own; the
    same rows as the walk of every item (the pairs the tests keep)."""
    nodes = {"lot:x": "lot", **{f"sn:{i}": "serial" for i in range(5)},
             "case:1": "logistic_unit", "pal:1": "logistic_unit", "ship:1": "shipment",
             "ship:2": "shipment", "cust:a": "customer", "cust:b": "customer"}
    edges = [("lot:x", f"sn:{i}", "produced", "2026-02-01T10:00:00Z", None) for i in range(5)]
    edges += [(f"sn:{i}", "case:1", "packed", f"2026-02-02T10:0{i}:00Z", q)
              for i, q in enumerate([None, 1.0, 0.5, -1.0, 3.0])]
    edges += [("lot:x", "case:1", "packed", "2026-02-02T11:00:00Z", 12.5),
              ("sn:4", "ship:2", "shipped", "2026-02-03T09:00:00Z", None),
              ("case:1", "pal:1", "packed", "2026-02-02T12:00:00Z", None),
              ("pal:1", "ship:1", "shipped", "2026-02-03T10:00:00Z", None),
              ("ship:1", "cust:a", "delivered", "2026-02-04T10:00:00Z", None),
              ("ship:2", "cust:b", "delivered", "2026-02-04T11:00:00Z", None)]
    with LiveStore(tmp_path / "data") as live:
        graph = _load(live, nodes, edges)
        live.compact()  # a snapshot's edges: the delta's are walked item by item
        view = graph.view()
        flt = make_filter(view, None, None, None, None, None, None, None)
        _, walked = ship_pairs(view, graph._resolve(view, ["lot:x"]),
                               flt, graph._scratch.get(view.node_count), graph._walks)
        rows = graph.shipped(["lot:x"])
    assert rows.equals(walked.table)
    got = {(r["customer"], r["shipment"], r["item"]): r["quantity"] for r in rows.to_pylist()}
    assert got == {("cust:a", "ship:1", "lot:x"): 12.5, ("cust:a", "ship:1", "sn:0"): 1.0,
                   ("cust:a", "ship:1", "sn:1"): 1.0, ("cust:a", "ship:1", "sn:2"): 0.5,
                   ("cust:a", "ship:1", "sn:4"): 1.0, ("cust:b", "ship:2", "sn:4"): 1.0}
