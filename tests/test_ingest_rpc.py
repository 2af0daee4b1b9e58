"""The Ingest RPC on a real server on a loopback port: acks in order, duplicates, per-record
errors, Arrow batches, a broken Arrow payload, the writer's identity, and a read-only server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest

from index.store import Store
from server.rpc import genealogy_pb2 as pb
from server.rpc import genealogy_pb2_grpc as pb_grpc
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc
from server.serve import ServerConfig, TraceServer
from trust.audit import decode
from trust.corrections import Corrections
from trust.identity import Directory, Principal


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[TraceServer, str]]:
    running = TraceServer(tmp_path / "data", ServerConfig(port=0, no_auth=True, compact_edges=0))
    running.load()
    yield running, f"127.0.0.1:{running.port}"
    running.stop(0)


def _arrow(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_acks_come_back_in_order_with_precise_errors(server: tuple[TraceServer, str]) -> None:
    _, address = server
    nodes = [ipb.NodeRecord(key="lot:1", kind="lot"), ipb.NodeRecord(key="sn:1", kind="serial")]
    good = ipb.IngestBatch(source="mes", sequence=1, nodes=nodes, edges=[
        ipb.EdgeRecord(src="lot:1", dst="sn:1", kind="consumed")])
    bad = ipb.IngestBatch(source="mes", sequence=2, edges=[
        ipb.EdgeRecord(src="lot:1", dst="sn:404", kind="consumed"),
        ipb.EdgeRecord(src="lot:1", dst="sn:1", kind="teleported")])
    arrow = ipb.IngestBatch(source="bulk", sequence=1, nodes_arrow=_arrow(pa.table({
        "key": ["sn:2"], "kind": ["serial"]})), edges_arrow=_arrow(pa.table({
            "src": ["lot:1"], "dst": ["sn:2"], "kind": ["consumed"]})))
    broken = ipb.IngestBatch(source="bulk", sequence=2, edges_arrow=b"not arrow")
    with grpc.insecure_channel(address) as channel:
        acks = list(ipb_grpc.IngestStub(channel).Ingest(
            iter([good, good, bad, arrow, broken]), timeout=30))
        assert [(a.source, a.sequence) for a in acks] == [
            ("mes", 1), ("mes", 1), ("mes", 2), ("bulk", 1), ("bulk", 2)]
        assert [a.outcome for a in acks] == [ipb.APPLIED, ipb.DUPLICATE, ipb.REJECTED,
                                             ipb.APPLIED, ipb.REJECTED]
        assert acks[1].log_sequence == acks[0].log_sequence
        errors = [(e.table, e.index, e.field) for e in acks[2].errors]
        assert errors == [("edges", 1, "dst"), ("edges", 2, "kind")]
        assert "sn:404" in acks[2].errors[0].reason
        assert "not a readable Arrow IPC stream" in acks[4].errors[0].reason
        stats = pb_grpc.GenealogyStub(channel).Stats(pb.StatsRequest(), timeout=10)
        assert (stats.edges, stats.delta_edges) == (2, 2)


def test_the_writer_is_the_signed_in_account_not_a_header(tmp_path: Path) -> None:
    """The log and the audit trail name the account whose token the stream carries; a
    self-declared user header (what earlier versions recorded) changes nothing."""
    data = tmp_path / "data"
    store = Store(data, writable=True)
    directory = Directory(store)
    owner = Principal(0, "os:test", "os:test", "admin", "os")
    directory.add("mes-line-3", "writer", owner, full_name="MES line 3", kind="service")
    _, token = directory.issue_token("mes-line-3", owner)
    store.close()
    running = TraceServer(data, ServerConfig(port=0, compact_edges=0))
    running.load()
    try:
        batch = ipb.IngestBatch(source="scan", sequence=7, nodes=[
            ipb.NodeRecord(key="case:1", kind="logistic_unit")])
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            [ack] = ipb_grpc.IngestStub(channel).Ingest(
                iter([batch]), timeout=30, metadata=[("authorization", f"Bearer {token}"),
                                                     ("x-tracegraph-user", "mallory")])
        assert ack.outcome == ipb.APPLIED
        assert running.live is not None
        [entry] = list(running.live.store.entries())
        assert entry.writer.startswith("MES line 3 (mes-line-3) via grpc ")
        assert "mallory" not in entry.writer
        records = [decode(v) for _, v in running.live.store.audit_records()]
        [applied] = [r for r in records if r["action"] == "ingest.batch"]
        assert (applied["user_id"], applied["keys"]) == (1, ["scan/7"])  # the first user
    finally:
        running.stop(0)


def test_a_read_only_server_refuses_ingest(tmp_path: Path) -> None:
    Store(tmp_path / "data", writable=True).close()  # a directory with a store
    from index.live import LiveStore

    LiveStore(tmp_path / "data").close()  # and a first snapshot
    running = TraceServer(tmp_path / "data", ServerConfig(port=0, no_auth=True, read_only=True))
    try:
        running.load()
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            with pytest.raises(grpc.RpcError) as info:
                list(ipb_grpc.IngestStub(channel).Ingest(iter([]), timeout=10))
            assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "read-only" in info.value.details()
    finally:
        running.stop(0)


def test_a_signed_in_writers_retraction_becomes_a_proposal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data, writable=True)
    directory = Directory(store)
    owner = Principal(0, "os:test", "os:test", "admin", "os")
    directory.add("mes", "writer", owner, kind="service")
    _, token = directory.issue_token("mes", owner)
    store.close()
    running = TraceServer(data, ServerConfig(port=0, compact_edges=0))
    running.load()
    try:
        load = ipb.IngestBatch(source="mes", sequence=1, nodes=[
            ipb.NodeRecord(key="sn:1", kind="serial"),
            ipb.NodeRecord(key="case:1", kind="logistic_unit")], edges=[
            ipb.EdgeRecord(src="sn:1", dst="case:1", kind="packed")])
        fix = ipb.IngestBatch(source="mes", sequence=2, retractions=[ipb.RetractionRecord(
            src="sn:1", dst="case:1", kind="packed", reason="scanned into the wrong case")])
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = ipb_grpc.IngestStub(channel)
            metadata = [("authorization", f"Bearer {token}")]
            acks = list(stub.Ingest(iter([load, fix, fix]), timeout=30, metadata=metadata))
        assert [a.outcome for a in acks] == [ipb.APPLIED, ipb.APPLIED, ipb.DUPLICATE], [
            a.message for a in acks]
        assert acks[1].edges_retracted == 0
        assert "proposed as correction(s) 1" in acks[1].message
        assert running.live is not None
        corrections = Corrections(running.live)
        [proposal] = corrections.all()  # the resent batch proposed nothing more
        assert (proposal.state, proposal.author) == ("pending", "mes (mes)")
        graph = running.graph
        assert graph is not None
        assert graph.trace("sn:1").column("key").to_pylist() == ["case:1"]
        qa = Principal(9, "quinn", "Quinn", "qa", "session")
        assert running.live.ingest(corrections.approval(proposal.id, qa)).outcome == "applied"
        assert graph.trace("sn:1").num_rows == 0
    finally:
        running.stop(0)


def test_quality_records_over_ingest(server: tuple[TraceServer, str]) -> None:
    """Quality records in an Ingest batch: attached to the batch's own nodes; with policy
    all a bad record rejects the whole batch (its nodes too); with policy valid the good
    ones are kept and the bad one named; a batch sent again changes nothing; a step back is
    refused, and restating a kept version is a duplicate."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from index.quality_records import QualityRecords

    running, address = server

    def at(text: str) -> Timestamp:
        stamp = Timestamp()
        stamp.FromJsonString(text)
        return stamp

    nc = ipb.QualityRecordIn(record_id="NC-1", record_type="nonconformance", key="lot:q",
                             status="open", opened_at=at("2026-02-01T08:00:00Z"),
                             title="Specks")
    bad = ipb.QualityRecordIn(record_id="IN-1", record_type="inspection", key="lot:q",
                              status="done", opened_at=at("2026-02-01T09:00:00Z"),
                              title="Final test", result="maybe")
    lot = [ipb.NodeRecord(key="lot:q", kind="lot")]
    strict = ipb.IngestBatch(source="qms", sequence=1, nodes=lot, quality=[nc, bad])
    lenient = ipb.IngestBatch(source="qms", sequence=2, nodes=lot, quality=[nc, bad],
                              policy=ipb.APPLY_VALID)
    closing = ipb.IngestBatch(source="qms", sequence=3, quality=[ipb.QualityRecordIn(
        record_id="NC-1", record_type="nonconformance", key="lot:q", status="closed",
        opened_at=at("2026-02-01T08:00:00Z"), closed_at=at("2026-02-02T08:00:00Z"),
        title="Specks", disposition="use-as-is")])
    backwards = ipb.IngestBatch(source="qms", sequence=4, quality=[ipb.QualityRecordIn(
        record_id="NC-1", record_type="nonconformance", key="lot:q", status="investigating",
        opened_at=at("2026-02-01T08:00:00Z"), title="Specks")])
    restated = ipb.IngestBatch(source="qms", sequence=5, quality=[nc])  # its kept version 1
    with grpc.insecure_channel(address) as channel:
        acks = list(ipb_grpc.IngestStub(channel).Ingest(
            iter([strict, lenient, lenient, closing, backwards, restated]), timeout=30))
    assert [a.outcome for a in acks] == [ipb.REJECTED, ipb.APPLIED, ipb.DUPLICATE,
                                         ipb.APPLIED, ipb.REJECTED, ipb.DUPLICATE]
    assert [(e.table, e.index, e.field) for e in acks[0].errors] == [("quality", 2, "result")]
    assert "'maybe' is not pass or fail" in acks[0].errors[0].reason
    assert (acks[1].nodes_added, acks[1].quality_versions) == (1, 1)
    assert [(e.table, e.index) for e in acks[1].errors] == [("quality", 2)]
    assert acks[2].quality_versions == 0
    assert acks[3].quality_versions == 1
    assert "moving it back to investigating is a correction" in acks[4].errors[0].reason
    assert (acks[5].quality_versions, list(acks[5].errors)) == (0, [])
    assert running.live is not None
    history = QualityRecords(running.live).history("NC-1")
    assert [(v["status"], v["recorded_by"], v["source"]) for v in history] == [
        ("open", "no-auth (local administrator) (no-auth)", "ingest:qms/2"),
        ("closed", "no-auth (local administrator) (no-auth)", "ingest:qms/3")]
