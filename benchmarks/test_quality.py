"""Quality-record benchmarks on the generated genealogy with its synthetic quality records
(loaders.synthetic_quality: a final test per finished unit, NCs on 3 % of lots, a change
order):

    .venv/bin/python -m pytest benchmarks/test_quality.py --benchmark-only --units 1000000 \\
        -s -p no:cacheprovider

Targets from the quality issue at 1M units: import of 1M records <= 20 s; dhr of one unit
<= 5 ms; affected-by of an NC on the widest lot <= 2x the plain impact; dhr-check over all
units <= 10 s; kpi <= 2 s. The import runs once, into a copy of the benchmark directory
whose snapshot files are hard links (snapshots are never written in place).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import engine
from benchmarks.conftest import MEASURED
from index.live import LiveStore
from index.quality_records import QualityRecords
from loaders.quality_records import read_quality_files
from loaders.routes import Route
from loaders.synthetic_quality import FINISHED_PREFIX, quality_records
from qms.completeness import dhr_check
from qms.dhr import device_history
from qms.kpi import kpis
from trust.identity import Principal

OWNER = Principal(0, "os:bench", "os:bench", "admin", "os")


@pytest.fixture(scope="module")
def loaded(data_dir: Path, graph: engine.Graph,
           samples: dict[str, Any]) -> Iterator[tuple[Any, QualityRecords]]:
    """(graph over the copy, its records); the import of every record is timed once."""
    copy = data_dir.parent / "quality"
    shutil.rmtree(copy, ignore_errors=True)
    subprocess.run(["cp", "-al", str(data_dir), str(copy)], check=True)
    records_file = copy.parent / "quality.csv"
    widest = pl.DataFrame({"record_id": ["NC-WIDEST"], "record_type": ["nonconformance"],
                           "key": [samples["widest_lot"][0]], "status": ["open"],
                           "opened_at": ["2025-06-01T00:00:00Z"],
                           "title": ["Resin contamination"]})
    pl.concat([quality_records(graph.snapshot.nodes), widest],
              how="diagonal_relaxed").write_csv(records_file)
    with LiveStore(copy) as live:
        view_graph = engine.Graph(live.view().snapshot, live.view)
        view_graph.warm()
        started = time.perf_counter()
        versions, rejects = read_quality_files([records_file])
        report = QualityRecords(live).put(versions, OWNER, "bench", view_graph.unknown_keys)
        seconds = time.perf_counter() - started
        assert not rejects
        assert not report.rejects
        MEASURED.append(f"import of {len(versions):,} quality records: {seconds:.1f} s "
                        "(target 20 s at 1M)")
        yield view_graph, QualityRecords(live)
    shutil.rmtree(copy, ignore_errors=True)


def test_dhr_of_one_unit(benchmark: BenchmarkFixture, loaded: Any,
                         samples: dict[str, Any]) -> None:
    graph, records = loaded
    unit = samples["units"][0]
    found = benchmark(lambda: device_history(graph, records, unit))
    MEASURED.append(f"dhr of one unit: {found.upstream_nodes} upstream nodes, "
                    f"{len(found.upstream)} inherited records")


@pytest.mark.parametrize("what", ["impact", "affected-by"])
def test_affected_by_an_nc_on_the_widest_lot(benchmark: BenchmarkFixture, loaded: Any,
                                             samples: dict[str, Any], what: str) -> None:
    """Target: affected-by within 2x of the plain impact of the same lot."""
    graph, records = loaded
    lot = samples["widest_lot"][0]

    def affected_by() -> int:
        return int(graph.impact(records.get("NC-WIDEST")["keys"], rows=False).affected)

    def impact() -> int:
        return int(graph.impact([lot], rows=False).affected)

    found = benchmark(impact if what == "impact" else affected_by)
    MEASURED.append(f"{what} of the widest lot: {found:,} affected")


def test_dhr_check_over_every_unit(benchmark: BenchmarkFixture, loaded: Any) -> None:
    """Target: <= 10 s over all units at 1M."""
    graph, records = loaded
    finished = sorted({p for p in graph.snapshot.nodes.column("product").unique().to_pylist()
                       if p and p.startswith(FINISHED_PREFIX)})
    route = Route("finished devices", tuple(finished), operations=("sterilization_load",),
                  inspections=("Final test",))
    result = benchmark.pedantic(lambda: dhr_check(graph, records, [route]), rounds=2,
                                iterations=1)
    MEASURED.append(f"dhr-check: {result.checked:,} units, {result.incomplete:,} incomplete")


def test_kpi_per_month(benchmark: BenchmarkFixture, loaded: Any) -> None:
    """Target: <= 2 s for the KPIs of every month of the generated production."""
    _, records = loaded
    table = benchmark.pedantic(lambda: kpis(records, [], "month"), rounds=3, iterations=1)
    MEASURED.append(f"kpi: {table.height} months")


def test_alert_rules_measured(benchmark: BenchmarkFixture, loaded: Any) -> None:
    """What the server spends every minute (ServerConfig.alert_seconds) on the sample rules:
    first-pass yield per product, failed inspections, NCs per supplier, open NCs."""
    from datetime import timedelta

    from loaders.alert_rules import parse_rules
    from qms.alerts import grouper, measure

    graph, records = loaded
    rules = parse_rules((Path(__file__).resolve().parents[1] / "loaders" / "mappings"
                         / "alert_rules_sample.toml").read_text())
    latest = records.frame(("opened_at",))["opened_at"].max()
    now = datetime.fromisoformat(latest.replace("Z", "+00:00")) + timedelta(hours=1)

    readings = benchmark.pedantic(lambda: measure(rules, records, grouper(graph), now), rounds=3,
                                  iterations=1)
    MEASURED.append(f"alert rules: {len(readings)} readings, "
                    f"{sum(r.breached for r in readings)} breached")
