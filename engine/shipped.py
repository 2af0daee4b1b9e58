"""What the affected items reached: one row per (customer, shipment, item), the genealogy half
of a consignee list (recall.consignees adds master data and renders it), and the same counts
per shipment and customer without the rows (impact).

An item is an affected lot or serial that is packed into (or shipped as) something: its own
followed edges go into containers (logistic units, shipments, customers). Each such edge is a
branch with that edge's quantity (a lot shipped as 40 EA counts 40; a serial with none counts
1; a lot with none is unknown, never guessed); from it the walk goes down through affected
containers only (engine._ship_kernels). A row adds its branches: a lot split over two cases of
one shipment counts both, and a negative quantity (a reversal, SAP 602 against 601) nets
against the posting it reverses; a row that nets to nothing is no consignee, and a negative
row at a customer (a return: EPCIS `returning`) comes off what that customer received of
the item, latest shipment first. A serial counts at most 1. A row's ship time is the event
time of the edge into the shipment on its earliest counted branch. A serial's lot is its
first upstream lot of the same product.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from domain.schemas import SHIPPED_SCHEMA
from domain.time import NO_TIME, from_micros
from engine import _ship_kernels as sk
from engine.algorithms import CONTAINER_KINDS, Walks, trace_ids
from engine.filters import Filter, kind_flags
from engine.scratch import Scratch
from engine.view import View
from index.attributes import overlay

__all__ = ["ATTRIBUTE_TYPES", "ITEM_KINDS", "finished_flags", "node_columns", "production_lots",
           "shipped_quantities", "shipped_table"]

Array = npt.NDArray[Any]
ITEM_KINDS = ("lot", "serial")
"""Kinds that are shipped goods (what a consignee received)."""


def shipped_table(view: View, seeds: Array, flt: Filter, scratch: Scratch, walks: Walks,
                  cancel: Array | None = None) -> pa.Table:
    """The SHIPPED_SCHEMA rows of the downstream closure of `seeds` under `flt`."""
    count, _ = trace_ids(view, view.snapshot.down, seeds, flt, scratch, walks, cancel=cancel)
    visited = scratch.queue[:count].copy()
    item, container = kind_flags(view, ITEM_KINDS), kind_flags(view, CONTAINER_KINDS)
    target = np.zeros(256, dtype=np.int8)
    for name, code in (("shipment", sk.SHIPMENT), ("customer", sk.CUSTOMER)):
        if (kind := view.kind_code(name)) >= 0:
            target[kind] = code
    snap, delta = view.snapshot, view.delta
    down = snap.down
    in_snap = visited[visited < snap.node_count]
    degree = down.indptr[in_snap + 1] - down.indptr[in_snap]
    live_edges = view.down_live.n_edges
    # Each item's edge into a container is a branch with an epoch of its own, and pushes
    # its first container: the epochs and the stack are bounded by the out-degrees.
    branches = int(degree.sum()) + live_edges + len(visited)
    marks, _, _, _, _, epoch0 = scratch.tally_arrays(branches)
    n = max(view.node_count + int(degree.max(initial=0)) + live_edges, 1)
    stack, stack_qty, stack_time, stack_via, stack_root = (
        np.empty(n, np.int32), np.empty(n, np.float64), np.empty(n, np.int64),
        np.empty(n, np.int32), np.empty(n, np.bool_))
    quantity = snap.edge_quantity
    dquantity = delta.edge_quantity if delta is not None else np.zeros(0)
    capacity = max(2 * len(visited), 1024)
    while True:
        out = (np.empty(capacity, np.int32), np.empty(capacity, np.int32),
               np.empty(capacity, np.int32), np.empty(capacity, np.float64),
               np.empty(capacity, np.int64), np.empty(capacity, np.int64))
        rows, scratch.tally_epoch = sk.ship_pairs(
            down.indptr, down.neighbor, down.kind, down.event_time, down.recorded_at, quantity,
            flt.kind_allowed, flt.filter_kinds, flt.since, flt.until, flt.as_of,
            view.node_kind, scratch.marks, scratch.epoch, visited, item, container, target,
            marks, epoch0, stack, stack_qty, stack_time, stack_via, stack_root, *out,
            view.down_live, dquantity)
        if rows >= 0:
            break
        capacity *= 4
        marks, _, _, _, _, epoch0 = scratch.tally_arrays(branches)
    items, targets, via, qty, when, branch = (a[:rows] for a in out)
    return _rows(view, items, targets, via, qty, when, branch, target)


def finished_flags(view: View, products: Iterable[str] | None) -> Array | None:
    """Per node: does its product count as a finished unit (one of `products`)? None when
    `products` is None (every lot and serial counts)."""
    if products is None:
        return None
    wanted = set(products)
    snap = view.snapshot
    flags = np.zeros(view.node_count, dtype=np.bool_)
    if snap.node_count:
        column = snap.nodes.column("product").combine_chunks()
        if pa.types.is_dictionary(column.type):
            hits = np.array([v in wanted for v in column.dictionary.to_pylist()] + [False])
            codes = column.indices.fill_null(len(column.dictionary)).to_numpy()
            flags[: snap.node_count] = hits[codes]
        else:
            flags[: snap.node_count] = np.asarray(
                pc.is_in(column, pa.array(sorted(wanted), column.type)).fill_null(False))
    fresh = np.arange(snap.node_count, view.node_count, dtype=np.int32)
    changed = view.delta.attributes if view.delta is not None else {}
    if changed:  # corrected products (few): by stable id
        sids = np.flatnonzero(np.isin(snap.sid, np.fromiter(changed, np.int64)))
        fresh = np.concatenate([sids.astype(np.int32), fresh])
    if len(fresh):
        got = node_columns(view, fresh, ("product",))["product"].to_pylist()
        flags[fresh] = [p in wanted for p in got]
    return flags


def shipped_quantities(view: View, visited: Array, scratch: Scratch, flt: Filter,
                       eligible: Array | None, *targets: Array) -> list[tuple[Array, Array]]:
    """(quantity, unknown) at each node of each of `targets` (shipments or customers among
    `visited`, the closure just walked on scratch.marks): the net quantity of affected
    finished units that reached it, and how many of them were shipped without one
    (engine._ship_kernels.tally_quantities, one pass for all). `eligible` flags the nodes
    that count as finished units (None: every lot and serial)."""
    snap, delta = view.snapshot, view.delta
    down = snap.down
    quantity, unknown, stack, reached, every = scratch.quantity_arrays()
    counted = kind_flags(view, ("shipment", "customer"))
    live_edges = view.down_live.n_edges
    # One epoch per branch at most: bounded by the edges, with no pass over `visited`.
    bound = snap.edge_count + live_edges + 1
    width = 64  # an item's branches; grown to the widest item if one has more
    while True:
        marks, _, tally_marks, _, _, epoch0 = scratch.tally_arrays(bound)
        branch, branch_qty = np.empty(width, np.int32), np.empty(width, np.float64)
        epoch = sk.tally_quantities(
            down.indptr, down.neighbor, down.kind, down.event_time, down.recorded_at,
            snap.edge_quantity, flt.kind_allowed, flt.filter_kinds, flt.since, flt.until,
            flt.as_of, view.node_kind, scratch.marks, scratch.epoch, visited,
            kind_flags(view, ITEM_KINDS), every if eligible is None else eligible,
            view.kind_code("serial"), kind_flags(view, CONTAINER_KINDS), counted, marks,
            epoch0, branch, branch_qty, stack, reached, tally_marks, quantity, unknown,
            view.down_live, delta.edge_quantity if delta is not None else np.zeros(0))
        if epoch >= 0 or width > 64:
            break
        scratch.tally_epoch = epoch0 + bound  # the partial pass's marks are stale now
        in_snap = visited[visited < snap.node_count]
        width = int((down.indptr[in_snap + 1] - down.indptr[in_snap]).max(initial=0)) + \
            live_edges + 1
    if epoch < 0:
        raise RuntimeError("tally_quantities: an item has more branches than its buffer")
    scratch.tally_epoch = epoch
    out = []
    for nodes in targets:
        hit = tally_marks[nodes] == epoch0
        out.append((np.where(hit, quantity[nodes], 0.0), np.where(hit, unknown[nodes], 0)))
    return out


def _rows(view: View, items: Array, targets: Array, via: Array, qty: Array, when: Array,
          branch: Array, target: Array) -> pa.Table:
    role = target[view.node_kind[targets]]
    is_customer = role == sk.CUSTOMER
    via_shipment = target[view.node_kind[via]] == sk.SHIPMENT
    serial_code = view.kind_code("serial")
    qty = qty.copy()
    qty[np.isnan(qty) & (view.node_kind[items] == serial_code)] = 1.0  # a serial is one unit
    times = np.where(when == NO_TIME, np.iinfo(np.int64).max, when)
    # Rows at customers: the shipment is the node the customer was reached from, if one.
    cust = np.flatnonzero(is_customer)
    frame = pl.DataFrame({
        "item": items[cust], "customer": targets[cust],
        "shipment": np.where(via_shipment[cust], via[cust], -1).astype(np.int32),
        "quantity": qty[cust], "ship_time": times[cust], "branch": branch[cust]})
    # Shipments whose walk reached no customer: rows with the customer unknown.
    ship = np.flatnonzero(~is_customer)
    shipped = pl.DataFrame({"item": items[ship], "customer": np.full(len(ship), -1, np.int32),
                            "shipment": targets[ship], "quantity": qty[ship],
                            "ship_time": times[ship], "branch": branch[ship]})
    # A customer reached both through a shipment and straight from a container: the
    # shipment's row stands for it.
    frame = frame.filter((pl.col("shipment") >= 0)
                         | (pl.col("shipment").max().over("item", "customer") < 0))
    frame = pl.concat([frame, shipped.join(frame.select("item", "shipment"),
                                           on=["item", "shipment"], how="anti")])
    # Each branch (an edge of the item into its packaging) counts once per row, and the
    # branches add up: a lot split over two cases of one shipment, a 602 reversal against
    # its 601. A serial is one unit however often it was repacked; a row that nets to zero
    # or less (fully reversed or returned) is no consignee. An unknown lot quantity (NaN)
    # stays unknown.
    counted = pl.col("quantity").is_nan() | (pl.col("quantity") > 0)
    frame = (frame.unique(["customer", "shipment", "item", "branch"], keep="first",
                          maintain_order=True)
             .group_by(["customer", "shipment", "item"], maintain_order=True)
             .agg(pl.col("quantity").sum(),
                  pl.coalesce(pl.col("ship_time").filter(counted).min(),
                              pl.col("ship_time").min()).alias("ship_time")))
    summed = frame["quantity"].to_numpy()
    serial = view.node_kind[frame["item"].to_numpy()] == serial_code
    frame = _net_returns(frame.with_columns(
        pl.Series("quantity", np.where(serial & (summed > 1), 1.0, summed)))).filter(counted)
    ids = frame["item"].to_numpy()
    kinds = view.node_kind[ids]
    attrs = node_columns(view, ids)
    lot_code = view.kind_code("lot")
    is_serial = kinds == serial_code
    lots = np.where(kinds == lot_code, ids, -1).astype(np.int32)
    if is_serial.any() and lot_code >= 0:
        lots[is_serial] = production_lots(view, ids[is_serial].astype(np.int32),
                                           attrs["product"].filter(pa.array(is_serial)),
                                           lot_code)
    quantity = frame["quantity"].to_numpy()
    times = frame["ship_time"].to_numpy()
    names = np.asarray(view.node_kinds, dtype=object)
    return pa.table({
        "customer": _keys(view, frame["customer"].to_numpy()),
        "shipment": _keys(view, frame["shipment"].to_numpy()),
        "item": _keys(view, ids),
        "item_kind": pa.array(names[kinds].tolist() if len(kinds) else [], pa.string()),
        "product": attrs["product"],
        "lot": _keys(view, lots),
        "serial": _keys(view, np.where(is_serial, ids, -1)),
        "quantity": pa.array(quantity, pa.float64(), mask=np.isnan(quantity)),
        "uom": attrs["uom"],
        "ship_time": pa.array(times, pa.int64(), mask=times == np.iinfo(np.int64).max).cast(
            SHIPPED_SCHEMA.field("ship_time").type),
    }, schema=SHIPPED_SCHEMA)


def _net_returns(frame: pl.DataFrame) -> pl.DataFrame:
    """A row that is negative after netting is a return to us (an EPCIS `returning` event is
    a shipment back): its quantity comes off what the same customer received of the same
    item, from the latest shipment back. A return larger than what was shipped leaves
    nothing, never a negative row."""
    back = (frame.filter((pl.col("quantity") < 0) & (pl.col("customer") >= 0))
            .group_by("customer", "item").agg((-pl.col("quantity").sum()).alias("returned")))
    if back.height == 0:
        return frame
    later = (pl.col("quantity").fill_nan(0.0).clip(lower_bound=0.0).cum_sum()
             .over("customer", "item", order_by=pl.col("ship_time"), descending=True)
             - pl.col("quantity").fill_nan(0.0).clip(lower_bound=0.0))
    taken = pl.min_horizontal(pl.col("quantity"),
                              (pl.col("returned") - later).clip(lower_bound=0.0))
    return (frame.join(back, on=["customer", "item"], how="left", maintain_order="left")
            .with_columns(pl.when(pl.col("returned").is_null() | (pl.col("quantity") < 0))
                          .then(pl.col("quantity"))
                          .otherwise(pl.col("quantity") - taken).alias("quantity"))
            .drop("returned"))


def production_lots(view: View, serials: Array, products: pa.Array, lot_code: int) -> Array:
    """Each serial's production lot: an upstream lot of the same product (the lot of its
    UDI), -1 where none is recorded. A component lot consumed into it is not its lot."""
    capacity = max(4 * len(serials), 1024)
    while True:
        owner, parent = np.empty(capacity, np.int32), np.empty(capacity, np.int32)
        n = sk.parents_of_kind(serials, view.snapshot.up.indptr, view.snapshot.up.neighbor,
                               view.node_kind, lot_code, view.up_live, owner, parent)
        if n >= 0:
            break
        capacity *= 4
    owner, parent = owner[:n], parent[:n]
    out = np.full(len(serials), -1, dtype=np.int32)
    if n == 0:
        return out
    same = pc.fill_null(pc.equal(node_columns(view, parent)["product"],
                                 products.take(pa.array(owner))), False)
    keep = np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
    # The first matching lot of each serial (rows are in serial order).
    owner, parent = owner[keep][::-1], parent[keep][::-1]
    out[owner] = parent
    return out


def _keys(view: View, ids: Array) -> pa.Array:
    """Keys of `ids`, null where an id is -1."""
    missing = ids < 0
    keys = view.keys(np.where(missing, 0, ids))
    if not missing.any():
        return keys
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.large_string()), keys)


ATTRIBUTE_TYPES = {"product": pa.string(), "uom": pa.string(), "quantity": pa.float64(),
                   "created_at": SHIPPED_SCHEMA.field("ship_time").type}
"""The node attributes a result can carry, with their Arrow types."""


def node_columns(view: View, ids: Array,
                 names: tuple[str, ...] = ("product", "uom")) -> dict[str, pa.Array]:
    """Attributes `names` of node `ids` (snapshot and delta nodes alike, corrections
    applied), each as an Arrow array of its ATTRIBUTE_TYPES type."""
    snap = view.snapshot
    n_snap = snap.node_count
    in_snap = ids < n_snap
    changes = view.delta.attributes if view.delta is not None else {}
    if in_snap.all() and not changes:  # the common case, all in Arrow
        rows = pa.array(ids)
        return {name: snap.nodes.column(name).take(rows).cast(ATTRIBUTE_TYPES[name])
                for name in names}
    out: dict[str, list[Any]] = {}
    for name in names:
        values = np.full(len(ids), None, dtype=object)
        if in_snap.any():
            column = snap.nodes.column(name).take(pa.array(ids[in_snap]))
            values[in_snap] = np.asarray(column.to_pylist(), dtype=object)
        out[name] = values.tolist()
    if view.delta is not None and (~in_snap).any():
        table = view.delta.new_node_table()
        rows = pa.array(ids[~in_snap] - n_snap)
        for name in names:
            picked = table.column(name).take(rows).to_pylist()
            if name == "created_at":  # the log keeps microseconds
                picked = [None if v is None else from_micros(v) for v in picked]
            for i, value in zip(np.flatnonzero(~in_snap).tolist(), picked, strict=True):
                out[name][i] = value
    if changes:  # corrections since the snapshot (few): by stable id
        sids = np.where(in_snap, snap.sid[np.where(in_snap, ids, 0)], ids)
        for i, sid in enumerate(sids.tolist()):
            if sid in changes:
                fixed = overlay({name: out[name][i] for name in names},
                                {k: v for k, v in changes[sid].items() if k in out})
                for name in names:
                    out[name][i] = fixed[name]
    return {name: pa.array(values, ATTRIBUTE_TYPES[name]) for name, values in out.items()}
