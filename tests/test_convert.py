"""Every tracegraph.v1 message round-trips through server.convert: Python/Arrow -> proto ->
Python/Arrow gives back what went in. The last test fails when a message is added to a .proto
without a round trip here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from domain.direction import ALIASES
from index.ingest import Ack, IngestBatch, RecordError, RetractionRequest
from server.convert.ingest import (
    ack_from_proto,
    ack_to_proto,
    batch_from_proto,
    batch_to_proto,
    quality_from_proto,
)
from server.convert.queries import (
    direction_from_proto,
    direction_to_proto,
    drawing_from_proto,
    drawing_to_proto,
    filters_from_proto,
    filters_to_proto,
    format_from_proto,
    format_to_proto,
    impact_from_proto,
    impact_to_proto,
    node_from_proto,
    node_to_proto,
    path_from_proto,
    path_to_proto,
    stats_from_proto,
    stats_to_proto,
)
from server.convert.rows import rows_from_chunks, table_chunks
from server.rpc import genealogy_pb2 as pb
from server.rpc import ingest_pb2 as ipb

COVERED: set[str] = set()


def covers(*names: str) -> None:
    COVERED.update(names)


times = st.one_of(st.none(), st.datetimes(min_value=datetime(1970, 1, 1),
                                          max_value=datetime(2100, 1, 1),
                                          timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=t.microsecond)))
kinds = st.one_of(st.none(), st.lists(st.sampled_from(["consumed", "packed", "shipped"]),
                                      min_size=1, max_size=3, unique=True))


@settings(max_examples=50, deadline=None)
@given(depth=st.one_of(st.none(), st.integers(0, 1000)), edge_kinds=kinds, node_kinds=kinds,
       since=times, until=times, as_of=times)
def test_filters(depth: int | None, edge_kinds: list[str] | None,
                 node_kinds: list[str] | None, since: datetime | None, until: datetime | None,
                 as_of: datetime | None) -> None:
    covers("Filters")
    sent = {"max_depth": depth, "edge_kinds": edge_kinds, "node_kinds": node_kinds,
            "since": since, "until": until, "as_of": as_of}
    wire = pb.Filters.FromString(filters_to_proto(**sent).SerializeToString())
    assert filters_from_proto(wire) == sent
    short = filters_from_proto(wire, depth_and_nodes=False)
    assert short == {k: v for k, v in sent.items() if k not in ("max_depth", "node_kinds")}


def test_request_enums() -> None:
    covers("TraceRequest", "HourglassRequest", "ImpactRequest", "PathRequest",
           "GetNodeRequest", "StatsRequest")
    for alias, name in ALIASES.items():
        request = pb.TraceRequest(direction=direction_to_proto(alias))
        assert direction_from_proto(pb.TraceRequest.FromString(
            request.SerializeToString()).direction) == name
    for arrow in (False, True):
        request = pb.HourglassRequest(format=format_to_proto(arrow))
        assert format_from_proto(request.format) is arrow
    assert format_from_proto(pb.ImpactRequest().format) is False  # unset: rows
    assert pb.PathRequest(source="a", target="b").source == "a"
    assert pb.GetNodeRequest.FromString(pb.GetNodeRequest(key="k").SerializeToString()).key == "k"
    assert pb.StatsRequest.FromString(pb.StatsRequest().SerializeToString()) == pb.StatsRequest()


def _tables(graph: engine.Graph) -> list[pa.Table]:
    unit = next(k for k in graph.snapshot.node_keys.to_pylist()
                if k.startswith("urn:epc:id:sgtin:4012345.11"))
    return [graph.trace(unit, "upstream"), graph.trace(unit, "upstream", via=True),
            graph.hourglass(unit), graph.trace(unit, "upstream", node_kinds=["customer"])]


@pytest.mark.parametrize("arrow", [False, True], ids=["rows", "arrow-ipc"])
def test_row_chunks(small_graph: engine.Graph, arrow: bool) -> None:
    covers("RowChunk")
    names = list(small_graph.node_kinds)
    for table in _tables(small_graph):
        chunks = [pb.RowChunk.FromString(c) for c in table_chunks(table, names, 5, arrow=arrow)]
        back = rows_from_chunks(chunks, table.schema)
        assert back.schema == table.schema
        for name in table.column_names:
            assert back.column(name).to_pylist() == table.column(name).to_pylist(), name


@pytest.mark.parametrize("arrow", [False, True], ids=["rows", "arrow-ipc"])
def test_row_chunks_with_attribute_columns(small_graph: engine.Graph, arrow: bool) -> None:
    """Typed columns survive chunking in both formats (ROWS: AttributeColumn text)."""
    covers("AttributeColumn")
    names = list(small_graph.node_kinds)
    lot = next(k for k in small_graph.snapshot.node_keys.to_pylist() if "lgtin" in k)
    table = small_graph.trace(lot, columns=["product", "quantity", "created_at", "lot",
                                            "serial", "edge_kind", "event_time"])
    assert table.num_rows > 5
    chunks = [pb.RowChunk.FromString(c) for c in table_chunks(table, names, 5, arrow=arrow)]
    back = rows_from_chunks(chunks)
    assert back.schema == table.schema
    for name in table.column_names:
        assert back.column(name).to_pylist() == table.column(name).to_pylist(), name


def test_impact(small_graph: engine.Graph) -> None:
    covers("ImpactSummary", "KindCount", "ShipmentImpact", "CustomerImpact", "ImpactChunk")
    lots = [k for k in small_graph.snapshot.node_keys.to_pylist() if "lgtin" in k][:3]
    result = small_graph.impact(lots)
    assert result.by_customer.num_rows > 0
    chunk = pb.ImpactChunk.FromString(pb.ImpactChunk(
        summary=impact_to_proto(result)).SerializeToString())
    back = impact_from_proto(chunk.summary, result.rows)
    assert (back.seeds, back.affected) == (result.seeds, result.affected)
    for name in ("by_kind", "by_shipment", "by_customer"):
        assert getattr(back, name).to_pylist() == getattr(result, name).to_pylist(), name


def test_path(small_graph: engine.Graph) -> None:
    covers("PathResponse", "PathStep")
    unit = next(k for k in small_graph.snapshot.node_keys.to_pylist()
                if k.startswith("urn:epc:id:sgtin:4012345.11"))
    lot = small_graph.trace(unit, "upstream", node_kinds=["lot"]).column("key")[0].as_py()
    for src, dst in ((lot, unit), (unit, unit)):
        chain = small_graph.path(src, dst)
        assert chain.num_rows >= 1
        wire = pb.PathResponse.FromString(path_to_proto(chain).SerializeToString())
        assert path_from_proto(wire).to_pylist() == chain.to_pylist()


def test_node_and_stats(small_graph: engine.Graph) -> None:
    covers("Node", "StatsResponse")
    for key in small_graph.snapshot.node_keys.to_pylist()[:50]:
        row = small_graph.node(key)
        wire = pb.Node.FromString(node_to_proto(row).SerializeToString())
        assert node_from_proto(wire) == row
    stats = small_graph.stats()
    wire = pb.StatsResponse.FromString(stats_to_proto(
        stats, default_limit=5, max_limit=9, unary_max_rows=7).SerializeToString())
    assert stats_from_proto(wire) == stats
    assert (wire.default_limit, wire.max_limit, wire.unary_max_rows) == (5, 9, 7)


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema)


_UTC = pl.Datetime("us", "UTC")
_NODES = {"key": pl.String, "kind": pl.String, "product": pl.String, "quantity": pl.Float64,
          "uom": pl.String, "created_at": _UTC}
_EDGES = {"src": pl.String, "dst": pl.String, "kind": pl.String, "event_time": _UTC,
          "quantity": pl.Float64, "event_id": pl.String}


@settings(max_examples=30, deadline=None)
@given(when=times, quantity=st.one_of(st.none(), st.floats(0, 1e6)),
       event_id=st.one_of(st.none(), st.text("abc:-", min_size=1, max_size=8)),
       policy=st.sampled_from(["all", "valid"]))
def test_ingest_batch(when: datetime | None, quantity: float | None, event_id: str | None,
                      policy: str) -> None:
    covers("IngestBatch", "NodeRecord", "EdgeRecord", "RetractionRecord")
    batch = IngestBatch(
        "erp", 7,
        _frame([{"key": "lot:1", "kind": "lot", "product": "P", "quantity": quantity,
                 "uom": "EA", "created_at": when},
                {"key": "sn:1", "kind": "serial", "product": None, "quantity": None,
                 "uom": None, "created_at": None}], _NODES),
        _frame([{"src": "lot:1", "dst": "sn:1", "kind": "consumed", "event_time": when,
                 "quantity": quantity, "event_id": event_id}], _EDGES),
        [RetractionRequest("lot:1", "sn:1", "consumed", "wrong lot", when, event_id)],
        policy,  # type: ignore[arg-type]
        "tester")
    wire = ipb.IngestBatch.FromString(batch_to_proto(batch).SerializeToString())
    back = batch_from_proto(wire, "tester")
    assert (back.source, back.sequence, back.policy, back.writer) == (
        batch.source, batch.sequence, batch.policy, batch.writer)
    assert back.nodes is not None
    assert back.edges is not None
    assert back.nodes.to_dicts() == batch.nodes.to_dicts()
    assert back.edges.to_dicts() == batch.edges.to_dicts()
    assert list(back.retractions) == list(batch.retractions)


def test_ingest_ack() -> None:
    covers("IngestAck", "RecordError")
    for ack in (Ack("erp/7", "applied", 12, nodes=3, edges=4, retracted=1),
                Ack("erp/8", "rejected", 0, errors=(RecordError("edges", 2, "src", "unknown"),),
                    message="1 record rejected"),
                Ack("erp/7", "duplicate", 12, message="already applied"),
                Ack("qms/1", "applied", 13, quality=2, message="2 kept")):
        source, sequence = ack.batch.split("/")
        wire = ipb.IngestAck.FromString(
            ack_to_proto(ack, source, int(sequence)).SerializeToString())
        assert ack_from_proto(wire) == ack


def test_quality_records_in(tmp_path: Path) -> None:
    """An Ingest batch's quality records become the record file format, which
    loaders.quality_records reads back to the same versions as the file would give."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from loaders.quality_records import read_quality_files, read_quality_frames

    covers("QualityRecordIn")
    opened, closed = Timestamp(), Timestamp()
    opened.FromJsonString("2026-02-01T08:00:00Z")
    closed.FromJsonString("2026-02-03T16:30:00.250Z")
    message = ipb.IngestBatch(source="qms", sequence=1, quality=[ipb.QualityRecordIn(
        record_id="CO-7", record_type="change_order", key="sn:1", status="effective",
        opened_at=opened, effective_from=closed, title="Seal", products=["P1", "P2"],
        measurements='{"torque": "4.5"}')])
    wire = ipb.IngestBatch.FromString(message.SerializeToString())
    frame = quality_from_proto(wire.quality)
    assert frame.drop("source_file", "source_row").to_dicts() == [{
        "record_id": "CO-7", "record_type": "change_order", "key": "sn:1",
        "status": "effective", "title": "Seal", "result": None, "disposition": None,
        "capa_id": None, "inspector": None, "measurements": '{"torque": "4.5"}',
        "opened_at": "2026-02-01T08:00:00Z", "closed_at": None,
        "effective_from": "2026-02-03T16:30:00.250000Z", "products": "P1;P2"}]
    path = tmp_path / "q.csv"
    frame.drop("source_file", "source_row").write_csv(path)
    from_file, _ = read_quality_files([path])
    from_wire, _ = read_quality_frames([("batch", frame)])
    assert [v.content() for v in from_wire] == [v.content() for v in from_file]


def test_drawing(small_graph: engine.Graph) -> None:
    covers("DrawRequest", "Drawing", "DrawnNode", "DrawnEdge")
    request = pb.DrawRequest(seeds=["k"], direction=direction_to_proto("upstream"),
                             hide_kinds=["serial"], expand=["x"], max_elements=300)
    assert pb.DrawRequest.FromString(request.SerializeToString()) == request
    lot = next(k for k in small_graph.snapshot.node_keys.to_pylist() if "lgtin" in k)
    drawing = small_graph.drawing(lot, max_elements=40)
    assert any(row["key"] is None for row in drawing.nodes.to_pylist())  # a count node
    back = drawing_from_proto(pb.Drawing.FromString(
        drawing_to_proto(drawing).SerializeToString()))
    assert back["nodes"] == drawing.nodes.to_pylist()
    assert back["edges"] == drawing.edges.to_pylist()
    assert (back["reached"], back["threshold"], back["links_left_out"]) == (
        drawing.reached, drawing.threshold, drawing.links_left_out)


def test_every_message_has_a_round_trip() -> None:
    """Runs last (file order): every message of both services was covered above."""
    messages = set(pb.DESCRIPTOR.message_types_by_name) | set(
        ipb.DESCRIPTOR.message_types_by_name)
    assert messages - COVERED == set()
