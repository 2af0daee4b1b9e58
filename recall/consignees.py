"""The consignee list: the engine's shipped rows (engine.shipped) with who each customer is and
what each product is (master data, index.master), one row per (customer, shipment, product,
lot/serial), and a summary per customer.

A customer without master data keeps its rows, named "unknown" (and listed in `warnings`);
a product without master data keeps its code. Units are quantities, not serial counts: a lot
shipped as 40 EA counts 40; a row whose quantity is unknown (a lot shipped without one)
counts in `unknown_quantity_rows`, never as a guess.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from index.master import MasterData

__all__ = ["ADDRESS", "COLUMNS", "ConsigneeList", "consignee_list", "result_hash"]

ADDRESS = ("street", "postal_code", "city", "region", "country", "contact", "phone", "email")
"""A customer's address and contact fields (master data)."""
COLUMNS = ("customer", "customer_name", "street", "postal_code", "city", "region", "country",
           "contact", "phone", "email", "shipment", "ship_date", "product", "gtin",
           "description", "item", "item_kind", "lot", "serial", "expiry", "quantity", "uom")
"""The columns of a consignee row, in the order every rendering writes them."""
UNKNOWN = "unknown"


@dataclass
class ConsigneeList:
    rows: pl.DataFrame  # COLUMNS
    summary: pl.DataFrame  # per customer: shipments, rows, units, unknown_quantity_rows
    warnings: list[str] = field(default_factory=list)

    @property
    def customers(self) -> int:
        return int(self.rows["customer"].drop_nulls().n_unique())

    @property
    def units(self) -> float:
        return float(self.rows["quantity"].sum() or 0.0)


HASHED = ("customer", "shipment", "item", "item_kind", "lot", "serial", "quantity",
          "ship_time")
"""The columns a case's result hash covers: the genealogy, which `as_of` reproduces. Node
attributes (product, uom) and master data are as of the export, and not in it."""


def result_hash(shipped: pa.Table) -> str:
    """SHA-256 of the genealogy half of a list (engine.shipped rows, HASHED columns, sorted):
    what a case pins and what `as_of` reproduces bit for bit."""
    frame = pl.from_arrow(shipped)
    assert isinstance(frame, pl.DataFrame)
    ordered = frame.select(HASHED).sort(["customer", "shipment", "item"], nulls_last=True)
    sink = io.BytesIO()
    ordered.with_columns(pl.col("ship_time").dt.to_string("%Y-%m-%dT%H:%M:%S%.6f")).write_csv(
        sink)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def consignee_list(shipped: pa.Table, master: MasterData | None) -> ConsigneeList:
    """The consignee list of engine.shipped rows, with master data when there is any."""
    frame = pl.from_arrow(shipped)
    assert isinstance(frame, pl.DataFrame)
    keys = frame["customer"].drop_nulls().unique().to_list()
    customers = _records(master, "customer", keys)
    # A customer known only by its place (an EPCIS SGLN): the location's master data.
    places = _records(master, "location", [k for k in keys if k not in customers])
    customers.update(places)
    products = _records(master, "product", frame["product"].drop_nulls().unique().to_list())
    warnings = []
    missing = sorted(set(frame["customer"].drop_nulls().unique().to_list()) - set(customers))
    if missing:
        warnings.append(f"{len(missing)} customer(s) without master data, named "
                        f"{UNKNOWN!r}: {', '.join(missing[:5])}"
                        + (" ..." if len(missing) > 5 else ""))
    if frame["customer"].null_count():
        warnings.append(f"{frame['customer'].null_count()} row(s) reached a shipment with no "
                        "customer recorded")
    address = ADDRESS
    customer_frame = pl.DataFrame(
        [{"customer": key, "customer_name": r.get("name"), **{f: r.get(f) for f in address}}
         for key, r in customers.items()],
        schema=dict.fromkeys(("customer", "customer_name", *address), pl.String))
    product_frame = pl.DataFrame(
        [{"product": key, "gtin": r.get("gtin"), "description": r.get("description"),
          "master_uom": r.get("uom")} for key, r in products.items()],
        schema={"product": pl.String, "gtin": pl.String, "description": pl.String,
                "master_uom": pl.String})
    lots = _records(master, "lot", frame["lot"].drop_nulls().unique().to_list())
    lot_frame = pl.DataFrame([{"lot": key, "expiry": r.get("expiry")}
                              for key, r in lots.items()],
                             schema={"lot": pl.String, "expiry": pl.String})
    rows = (frame.join(customer_frame, on="customer", how="left")
            .join(product_frame, on="product", how="left")
            .join(lot_frame, on="lot", how="left")
            .with_columns(
                pl.when(pl.col("customer").is_not_null() & pl.col("customer_name").is_null())
                .then(pl.lit(UNKNOWN)).otherwise(pl.col("customer_name"))
                .alias("customer_name"),
                pl.coalesce("uom", "master_uom").alias("uom"),
                pl.col("ship_time").alias("ship_date"))
            .select(COLUMNS)
            .sort(["customer", "shipment", "product", "item"], nulls_last=True))
    summary = (rows.group_by("customer", "customer_name", *address)
               .agg(pl.col("shipment").n_unique().alias("shipments"),
                    pl.len().alias("rows"),
                    pl.col("quantity").sum().alias("units"),
                    pl.col("quantity").is_null().sum().alias("unknown_quantity_rows"))
               .sort(["units", "customer"], descending=[True, False], nulls_last=True))
    return ConsigneeList(rows, summary, warnings)


def _records(master: MasterData | None, kind: str, keys: list[Any]) -> dict[str, dict[str, Any]]:
    return {} if master is None else master.many(kind, [str(k) for k in keys])
