"""The generator's invariants: shape, counts, time order, bulk fan-out, determinism by seed."""

from __future__ import annotations

import networkx as nx
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from domain.schemas import EDGES_SCHEMA, NODES_SCHEMA
from loaders.synthetic import WIDEST_LOT, GenealogyConfig, generate, resolve_edge_keys
from tests.conftest import SMALL


@pytest.fixture(scope="module")
def tables() -> tuple[pa.Table, pa.Table]:
    nodes, id_edges = generate(SMALL)
    return nodes, resolve_edge_keys(nodes, id_edges)


def _frames(tables: tuple[pa.Table, pa.Table]) -> tuple[pl.DataFrame, pl.DataFrame]:
    nodes, edges = tables
    return pl.from_arrow(nodes), pl.from_arrow(edges)  # type: ignore[return-value]


def test_schemas_are_the_canonical_ones(tables: tuple[pa.Table, pa.Table]) -> None:
    nodes, edges = tables
    assert nodes.schema == NODES_SCHEMA
    assert edges.schema == EDGES_SCHEMA


def test_counts_follow_the_configuration(tables: tuple[pa.Table, pa.Table]) -> None:
    nodes, edges = _frames(tables)
    units = SMALL.units
    kinds = dict(nodes.group_by("kind").len().iter_rows())
    reworked = int(units * SMALL.rework_share)
    finished = nodes.filter(pl.col("key").str.starts_with("urn:epc:id:sgtin:4012345.11"))
    assert finished.height == units
    assert kinds["serial"] == units * (1 + SMALL.sub_types) + reworked
    assert kinds["supplier"] == SMALL.suppliers
    assert kinds["customer"] == SMALL.customer_count()
    cases = -(-units // SMALL.case_size)
    pallets = -(-cases // SMALL.cases_per_pallet)
    assert kinds["logistic_unit"] == cases + pallets
    edge_kinds = dict(edges.group_by("kind").len().iter_rows())
    assert edge_kinds["assembled"] == units * SMALL.sub_types
    assert edge_kinds["sterilized"] == units
    assert edge_kinds["packed"] == units + cases
    assert edge_kinds["reworked"] == reworked
    assert nodes["key"].n_unique() == nodes.height
    known = set(nodes["key"].to_list())
    assert set(edges["src"].to_list()) <= known
    assert set(edges["dst"].to_list()) <= known
    assert (edges["src"] != edges["dst"]).all()


def test_times_move_forward_except_through_rework(tables: tuple[pa.Table, pa.Table]) -> None:
    nodes, edges = _frames(tables)
    rework = set(nodes.filter(pl.col("key").str.contains("rework_order"))["key"].to_list())
    plain = edges.filter(~pl.col("src").is_in(rework) & ~pl.col("dst").is_in(rework))
    latest_in = plain.group_by("dst").agg(pl.col("event_time").max().alias("latest_in"))
    joined = plain.join(latest_in, left_on="src", right_on="dst", how="inner")
    backwards = joined.filter(pl.col("event_time") < pl.col("latest_in"))
    assert backwards.height == 0, backwards.head(5)
    assert (edges["recorded_at"] >= edges["event_time"]).all()


def test_rework_closes_cycles_and_only_rework_does(tables: tuple[pa.Table, pa.Table]) -> None:
    _, edges = _frames(tables)
    graph = nx.DiGraph(list(zip(edges["src"].to_list(), edges["dst"].to_list(), strict=True)))
    cycles = list(nx.simple_cycles(graph, length_bound=3))
    assert cycles, "rework must create unit -> rework order -> unit cycles"
    assert all(any("rework_order" in node for node in cycle) for cycle in cycles)


def test_splits_and_merges_present(tables: tuple[pa.Table, pa.Table]) -> None:
    _, edges = _frames(tables)
    kinds = set(edges["kind"].to_list())
    assert {"split", "merged", "supplied", "consumed", "produced", "shipped",
            "delivered"} <= kinds


def test_bulk_lot_fans_out_to_its_configured_share() -> None:
    config = GenealogyConfig(units=6000, seed=3, resin_lot_units=2500)
    nodes, id_edges = generate(config)
    edges = resolve_edge_keys(nodes, id_edges)
    graph = nx.DiGraph(list(zip(edges.column("src").to_pylist(),
                                edges.column("dst").to_pylist(), strict=True)))
    finished = [n for n in nx.descendants(graph, WIDEST_LOT)
                if n.startswith("urn:epc:id:sgtin:4012345.11")]
    # Housing work orders hold 1000 parts, so a lot covers whole work orders: 2500 -> 3000.
    assert 2500 <= len(finished) <= 3000


def test_same_seed_same_tables_other_seed_differs() -> None:
    config = GenealogyConfig(units=500, seed=5)
    first_nodes, first_edges = generate(config)
    again_nodes, again_edges = generate(config)
    assert first_nodes.equals(again_nodes)
    assert first_edges.equals(again_edges)
    _other_nodes, other_edges = generate(GenealogyConfig(units=500, seed=6))
    assert not first_edges.equals(other_edges)


def test_customers_have_skewed_popularity(tables: tuple[pa.Table, pa.Table]) -> None:
    _, edges = _frames(tables)
    per_customer = (edges.filter(pl.col("kind") == "delivered").group_by("dst").len()
                    .sort("len", descending=True)["len"].to_numpy())
    assert per_customer[0] > 5 * np.median(per_customer)


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="units"):
        generate(GenealogyConfig(units=0))


def test_a_nodes_product_is_the_gtin_of_its_key(tables: tuple[pa.Table, pa.Table]) -> None:
    """Serials and lots carry their key's GTIN-14 (valid check digit) as `product`: the
    element string of product + serial (or lot) reads back as the node's own key."""
    from loaders.barcodes import parse

    nodes, _ = _frames(tables)
    gs1 = nodes.filter(pl.col("key").str.starts_with("urn:epc:"))
    assert gs1.height > 1000
    sample = pl.concat([gs1.filter(pl.col("kind") == kind).head(50)
                        for kind in ("serial", "lot")])
    for key, product in sample.select("key", "product").iter_rows():
        assert len(product) == 14
        ai = "21" if key.startswith("urn:epc:id:sgtin:") else "10"
        reading = parse(f"(01){product}({ai}){key.rsplit('.', 1)[1]}")
        assert (reading.key, reading.confidence) == (key, "certain"), product
