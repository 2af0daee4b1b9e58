"""The main job on the embedded default: generate a genealogy, build its snapshot, open it and
answer three recall questions, printing results and warm timings."""

from __future__ import annotations

import shutil
import statistics
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
from rich.console import Console

import engine
from index.build import build_from_files
from loaders.synthetic import GenealogyConfig, sample_keys, write_genealogy
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
    out.rule("7. the investigator's web app on this data")
    out.print(f"run `make web` (or `tracegraph web --data {data} --no-auth`), then open "
              f"http://127.0.0.1:8080/trace?key={urllib.parse.quote(lot, safe=':')}")
