"""A seeded, deterministic, vectorised generator of a realistic medical-device genealogy.

The chain it models, upstream to downstream:

    supplier -> supplier lot (bulk lots split or merged) -> work order -> sub-assembly serial
    -> finished-device serial (UDI) <- sterilisation load
    -> case -> pallet -> shipment -> customer   (broken pallets ship their cases separately)

Per finished unit: one final work order, three sub-assembly serials (each from its own sub work
order with four component lots recorded as-built), two lots consumed directly at final assembly,
one sterilisation load, one case. Bulk materials (resin for housings, adhesive and label stock for
final assembly) are consumed per work order and fan out to 100k+ units. About 0.5% of units are
reworked: a rework order swaps in a replacement sub-assembly, which closes a cycle
(unit -> rework order -> unit). Event times move forward along every chain except those cycles.

Everything is numpy/polars; no Python loop runs per unit. The same (units, seed) always gives the
same tables, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from domain.schemas import EDGES_SCHEMA
from loaders.synthetic_tables import (
    US_PER_DAY,
    US_PER_HOUR,
    EdgeGroups,
    NodeGroups,
    dense,
    first_time,
    format_keys,
    group_rank,
    gtin_item,
    gtins,
    nodes_table,
)

__all__ = ["GenealogyConfig", "generate", "resolve_edge_keys", "sample_keys", "write_genealogy"]

I64 = npt.NDArray[np.int64]
COMPANY = "4012345"  # GS1 company prefix of the (fictional) device maker
SUPPLIER_COMPANY = "0614141"


@dataclass(frozen=True)
class GenealogyConfig:
    """Shape of the generated genealogy. Defaults give about 4.2 nodes and 23 edges per unit."""

    units: int = 1_000_000
    seed: int = 7
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    days: int = 365
    families: int = 20
    suppliers: int = 40
    final_wo_size: int = 500
    sub_wo_size: int = 1000
    sub_types: int = 3
    component_lot_sizes: tuple[int, ...] = (2000, 5000, 10000, 20000)
    direct_lot_sizes: tuple[int, ...] = (3000, 8000)
    resin_lot_units: int = 300_000
    adhesive_lot_units: int = 200_000
    label_lot_units: int = 100_000
    load_size: int = 2000
    case_size: int = 10
    cases_per_pallet: int = 40
    broken_pallet_share: float = 0.3
    cases_per_broken_shipment: int = 5
    customers: int = 0  # 0: one per 500 units, at least 50
    rework_share: float = 0.005

    def customer_count(self) -> int:
        return self.customers or max(50, self.units // 500)


def generate(
    config: GenealogyConfig, progress: Callable[[str], None] | None = None
) -> tuple[pa.Table, pa.Table]:
    """Generate the node table and the edge table in id form (src/dst: row numbers in the node
    table; `resolve_edge_keys` gives the canonical table). For small scales: `write_genealogy`
    streams the edges instead of holding them twice."""
    nodes, edges, rng = _generate(config, progress)
    return nodes_table(nodes), pa.concat_tables(edges.batches(rng, max(edges.count, 1)))


def _generate(
    config: GenealogyConfig, progress: Callable[[str], None] | None = None
) -> tuple[NodeGroups, EdgeGroups, np.random.Generator]:
    """The genealogy as node and edge groups; see the module docstring for the shape."""
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(config.seed)
    n_units = config.units
    if n_units < 1:
        raise ValueError("units must be at least 1")
    t0 = int(config.start.timestamp()) * 1_000_000
    span = config.days * US_PER_DAY
    nodes, edges = NodeGroups(), EdgeGroups()

    say("suppliers and customers")
    n_sup = config.suppliers
    suppliers = nodes.add(
        format_keys(f"urn:epc:id:pgln:{SUPPLIER_COMPANY}.{{}}", np.arange(1, n_sup + 1),
                    widths=(5,)),
        "supplier",
        np.full(n_sup, t0 - 365 * US_PER_DAY),
    )

    # Finished units in production order; families are assigned per final work order.
    say("finished units and final work orders")
    unit_time = t0 + np.sort(rng.integers(0, span, n_units))
    unit_wo = np.arange(n_units) // config.final_wo_size
    n_final_wo = int(unit_wo[-1]) + 1
    wo_family = rng.integers(0, config.families, n_final_wo)
    unit_family = wo_family[unit_wo]
    wo_start = unit_time[:: config.final_wo_size] - US_PER_HOUR
    final_wos = nodes.add(
        format_keys("erp:sap:work_order:{}", np.arange(1_000_000, 1_000_000 + n_final_wo)),
        "work_order",
        wo_start,
    )
    unit_product = gtin_item(10_000 + unit_family)
    unit_serial = np.arange(1, n_units + 1)
    units = nodes.add(
        format_keys(f"urn:epc:id:sgtin:{COMPANY}.{{}}.{{}}", unit_product, unit_serial,
                    widths=(6, 9)),
        "serial",
        unit_time,
        product=gtins(COMPANY, unit_product),
    )
    edges.add(final_wos[unit_wo], units, "produced", unit_time)

    # Sub-assemblies: one of each type per unit, made 1-5 days earlier in sub work orders that
    # run per (family, type) stream.
    say("sub-assemblies and sub work orders")
    n_types = config.sub_types
    sub_unit = np.repeat(np.arange(n_units), n_types)
    sub_type = np.tile(np.arange(n_types), n_units)
    sub_time = unit_time[sub_unit] - rng.integers(US_PER_DAY, 5 * US_PER_DAY, len(sub_unit))
    sub_stream = unit_family[sub_unit] * n_types + sub_type
    sub_rank, _ = group_rank(sub_stream, sub_unit)
    sub_wo_label = sub_stream * (n_units // config.sub_wo_size + 2) + sub_rank // config.sub_wo_size
    sub_wo_index, n_sub_wo = dense(sub_wo_label)
    sub_wo_start = first_time(sub_wo_index, sub_time, n_sub_wo) - US_PER_HOUR
    sub_wos = nodes.add(
        format_keys("erp:sap:work_order:{}", np.arange(2_000_000, 2_000_000 + n_sub_wo)),
        "work_order",
        sub_wo_start,
    )
    sub_part = 1000 + sub_stream
    subs = nodes.add(
        format_keys(
            f"urn:epc:id:sgtin:{COMPANY}.{{}}.{{}}",
            gtin_item(sub_part),
            np.arange(1, len(sub_unit) + 1),
            widths=(6, 10),
        ),
        "serial",
        sub_time,
        product=gtins(COMPANY, gtin_item(sub_part)),
    )
    edges.add(sub_wos[sub_wo_index], subs, "produced", sub_time)
    edges.add(subs, units[sub_unit], "assembled", unit_time[sub_unit])

    # Discrete component lots recorded per serial (as-built): the lot of part k in a stream
    # changes every lot_size pieces. Lots are received 1-10 days before their first use.
    say("component lots")
    lot_parts: list[tuple[I64, I64, I64, I64]] = []  # (part, lot index, consumer ids, times)
    for k, lot_size in enumerate(config.component_lot_sizes):
        part = 2000 + sub_stream * len(config.component_lot_sizes) + k
        lot_parts.append((part, sub_rank // lot_size, subs, sub_time))
    unit_rank, _ = group_rank(unit_family, np.arange(n_units, dtype=np.int64))
    for j, lot_size in enumerate(config.direct_lot_sizes):
        part = 5000 + unit_family * len(config.direct_lot_sizes) + j
        lot_parts.append((part, unit_rank // lot_size, units, unit_time))
    part_all = np.concatenate([p for p, _, _, _ in lot_parts])
    lot_all = np.concatenate([lot for _, lot, _, _ in lot_parts])
    consumer_all = np.concatenate([c for _, _, c, _ in lot_parts])
    time_all = np.concatenate([t for _, _, _, t in lot_parts])
    lot_index, n_lots = dense(part_all * 1_000_000 + lot_all)
    lot_first_use = first_time(lot_index, time_all, n_lots)
    lot_received = lot_first_use - rng.integers(US_PER_DAY, 10 * US_PER_DAY, n_lots)
    lot_part = np.zeros(n_lots, dtype=np.int64)
    lot_part[lot_index] = part_all
    lot_number = np.zeros(n_lots, dtype=np.int64)
    lot_number[lot_index] = lot_all
    lot_qty = np.bincount(lot_index, minlength=n_lots).astype(np.float64)
    component_lots = _add_lots(nodes, lot_part, lot_number, lot_received, lot_qty, prefix="C")
    edges.add(component_lots[lot_index], consumer_all, "consumed", time_all)
    del part_all, lot_all, consumer_all, time_all, lot_parts
    edges.add(suppliers[lot_part % n_sup], component_lots, "supplied", lot_received)
    n_subs, n_comp = len(subs), len(config.component_lot_sizes)
    sub_lots = component_lots[lot_index[: n_comp * n_subs]].reshape(n_comp, n_subs)

    # Bulk materials, consumed per work order.
    say("bulk lots: resin (split), adhesive (merged), label stock")
    housing_wo = np.unique(sub_wo_index[sub_type == 0])
    housing_wo_units = np.bincount(sub_wo_index, minlength=n_sub_wo)[housing_wo]
    _add_bulk_split(nodes, edges, rng, suppliers, _BulkUse(
        9001, sub_wos[housing_wo], housing_wo_units, sub_wo_start[housing_wo],
        config.resin_lot_units))
    final_wo_units = np.bincount(unit_wo, minlength=n_final_wo)
    _add_bulk_merged(nodes, edges, rng, suppliers, _BulkUse(
        9002, final_wos, final_wo_units, wo_start, config.adhesive_lot_units))
    _add_bulk_plain(nodes, edges, rng, suppliers, _BulkUse(
        9003, final_wos, final_wo_units, wo_start, config.label_lot_units))

    # Sterilisation loads take consecutive units; cases of consecutive units.
    say("sterilisation loads, cases, pallets")
    unit_load = np.arange(n_units) // config.load_size
    n_loads = int(unit_load[-1]) + 1
    load_time = np.zeros(n_loads, dtype=np.int64)
    np.maximum.at(load_time, unit_load, unit_time + 6 * US_PER_HOUR)
    loads = nodes.add(
        format_keys("erp:mes:sterilization_load:{}", np.arange(1, n_loads + 1), widths=(7,)),
        "sterilization_load",
        load_time,
    )
    edges.add(loads[unit_load], units, "sterilized", load_time[unit_load])

    unit_case = np.arange(n_units) // config.case_size
    n_cases = int(unit_case[-1]) + 1
    case_time = np.zeros(n_cases, dtype=np.int64)
    np.maximum.at(case_time, unit_case, load_time[unit_load] + US_PER_DAY)
    case_pallet = np.arange(n_cases) // config.cases_per_pallet
    n_pallets = int(case_pallet[-1]) + 1
    pallet_time = np.zeros(n_pallets, dtype=np.int64)
    np.maximum.at(pallet_time, case_pallet, case_time + US_PER_HOUR)
    sscc = np.arange(1, n_cases + n_pallets + 1)
    cases = nodes.add(
        format_keys(f"urn:epc:id:sscc:{COMPANY}.0{{}}", sscc[:n_cases], widths=(9,)),
        "logistic_unit",
        case_time,
    )
    pallets = nodes.add(
        format_keys(f"urn:epc:id:sscc:{COMPANY}.1{{}}", sscc[n_cases:], widths=(9,)),
        "logistic_unit",
        pallet_time,
    )
    edges.add(units, cases[unit_case], "packed", case_time[unit_case])
    edges.add(cases, pallets[case_pallet], "packed", pallet_time[case_pallet])

    # Shipments: whole pallets in groups of 1-3; broken pallets ship their cases in groups.
    say("shipments and customers")
    broken = rng.random(n_pallets) < config.broken_pallet_share
    whole_pallets = np.flatnonzero(~broken)
    whole_group = np.cumsum(rng.integers(1, 4, len(whole_pallets)))
    whole_ship = np.searchsorted(whole_group, np.arange(len(whole_pallets)), side="right")
    broken_cases = np.flatnonzero(broken[case_pallet])
    broken_ship = np.arange(len(broken_cases)) // config.cases_per_broken_shipment
    n_whole_ship = int(whole_ship[-1]) + 1 if len(whole_ship) else 0
    n_ship = n_whole_ship + (int(broken_ship[-1]) + 1 if len(broken_ship) else 0)
    broken_ship = broken_ship + n_whole_ship
    ship_time = np.zeros(n_ship, dtype=np.int64)
    np.maximum.at(ship_time, whole_ship, pallet_time[whole_pallets] + 2 * US_PER_DAY)
    np.maximum.at(ship_time, broken_ship, case_time[broken_cases] + 2 * US_PER_DAY)
    shipments = nodes.add(
        format_keys("erp:sap:shipment:{}", np.arange(80_000_000, 80_000_000 + n_ship)),
        "shipment",
        ship_time,
    )
    edges.add(pallets[whole_pallets], shipments[whole_ship], "shipped", ship_time[whole_ship])
    edges.add(cases[broken_cases], shipments[broken_ship], "shipped", ship_time[broken_ship])

    n_cust = config.customer_count()
    popularity = 1.0 / np.arange(1, n_cust + 1) ** 1.1  # Zipf-like: a few big hospital chains
    ship_customer = rng.choice(n_cust, size=n_ship, p=popularity / popularity.sum())
    customers = nodes.add(
        format_keys(f"urn:epc:id:sgln:{COMPANY}.{{}}.0", np.arange(1, n_cust + 1), widths=(5,)),
        "customer",
        np.full(n_cust, t0 - 30 * US_PER_DAY),
    )
    delivered = ship_time + rng.integers(US_PER_DAY, 5 * US_PER_DAY, n_ship)
    edges.add(shipments, customers[ship_customer], "delivered", delivered)

    say("rework")
    _add_rework(nodes, edges, rng, config, units, unit_time, sub_lots, sub_part)

    return nodes, edges, rng


def _add_lots(
    nodes: NodeGroups, part: I64, number: I64, received: I64, qty: npt.NDArray[np.float64],
    prefix: str,
) -> I64:
    item = gtin_item(part)
    return nodes.add(
        format_keys(f"urn:epc:class:lgtin:{SUPPLIER_COMPANY}.{{}}.{prefix}{{}}", item, number,
              widths=(6, 6)),
        "lot",
        received,
        product=gtins(SUPPLIER_COMPANY, item),
        quantity=qty,
    )


@dataclass(frozen=True)
class _BulkUse:
    """A bulk material (`part`) consumed by `consumers` (work orders) of `units` units each at
    `time`, from lots that each cover about `lot_units` units."""

    part: int
    consumers: I64
    units: I64
    time: I64
    lot_units: int

    def lots(self) -> tuple[I64, int]:
        """Each consumer's lot (consecutive consumers share one) and how many lots."""
        covered = np.cumsum(self.units) - self.units
        lot = covered // max(self.lot_units, 1)
        return lot, int(lot[-1]) + 1

    def quantity(self, lot: I64, n: int) -> npt.NDArray[np.float64]:
        """Units consumed from each of `n` lots."""
        return np.bincount(lot, weights=self.units, minlength=n).astype(np.float64)

    def supplier(self, suppliers: I64) -> int:
        return int(suppliers[self.part % len(suppliers)])


def _add_bulk_plain(
    nodes: NodeGroups, edges: EdgeGroups, rng: np.random.Generator, suppliers: I64,
    use: _BulkUse,
) -> None:
    lot, n = use.lots()
    received = first_time(lot, use.time, n) - rng.integers(2, 10, n) * US_PER_DAY
    ids = _add_lots(nodes, np.full(n, use.part), np.arange(1, n + 1), received,
                    use.quantity(lot, n), prefix="B")
    edges.add(ids[lot], use.consumers, "consumed", use.time)
    edges.add(np.full(n, use.supplier(suppliers)), ids, "supplied", received)


def _add_bulk_split(
    nodes: NodeGroups, edges: EdgeGroups, rng: np.random.Generator, suppliers: I64,
    use: _BulkUse,
) -> None:
    """Each mother lot is split into two containers on receipt; work orders draw from one."""
    mother, n = use.lots()
    rank, _ = group_rank(mother, np.arange(len(mother), dtype=np.int64))
    per_mother = np.bincount(mother, minlength=n)
    child = mother * 2 + (rank >= (per_mother[mother] + 1) // 2)
    first_use = first_time(child, use.time, 2 * n)
    mother_first = np.minimum(first_use[0::2], first_use[1::2])
    received = mother_first - rng.integers(3, 10, n) * US_PER_DAY
    mothers = _add_lots(nodes, np.full(n, use.part), np.arange(1, n + 1), received,
                        use.quantity(mother, n), prefix="S")
    child_numbers = np.arange(1, n + 1).repeat(2) * 10 + np.tile([1, 2], n)
    split_time = np.repeat(received + US_PER_DAY, 2)
    children = _add_lots(nodes, np.full(2 * n, use.part), child_numbers, split_time,
                         use.quantity(child, 2 * n), prefix="S")
    edges.add(mothers.repeat(2), children, "split", split_time)
    edges.add(children[child], use.consumers, "consumed", use.time)
    edges.add(np.full(n, use.supplier(suppliers)), mothers, "supplied", received)


def _add_bulk_merged(
    nodes: NodeGroups, edges: EdgeGroups, rng: np.random.Generator, suppliers: I64,
    use: _BulkUse,
) -> None:
    """Each blended lot is merged from two supplier lots before first use."""
    blend, n = use.lots()
    first_use = first_time(blend, use.time, n)
    merged_at = first_use - rng.integers(1, 3, n) * US_PER_DAY
    received = np.repeat(merged_at - 3 * US_PER_DAY, 2)
    qty = use.quantity(blend, n)
    inputs = _add_lots(nodes, np.full(2 * n, use.part), np.arange(1, 2 * n + 1), received,
                       np.repeat(qty / 2, 2), prefix="A")
    blends = _add_lots(nodes, np.full(n, use.part), np.arange(1, n + 1), merged_at, qty,
                       prefix="M")
    edges.add(inputs, blends.repeat(2), "merged", np.repeat(merged_at, 2))
    edges.add(blends[blend], use.consumers, "consumed", use.time)
    edges.add(np.full(2 * n, use.supplier(suppliers)), inputs, "supplied", received)


def _add_rework(
    nodes: NodeGroups, edges: EdgeGroups, rng: np.random.Generator, config: GenealogyConfig,
    units: I64, unit_time: I64, sub_lots: I64, sub_part: I64,
) -> None:
    """Rework a share of units: unit -> rework order -> unit, plus a replacement sub-assembly
    made in a rework sub work order (one per 100 replacements) from the original's lots."""
    n_units = len(units)
    count = int(n_units * config.rework_share)
    if count == 0:
        return
    chosen = np.sort(rng.choice(n_units, size=count, replace=False))
    n_types = config.sub_types
    replaced = chosen * n_types + rng.integers(0, n_types, count)  # index into subs
    t_start = unit_time[chosen] + 2 * US_PER_HOUR
    orders = nodes.add(
        format_keys("erp:sap:rework_order:{}", np.arange(1, count + 1), widths=(7,)),
        "work_order",
        t_start,
    )
    batch = np.arange(count) // 100
    n_batches = int(batch[-1]) + 1
    batch_start = first_time(batch, t_start, n_batches)
    rework_wos = nodes.add(
        format_keys("erp:sap:work_order:{}", np.arange(3_000_000, 3_000_000 + n_batches)),
        "work_order",
        batch_start,
    )
    part = sub_part[replaced]
    made = t_start + US_PER_HOUR // 2
    spares = nodes.add(
        format_keys(f"urn:epc:id:sgtin:{COMPANY}.{{}}.R{{}}", gtin_item(part),
                    np.arange(1, count + 1), widths=(6, 9)),
        "serial",
        made,
        product=gtins(COMPANY, gtin_item(part)),
    )
    edges.add(rework_wos[batch], spares, "produced", made)
    # The replacement is built from the same component lots as the part it replaces.
    for lots_of_part in sub_lots:
        edges.add(lots_of_part[replaced], spares, "consumed", made)
    edges.add(units[chosen], orders, "reworked", t_start)
    edges.add(spares, orders, "consumed", t_start + US_PER_HOUR)
    edges.add(orders, units[chosen], "produced", t_start + 2 * US_PER_HOUR)


def resolve_edge_keys(nodes: pa.Table, edges: pa.Table) -> pa.Table:
    """Turn a generator edge table (src/dst ids) into the canonical edge table (src/dst keys)."""
    column = nodes.column("key")
    keys = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()  # no copy
    n = edges.num_rows
    return pa.Table.from_arrays(
        [
            keys.take(edges.column("src")),
            keys.take(edges.column("dst")),
            edges.column("kind").cast(pa.string()),
            edges.column("event_time"),
            edges.column("recorded_at"),
            pa.nulls(n, pa.float64()),
            pa.nulls(n, pa.string()),
        ],
        schema=EDGES_SCHEMA,
    )


def write_genealogy(
    config: GenealogyConfig, out_dir: Path, progress: Callable[[str], None] | None = None
) -> tuple[Path, Path]:
    """Generate and write `nodes.parquet` and `edges.parquet` into out_dir; return both paths."""
    say = progress or (lambda _msg: None)
    node_groups, edges, rng = _generate(config, progress)
    nodes = nodes_table(node_groups)
    del node_groups
    out_dir.mkdir(parents=True, exist_ok=True)
    nodes_path, edges_path = out_dir / "nodes.parquet", out_dir / "edges.parquet"
    say(f"writing {nodes.num_rows:,} nodes")
    pq.write_table(nodes, nodes_path, compression="zstd")
    total, written = edges.count, 0
    with pq.ParquetWriter(edges_path, EDGES_SCHEMA, compression="zstd") as writer:
        for batch in edges.batches(rng, 2_000_000, release=True):
            writer.write_table(resolve_edge_keys(nodes, batch))
            written += batch.num_rows
            if written % 10_000_000 < batch.num_rows or written == total:
                say(f"wrote {written:,} of {total:,} edges")
    return nodes_path, edges_path



FINISHED_UNIT_PREFIX = f"urn:epc:id:sgtin:{COMPANY}.11"
WIDEST_LOT = f"urn:epc:class:lgtin:{SUPPLIER_COMPANY}.{100000 + 9001:06d}.S000001"
"""The first resin mother lot: it fans out to about min(units, 300k) finished units."""


def sample_keys(keys: pa.Array, kinds: pa.Array | pa.ChunkedArray, count: int = 100,
                seed: int = 1) -> dict[str, list[str]]:
    """Keys of a generated genealogy to query, for the demo and the benchmarks.

    `keys`/`kinds` are the node key and kind columns of a snapshot. Returns widest_lot (one
    key), units (`count` finished units) and lots (`count` supplier lots, bulk ones excluded),
    each drawn with a seeded generator so runs are comparable.
    """
    rng = np.random.default_rng(seed)
    kind_text = kinds.cast(pa.string()) if pa.types.is_dictionary(kinds.type) else kinds
    is_unit = pc.starts_with(keys, FINISHED_UNIT_PREFIX)
    is_lot = pc.and_(pc.equal(kind_text, "lot"), pc.match_substring(keys, ".C"))
    picked: dict[str, list[str]] = {"widest_lot": [WIDEST_LOT]}
    for name, mask in (("units", is_unit), ("lots", is_lot)):
        ids = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        chosen = np.sort(rng.choice(ids, size=min(count, len(ids)), replace=False))
        picked[name] = keys.take(pa.array(chosen)).to_pylist()
    return picked
