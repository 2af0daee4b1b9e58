"""Bad times and sizes are rejected, never half-applied: a real server on a loopback port
gets Timestamps out of range, back-dated record times, NaN and infinite quantities, keys of the
wrong type, control characters, a megabyte key and a compressed payload that would expand to
hundreds of megabytes. Each is refused with a reason that names the field and never echoes
the input; the stream goes on; the next valid batch applies."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from server.rpc import genealogy_pb2 as pb
from server.rpc import genealogy_pb2_grpc as pb_grpc
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc
from server.serve import ServerConfig, TraceServer


@pytest.fixture
def address(tmp_path: Path) -> Iterator[str]:
    server = TraceServer(tmp_path / "data", ServerConfig(port=0, no_auth=True, compact_edges=0))
    server.load()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        acks = list(ipb_grpc.IngestStub(channel).Ingest(iter([ipb.IngestBatch(
            source="seed", sequence=1, nodes=[ipb.NodeRecord(key="lot:1", kind="lot"),
                                             ipb.NodeRecord(key="sn:1", kind="serial")],
            edges=[ipb.EdgeRecord(src="lot:1", dst="sn:1", kind="consumed")])]), timeout=30))
        assert acks[0].outcome == ipb.APPLIED
    yield f"127.0.0.1:{server.port}"
    server.stop(0)


def _ingest(address: str, *batches: ipb.IngestBatch) -> list[ipb.IngestAck]:
    with grpc.insecure_channel(address) as channel:
        return list(ipb_grpc.IngestStub(channel).Ingest(iter(batches), timeout=60))


def _arrow(table: pa.Table, compression: str | None = None) -> bytes:
    sink = io.BytesIO()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _stamp(seconds: int, nanos: int = 0) -> Timestamp:
    return Timestamp(seconds=seconds, nanos=nanos)


VALID = ipb.IngestBatch(source="ok", sequence=9, nodes=[ipb.NodeRecord(key="sn:9",
                                                                        kind="serial")])


@pytest.mark.parametrize(("batch", "where"), [
    (ipb.IngestBatch(source="t", sequence=1, edges=[ipb.EdgeRecord(
        src="lot:1", dst="sn:1", kind="consumed", event_time=_stamp(2**62))]),
     ("edges", 1, "event_time")),
    (ipb.IngestBatch(source="t", sequence=2, nodes=[ipb.NodeRecord(
        key="sn:2", kind="serial", created_at=_stamp(1_100_000_000_000))]),  # year 36812
     ("nodes", 1, "created_at")),
    (ipb.IngestBatch(source="t", sequence=3, nodes=[ipb.NodeRecord(
        key="sn:3", kind="serial", created_at=_stamp(10, nanos=-1))]),
     ("nodes", 1, "created_at")),
    (ipb.IngestBatch(source="t", sequence=4, nodes=[ipb.NodeRecord(
        key="sn:4", kind="serial", created_at=_stamp(int(datetime(2200, 1, 1,
                                                                  tzinfo=UTC).timestamp())))]),
     ("nodes", 1, "created_at")),
    (ipb.IngestBatch(source="t", sequence=5, nodes=[ipb.NodeRecord(
        key="sn:5", kind="serial", quantity=float("nan"))]), ("nodes", 1, "quantity")),
    (ipb.IngestBatch(source="t", sequence=6, edges=[ipb.EdgeRecord(
        src="lot:1", dst="sn:1", kind="consumed", quantity=float("inf"))]),
     ("edges", 1, "quantity")),
    (ipb.IngestBatch(source="t", sequence=7, nodes=[ipb.NodeRecord(
        key="sn:\x07bell", kind="serial")]), ("nodes", 1, "key")),
    (ipb.IngestBatch(source="t\x00nul", sequence=8, nodes=[ipb.NodeRecord(
        key="sn:8", kind="serial")]), ("batch", 0, "source")),
    (ipb.IngestBatch(source="t", sequence=10, nodes=[ipb.NodeRecord(
        key="sn:" + "x" * 1_000_000, kind="serial")]), ("nodes", 1, "key")),
])
def test_a_bad_record_rejects_its_batch_and_the_stream_goes_on(
        address: str, batch: ipb.IngestBatch, where: tuple[str, int, str]) -> None:
    acks = _ingest(address, batch, VALID)
    assert [a.outcome for a in acks] == [ipb.REJECTED, ipb.APPLIED]
    error = acks[0].errors[0]
    assert (error.table, error.index, error.field) == where
    assert len(error.reason) < 300  # a megabyte key is not echoed back
    assert len(acks[0].message) < 600


@pytest.mark.parametrize(("table", "column"), [
    (pa.table({"key": pa.array([1, 2], pa.int64()), "kind": ["serial", "serial"]}), "key"),
    (pa.table({"key": pa.array([{"a": 1}, {"a": 2}]), "kind": ["serial", "serial"]}), "key"),
])
def test_arrow_keys_must_be_text(address: str, table: pa.Table, column: str) -> None:
    acks = _ingest(address, ipb.IngestBatch(source="a", sequence=1, nodes_arrow=_arrow(table)),
                   VALID)
    assert [a.outcome for a in acks] == [ipb.REJECTED, ipb.APPLIED]
    assert f"column {column} is" in acks[0].errors[0].reason


def test_a_payload_that_would_expand_is_refused_before_decoding(address: str) -> None:
    rows = 200_000
    table = pa.table({"key": [f"sn:{'x' * 990}"] * rows, "kind": ["serial"] * rows})
    payload = _arrow(table, "zstd")
    assert len(payload) < 2_000_000  # about 200 MB once decoded
    acks = _ingest(address, ipb.IngestBatch(source="z", sequence=1, nodes_arrow=payload), VALID)
    assert [a.outcome for a in acks] == [ipb.REJECTED, ipb.APPLIED]
    assert "more than" in acks[0].errors[0].reason


def test_the_record_time_is_the_servers(address: str) -> None:
    """A client's back-dated recorded_at cannot rewrite what `as_of` answered before."""
    edges = pa.table({"src": ["lot:1"], "dst": ["sn:9"], "kind": ["consumed"],
                      "recorded_at": pa.array([datetime(2020, 1, 1, tzinfo=UTC)],
                                              pa.timestamp("us", "UTC"))})
    time.sleep(1.0)  # Timestamp below carries whole seconds
    before = datetime.now(UTC)
    time.sleep(1.0)
    acks = _ingest(address, VALID, ipb.IngestBatch(source="late", sequence=1,
                                                   edges_arrow=_arrow(edges)))
    assert [a.outcome for a in acks] == [ipb.APPLIED, ipb.APPLIED]
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.GenealogyStub(channel)
        past = pb.TraceRequest(seeds=["lot:1"], direction=pb.DOWNSTREAM,
                               filters=pb.Filters(as_of=_stamp(int(before.timestamp()))))
        assert list(stub.TraceUnary(past, timeout=10).keys) == ["sn:1"]
        now = pb.TraceRequest(seeds=["lot:1"], direction=pb.DOWNSTREAM)
        assert sorted(stub.TraceUnary(now, timeout=10).keys) == ["sn:1", "sn:9"]


@pytest.mark.parametrize("stamp", [_stamp(2**40), _stamp(-(2**40)), _stamp(5, nanos=-1),
                                   _stamp(5, nanos=10**9)])
def test_query_timestamps_out_of_range_are_invalid_argument(address: str,
                                                            stamp: Timestamp) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.GenealogyStub(channel)
        filters = pb.Filters(as_of=stamp)
        calls = [
            lambda: stub.TraceUnary(pb.TraceRequest(seeds=["lot:1"], direction=pb.DOWNSTREAM,
                                                    filters=filters), timeout=10),
            lambda: list(stub.Impact(pb.ImpactRequest(seeds=["lot:1"], filters=filters),
                                     timeout=10)),
            lambda: stub.Path(pb.PathRequest(source="lot:1", target="sn:1", filters=filters),
                              timeout=10),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "filters.as_of is not a valid Timestamp" in (info.value.details() or "")
