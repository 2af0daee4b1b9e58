"""The durable store on real RocksDB directories and real processes: synced writes, idempotent
batches, one writer, precise rejections that lose nothing, crash between commit and ack,
interrupted snapshot publish, corrupt snapshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine
from domain.errors import InvalidInput, TraceError
from engine import Graph
from index.file_ingest import ingest_files
from index.ingest import MAX_BATCH_RECORDS, IngestBatch, RetractionRequest
from index.live import LiveStore
from index.log import LogEntry
from index.store import SYNC_WRITE, Store

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
NODES = pl.DataFrame({"key": ["lot:1", "wo:1", "sn:1", "sn:2", "case:1"],
                      "kind": ["lot", "work_order", "serial", "serial", "logistic_unit"]})
EDGES = pl.DataFrame({"src": ["lot:1", "wo:1", "wo:1", "sn:1", "sn:2"],
                      "dst": ["wo:1", "sn:1", "sn:2", "case:1", "case:1"],
                      "kind": ["consumed", "produced", "produced", "packed", "packed"],
                      "event_time": ["2025-03-01T08:00:00Z"] * 5})


def _graph(live: LiveStore) -> Graph:
    return Graph(live.view().snapshot, live.view)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True,
                          text=True, env=env or ENV, timeout=300, check=False)


def _write_csv(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    NODES.write_csv(folder / "nodes.csv")
    EDGES.write_csv(folder / "edges.csv")
    return folder / "nodes.csv", folder / "edges.csv"


class _SpyDb:
    """The real Rdict, recording the options of every WriteBatch write."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.write_options: list[Any] = []

    def write(self, batch: Any, options: Any = None) -> None:
        self.write_options.append(options)
        self._db.write(batch, options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_the_ingest_write_path_syncs(tmp_path: Path) -> None:
    assert SYNC_WRITE.sync is True
    with LiveStore(tmp_path / "data") as live:
        spy = _SpyDb(live.store.kv.db)
        live.store.kv.db = spy
        ack = live.ingest(IngestBatch("mes", 1, NODES, EDGES))
        assert ack.outcome == "applied"
        assert spy.write_options, "the batch was written through Rdict.write"
        assert all(o is not None and o.sync for o in spy.write_options)


def test_acknowledged_batches_are_visible_and_idempotent(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        graph = _graph(live)
        ack = live.ingest(IngestBatch("mes", 1, NODES, EDGES))
        assert (ack.outcome, ack.nodes, ack.edges) == ("applied", 5, 5)
        # Visible the moment it is acknowledged.
        assert set(graph.trace("lot:1").column("key").to_pylist()) == {
            "wo:1", "sn:1", "sn:2", "case:1"}
        again = live.ingest(IngestBatch("mes", 1, NODES, EDGES))
        assert (again.outcome, again.seq) == ("duplicate", ack.seq)
        assert "already applied" in again.message
        reused = live.ingest(IngestBatch("mes", 1, NODES, EDGES.head(2)))
        assert reused.outcome == "rejected"
        assert "different content" in reused.errors[0].reason
        assert graph.edge_count == 5
    with LiveStore(tmp_path / "data") as live:  # the batch id survives a restart
        assert live.ingest(IngestBatch("mes", 1, NODES, EDGES)).outcome == "duplicate"
        assert _graph(live).edge_count == 5


def test_a_second_writer_fails_at_once(tmp_path: Path) -> None:
    nodes, edges = _write_csv(tmp_path / "in")
    with LiveStore(tmp_path / "data"):
        result = _cli("ingest", "--data", str(tmp_path / "data"), str(nodes), str(edges))
        assert result.returncode == 1
        assert "already open for writing by pid" in result.stderr
        assert str(os.getpid()) in result.stderr
        # Readers need no lock.
        assert _cli("stats", "--data", str(tmp_path / "data")).returncode == 0


def _reasons(ack: Any) -> list[tuple[str, int, str, str]]:
    return [(e.table, e.row, e.field, e.reason) for e in ack.errors]


def test_bad_records_get_precise_errors_and_are_kept(tmp_path: Path) -> None:
    future = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    with LiveStore(tmp_path / "data") as live:
        assert live.ingest(IngestBatch("mes", 1, NODES, EDGES)).outcome == "applied"
        nodes = pl.DataFrame({"key": ["ok:1", "bad key", "lot:1", "x:1"],
                              "kind": ["serial", "serial", "serial", "gizmo"]})
        edges = pl.DataFrame({
            "src": ["lot:1", "lot:1", "lot:1", "lot:1", "nope:1", "lot:1"],
            "dst": ["ok:1", "sn:1", "sn:1", "sn:1", "sn:1", "lot:1"],
            "kind": ["consumed", "consumd", "consumed", "consumed", "consumed", "consumed"],
            "event_time": ["2025-01-01", "2025-01-01", future, "1969-12-31", None, None],
        })
        ack = live.ingest(IngestBatch("mes", 2, nodes, edges))
        assert ack.outcome == "rejected"
        reasons = _reasons(ack)
        assert ("nodes", 2, "key", "key contains whitespace or a control character") in reasons
        assert any(r[:3] == ("nodes", 3, "key") and "already exists as a lot" in r[3]
                   for r in reasons)
        assert any(r[:3] == ("nodes", 4, "kind") and "unknown node kind 'gizmo'" in r[3]
                   for r in reasons)
        assert any(r[:3] == ("edges", 2, "kind") and "unknown edge kind 'consumd'" in r[3]
                   for r in reasons)
        assert ("edges", 3, "event_time", "event_time is in the future") in reasons
        assert ("edges", 4, "event_time", "event_time is before 1970") in reasons
        assert any(r[:3] == ("edges", 5, "src") and "unknown node 'nope:1'" in r[3]
                   for r in reasons)
        assert ("edges", 6, "dst", "self-loop: source and destination are the same node") in \
            reasons
        # Whole batch or nothing: ok:1 and its edge were not applied.
        graph = _graph(live)
        with pytest.raises(TraceError, match="unknown node key 'ok:1'"):
            graph.trace("ok:1")
        # The same batch under the apply-valid policy applies what is valid.
        partial = live.ingest(IngestBatch("mes", 3, nodes, edges, policy="valid"))
        assert (partial.outcome, partial.nodes, partial.edges) == ("applied", 1, 1)
        assert graph.trace("ok:1", "upstream").column("key").to_pylist() == ["lot:1"]
        kept = list(live.store.rejects())
        assert len(kept) == 2 * len(reasons)
        first = kept[0]
        assert first["batch"] == "mes/2"
        assert first["reason"] == reasons[0][3]
        records = [json.loads(r["record"]) for r in kept if r["batch"] == "mes/2"]
        assert {"key": "bad key", "kind": "serial"} in records  # the rejected row itself
        assert {"src": "lot:1", "dst": "sn:1", "kind": "consumd",
                "event_time": "2025-01-01"} in records


def test_oversize_empty_and_malformed_batches(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        big = pl.DataFrame({"key": [f"sn:{i}" for i in range(MAX_BATCH_RECORDS + 1)],
                            "kind": ["serial"] * (MAX_BATCH_RECORDS + 1)})
        ack = live.ingest(IngestBatch("mes", 1, big))
        assert ack.outcome == "rejected"
        assert f"at most {MAX_BATCH_RECORDS:,} per batch" in ack.errors[0].reason
        assert live.ingest(IngestBatch("mes", 2)).errors[0].reason == "batch is empty"
        bad_source = live.ingest(IngestBatch("has space", 1, NODES))
        assert bad_source.errors[0].field == "source"
        no_dst = live.ingest(IngestBatch("mes", 3, None, EDGES.drop("dst")))
        assert no_dst.errors[0].field == "dst"
        assert "lack required column" in no_dst.errors[0].reason
        retraction = live.ingest(IngestBatch("mes", 4, retractions=[
            RetractionRequest("lot:1", "wo:1", "consumed", "  ")]))
        assert retraction.errors[0].reason == "a retraction needs a reason"
        assert live.last_seq == 0  # nothing was applied
        assert len(list(live.store.rejects())) == 5


def test_a_wrong_typed_parquet_column_is_rejected_per_row(tmp_path: Path) -> None:
    nodes, _ = _write_csv(tmp_path / "in")
    edges = tmp_path / "in" / "edges.parquet"
    pq.write_table(pa.table({"src": ["lot:1", "wo:1"], "dst": ["wo:1", "sn:1"],
                             "kind": ["consumed", "produced"],
                             "event_time": pa.array([True, False])}), edges)
    with LiveStore(tmp_path / "data") as live:
        report = ingest_files(live, [nodes, edges])
        assert report.batches["rejected"] == 1
        assert report.rejected_records == 2
        assert all("event_time is not a timestamp" in p for p in report.problems)
        assert "edges.parquet row 1" in report.problems[0]


def test_a_crash_between_commit_and_ack_leaves_one_copy(tmp_path: Path) -> None:
    nodes, edges = _write_csv(tmp_path / "in")
    data = tmp_path / "data"
    crashing = {**ENV, "TRACEGRAPH_FAULTS": "after-commit"}
    first = _cli("ingest", "--data", str(data), str(nodes), str(edges), env=crashing)
    assert first.returncode == 137, first.stderr  # died after the commit, before any ack
    second = _cli("ingest", "--data", str(data), str(nodes), str(edges))
    assert second.returncode == 0, second.stderr
    assert "batches already applied (duplicates) │ 1" in second.stdout
    store = Store(data, writable=False)
    try:
        entries = list(store.entries())
    finally:
        store.close()
    assert [e.batch.split("@")[0] for e in entries] == ["nodes.csv", "edges.csv"]
    graph = engine.open(data)
    assert graph.edge_count == EDGES.height
    assert graph.stats()["edges_by_kind"] == {"consumed": 1, "packed": 2, "produced": 2}


def _expected(graph: Graph) -> dict[str, list[str]]:
    return {key: sorted(graph.trace(key, direction).column("key").to_pylist())
            for key in ("lot:1", "case:1") for direction in ("downstream", "upstream")}


@pytest.mark.parametrize("step", ["compact-start", "publish-files", "publish-manifest",
                                  "publish-rename", "publish-done"])
def test_compaction_killed_at_any_step_leaves_a_loadable_store(tmp_path: Path,
                                                               step: str) -> None:
    nodes, edges = _write_csv(tmp_path / "in")
    data = tmp_path / "data"
    assert _cli("ingest", "--data", str(data), str(nodes), str(edges)).returncode == 0
    expected = _expected(engine.open(data))
    killed = _cli("compact", "--data", str(data),
                  env={**ENV, "TRACEGRAPH_FAULTS": step})
    # compact-start dies in the CLI process itself; publish steps die in the compaction child.
    assert killed.returncode != 0
    assert _expected(engine.open(data)) == expected
    with LiveStore(data) as live:  # the writer sweeps what was left half-done
        assert _expected(_graph(live)) == expected
        assert not list((data / "snapshots").glob(".tmp-*"))
        live.ingest(IngestBatch("after", 1, retractions=[
            RetractionRequest("sn:1", "case:1", "packed", "wrong case")]))
        live.compact()
        assert "sn:1" not in _graph(live).trace("case:1", "upstream").column("key").to_pylist()


def test_a_corrupt_newest_snapshot_falls_back_and_replays(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiveStore(data, compact_in_process=True) as live:
        live.ingest(IngestBatch("mes", 1, NODES, EDGES))
        live.compact()
        expected = _expected(_graph(live))
    newest = sorted((data / "snapshots").iterdir())[-1]
    target = newest / "down.arrow"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, wrong content: only the checksum can tell
    target.write_bytes(bytes(raw))
    graph = engine.open(data, verify="full")
    assert graph.snapshot.version == 1  # the empty first snapshot, plus the replayed log
    assert _expected(graph) == expected
    with LiveStore(data) as live:  # the writer checks checksums on open, always
        assert live.view().snapshot.version == 1
        assert _expected(_graph(live)) == expected


def test_build_refuses_a_store_directory(tmp_path: Path) -> None:
    nodes, edges = _write_csv(tmp_path / "in")
    data = tmp_path / "data"
    assert _cli("ingest", "--data", str(data), str(nodes), str(edges)).returncode == 0
    result = _cli("build", "--nodes", str(nodes), "--edges", str(edges), "--data", str(data))
    assert result.returncode == 1
    assert "holds a live store" in result.stderr


def test_a_built_directory_is_adopted_and_extended(tmp_path: Path) -> None:
    nodes, edges = _write_csv(tmp_path / "in")
    data = tmp_path / "data"
    assert _cli("build", "--nodes", str(nodes), "--edges", str(edges), "--data",
                str(data)).returncode == 0
    more = tmp_path / "more.csv"
    pl.DataFrame({"src": ["case:1"], "dst": ["sn:2"], "kind": ["reworked"]}).write_csv(more)
    extra_nodes = tmp_path / "more-nodes.csv"
    pl.DataFrame({"key": ["pallet:1"], "kind": ["logistic_unit"]}).write_csv(extra_nodes)
    pallet = tmp_path / "pallet.csv"
    pl.DataFrame({"src": ["case:1"], "dst": ["pallet:1"], "kind": ["packed"]}).write_csv(pallet)
    result = _cli("ingest", "--data", str(data), str(extra_nodes), str(pallet))
    assert result.returncode == 0, result.stderr
    assert "was made by `tracegraph build`: it now also holds a live store" in " ".join(
        result.stderr.split())
    again = _cli("build", "--nodes", str(nodes), "--edges", str(edges), "--data", str(data))
    assert again.returncode == 1
    assert f"tracegraph ingest --data {data} NODES EDGES" in again.stderr
    graph = engine.open(data)
    assert "pallet:1" in graph.trace("lot:1").column("key").to_pylist()
    assert graph.node_count == NODES.height + 1


def test_log_entries_round_trip() -> None:
    entry = LogEntry(seq=7, batch="a/1", writer="w", recorded_at=123,
                     nodes=pa.table({"sid": pa.array([1], pa.int32())}),
                     edges=pa.table({"src": pa.array([1], pa.int32())}))
    again = LogEntry.decode(entry.encode())
    assert (again.seq, again.batch, again.writer, again.recorded_at) == (7, "a/1", "w", 123)
    assert again.nodes.equals(entry.nodes)
    assert again.edges.equals(entry.edges)


def test_ingest_needs_files_it_understands(tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    pl.DataFrame({"a": [1]}).write_csv(odd)
    with LiveStore(tmp_path / "data") as live, pytest.raises(InvalidInput,
                                                             match="neither a node table"):
        ingest_files(live, [odd])


def test_the_delta_grows_past_a_large_snapshot(tmp_path: Path,
                                               small_source: tuple[Path, Path]) -> None:
    """Per-node arrays grow together: a delta over thousands of snapshot nodes takes more new
    nodes than its first capacity, and every new edge stays reachable."""
    from index.build import build_from_files

    build_from_files([small_source[0]], [small_source[1]], tmp_path / "data")
    base = engine.open(tmp_path / "data")
    lot = base.snapshot.node_keys[0].as_py()
    with LiveStore(tmp_path / "data") as live:
        for b in range(3):
            keys = [f"sn:grow:{b}:{i}" for i in range(3000)]
            ack = live.ingest(IngestBatch("grow", b, pl.DataFrame(
                {"key": keys, "kind": ["serial"] * len(keys)}), pl.DataFrame(
                {"src": [lot] * len(keys), "dst": keys, "kind": ["consumed"] * len(keys)})))
            assert ack.outcome == "applied", ack.message
        graph = _graph(live)
        reached = set(graph.trace(lot, max_depth=1).column("key").to_pylist())
        assert {f"sn:grow:{b}:{i}" for b in range(3) for i in range(3000)} <= reached
        assert graph.trace("sn:grow:2:2999", "upstream").column("key").to_pylist()[0] == lot


def test_unreadable_input_is_rejected_and_the_store_keeps_writing(tmp_path: Path) -> None:
    """A column no check foresaw (a list where a number belongs) rejects its batch only."""
    with LiveStore(tmp_path / "data") as live:
        good = live.submit(IngestBatch("mes", 1, NODES, EDGES))
        odd = EDGES.with_columns(pl.Series("quantity", [[1, 2]] * EDGES.height))
        bad = live.submit(IngestBatch("mes", 2, None, odd))
        assert good.result().outcome == "applied"
        rejected = bad.result()
        assert rejected.outcome == "rejected"
        assert rejected.errors[0].table == "batch"
        assert rejected.errors[0].reason.startswith("cannot be read: cannot cast List")
        assert [r["reason"] for r in live.store.rejects()] == [rejected.errors[0].reason]
        later = live.ingest(IngestBatch("mes", 3, None, EDGES.with_columns(
            pl.lit("2025-03-02T08:00:00Z").alias("event_time"))))
        assert later.outcome == "applied"
        assert _graph(live).edge_count == 2 * EDGES.height


def _rows_from(view: Any, key: str) -> int:
    return int(Graph(view.snapshot, lambda: view).trace(key).num_rows)


def test_old_snapshot_files_go_only_when_no_view_holds_them(tmp_path: Path) -> None:
    import gc

    data = tmp_path / "data"
    with LiveStore(data, compact_in_process=True) as live:
        live.ingest(IngestBatch("mes", 1, NODES, EDGES))
        held = live.view()  # a reader in the middle of something, on snapshot v1
        first = held.snapshot.path
        for sequence in (2, 3):
            extra = pl.DataFrame({"key": [f"sn:x{sequence}"], "kind": ["serial"]})
            live.ingest(IngestBatch("mes", sequence, extra, pl.DataFrame(
                {"src": ["wo:1"], "dst": [f"sn:x{sequence}"], "kind": ["produced"]})))
            live.compact()
        newest = [p.name for p in sorted((data / "snapshots").iterdir())]
        assert first.exists(), "a view still reads it"
        assert _rows_from(held, "lot:1") == 4  # and it still answers
        assert newest == ["v000001", "v000002", "v000003"]  # v1 held beyond the two kept
        del held
        gc.collect()
        assert not first.exists(), "released and superseded: deleted"
        assert len(list((data / "snapshots").iterdir())) == 2


def test_a_batch_sent_twice_in_one_group_follows_its_first_copy(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        good = [live.submit(IngestBatch("twice", 1, NODES, EDGES)) for _ in range(3)]
        bad_edges = EDGES.with_columns(pl.lit("consumd").alias("kind"))
        bad = [live.submit(IngestBatch("twice", 2, NODES, bad_edges)) for _ in range(2)]
        outcomes = [f.result().outcome for f in good]
        assert outcomes.count("applied") == 1
        assert outcomes.count("duplicate") == 2
        assert {f.result().seq for f in good} == {good[0].result().seq}
        assert [f.result().outcome for f in bad] == ["rejected", "rejected"]
        assert _graph(live).edge_count == EDGES.height


def test_an_unpacked_link_gets_an_end_time_that_survives_compaction(tmp_path: Path) -> None:
    """Packed into case A, unpacked, packed into case B: history keeps both links (a trace
    still reaches A), the first has an end time, and the quality report sees a repacking,
    not a serial in two places at once; the same after compaction and a restart."""
    from datetime import datetime

    from engine.quality import check_graph
    from index.ingest import EndRequest

    def two_places(live: LiveStore) -> int:
        found = {f.check: f.count for f in check_graph(_graph(live)).findings}
        return found["serial_in_two_places"]

    t = ["2025-03-01T08:00:00Z", "2025-03-02T08:00:00Z", "2025-03-03T08:00:00Z"]
    nodes = pl.DataFrame({"key": ["sn:1", "case:A", "case:B"],
                          "kind": ["serial", "logistic_unit", "logistic_unit"]})
    with LiveStore(tmp_path / "data", compact_in_process=True) as live:
        live.ingest(IngestBatch("pack", 1, nodes, pl.DataFrame(
            {"src": ["sn:1"], "dst": ["case:A"], "kind": ["packed"], "event_time": [t[0]]})))
        live.ingest(IngestBatch("pack", 2, None, pl.DataFrame(
            {"src": ["sn:1"], "dst": ["case:B"], "kind": ["packed"], "event_time": [t[2]]})))
        assert two_places(live) == 1  # no end yet: both links hold from their start
        wrong = live.ingest(IngestBatch("pack", 3, ends=[EndRequest(
            "sn:1", "case:A", "assembled", datetime.fromisoformat(t[1]))]))
        assert wrong.outcome == "rejected"
        assert "no open 'assembled' edge" in wrong.errors[0].reason
        ack = live.ingest(IngestBatch("pack", 4, ends=[EndRequest(
            "sn:1", "case:A", "packed", datetime.fromisoformat(t[1]))]))
        assert ack.outcome == "applied", ack.message
        assert two_places(live) == 0
        assert set(_graph(live).trace("sn:1").column("key").to_pylist()) == {"case:A",
                                                                              "case:B"}
        live.compact()
        assert two_places(live) == 0
        assert len(live.view().ended_pos) == 1  # now an ended snapshot edge
    with LiveStore(tmp_path / "data") as live:
        assert two_places(live) == 0
        again = live.ingest(IngestBatch("pack", 5, ends=[EndRequest(
            None, "case:B", "packed", datetime.fromisoformat(t[2]))]))  # empty case B
        assert again.outcome == "applied", again.message


def test_a_retraction_sees_the_edges_sent_just_before_it(tmp_path: Path) -> None:
    """Batches queued together commit as a group; a retraction queued right behind the batch
    that adds its edge must still find it (the group is cut before a retraction)."""
    with LiveStore(tmp_path / "data") as live:
        nodes = pl.DataFrame({"key": ["lot:1", "sn:1"], "kind": ["lot", "serial"]})
        with live._write_lock:  # the writer waits here with the first batch; the rest queue
            first = live.submit(IngestBatch("mes", 0, nodes))
            time.sleep(0.2)
            added = live.submit(IngestBatch("mes", 1, None, pl.DataFrame({
                "src": ["lot:1"], "dst": ["sn:1"], "kind": ["consumed"]})))
            retracted = live.submit(IngestBatch("qa", 1, retractions=[RetractionRequest(
                "lot:1", "sn:1", "consumed", "wrong lot")]))
        assert [f.result(30).outcome for f in (first, added, retracted)] == [
            "applied", "applied", "applied"]
        assert retracted.result().retracted == 1
        assert _graph(live).trace("lot:1").num_rows == 0


def test_re_ingest_is_idempotent_by_content(tmp_path: Path) -> None:
    """The same rows under another batch size or file name add nothing, before and after
    compaction; a retracted edge sent again is a new assertion and comes back."""
    nodes, edges = _write_csv(tmp_path / "in")
    data = tmp_path / "data"
    assert _cli("ingest", "--data", str(data), str(nodes), str(edges), "--no-check",
                "--batch-rows", "2").returncode == 0
    count = engine.open(data).edge_count
    renamed = tmp_path / "renamed.csv"
    renamed.write_bytes(edges.read_bytes())
    for args in (["--batch-rows", "3", str(nodes), str(edges)], [str(renamed)]):
        again = _cli("ingest", "--data", str(data), "--no-check", *args)
        assert again.returncode == 0, again.stderr
        assert engine.open(data).edge_count == count
    assert _cli("compact", "--data", str(data)).returncode == 0
    assert _cli("ingest", "--data", str(data), "--no-check", "--batch-rows", "1",
                str(edges)).returncode == 0
    assert engine.open(data).edge_count == count
    with LiveStore(data) as live:
        first = pl.read_csv(edges).row(0, named=True)
        ack = live.ingest(IngestBatch("fix", 1, retractions=[RetractionRequest(
            first["src"], first["dst"], first["kind"], "wrong", first.get("event_time") and
            datetime.fromisoformat(first["event_time"].replace("Z", "+00:00")))]))
        assert ack.retracted >= 1
        back = live.ingest(IngestBatch("resend", 1, None, pl.read_csv(edges).head(1)))
        assert back.edges == 1  # re-asserted after its retraction: added


def test_one_edge_sent_twice_in_one_group_is_added_once(tmp_path: Path) -> None:
    """Two batches committed in one group, both carrying the same edge: one assertion."""
    with LiveStore(tmp_path / "data") as live:
        nodes = pl.DataFrame({"key": ["lot:1", "sn:1"], "kind": ["lot", "serial"]})
        edge = pl.DataFrame({"src": ["lot:1"], "dst": ["sn:1"], "kind": ["consumed"]})
        with live._write_lock:  # the writer waits with the first batch; the next two group
            first = live.submit(IngestBatch("mes", 0, nodes))
            time.sleep(0.2)
            copies = [live.submit(IngestBatch("mes", n, None, edge)) for n in (1, 2)]
        assert first.result(30).outcome == "applied"
        assert [f.result(30).edges for f in copies] == [1, 0]
        assert _graph(live).edge_count == 1
