"""Attribute columns and product filters on trace results: a trace row may carry its node's
product, quantity, unit of measure and creation time, its lot and serial (a lot's own key;
a serial's key and its production lot, engine.shipped.production_lots), and the kind and
event time of the edge that led to it (from the node it was reached from on a shortest
chain, the trace's `via`); rows may be kept to given products (a GTIN or part number, as
nodes carry them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from domain.errors import InvalidInput
from domain.schemas import SHIPPED_SCHEMA
from domain.time import NO_TIME
from engine import _kernels as k
from engine.filters import Filter
from engine.shipped import node_columns, production_lots
from engine.view import View

__all__ = ["COLUMNS", "EDGE_COLUMNS", "check_columns", "with_columns"]

Array = npt.NDArray[Any]
COLUMNS: Final = ("product", "quantity", "uom", "created_at", "lot", "serial", "edge_kind",
                  "event_time")
"""The columns a trace can add, in the order they are added."""
EDGE_COLUMNS: Final = ("edge_kind", "event_time")
"""The columns of the edge that led to a row (they need the row's `via`)."""


def check_columns(columns: Sequence[str]) -> None:
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise InvalidInput(f"unknown column(s) {', '.join(unknown)}; a trace can add: "
                           f"{', '.join(COLUMNS)}")


def edge_columns(view: View, ids: Array, parents: Array, downstream: bool,
                 flt: Filter) -> dict[str, pa.Array]:
    """edge_kind and event_time of the edge from each row's `parents` entry to its node
    (upstream: the other way), one the walk follows under `flt` (engine._kernels.row_edges);
    null where none (no parent)."""
    kind = np.empty(len(ids), dtype=np.int64)
    when = np.empty(len(ids), dtype=np.int64)
    down = view.snapshot.down
    k.row_edges(ids.astype(np.int32), parents.astype(np.int32), downstream, down.indptr,
                down.neighbor, down.kind, down.event_time, down.recorded_at, flt.kind_allowed,
                flt.filter_kinds, flt.since, flt.until, flt.as_of, view.down_live, kind, when)
    names = np.asarray([*view.edge_kinds, None], dtype=object)
    return {"edge_kind": pa.array(names[np.where(kind < 0, len(names) - 1, kind)].tolist(),
                                  pa.string()),
            "event_time": pa.array(when, pa.int64(), mask=when == NO_TIME).cast(
                SHIPPED_SCHEMA.field("ship_time").type)}


def with_columns(view: View, table: pa.Table, ids: Array, columns: Sequence[str],
                 products: Iterable[str] | None,
                 edges: dict[str, pa.Array] | None = None) -> pa.Table:
    """`table` (rows of node `ids`) with `columns` added and, with `products`, only the rows
    whose node carries one of them. `edges`: the edge columns (edge_columns), when asked."""
    check_columns(columns)
    wanted = tuple(c for c in COLUMNS if c in columns)
    attributes = tuple(c for c in wanted if c not in ("lot", "serial", *EDGE_COLUMNS))
    needed = tuple(dict.fromkeys([*attributes, *(["product"] if products is not None
                                                 or "lot" in wanted else [])]))
    values = node_columns(view, ids, needed) if needed else {}
    kinds = view.node_kind[ids] if len(ids) else np.zeros(0, dtype=np.int8)
    serial, lot = view.kind_code("serial"), view.kind_code("lot")
    for name in wanted:
        if name in attributes:
            table = table.append_column(name, values[name])
        elif name in EDGE_COLUMNS:
            assert edges is not None, "edge columns need the rows' parents"
            table = table.append_column(name, edges[name])
        elif name == "serial":
            table = table.append_column(name, pc.if_else(pa.array(kinds == serial),
                                                         table.column("key"),
                                                         pa.scalar(None, pa.large_string())))
        else:
            lots = np.where(kinds == lot, ids, -1).astype(np.int32)
            is_serial = kinds == serial
            if is_serial.any() and lot >= 0:
                lots[is_serial] = production_lots(view, ids[is_serial].astype(np.int32),
                                                  values["product"].filter(pa.array(is_serial)),
                                                  lot)
            keys = view.keys(np.maximum(lots, 0))
            table = table.append_column(name, pc.if_else(pa.array(lots < 0),
                                                         pa.scalar(None, pa.large_string()),
                                                         keys))
    if products is not None:
        keep = pc.fill_null(pc.is_in(values["product"], value_set=pa.array(list(products),
                                                                          pa.string())), False)
        table = table.filter(keep)
    return table
