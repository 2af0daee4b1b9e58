"""Recall workbench benchmarks on the generated genealogy: the consignee list of the widest
lot (what it shipped, to whom, how many) and its renderings.

    .venv/bin/python -m pytest benchmarks/test_recall.py --benchmark-only --units 1000000 \\
        -s -p no:cacheprovider

Targets from the recall issue at 1M units: the widest lot's consignee list to CSV <= 1 s and
to XLSX <= 5 s; find <= 5 ms; common cause of 50 complaint units <= 200 ms; a case diff
within 2x of one impact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import engine
from benchmarks.conftest import MEASURED
from benchmarks.recall_ratio import case_diff
from recall.consignees import consignee_list
from recall.find import find
from server.recall_exports import Header, export

HEADER = Header(1, "benchmark", True, "2026-01-01T00:00:00Z", "bench", 1, 1,
                "2026-01-01T00:00:00Z", "0" * 64)


def test_widest_lot_shipped_rows(benchmark: BenchmarkFixture, graph: engine.Graph,
                                 samples: dict[str, Any]) -> None:
    lot = samples["widest_lot"][0]
    table = benchmark(lambda: graph.shipped([lot]))
    MEASURED.append(f"widest lot shipped rows: {table.num_rows:,}")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_widest_lot_consignee_list(benchmark: BenchmarkFixture, graph: engine.Graph,
                                   samples: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    """From the lot's key to the written file: walk, rows, consignee list, file."""
    lot = samples["widest_lot"][0]
    target = tmp_path / f"consignees.{fmt}"

    def run() -> int:
        return export(consignee_list(graph.shipped([lot]), None), HEADER, target, fmt)

    rows = benchmark.pedantic(run, rounds=3 if fmt == "xlsx" else 10, iterations=1)
    MEASURED.append(f"widest lot consignee list to {fmt}: {rows:,} rows, "
                    f"{target.stat().st_size / 1e6:.1f} MB")


@pytest.mark.parametrize("text", ["urn:epc:id:sgtin:4012345.110000.00001900",
                                  "(01)14012345100003(21)000019001", "80001013",
                                  "14012345100003 000019001"],
                         ids=["key-prefix", "barcode", "delivery", "gtin-serial"])
def test_find(benchmark: BenchmarkFixture, graph: engine.Graph, text: str) -> None:
    find(graph.view(), text)  # the sorted key index is built once per snapshot, before timing
    found = benchmark(lambda: find(graph.view(), text))
    assert found


def test_common_cause_of_50_complaint_units(benchmark: BenchmarkFixture, graph: engine.Graph,
                                            samples: dict[str, Any]) -> None:
    """Target: <= 200 ms at 1M units."""
    units = samples["units"][:50]
    graph.common_cause(units)  # each worker thread's scratch space, before timing
    table = benchmark(lambda: graph.common_cause(units))
    MEASURED.append(f"common cause of 50 units: {table.num_rows} candidates, top "
                    f"{table.column('key')[0]} (p {table.column('p_value')[0].as_py():.2g})")


@pytest.mark.parametrize("timed", [False, True], ids=["plain", "time-respecting"])
def test_widest_lot_trace(benchmark: BenchmarkFixture, graph: engine.Graph,
                          samples: dict[str, Any], timed: bool) -> None:
    """Target: the time-respecting trace within 2x of the plain one."""
    lot = samples["widest_lot"][0]
    graph.trace(lot, time_respecting=timed)
    table = benchmark(lambda: graph.trace(lot, time_respecting=timed))
    MEASURED.append(f"widest lot trace ({'time-respecting' if timed else 'plain'}): "
                    f"{table.num_rows:,} rows")


@pytest.mark.parametrize("what", ["impact", "case-diff", "case-diff-rows"])
def test_widest_lot_case_diff(benchmark: BenchmarkFixture, graph: engine.Graph,
                              samples: dict[str, Any], what: str) -> None:
    """Target: a case's diff within 2x of one impact of the same seeds
    (benchmarks.recall_ratio: pinned 30 days back, compared with now; the CI gate runs it at
    100k). `case-diff-rows` also makes the added and removed rows with their keys (the CLI's
    JSON), which no impact has."""
    lot = samples["widest_lot"][0]

    def run() -> int:
        if what == "impact":
            return graph.impact([lot]).affected
        return case_diff(graph, lot, keyed=what == "case-diff-rows")

    run()
    found = benchmark.pedantic(run, rounds=7, iterations=1)
    MEASURED.append(f"widest lot {what}: {found:,}")
