"""Shared fixtures: genealogies written as real canonical files and built into real snapshots."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import settings

import engine
from domain.schemas import EDGES_SCHEMA, NODES_SCHEMA
from engine import Graph
from index.build import build_from_files
from index.live import LiveStore
from loaders.synthetic import GenealogyConfig, write_genealogy

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# CI runs are reproducible: the same examples every run (`derandomize`), no example database.
# Developers' runs explore at random; every failure they find becomes an explicit @example.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("true", "1") else "dev")

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def write_tables(folder: Path, nodes: Sequence[dict[str, Any]],
                 edges: Sequence[dict[str, Any]]) -> tuple[Path, Path]:
    """Write canonical node and edge tables (missing optional fields become nulls)."""
    folder.mkdir(parents=True, exist_ok=True)
    node_rows = {name: [n.get(name) for n in nodes] for name in NODES_SCHEMA.names}
    edge_rows = {name: [e.get(name) for e in edges] for name in EDGES_SCHEMA.names}
    edge_rows["recorded_at"] = [e.get("recorded_at") or T0 for e in edges]
    nodes_path, edges_path = folder / "nodes.parquet", folder / "edges.parquet"
    pq.write_table(pa.table(node_rows, schema=NODES_SCHEMA), nodes_path)
    pq.write_table(pa.table(edge_rows, schema=EDGES_SCHEMA), edges_path)
    return nodes_path, edges_path


def build_graph(folder: Path, nodes: Sequence[dict[str, Any]],
                edges: Sequence[dict[str, Any]]) -> Graph:
    nodes_path, edges_path = write_tables(folder / "source", nodes, edges)
    build_from_files([nodes_path], [edges_path], folder / "data")
    return engine.open(folder / "data")


SMALL = GenealogyConfig(units=3000, seed=11, resin_lot_units=1500, adhesive_lot_units=1000,
                        label_lot_units=700, load_size=400, customers=60)


@pytest.fixture(scope="session")
def small_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3,000-unit synthetic genealogy written as canonical Parquet."""
    return write_genealogy(SMALL, tmp_path_factory.mktemp("small") / "source")


@pytest.fixture(scope="session")
def small_graph(small_source: tuple[Path, Path],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graph]:
    data = tmp_path_factory.mktemp("small-data")
    build_from_files([small_source[0]], [small_source[1]], data)
    return engine.open(data)


_OPENED: list[LiveStore] = []


def opened_store(folder: Path) -> LiveStore:
    """A live store at `folder`, closed after the test that opened it (hypothesis examples
    included) by the autouse fixture below."""
    store = LiveStore(folder)
    _OPENED.append(store)
    return store


@pytest.fixture(autouse=True)
def _close_opened_stores() -> Iterator[None]:
    yield
    while _OPENED:
        _OPENED.pop().close()
