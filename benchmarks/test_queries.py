"""Query benchmarks on the generated genealogy (kernels warmed before timing).

Run: make bench (UNITS=100000 for a quick look). Targets from the engine-core issue at 1M units:
unit upstream < 50 us, median lot < 1 ms, widest lot kernel < 5 ms and whole < 40 ms,
impact of 100 lots counts < 30 ms and rows < 100 ms.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import engine
from benchmarks.conftest import MEASURED
from engine import _kernels as k
from engine.view import EMPTY_LIVE


def test_unit_upstream(benchmark: BenchmarkFixture, graph: engine.Graph,
                       samples: dict[str, Any]) -> None:
    units = itertools.cycle(samples["units"])
    table = benchmark(lambda: graph.trace(next(units), "upstream"))
    benchmark.extra_info["rows"] = table.num_rows
    MEASURED.append(f"unit upstream: {table.num_rows:,} rows (last unit)")


def test_unit_upstream_with_via(benchmark: BenchmarkFixture, graph: engine.Graph,
                                samples: dict[str, Any]) -> None:
    units = itertools.cycle(samples["units"])
    benchmark(lambda: graph.trace(next(units), "upstream", via=True))


def test_median_lot_downstream(benchmark: BenchmarkFixture, graph: engine.Graph,
                               samples: dict[str, Any]) -> None:
    table = benchmark(lambda: graph.trace(samples["median_lot"]))
    benchmark.extra_info["rows"] = table.num_rows
    MEASURED.append(f"median lot downstream: {table.num_rows:,} rows")


def test_widest_lot_downstream(benchmark: BenchmarkFixture, graph: engine.Graph,
                               samples: dict[str, Any]) -> None:
    table = benchmark(lambda: graph.trace(samples["widest_lot"][0]))
    benchmark.extra_info["rows"] = table.num_rows
    MEASURED.append(f"widest lot downstream: {table.num_rows:,} rows")


def test_widest_lot_kernel_only(benchmark: BenchmarkFixture, graph: engine.Graph,
                                samples: dict[str, Any]) -> None:
    """The traversal kernel alone: no key lookup, no result materialisation."""
    snap = graph.snapshot
    seeds = snap.keys.lookup(samples["widest_lot"])
    scratch = graph._scratch.get()  # the private layer, measured on purpose
    down = snap.down

    def walk() -> int:
        count, _, _ = k.traverse_plain(down.indptr, down.neighbor, down.recorded_at, k.MAX_TIME,
                                       seeds, -1, 2**62, scratch.marks, scratch.next_epoch(),
                                       scratch.queue, scratch.depth, scratch.cancel, EMPTY_LIVE)
        return int(count)

    benchmark.extra_info["visited"] = benchmark(walk)


def test_hourglass_unit(benchmark: BenchmarkFixture, graph: engine.Graph,
                        samples: dict[str, Any]) -> None:
    units = itertools.cycle(samples["units"])
    benchmark(lambda: graph.hourglass(next(units)))


@pytest.mark.parametrize("lots", [1, 100, 1000])
def test_impact_counts(benchmark: BenchmarkFixture, graph: engine.Graph,
                       samples: dict[str, Any], lots: int) -> None:
    seeds = samples["lots"][:lots]
    result = benchmark(lambda: graph.impact(seeds, rows=False))
    benchmark.extra_info["affected"] = result.affected
    MEASURED.append(f"impact of {lots} lots: {result.affected:,} affected nodes")


@pytest.mark.parametrize("lots", [1, 100, 1000])
def test_impact_rows(benchmark: BenchmarkFixture, graph: engine.Graph,
                     samples: dict[str, Any], lots: int) -> None:
    seeds = samples["lots"][:lots]
    result = benchmark(lambda: graph.impact(seeds))
    benchmark.extra_info["affected"] = result.affected


def test_path_lot_to_unit(benchmark: BenchmarkFixture, graph: engine.Graph,
                          samples: dict[str, Any]) -> None:
    unit = samples["units"][0]
    lots = graph.trace(unit, "upstream", node_kinds=["lot"]).column("key").to_pylist()
    chain = benchmark(lambda: graph.path(lots[-1], unit))
    benchmark.extra_info["length"] = chain.num_rows


def test_key_lookup(benchmark: BenchmarkFixture, graph: engine.Graph,
                    samples: dict[str, Any]) -> None:
    units = itertools.cycle(samples["units"])
    ids = benchmark(lambda: graph.snapshot.keys.lookup([next(units)]))
    assert np.all(ids >= 0)
