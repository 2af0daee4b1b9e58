"""The benchmark genealogy of one scale: generated once into bench-data/ (ignored by git) and
built into a snapshot there. Shared by the pytest-benchmark suite and the peer comparison."""

from __future__ import annotations

import shutil
from pathlib import Path

import engine
from index.build import build_from_files
from loaders.synthetic import GenealogyConfig, write_genealogy

__all__ = ["ROOT", "dataset"]

ROOT = Path(__file__).resolve().parents[1] / "bench-data"


def dataset(units: int, seed: int = 7) -> tuple[Path, Path, Path]:
    """(nodes.parquet, edges.parquet, data dir) for this scale, made if missing or stale."""
    folder = ROOT / f"u{units}-s{seed}"
    source = folder / "source"
    nodes, edges = source / "nodes.parquet", source / "edges.parquet"
    if not (nodes.exists() and edges.exists()):
        shutil.rmtree(source, ignore_errors=True)
        write_genealogy(GenealogyConfig(units=units, seed=seed), source)
    data = folder / "data"
    try:
        engine.open(data, warm=False)
    except engine.SnapshotError:  # none yet, or built by an older snapshot format
        shutil.rmtree(data, ignore_errors=True)
        build_from_files([nodes], [edges], data)
    return nodes, edges, data
