"""Quality records for the synthetic genealogy (loaders.synthetic), seeded and vectorised like
it: a final-test inspection per finished unit (1 % fail, half of those with a disposition),
a nonconformance on a few percent of lots (open or closed with a disposition), and one change
order on a finished product, effective mid-way through production. Written in the quality
record file format (loaders.quality_records), so demo and benchmarks import them like any
QMS export."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

__all__ = ["FINISHED_PREFIX", "quality_records"]

FINISHED_PREFIX = "1401234510"
"""GTINs of the generator's finished devices (its unit products, item 110000 + family)."""


def quality_records(nodes: pa.Table, seed: int = 7, fail_rate: float = 0.01,
                    nc_rate: float = 0.03) -> pl.DataFrame:
    """Records over `nodes` (the generator's node table: key, kind, product, created_at)."""
    rng = np.random.default_rng(seed)
    frame = pl.from_arrow(nodes.select(["key", "kind", "product", "created_at"]))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(pl.col("kind").cast(pl.String), pl.col("product").cast(pl.String),
                               pl.col("created_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                               .alias("at"))
    units = frame.filter((pl.col("kind") == "serial")
                         & pl.col("product").str.starts_with(FINISHED_PREFIX))
    n = units.height
    failed = rng.random(n) < fail_rate
    disposed = failed & (rng.random(n) < 0.5)
    inspections = units.select(
        pl.format("IN-{}", pl.int_range(pl.len())).alias("record_id"),
        pl.lit("inspection").alias("record_type"), "key", pl.lit("done").alias("status"),
        pl.col("at").alias("opened_at"), pl.lit("Final test").alias("title"),
        pl.Series("result", np.where(failed, "fail", "pass")),
        pl.when(pl.Series(disposed)).then(pl.lit("rework")).alias("disposition"),
        pl.lit("QC bench 3").alias("inspector"))
    lots = frame.filter(pl.col("kind") == "lot")
    picked = lots.filter(pl.Series(rng.random(lots.height) < nc_rate))
    closed = rng.random(picked.height) < 0.6
    ncs = picked.select(
        pl.format("NC-{}", pl.int_range(pl.len())).alias("record_id"),
        pl.lit("nonconformance").alias("record_type"), "key",
        pl.Series("status", np.where(closed, "closed", "open")),
        pl.col("at").alias("opened_at"), pl.lit("Supplier lot out of specification")
        .alias("title"), pl.when(pl.Series(closed)).then(pl.lit("use-as-is"))
        .alias("disposition"))
    records = [inspections, ncs]
    if n:
        product = units["product"][0]
        times = units.filter(pl.col("product") == product)["at"].sort()
        order = units.head(1).select(
            pl.lit("CO-1").alias("record_id"), pl.lit("change_order").alias("record_type"),
            "key", pl.lit("effective").alias("status"), pl.col("at").alias("opened_at"),
            pl.lit("Seal material change").alias("title"),
            pl.lit(times[len(times) // 2]).alias("effective_from"),
            pl.lit(product).alias("products"))
        records.append(order)
    return pl.concat(records, how="diagonal_relaxed")
