"""Damaged storage is reported, never silently served or dropped: bytes flipped in RocksDB's
SST and WAL files and in snapshot files, on real directories, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import engine
from domain.errors import SnapshotError
from index.ingest import IngestBatch
from index.live import LiveStore
from index.repair import inspect_store
from index.store import Store, StoreCorrupt

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
BATCHES = 40


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True,
                          text=True, env=ENV, timeout=300, check=False)


def _fill(data: Path) -> None:
    """BATCHES acknowledged batches, each a lot and a serial made from it."""
    with LiveStore(data) as live:
        for i in range(BATCHES):
            nodes = pl.DataFrame({"key": [f"lot:{i}", f"sn:{i}"], "kind": ["lot", "serial"],
                                  "product": ["resin " * 40] * 2})  # bulk, so blocks fill
            edges = pl.DataFrame({"src": [f"lot:{i}"], "dst": [f"sn:{i}"],
                                  "kind": ["consumed"]})
            assert live.ingest(IngestBatch("mes", i, nodes, edges)).outcome == "applied"


def _fill_and_die(data: Path) -> None:
    live = LiveStore(data)
    for i in range(BATCHES):
        nodes = pl.DataFrame({"key": [f"lot:{i}"], "kind": ["lot"], "product": ["r" * 400]})
        assert live.ingest(IngestBatch("mes", i, nodes)).outcome == "applied"
    os._exit(137)  # as abrupt as SIGKILL: nothing flushed, nothing closed


def _flip(path: Path, at: float) -> None:
    """Flip one byte at fraction `at` of the file, keeping its size."""
    data = bytearray(path.read_bytes())
    where = int(len(data) * at)
    data[where] ^= 0xFF
    path.write_bytes(bytes(data))


def _flush(data: Path) -> None:
    """Move everything from the write-ahead log into SST files (as a long-running store does)."""
    store = Store(data, writable=True)
    try:
        for family in store.kv.cf.values():
            family.flush()
        store.kv.db.flush_wal(True)
    finally:
        store.close()


def test_an_intact_store_verifies_and_repair_says_so(tmp_path: Path) -> None:
    _fill(tmp_path / "data")
    report = inspect_store(tmp_path / "data")
    assert report.intact
    assert (report.last_seq, report.entries_ok) == (BATCHES, BATCHES)
    verified = _cli("stats", "--data", str(tmp_path / "data"), "--verify", "--format", "json")
    assert verified.returncode == 0, verified.stderr
    assert "store record" in json.loads(verified.stdout)["verified"]
    assert _cli("repair", "--data", str(tmp_path / "data")).returncode == 0


@pytest.mark.parametrize("at", [0.2, 0.35, 0.5])
def test_a_damaged_sst_fails_loudly_and_repair_names_the_lost_batches(
        tmp_path: Path, at: float) -> None:
    data = tmp_path / "data"
    _fill(data)
    _flush(data)
    tables = sorted((data / "store").glob("*.sst"), key=lambda p: p.stat().st_size)
    _flip(tables[-1], at)  # the largest table holds the log entries
    # Never a shorter replay: opening as the writer, reading, or verifying fails loudly.
    with pytest.raises(SnapshotError), LiveStore(data):
        pass
    with pytest.raises(SnapshotError):
        engine.open(data)
    verified = _cli("stats", "--data", str(data), "--verify")
    assert verified.returncode == 1
    assert "tracegraph: error:" in verified.stderr
    repair = _cli("repair", "--data", str(data), "--format", "json")
    assert repair.returncode == 1
    report = json.loads(repair.stdout)
    assert report["intact"] is False
    if report["lost"]:  # the damage hit log entries: each names the batch to re-send
        assert all(e["batches"] for e in report["lost"])
        assert {e["batches"][0].split("/")[0] for e in report["lost"]} == {"mes"}


def test_a_damaged_wal_record_is_never_skipped_in_silence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # A writer that dies after its acknowledged batches (no close: they live in the WAL only).
    script = (f"import os, sys; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; "
              "from tests.test_damage import _fill_and_die; "
              f"_fill_and_die(Path({str(data)!r}))")
    died = subprocess.run([sys.executable, "-c", script], env=ENV, timeout=120, check=False,
                          capture_output=True, text=True)
    assert died.returncode == 137, died.stderr
    logs = sorted((data / "store").glob("*.log"), key=lambda p: p.stat().st_size)
    assert logs
    assert logs[-1].stat().st_size > 10_000
    _flip(logs[-1], 0.4)
    with pytest.raises(SnapshotError), LiveStore(data):
        pass
    report = inspect_store(data)
    assert not report.intact
    assert report.opened.startswith("in salvage mode")
    repair = _cli("repair", "--data", str(data))
    assert repair.returncode == 1
    assert "the store is damaged" in repair.stderr


def test_entries_raise_on_a_hole_in_the_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _fill(data)
    store = Store(data, writable=True)
    try:
        store.kv.cf["log"].delete((7).to_bytes(8, "big"))  # RocksDB itself: the store has
        # no delete
        with pytest.raises(StoreCorrupt, match="log entries 7 to 7 are missing"):
            list(store.entries())
    finally:
        store.close()
    report = inspect_store(data)
    assert [(e.seq, e.state, e.batches) for e in report.lost] == [(7, "missing", ("mes/6",))]


@pytest.fixture
def built(tmp_path: Path) -> Path:
    from tests.conftest import write_tables

    nodes = [{"key": f"n:{i}", "kind": "lot" if i == 0 else "serial"} for i in range(50)]
    edges = [{"src": "n:0", "dst": f"n:{i}", "kind": "consumed"} for i in range(1, 50)]
    paths = write_tables(tmp_path / "in", nodes, edges)
    assert _cli("build", "--nodes", str(paths[0]), "--edges", str(paths[1]), "--data",
                str(tmp_path / "data")).returncode == 0
    return tmp_path / "data"


def test_a_changed_snapshot_file_is_never_answered_from(built: Path) -> None:
    assert engine.open(built).trace("n:0").num_rows == 49  # verified once, recorded
    down = next((built / "snapshots").glob("v*/down.arrow"))
    _flip(down, 0.6)  # a writer changed it: new mtime
    result = _cli("trace", "n:0", "--data", str(built))
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_change_that_hides_its_mtime_is_caught_by_verify(built: Path) -> None:
    engine.open(built)
    down = next((built / "snapshots").glob("v*/down.arrow"))
    before = down.stat()
    _flip(down, 0.6)
    os.utime(down, ns=(before.st_atime_ns, before.st_mtime_ns))
    # Size, mtime and inode as recorded: an open trusts it; the scrub (verify) does not.
    verified = _cli("stats", "--data", str(built), "--verify")
    assert verified.returncode == 1
    assert "checksum mismatch" in verified.stderr


def test_the_servers_scrub_catches_what_an_open_cannot(built: Path) -> None:
    from grpc_health.v1 import health_pb2

    from server.serve import ServerConfig, TraceServer

    server = TraceServer(built, ServerConfig(port=0, no_auth=True, read_only=True))
    server.load()
    try:
        assert server.scrub() is None
        down = next((built / "snapshots").glob("v*/down.arrow"))
        before = down.stat()
        _flip(down, 0.6)
        os.utime(down, ns=(before.st_atime_ns, before.st_mtime_ns))
        problem = server.scrub()
        assert problem is not None
        assert "checksum mismatch" in problem
        status = server.health.Check(health_pb2.HealthCheckRequest(service=""), None).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        server.stop(0)
