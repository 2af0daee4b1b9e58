"""Attribute columns and product filters on trace results: a trace row may carry its node's
product, quantity, unit of measure and creation time, and its lot and serial (a lot's own key;
a serial's key and its production lot, engine.shipped.production_lots); rows may be kept to
given products (a GTIN or part number, as nodes carry them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from domain.errors import InvalidInput
from engine.shipped import node_columns, production_lots
from engine.view import View

__all__ = ["COLUMNS", "with_columns"]

Array = npt.NDArray[Any]
COLUMNS: Final = ("product", "quantity", "uom", "created_at", "lot", "serial")
"""The columns a trace can add, in the order they are added."""


def with_columns(view: View, table: pa.Table, ids: Array, columns: Sequence[str],
                 products: Iterable[str] | None) -> pa.Table:
    """`table` (rows of node `ids`) with `columns` added and, with `products`, only the rows
    whose node carries one of them."""
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise InvalidInput(f"unknown column(s) {', '.join(unknown)}; a trace can add: "
                           f"{', '.join(COLUMNS)}")
    wanted = tuple(c for c in COLUMNS if c in columns)
    attributes = tuple(c for c in wanted if c not in ("lot", "serial"))
    needed = tuple(dict.fromkeys([*attributes, *(["product"] if products is not None
                                                 or "lot" in wanted else [])]))
    values = node_columns(view, ids, needed) if needed else {}
    kinds = view.node_kind[ids] if len(ids) else np.zeros(0, dtype=np.int8)
    serial, lot = view.kind_code("serial"), view.kind_code("lot")
    for name in wanted:
        if name in attributes:
            table = table.append_column(name, values[name])
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
