"""The Recalls service on a real server over loopback: an investigator opens a case and
streams its consignee list; a viewer may read but not open; closing re-enters the password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from index.master import MasterData
from server.convert.rows import rows_from_chunks
from server.rpc import auth_pb2 as apb
from server.rpc import auth_pb2_grpc as apb_grpc
from server.rpc import genealogy_pb2 as pb
from server.rpc import genealogy_pb2_grpc as pb_grpc
from server.rpc import recall_pb2 as rpb
from server.rpc import recall_pb2_grpc as rpb_grpc
from server.serve import ServerConfig, TraceServer
from tests.test_recall import OWNER, PASSWORDS, recall_data


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TraceServer]:
    running = TraceServer(recall_data(tmp_path / "data"), ServerConfig(port=0,
                                                                       compact_edges=0))
    running.load()
    yield running
    running.stop(0)


def _as(channel: grpc.Channel, user: str) -> list[tuple[str, str]]:
    token = apb_grpc.AuthStub(channel).Login(apb.LoginRequest(user=user,
                                                              password=PASSWORDS[user]),
                                             timeout=10).token
    return [("authorization", f"Bearer {token}")]


def test_open_stream_and_close_over_grpc(server: TraceServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        recalls = rpb_grpc.RecallsStub(channel)
        ivy, vic, quinn = _as(channel, "ivy"), _as(channel, "vic"), _as(channel, "quinn")
        with pytest.raises(grpc.RpcError) as denied:
            recalls.Open(rpb.OpenRecallRequest(title="x", seeds=["lot:bad"]), metadata=vic,
                         timeout=10)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as unknown:
            recalls.Open(rpb.OpenRecallRequest(title="x", seeds=["lot:nope"]), metadata=ivy,
                         timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        case = recalls.Open(rpb.OpenRecallRequest(title="Bad resin lot", seeds=["lot:bad"],
                                                  reason="supplier notice", drill=True),
                            metadata=ivy, timeout=10)
        assert (case.id, case.state, case.drill, case.customers, case.units) == (
            1, "open", True, 2, 63.0)
        rows = list(recalls.Consignees(rpb.ConsigneesRequest(id=case.id), metadata=vic,
                                       timeout=10))
        assert sorted((r.customer, r.item, r.quantity) for r in rows) == [
            ("", "sn:4", 1.0), ("cust:a", "lot:fin", 20.0), ("cust:a", "sn:1", 1.0),
            ("cust:a", "sn:2", 1.0), ("cust:b", "lot:fin", 40.0)]
        mary = next(r for r in rows if r.item == "sn:1")
        assert (mary.customer_name, mary.lot, mary.description, mary.expiry) == (
            "St. Mary Hospital", "lot:prod", "Infusion pump IP-3", "2028-11-30")
        assert mary.HasField("ship_date")
        diff = recalls.Diff(rpb.RecallDiffRequest(id=case.id), metadata=vic, timeout=10)
        assert (diff.rows_added, diff.rows_removed) == (0, 0)
        assert [c.title for c in recalls.List(rpb.ListRecallsRequest(), metadata=vic,
                                             timeout=10)] == ["Bad resin lot"]
        with pytest.raises(grpc.RpcError) as wrong:
            recalls.Close(rpb.CloseRecallRequest(id=case.id, reason="done",
                                                 password="not it"), metadata=quinn,
                          timeout=10)
        assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
        closed = recalls.Close(rpb.CloseRecallRequest(id=case.id, reason="all notified",
                                                      password=PASSWORDS["quinn"]),
                               metadata=quinn, timeout=10)
        assert closed.state == "closed"
        assert '"meaning":"responsibility"' in closed.json
        with pytest.raises(grpc.RpcError) as again:
            recalls.Close(rpb.CloseRecallRequest(id=case.id, reason="again",
                                                 password=PASSWORDS["quinn"]),
                          metadata=quinn, timeout=10)
        assert again.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_find_common_cause_and_containment_over_grpc(server: TraceServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        ask = rpb_grpc.InvestigationStub(channel)
        vic = _as(channel, "vic")
        found = ask.Find(rpb.FindRequest(text="ship:"), metadata=vic, timeout=10)
        assert [c.key for c in found.candidates] == ["ship:1", "ship:2", "ship:3", "ship:4",
                                                  "ship:5"]
        assert found.candidates[0].why == "key starts with 'ship:'"
        cause = ask.CommonCause(rpb.CommonCauseRequest(units=["sn:1", "sn:2"]), metadata=vic,
                                timeout=10)
        assert {r.key for r in cause.rows if r.shared == 2} == {"lot:bad", "wo:1"}
        assert all(r.complaints == 2 and r.population == 4 for r in cause.rows)
        window = ask.Containment(rpb.ContainmentRequest(suspect="wo:1", include_units=True),
                                 metadata=vic, timeout=10)
        assert window.units == 3
        assert sorted(window.unit_keys) == ["sn:1", "sn:2", "sn:4"]
        assert [s.units_total for s in window.curve] == [3]
        with pytest.raises(grpc.RpcError) as unknown:
            ask.Containment(rpb.ContainmentRequest(suspect="wo:404"), metadata=vic, timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as anonymous:
            ask.Find(rpb.FindRequest(text="ship:"), timeout=10)
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_impact_counts_finished_units_from_master_data_over_grpc(
        server: TraceServer) -> None:
    """Impact counts quantities of finished units; which products are finished is master
    data (level), read per call, so a change shows at once."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        ask = pb_grpc.GenealogyStub(channel)
        vic = _as(channel, "vic")

        def quantities() -> dict[str, float]:
            chunks = ask.Impact(pb.ImpactRequest(seeds=["lot:bad"]), metadata=vic, timeout=10)
            summary = next(iter(chunks)).summary
            return {c.customer: c.quantity for c in summary.by_customer}

        assert quantities() == {"cust:a": 22.0, "cust:b": 40.0}
        assert server.live is not None
        MasterData(server.live).put([("product", "gtin:09506000134352",
                                      {"level": "subassembly"})], OWNER, "test")
        assert quantities() == {"cust:a": 0.0, "cust:b": 0.0}


@pytest.mark.parametrize("fmt", [pb.ROWS, pb.ARROW_IPC], ids=["rows", "arrow"])
def test_trace_columns_over_grpc_match_the_engine(server: TraceServer, fmt: int) -> None:
    """Attribute columns travel in both formats and come back typed as the engine's, with
    expiry from lot master data added by the server."""
    columns = ["product", "quantity", "lot", "serial", "expiry", "edge_kind", "event_time"]
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        ask = pb_grpc.GenealogyStub(channel)
        request = pb.TraceRequest(seeds=["lot:bad"], direction=pb.DOWNSTREAM, columns=columns,
                                  format=fmt)
        chunks = list(ask.Trace(request, metadata=_as(channel, "vic"), timeout=10))
        with pytest.raises(grpc.RpcError) as bad:
            list(ask.Trace(pb.TraceRequest(seeds=["lot:bad"], direction=pb.DOWNSTREAM,
                                           columns=["colour"]),
                           metadata=_as(channel, "vic"), timeout=10))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown column(s) colour" in str(bad.value.details())
    got = rows_from_chunks(chunks)
    assert server.graph is not None
    local = server.graph.trace("lot:bad", columns=[c for c in columns if c != "expiry"])
    assert got.column_names == ["key", "kind", "depth", "product", "quantity", "lot",
                                "serial", "edge_kind", "event_time", "expiry"]
    for name in local.column_names:
        assert got.column(name).to_pylist() == local.column(name).to_pylist(), name
    expiry = dict(zip(got.column("key").to_pylist(), got.column("expiry").to_pylist(),
                      strict=True))
    assert expiry["sn:1"] == "2028-11-30"  # its lot lot:prod's
    assert expiry["sn:2"] is None  # no lot recorded
