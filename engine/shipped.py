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
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from domain.schemas import SHIPPED_SCHEMA
from domain.time import from_micros
from engine import _row_kernels as rk
from engine import _ship_kernels as sk
from engine._row_kernels import NO_SHIP_TIME
from engine.algorithms import CONTAINER_KINDS, Walks, trace_ids
from engine.filters import Filter, kind_flags
from engine.scratch import Scratch
from engine.view import View
from index.attributes import overlay

__all__ = ["ATTRIBUTE_TYPES", "ITEM_KINDS", "ShippedRows", "changed_rows", "customer_totals",
           "customer_totals_by_key", "finished_flags", "node_columns", "production_lots",
           "shipped_quantities", "shipped_rows"]

Array = npt.NDArray[Any]
ITEM_KINDS = ("lot", "serial")
"""Kinds that are shipped goods (what a consignee received)."""


@dataclass(frozen=True)
class ShippedRows:
    """What the affected items shipped, one row per (customer, shipment, item) by dense id of
    `view` (-1: no customer, or no shipment), before any key is made: a diff of two answers
    of one view compares these, and makes keys only for the rows that changed."""

    view: View
    customer: Array  # int32
    shipment: Array  # int32
    item: Array  # int32
    quantity: Array  # float64, NaN: unknown
    ship_time: Array  # int64 microseconds, NO_SHIP_TIME: none recorded

    def __len__(self) -> int:
        return len(self.item)

    @cached_property
    def table(self) -> pa.Table:
        """Every row as SHIPPED_SCHEMA (keys, product, lot, serial, uom)."""
        return self.take(None)

    def take(self, rows: Array | None) -> pa.Table:
        """Rows `rows` (positions; None: all) as SHIPPED_SCHEMA, in that order."""
        columns = [self.customer, self.shipment, self.item, self.quantity, self.ship_time]
        if rows is not None:
            columns = [c[rows] for c in columns]
        customer, shipment, item, quantity, ship_time = columns
        return _table(self.view, customer, shipment, item, quantity, ship_time)


class Pairs(NamedTuple):
    """What engine._ship_kernels.ship_pairs nets into rows: one pair per (item, target
    reached, branch), and the role of each node kind (SHIPMENT, CUSTOMER, 0)."""

    items: Array
    targets: Array
    via: Array
    qty: Array
    when: Array
    branch: Array
    role: Array


def shipped_rows(view: View, seeds: Array, flt: Filter, scratch: Scratch, walks: Walks,
                 cancel: Array | None = None) -> ShippedRows:
    """The rows of the downstream closure of `seeds` under `flt`."""
    return _walk(view, seeds, flt, scratch, walks, cancel, keep_pairs=False)[1]


def ship_pairs(view: View, seeds: Array, flt: Filter, scratch: Scratch, walks: Walks,
               cancel: Array | None = None) -> tuple[Pairs, ShippedRows]:
    """shipped_rows, and the pairs they were netted from: what each affected item reached,
    branch by branch (in `scratch`'s buffers, valid until its next query)."""
    return _walk(view, seeds, flt, scratch, walks, cancel, keep_pairs=True)


def _walk(view: View, seeds: Array, flt: Filter, scratch: Scratch, walks: Walks,
          cancel: Array | None, *, keep_pairs: bool) -> tuple[Pairs, ShippedRows]:
    """The walk, its branches and their netting in one kernel call (engine._ship_kernels.
    ship_pairs), grown and called again when its buffers were too small; then returns taken
    off and the rows that count kept, copied out of the buffers."""
    count, _ = trace_ids(view, view.snapshot.down, seeds, flt, scratch, walks, cancel=cancel)
    visited = scratch.queue[:count].copy()
    item, container = kind_flags(view, ITEM_KINDS), kind_flags(view, CONTAINER_KINDS)
    target = np.zeros(256, dtype=np.int8)
    for name, code in (("shipment", sk.SHIPMENT), ("customer", sk.CUSTOMER)):
        if (kind := view.kind_code(name)) >= 0:
            target[kind] = code
    snap, delta = view.snapshot, view.delta
    down = snap.down
    live_edges = view.down_live.n_edges
    # Each item's edge into a container is a branch with an epoch of its own, and pushes
    # its first container: the epochs are bounded by the edges, the stack by the nodes and
    # the widest out-degree (the snapshot's, read once: per walk it cost 5 ms at 1M).
    branches = snap.edge_count + live_edges + len(visited)
    marks, _, _, _, _, epoch0 = scratch.tally_arrays(branches)
    n = max(view.node_count + snap.max_out_degree + live_edges, 1)
    stack, stack_qty, stack_time, stack_via, stack_root = (
        np.empty(n, np.int32), np.empty(n, np.float64), np.empty(n, np.int64),
        np.empty(n, np.int32), np.empty(n, np.bool_))
    edge_quantity = snap.edge_quantity
    dquantity = delta.edge_quantity if delta is not None else np.zeros(0)
    # Pairs: all of them when kept, else one item's at a time; rows: the answer's.
    capacity = max(2 * len(visited), 1024) if keep_pairs else 1024
    row_capacity = max(2 * len(visited), 1024)
    while True:
        out = (scratch.grown("pair_item", capacity, np.int32),
               scratch.grown("pair_target", capacity, np.int32),
               scratch.grown("pair_via", capacity, np.int32),
               scratch.grown("pair_qty", capacity, np.float64),
               scratch.grown("pair_when", capacity, np.int64),
               scratch.grown("pair_branch", capacity, np.int64))
        rows = (scratch.grown("customer", row_capacity, np.int32),
                scratch.grown("shipment", row_capacity, np.int32),
                scratch.grown("item", row_capacity, np.int32),
                scratch.grown("quantity", row_capacity, np.float64),
                scratch.grown("ship_time", row_capacity, np.int64))
        stamped, stamp0 = scratch.row_arrays(len(visited))
        named, anchored, slot, memo_mark, memo_start, memo_customers, memo_shipments = stamped
        n_pairs, scratch.tally_epoch, n_cust, n_ship, scratch.row_stamp = sk.ship_pairs(
            down.indptr, down.neighbor, down.kind, down.event_time, down.recorded_at,
            edge_quantity, flt.kind_allowed, flt.filter_kinds, flt.since, flt.until, flt.as_of,
            view.node_kind, scratch.marks, scratch.epoch, visited, item, container, target,
            marks, epoch0, stack, stack_qty, stack_time, stack_via, stack_root, *out,
            view.down_live, dquantity, view.kind_code("serial"), keep_pairs, named, anchored,
            slot, stamp0, *rows, scratch.grown("chain", row_capacity, np.int32),
            scratch.grown("compensation", row_capacity, np.float64),
            scratch.grown("counted_time", row_capacity, np.int64),
            scratch.grown("last_branch", row_capacity, np.int64), memo_mark, memo_start,
            memo_customers, memo_shipments,
            scratch.grown("memo_customer", row_capacity, np.int32),
            scratch.grown("memo_shipment", row_capacity, np.int32),
            scratch.grown("memo_time", row_capacity, np.int64))
        if n_pairs >= 0:
            break
        capacity, row_capacity = capacity * 4, row_capacity * 4
        marks, _, _, _, _, epoch0 = scratch.tally_arrays(branches)
    items, targets, via, qty, when, branch = (a[:n_pairs] for a in out)
    pairs = Pairs(items, targets, via, qty, when, branch, target)
    # Customer rows first, then shipment rows (written from the end, last first); copies
    # of the scratch buffers by the time they leave (`keep` below).
    customer, shipment, item_ids, quantity, ship_time = (
        a[:n_cust] if n_ship == 0
        else np.concatenate([a[:n_cust], a[row_capacity - n_ship:][::-1]]) for a in rows)
    returned = (quantity < 0) & (customer >= 0)
    if returned.any():
        quantity = _net_returns(view, customer, shipment, item_ids, quantity, ship_time,
                                returned)
    keep = np.isnan(quantity) | (quantity > 0)
    return pairs, ShippedRows(view, customer[keep], shipment[keep], item_ids[keep],
                              quantity[keep], ship_time[keep])


def changed_rows(before: ShippedRows, after: ShippedRows) -> tuple[Array, Array]:
    """(positions of `before`'s rows that `after` has no row of the same (customer, shipment,
    item) for, positions of `after`'s rows new against `before`). Both read one view."""
    if before.view is not after.view:
        raise ValueError("changed_rows: the answers read different views; compare keys")
    n = before.view.node_count
    gone, kept = np.empty(len(before), np.bool_), np.empty(len(after), np.bool_)
    rk.match_rows(before.customer, before.shipment, before.item, after.customer,
                  after.shipment, after.item, np.empty(n, np.int32), np.zeros(n, np.uint8),
                  gone, kept)
    return np.flatnonzero(~gone), np.flatnonzero(~kept)


def customer_totals(before: ShippedRows, after: ShippedRows) -> pa.Table:
    """Per customer of either answer (null: rows without one), the known quantity each
    received: (customer, units_before, units_after), in order of first appearance."""
    if before.view is not after.view:
        raise ValueError("customer_totals: the answers read different views; compare keys")
    n = before.view.node_count
    codes, ids = rk.dense_codes(np.concatenate([before.customer, after.customer]),
                                np.empty(n, np.int32), np.zeros(n, np.uint8))
    cut = len(before)
    return pa.table({"customer": _keys(before.view, ids),
                     "units_before": rk.sums_by_code(codes[:cut], before.quantity, len(ids)),
                     "units_after": rk.sums_by_code(codes[cut:], after.quantity, len(ids))})


def customer_totals_by_key(before: pa.Table, after: pa.Table) -> pa.Table:
    """customer_totals of two answers' keyed rows (SHIPPED_SCHEMA; of different views): the
    same sums, customers matched by key."""
    customers = pa.chunked_array(before["customer"].chunks + after["customer"].chunks,
                                 pa.large_string()).combine_chunks()
    encoded = pc.dictionary_encode(customers, null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    n, cut = len(encoded.dictionary), before.num_rows

    def sums(table: pa.Table, part: Array) -> Array:
        quantity = table["quantity"].to_numpy().astype(np.float64)  # null: NaN, left out
        return rk.sums_by_code(part, quantity, n)

    return pa.table({"customer": encoded.dictionary.cast(pa.large_string()),
                     "units_before": sums(before, codes[:cut]),
                     "units_after": sums(after, codes[cut:])})


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


def _table(view: View, customer: Array, shipment: Array, ids: Array, quantity: Array,
           times: Array) -> pa.Table:
    """SHIPPED_SCHEMA rows: keys, each item's kind, product, unit, and lot (a serial's
    production lot)."""
    serial_code = view.kind_code("serial")
    kinds = view.node_kind[ids]
    attrs = node_columns(view, ids)
    lot_code = view.kind_code("lot")
    is_serial = kinds == serial_code
    lots = np.where(kinds == lot_code, ids, -1).astype(np.int32)
    if is_serial.any() and lot_code >= 0:
        lots[is_serial] = production_lots(view, ids[is_serial].astype(np.int32),
                                           attrs["product"].filter(pa.array(is_serial)),
                                           lot_code)
    names = np.asarray(view.node_kinds, dtype=object)
    return pa.table({
        "customer": _keys(view, customer),
        "shipment": _keys(view, shipment),
        "item": _keys(view, ids),
        "item_kind": pa.array(names[kinds].tolist() if len(kinds) else [], pa.string()),
        "product": attrs["product"],
        "lot": _keys(view, lots),
        "serial": _keys(view, np.where(is_serial, ids, -1)),
        "quantity": pa.array(quantity, pa.float64(), mask=np.isnan(quantity)),
        "uom": attrs["uom"],
        "ship_time": pa.array(times, pa.int64(), mask=times == NO_SHIP_TIME).cast(
            SHIPPED_SCHEMA.field("ship_time").type),
    }, schema=SHIPPED_SCHEMA)


def _net_returns(view: View, customer: Array, shipment: Array, item: Array, quantity: Array,
                 ship_time: Array, returned: Array) -> Array:
    """`quantity` with returns taken off. A row negative after netting at a customer is a
    return to us (an EPCIS `returning` event is a shipment back): its quantity comes off what
    the same customer received of the same item, from the latest shipment back (ties: the
    greater shipment key first, so the answer does not depend on dense ids). A return larger
    than what was shipped leaves nothing, never a negative row. Only the rows of a (customer,
    item) with a return are read."""
    width = np.int64(view.node_count) + 1
    pair = customer.astype(np.int64) * width + item
    rows = np.flatnonzero(np.isin(pair, np.unique(pair[returned])))
    frame = pl.DataFrame({"pair": pair[rows], "quantity": quantity[rows],
                          "ship_time": ship_time[rows],
                          "shipment": _keys(view, shipment[rows])})
    back = (frame.filter(pl.col("quantity") < 0)
            .group_by("pair").agg((-pl.col("quantity").sum()).alias("returned")))
    shipped = pl.col("quantity").fill_nan(0.0).clip(lower_bound=0.0)
    later = (shipped.cum_sum().over("pair", order_by=["ship_time", "shipment"],
                                    descending=True, nulls_last=True)
             - shipped)
    taken = pl.min_horizontal(pl.col("quantity"),
                              (pl.col("returned") - later).clip(lower_bound=0.0))
    netted = (frame.join(back, on="pair", how="left", maintain_order="left")
              .select(pl.when(pl.col("quantity") < 0).then(pl.col("quantity"))
                      .otherwise(pl.col("quantity") - taken)))
    out = quantity.copy()
    out[rows] = netted.to_series().to_numpy()
    return out


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
