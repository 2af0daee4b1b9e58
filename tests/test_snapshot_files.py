"""Snapshot files: atomic publish, manifest checksums, fallback past torn or corrupt snapshots,
memory-mapped opening, and the import boundary of `engine`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import engine
from engine import SnapshotError
from index import files
from tests.conftest import build_graph

NODES = [{"key": "lot", "kind": "lot"}, {"key": "wo", "kind": "work_order"},
         {"key": "sn", "kind": "serial"}]
EDGES = [{"src": "lot", "dst": "wo", "kind": "consumed"},
         {"src": "wo", "dst": "sn", "kind": "produced"}]


def _two_snapshots(tmp_path: Path) -> Path:
    build_graph(tmp_path, NODES, EDGES[:1])
    build_graph(tmp_path, NODES, EDGES)
    return tmp_path / "data"


def test_publish_versions_and_manifest(tmp_path: Path) -> None:
    data = _two_snapshots(tmp_path)
    snapshots = files.list_snapshots(data)
    assert [p.name for p in snapshots] == ["v000002", "v000001"]
    manifest = json.loads((snapshots[0] / "manifest.json").read_text())
    assert manifest["version"] == 2
    assert manifest["node_count"] == 3
    assert manifest["edge_count"] == 2
    for name, meta in manifest["files"].items():
        assert (snapshots[0] / name).stat().st_size == meta["bytes"]
        assert len(meta["sha256"]) == 64
    graph = engine.open(data, verify="full")
    assert graph.snapshot.version == 2
    assert graph.trace("lot").num_rows == 2
    assert not [p for p in (data / "snapshots").iterdir() if p.name.startswith(".tmp")]


def test_torn_file_falls_back_to_previous_snapshot(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    data = _two_snapshots(tmp_path)
    newest = files.list_snapshots(data)[0]
    with open(newest / "down.arrow", "r+b") as handle:
        handle.truncate(10)
    graph = engine.open(data)
    assert graph.snapshot.version == 1
    assert graph.trace("lot").num_rows == 1
    assert "torn file" in caplog.text


def test_corrupt_file_is_caught_by_full_verify(tmp_path: Path) -> None:
    data = _two_snapshots(tmp_path)
    newest = files.list_snapshots(data)[0]
    target = newest / "nodes.arrow"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, different bytes
    target.write_bytes(bytes(raw))
    assert engine.open(data, verify="full").snapshot.version == 1


def test_no_snapshot_and_no_directory(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no such data directory"):
        engine.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SnapshotError, match="no loadable snapshot"):
        engine.open(tmp_path / "empty")


def test_failed_publish_leaves_previous_snapshot(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    build_graph(tmp_path, NODES, EDGES)
    real_write = files.write_ipc
    calls = {"n": 0}

    def failing_write(path: Path, table: pa.Table, *, compress: bool = False) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_write(path, table, compress=compress)

    monkeypatch.setattr(files, "write_ipc", failing_write)
    with pytest.raises(OSError, match="No space left"):
        build_graph(tmp_path, NODES, EDGES[:1])
    assert [p.name for p in files.list_snapshots(data)] == ["v000001"]
    assert not [p for p in (data / "snapshots").iterdir() if p.name.startswith(".tmp")]
    assert engine.open(data).trace("lot").num_rows == 2


def test_open_maps_instead_of_reading(small_graph: engine.Graph) -> None:
    path = small_graph.snapshot.path
    on_disk = sum(p.stat().st_size for p in path.glob("*.arrow"))
    before = pa.total_allocated_bytes()
    graph = engine.open(path.parent.parent, warm=False)
    assert pa.total_allocated_bytes() - before < on_disk // 20
    assert graph.snapshot.down.neighbor.flags["OWNDATA"] is False


def test_engine_does_not_import_grpc_rocksdict_or_networkx() -> None:
    code = ("import sys, engine; bad = [m for m in ('grpc', 'rocksdict', 'networkx') "
            "if m in sys.modules]; print(','.join(bad)); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert result.returncode == 0, result.stdout + result.stderr


def test_exported_names() -> None:
    assert set(engine.__all__) == {
        "Cancellation", "Direction", "EmptySeeds", "Graph", "Impact", "InvalidInput",
        "NotConnected", "QueryCancelled", "ResultLimitExceeded", "SnapshotError", "TraceError",
        "UnknownNode", "kernels_compiled", "open",
    }
    for name in engine.__all__:
        assert hasattr(engine, name)


def test_large_build_order_writes_the_same_snapshot(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A large build writes node tables first and waits on the disk for each table (to bound
    memory); forced here on a small genealogy, every file must hold the same rows as the
    default order's."""
    from index import build
    from loaders.synthetic import GenealogyConfig, write_genealogy

    nodes, edges = write_genealogy(GenealogyConfig(units=300, seed=5), tmp_path / "source")
    build.build_from_files([nodes], [edges], tmp_path / "small")
    monkeypatch.setattr(build, "_LARGE_BUILD", 0)
    build.build_from_files([nodes], [edges], tmp_path / "large")
    small, large = (files.list_snapshots(tmp_path / name)[0] for name in ("small", "large"))
    names = sorted(p.name for p in small.glob("*.arrow"))
    assert names == sorted(p.name for p in large.glob("*.arrow"))
    for name in names:
        expected = files.read_ipc(small / name)
        got = files.read_ipc(large / name)
        assert got.equals(expected), name
