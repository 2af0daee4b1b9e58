"""Quality KPIs per period (`tracegraph kpi`), from the quality records and recall cases:

    first_pass_yield     passed / done inspections opened in the period (each unit's first
                         inspection of a title only: a re-test after rework is not a first pass)
    inspections          done inspections opened in the period (first ones)
    ncs_opened           nonconformances opened in the period
    open_ncs, open_capas open at the end of the period (opened by then, not closed by then)
    open_nc_age_days     the mean age of those open NCs at the end of the period
    recalls_opened       recall cases opened in the period
    recall_hours         the mean hours from opening a case to its first notification-ready
                         export (CSV, XLSX or PDF), over the cases opened in the period

A period is a day, an ISO week (starting Monday) or a calendar month, in UTC. Everything is
polars over QualityRecords.frame: no loop per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import polars as pl

from domain.errors import InvalidInput
from index.quality_records import QualityRecords
from recall.cases import RecallCase, drill_report

__all__ = ["PERIODS", "kpis", "mass_balance", "plan_attainment", "supplier_nc_rates"]

PERIODS: Final = {"day": "1d", "week": "1w", "month": "1mo"}
_FIELDS = ("record_id", "record_type", "status", "title", "result", "keys", "opened_at",
           "closed_at")


def _times(frame: pl.DataFrame, *names: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(n).str.replace("Z$", "+00:00")
                              .str.to_datetime(time_zone="UTC", strict=False) for n in names)


def kpis(records: QualityRecords, cases: Sequence[RecallCase], period: str,
         now: datetime | None = None) -> pl.DataFrame:
    """One row per period that has any record or case, oldest first (columns: see the module
    docstring)."""
    if period not in PERIODS:
        raise InvalidInput(f"period {period!r} is not one of {', '.join(PERIODS)}")
    every = PERIODS[period]
    now = now or datetime.now(UTC)
    frame = records.frame(_FIELDS).with_columns(records.time("opened_at"),
                                                records.time("closed_at"))
    frame = frame.with_columns(pl.col("opened_at").dt.truncate(every).alias("period"))
    inspections = (frame.filter((pl.col("record_type") == "inspection")
                                & (pl.col("status") == "done"))
                   .explode("keys").sort("opened_at")
                   .unique(["keys", "title"], keep="first", maintain_order=True)
                   .group_by("period")
                   .agg(pl.len().alias("inspections"),
                        (pl.col("result") == "pass").mean().alias("first_pass_yield")))
    ncs = frame.filter(pl.col("record_type") == "nonconformance")
    opened = ncs.group_by("period").agg(pl.len().alias("ncs_opened"))
    recall_rows = [{"opened_at": c.opened_at,
                    "hours": None if (s := drill_report(c)["seconds_to_notification_ready_export"])
                    is None else s / 3600} for c in cases]
    recalls = (_times(pl.DataFrame(recall_rows, schema={"opened_at": pl.String,
                                                        "hours": pl.Float64}), "opened_at")
               .with_columns(pl.col("opened_at").dt.truncate(every).alias("period"))
               .group_by("period").agg(pl.len().alias("recalls_opened"),
                                       pl.col("hours").mean().alias("recall_hours")))
    periods = pl.concat([frame.select("period"), recalls.select("period")]).drop_nulls() \
        .unique().sort("period")
    ends = periods.with_columns(pl.col("period").dt.offset_by(every).alias("end"))
    backlog = _backlog(frame, ends, now)
    out = ends
    for part in (inspections, opened, backlog, recalls):
        out = out.join(part, on="period", how="left")
    counts = ("inspections", "ncs_opened", "open_ncs", "open_capas", "recalls_opened")
    return (out.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts)
            .select("period", "first_pass_yield", "inspections", "ncs_opened", "open_ncs",
                    "open_nc_age_days", "open_capas", "recalls_opened", "recall_hours"))


def _backlog(frame: pl.DataFrame, ends: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Per period: NCs and CAPAs open at its end (or now, for the current one)."""
    items = frame.filter(pl.col("record_type").is_in(["nonconformance", "capa"])).select(
        "record_type", "opened_at",
        pl.when(pl.col("status") == "closed").then(
            pl.col("closed_at").fill_null(pl.col("opened_at"))).alias("closed_at"))
    rows: list[dict[str, Any]] = []
    for period, end in ends.select("period", "end").iter_rows():  # one row per period
        at = min(end, now)
        open_now = items.filter((pl.col("opened_at") < at)
                                & (pl.col("closed_at").is_null() | (pl.col("closed_at") >= at)))
        nc = open_now.filter(pl.col("record_type") == "nonconformance")
        age = nc.select(((pl.lit(at) - pl.col("opened_at")).dt.total_seconds() / 86400)
                        .mean()).item() if nc.height else None
        rows.append({"period": period, "open_ncs": nc.height,
                     "open_capas": open_now.height - nc.height, "open_nc_age_days": age})
    return pl.DataFrame(rows, schema={"period": ends.schema["period"], "open_ncs": pl.Int64,
                                      "open_capas": pl.Int64, "open_nc_age_days": pl.Float64})


def supplier_nc_rates(records: QualityRecords, graph: Any) -> pl.DataFrame:
    """Per supplier (the supplier node directly upstream of a lot): the lots it supplied,
    how many of them have a nonconformance, the NCs, and the NC rate (lots with an NC / lots
    supplied); most affected first. A lot without a recorded supplier is under "(none
    recorded)". `graph`: an engine.Graph (its lots and their suppliers)."""
    lots = graph.keys_of_kind("lot")
    suppliers = graph.parents_of_kind(lots, "supplier")
    supplied = pl.DataFrame({"lot": lots, "supplier": [s or "(none recorded)"
                                                       for s in suppliers]},
                            schema={"lot": pl.String, "supplier": pl.String})
    ncs = (records.frame(("record_id", "record_type", "keys"))
           .filter(pl.col("record_type") == "nonconformance")
           .explode("keys").select("record_id", pl.col("keys").alias("lot")))
    per_lot = ncs.group_by("lot").agg(pl.col("record_id").n_unique().alias("ncs"))
    return (supplied.join(per_lot, on="lot", how="left")
            .group_by("supplier")
            .agg(pl.len().alias("lots"), (pl.col("ncs") > 0).sum().alias("lots_with_nc"),
                 pl.col("ncs").fill_null(0).sum().alias("ncs"))
            .with_columns((pl.col("lots_with_nc") / pl.col("lots")).alias("nc_rate"))
            .sort(["nc_rate", "ncs", "supplier"], descending=[True, True, False]))


def mass_balance(graph: Any, tolerance: float = 0.005) -> pl.DataFrame:
    """Per lot with a quantity: what it was (received or made), what left it downstream
    (the quantities on its live edges: consumed, packed, shipped; reversals net), what
    remains, and whether more left than it held by over `tolerance` (a share of its
    quantity): a mass-balance error, a missing goods receipt or a wrong posting. Lots some of
    whose edges carry no quantity are listed with `complete` false, never judged. Errors
    first, then the largest remainders."""
    frame = pl.from_arrow(graph.balance("lot"))
    assert isinstance(frame, pl.DataFrame)
    return (frame.filter(pl.col("quantity").is_not_null())
            .with_columns((pl.col("quantity") - pl.col("out_quantity")).alias("remaining"),
                          (pl.col("out_edges_without_quantity") == 0).alias("complete"))
            .with_columns((pl.col("complete") & (pl.col("remaining")
                                                 < -tolerance * pl.col("quantity").abs()))
                          .alias("over_consumed"))
            .select("key", "product", "uom", "quantity", "out_quantity", "remaining",
                    "complete", "over_consumed")
            .sort(["over_consumed", "remaining"], descending=[True, True]))


def plan_attainment(graph: Any, master: Any) -> pl.DataFrame:
    """Per work order with a plan (work_order master data: planned_quantity, from ERP order
    data through the data dictionary): what it was to make, what the genealogy says it made
    (the quantities on its live downstream edges; an edge without one, a serial, counts 1),
    and their ratio, plan attainment; the furthest behind first. A planned quantity that is
    not a number is listed with attainment null."""
    plans = [{"key": key, "product": record.get("product"), "uom": record.get("uom"),
              "planned_finish": record.get("planned_finish"),
              "planned": _number(record.get("planned_quantity"))}
             for key, record in master.all("work_order")]
    schema = {"key": pl.String, "product": pl.String, "uom": pl.String,
              "planned_finish": pl.String, "planned": pl.Float64}
    planned = pl.DataFrame(plans, schema=schema)
    made = pl.from_arrow(graph.balance("work_order"))
    assert isinstance(made, pl.DataFrame)
    made = made.select(pl.col("key").cast(pl.String),
                       (pl.col("out_quantity") + pl.col("out_edges_without_quantity"))
                       .alias("built"))
    return (planned.join(made, on="key", how="left")
            .with_columns(pl.col("built").fill_null(0.0))
            .with_columns(pl.when(pl.col("planned") > 0)
                          .then(pl.col("built") / pl.col("planned")).alias("attainment"))
            .sort(["attainment", "key"], nulls_last=True))


def _number(value: Any) -> float | None:
    try:
        return float(str(value).replace(",", ".")) if value not in (None, "") else None
    except ValueError:
        return None
