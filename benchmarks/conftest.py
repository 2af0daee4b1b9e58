"""Benchmark fixtures: one generated genealogy per scale, cached in bench-data/ (ignored by git),
built once, opened and warmed before any timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import engine
from benchmarks.data import dataset
from loaders.synthetic import GenealogyConfig, sample_keys

MEASURED: list[str] = []
"""Numbers that are not times (rows, bytes per edge), printed after the timing table."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MEASURED:
        terminalreporter.section("measured values")
        for line in MEASURED:
            terminalreporter.write_line(line)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--units", type=int, default=1_000_000,
                     help="finished units in the benchmark genealogy (1,000,000)")
    parser.addoption("--seed", type=int, default=7)


@pytest.fixture(scope="session")
def scale(request: pytest.FixtureRequest) -> GenealogyConfig:
    return GenealogyConfig(units=request.config.getoption("--units"),
                           seed=request.config.getoption("--seed"))


@pytest.fixture(scope="session")
def prepared(scale: GenealogyConfig) -> tuple[Path, Path, Path]:
    return dataset(scale.units, scale.seed)


@pytest.fixture(scope="session")
def source(prepared: tuple[Path, Path, Path]) -> tuple[Path, Path]:
    return prepared[0], prepared[1]


@pytest.fixture(scope="session")
def data_dir(prepared: tuple[Path, Path, Path]) -> Path:
    return prepared[2]


@pytest.fixture(scope="session")
def graph(data_dir: Path) -> engine.Graph:
    return engine.open(data_dir)  # warms every kernel before any benchmark times it


@pytest.fixture(scope="session")
def samples(graph: engine.Graph) -> dict[str, Any]:
    picked: dict[str, Any] = sample_keys(graph.snapshot.node_keys,
                                         graph.snapshot.nodes.column("kind"), count=1000, seed=7)
    sizes = sorted((graph.trace(lot).num_rows, lot) for lot in picked["lots"][:101])
    picked["median_lot"] = sizes[len(sizes) // 2][1]
    picked["median_lot_rows"] = sizes[len(sizes) // 2][0]
    return picked
