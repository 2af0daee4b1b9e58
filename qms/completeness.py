"""Is each unit's device history record complete? (`tracegraph dhr-check`)

For every unit of a routed product (loaders.routes) built in the window, a finding for each
of:
    missing operation K      its genealogy passes through no node of kind K
    missing inspection T     no inspection titled T, done and passed, on it or upstream
    missing certificate T    no certificate titled T, accepted, on it or upstream
    failed inspection        an inspection with result fail and no disposition, on it or
                             upstream, with no nonconformance carrying a disposition on the
                             same node
    open nonconformance      a nonconformance not closed, on it or upstream

Each line above is one multi-seed downstream walk over the whole genealogy (the seeds: the
nodes that satisfy or break the rule; engine.units.coverage_table), then column arithmetic:
no per-unit loop, whatever the number of units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from domain.time import TimeLike
from index.quality_records import QualityRecords
from loaders.routes import Route

__all__ = ["Completeness", "defect_rates", "dhr_check"]

UNIT_KINDS = ("serial", "lot")


@dataclass
class Completeness:
    """Units checked, and one row per (unit, finding): key, product, built_at, route,
    finding."""

    checked: int
    findings: pl.DataFrame
    built: pl.DataFrame | None = None  # every checked unit: key, built_at

    @property
    def incomplete(self) -> int:
        return int(self.findings["key"].n_unique()) if self.findings.height else 0


def _seeds(records: pl.DataFrame) -> dict[str, list[str]]:
    """Rule name -> the node keys whose records satisfy (has:...) or break (bad:...) it;
    `records` is QualityRecords.frame() (the newest version of each)."""
    rows = records.explode("keys").rename({"keys": "key"}).filter(pl.col("key").is_not_null())
    done = rows.filter((pl.col("record_type") == "inspection") & (pl.col("status") == "done"))
    seeds: dict[str, list[str]] = {}
    for (title,), group in done.filter(pl.col("result") == "pass").group_by("title"):
        seeds[f"has:inspection {title}"] = group["key"].unique().to_list()
    certificates = rows.filter((pl.col("record_type") == "certificate")
                               & (pl.col("status") == "accepted"))
    for (title,), group in certificates.group_by("title"):
        seeds[f"has:certificate {title}"] = group["key"].unique().to_list()
    ncs = rows.filter(pl.col("record_type") == "nonconformance")
    seeds["bad:open nonconformance"] = (
        ncs.filter(pl.col("status") != "closed")["key"].unique().to_list())
    dispositioned = ncs.filter(pl.col("disposition").is_not_null())["key"]
    seeds["bad:failed inspection"] = (
        done.filter((pl.col("result") == "fail") & pl.col("disposition").is_null()
                    & ~pl.col("key").is_in(dispositioned.implode()))["key"].unique().to_list())
    return seeds


def dhr_check(graph: Any, records: QualityRecords, routes: Sequence[Route],
              since: TimeLike = None) -> Completeness:
    """The findings of every routed unit built at or after `since` (engine.Graph `graph`)."""
    seeds = _seeds(records.frame())
    frames = []
    checked = 0
    units = []
    for route in routes:
        rules: dict[str, list[str] | str] = {
            f"has:operation {k}": f"kind:{k}" for k in route.operations}
        rules |= {f"has:inspection {t}": seeds.get(f"has:inspection {t}", [])
                  for t in route.inspections}
        rules |= {f"has:certificate {t}": seeds.get(f"has:certificate {t}", [])
                  for t in route.certificates}
        rules |= {name: keys for name, keys in seeds.items() if name.startswith("bad:")}
        table = graph.coverage(route.products, UNIT_KINDS, rules, since=since)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        checked += frame.height
        units.append(frame.select("key", "built_at"))
        for name in rules:
            wrong = ~pl.col(name) if name.startswith("has:") else pl.col(name)
            finding = ("missing " + name[4:]) if name.startswith("has:") else name[4:]
            frames.append(frame.filter(wrong).select(
                "key", "product", "built_at", pl.lit(route.name).alias("route"),
                pl.lit(finding).alias("finding")))
    findings = (pl.concat(frames) if frames else pl.DataFrame(
        schema={"key": pl.String, "product": pl.String,
                "built_at": pl.Datetime("us", "UTC"), "route": pl.String,
                "finding": pl.String}))
    built = (pl.concat(units) if units else
             pl.DataFrame(schema={"key": pl.String, "built_at": pl.Datetime("us", "UTC")}))
    return Completeness(checked, findings.sort(["key", "finding"]), built)


def defect_rates(result: Completeness, every: str) -> pl.DataFrame:
    """Per period of `every` (a polars interval: "1d", "1w", "1mo") by build time: units
    built (routed, checked), how many have an incomplete DHR, and their share: the DHR
    defect rate. A unit with no build time is in no period."""
    built = result.built if result.built is not None else pl.DataFrame(
        schema={"key": pl.String, "built_at": pl.Datetime("us", "UTC")})
    bad = result.findings.select("key").unique()
    return (built.filter(pl.col("built_at").is_not_null())
            .with_columns(pl.col("built_at").dt.truncate(every).alias("period"),
                          pl.col("key").is_in(bad["key"].implode()).alias("incomplete"))
            .group_by("period")
            .agg(pl.len().alias("units_built"),
                 pl.col("incomplete").sum().alias("incomplete_dhrs"))
            .with_columns((pl.col("incomplete_dhrs") / pl.col("units_built"))
                          .alias("dhr_defect_rate"))
            .sort("period"))
