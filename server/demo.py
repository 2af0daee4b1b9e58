"""The main job on the embedded default: generate a genealogy, build its snapshot, open it and
answer three recall questions, printing results and warm timings; then quality records on it
(a unit's device history record and the KPIs) and where the web app shows it all."""

from __future__ import annotations

import shutil
import statistics
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console

import engine
from index.build import build_from_files
from index.live import LiveStore
from index.quality_records import QualityRecords
from loaders.quality_records import read_quality_files
from loaders.synthetic import GenealogyConfig, sample_keys, write_genealogy
from loaders.synthetic_quality import FINISHED_PREFIX, quality_records
from qms.dhr import device_history
from qms.kpi import kpis
from server.cli_trust import local_principal
from server.output import emit_table
from server.progress import ProgressBar

__all__ = ["run_demo"]

T = TypeVar("T")


def _best_of(runs: int, call: Callable[[], T]) -> tuple[T, float, float]:
    """(result, best ms, median ms) over `runs` warm calls."""
    times = []
    result = call()
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return result, min(times), statistics.median(times)


def run_demo(units: int, seed: int, work: Path, log: Console) -> None:
    out = Console()
    source, data = work / "source", work / "data"
    if data.exists():
        shutil.rmtree(data)  # a demo always rebuilds, so timings are honest
    started = time.perf_counter()
    out.rule(f"1. generate a genealogy of {units:,} finished units (seed {seed})")
    nodes_path, edges_path = write_genealogy(GenealogyConfig(units=units, seed=seed), source,
                                             lambda m: log.print(f"  generate: {m}"))
    out.print(f"generated in {time.perf_counter() - started:.1f} s -> {source}")

    out.rule("2. build the snapshot")
    with ProgressBar(log, "build") as bar:
        report = build_from_files([nodes_path], [edges_path], data, progress=bar)
    out.print(f"{report.nodes:,} nodes, {report.edges:,} edges, {report.rejected} rejected, "
              f"built in {report.seconds:.1f} s -> {report.snapshot}")

    out.rule("3. open (memory map) and warm the kernels")
    started = time.perf_counter()
    graph = engine.open(data)
    out.print(f"opened and warmed in {(time.perf_counter() - started) * 1000:.0f} ms")
    samples = sample_keys(graph.snapshot.node_keys, graph.snapshot.nodes.column("kind"),
                          count=100, seed=seed)

    lot = samples["widest_lot"][0]
    out.rule(f"4. downstream (where-used) of the widest resin lot {lot}")
    table, best, median = _best_of(5, lambda: graph.trace(lot, "downstream"))
    kinds = table.column("kind").cast(pa.string())
    counts = pa.table({"kind": kinds, "key": table.column("key")}).group_by("kind").aggregate(
        [("key", "count")]).sort_by("kind")
    emit_table(counts.rename_columns(["kind", "nodes"]), "table", None, console=out)
    out.print(f"{table.num_rows:,} downstream nodes; Graph.trace with keys: best {best:.2f} ms, "
              f"median {median:.2f} ms")

    unit = samples["units"][len(samples["units"]) // 2]
    out.rule(f"5. upstream (where-from) of finished unit {unit}")
    table, best, median = _best_of(50, lambda: graph.trace(unit, "upstream", via=True))
    emit_table(table, "table", None, console=out)
    out.print(f"upstream trace: best {best * 1000:.0f} us, median {median * 1000:.0f} us")

    lots = samples["lots"]
    out.rule(f"6. impact of recalling {len(lots)} component lots")
    result, best, median = _best_of(5, lambda: graph.impact(lots))
    emit_table(result.by_kind, "table", None, console=out, title="affected by kind")
    emit_table(result.by_customer.slice(0, 10), "table", None, console=out,
               title="top customers by affected units")
    _, counts_best, _ = _best_of(5, lambda: graph.impact(lots, rows=False))
    out.print(f"{result.affected:,} affected nodes at {result.by_customer.num_rows:,} customers "
              f"via {result.by_shipment.num_rows:,} shipments; counts only: best "
              f"{counts_best:.1f} ms; with all rows and keys: best {best:.1f} ms, "
              f"median {median:.1f} ms")
    _quality(out, work, data, graph)

    out.rule("8. the investigator's web app on this data")
    out.print(f"run `make web` (or `tracegraph web --data {data} --no-auth`), then open "
              f"http://127.0.0.1:8080/trace?key={urllib.parse.quote(lot, safe=':')}")


def _quality(out: Console, work: Path, data: Path, graph: engine.Graph) -> None:
    """Quality records on the genealogy: import them, show the device history record of a
    unit with a nonconformance upstream, and the KPIs per month."""
    out.rule("7. quality records: a unit's device history record, the KPIs")
    started = time.perf_counter()
    chosen = quality_records(graph.snapshot.nodes)  # every one: 1M in some 15 s
    records_file = work / "quality.csv"
    chosen.write_csv(records_file)
    versions, rejects = read_quality_files([records_file])
    with LiveStore(data) as live:
        live_graph = engine.Graph(live.view().snapshot, live.view)
        report = QualityRecords(live).put(versions, local_principal(data), "demo",
                                          live_graph.unknown_keys)
        records = QualityRecords(live)
        out.print(f"{report.added:,} records imported ({len(rejects) + len(report.rejects)} "
                  f"rejected) in {time.perf_counter() - started:.1f} s -> {records_file}")
        ncs = chosen.filter(pl.col("record_type") == "nonconformance")
        unit = None
        for lot in ncs["key"].to_list():
            units = live_graph.trace(lot, node_kinds=["serial"], columns=["product"])
            finished = units.filter(pc.starts_with(units.column("product"), FINISHED_PREFIX))
            if finished.num_rows:
                unit = finished.column("key")[0].as_py()
                break
        if unit is None and chosen.height:  # no NC reached a finished unit: any tested one
            unit = chosen["key"][0]
        if unit is not None:
            started = time.perf_counter()
            history = device_history(live_graph, records, unit)
            ms = (time.perf_counter() - started) * 1000
            rows = [{"on": r.node, "kind": r.kind, "depth": r.depth,
                     "record": r.record["record_id"], "type": r.record["record_type"],
                     "status": r.record["status"], "title": r.record["title"]}
                    for r in history.upstream]
            rows += [{"on": unit, "kind": "(the unit)", "depth": 0, "record": r["record_id"],
                      "type": r["record_type"], "status": r["status"], "title": r["title"]}
                     for r in history.own]
            emit_table(pa.Table.from_pylist(rows), "table", None, console=out,
                       title=f"device history record of {unit}")
            out.print(f"built {history.built_at}; {history.upstream_nodes} upstream nodes; "
                      f"{len(history.change_orders_in_effect)} change order(s) in effect; "
                      f"assembled in {ms:.1f} ms (tracegraph dhr {unit} --data {data})")
        table = kpis(records, [], "month")
        emit_table(table.with_columns(pl.col("period").dt.strftime("%Y-%m"),
                                      pl.col("first_pass_yield").round(4),
                                      pl.col("open_nc_age_days", "recall_hours").round(1))
                   .to_arrow(), "table", None, console=out, title="quality KPIs per month")
