"""Change control: which units of a change order's products were built before it took effect
and which after, and which shipped units lack it (built before, and shipped): the population
a field action for the change is about (`tracegraph effectivity`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from domain.errors import InvalidInput
from index.quality_records import QualityRecords

__all__ = ["Effectivity", "effectivity"]


@dataclass
class Effectivity:
    order: dict[str, Any]
    units: pl.DataFrame  # key, product, built_at, shipped, built ("before", "after", "unknown")

    def counts(self) -> dict[str, int]:
        by = self.units["built"].value_counts()
        out = {str(r["built"]): int(r["count"]) for r in by.iter_rows(named=True)}
        return {"units": self.units.height, "before": out.get("before", 0),
                "after": out.get("after", 0), "unknown": out.get("unknown", 0),
                "shipped lacking it": self.lacking().height}

    def lacking(self) -> pl.DataFrame:
        return self.units.filter(pl.col("shipped") & (pl.col("built") == "before"))


def effectivity(graph: Any, records: QualityRecords, record_id: str) -> Effectivity:
    order = records.get(record_id)
    if order is None:
        raise InvalidInput(f"no quality record {record_id}")
    if order["record_type"] != "change_order":
        raise InvalidInput(f"{record_id} is a {order['record_type']}, not a change order")
    if not order.get("effective_from"):
        raise InvalidInput(f"change order {record_id} has no effective_from yet "
                           f"(it is {order['status']})")
    if not order.get("products"):
        raise InvalidInput(f"change order {record_id} names no products")
    table = graph.coverage(order["products"], ("serial", "lot"), {},
                           reaches={"shipped": "shipment"})
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    start = datetime.fromisoformat(order["effective_from"].replace("Z", "+00:00"))
    frame = frame.with_columns(
        pl.when(pl.col("built_at").is_null()).then(pl.lit("unknown"))
        .when(pl.col("built_at") < start).then(pl.lit("before"))
        .otherwise(pl.lit("after")).alias("built"))
    return Effectivity(order, frame.sort("key"))
