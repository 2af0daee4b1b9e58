"""The gRPC service on a real loopback port, started the way a user starts it
(`tracegraph serve --port 0` in its own process), against the in-process engine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import engine
from index.build import build_from_files
from loaders.synthetic import WIDEST_LOT, GenealogyConfig, write_genealogy
from server.client import TraceClient
from server.rpc import genealogy_pb2 as pb
from server.rpc import genealogy_pb2_grpc as pb_grpc
from server.serve import ServerConfig, TraceServer
from tests.node_setup import node_modules

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
WIDE = GenealogyConfig(units=50_000, seed=21, resin_lot_units=60_000)


@pytest.fixture(scope="module")
def wide_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50,000 units; the widest lot reaches 100k+ nodes."""
    root = tmp_path_factory.mktemp("wide")
    nodes, edges = write_genealogy(WIDE, root / "source")
    build_from_files([nodes], [edges], root / "data")
    return root / "data"


@pytest.fixture(scope="module")
def graph(wide_data: Path) -> engine.Graph:
    return engine.open(wide_data)


def start_server(data: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--no-auth",
         "--data", str(data), "--port", "0",
         *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert process.stdout is not None
    for line in process.stdout:
        if " on 127.0.0.1:" in line:
            return process, line.rsplit(" on ", 1)[1].strip()
    process.wait(10)
    raise AssertionError(f"server did not start: {process.stderr.read() if process.stderr else ''}")


def stop_server(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)  # drain and close the pipes
    return process.returncode


@pytest.fixture(scope="module")
def address(wide_data: Path) -> Iterator[str]:
    process, target = start_server(wide_data)
    yield target
    assert stop_server(process) == 0


@pytest.fixture(scope="module")
def client(address: str) -> Iterator[TraceClient]:
    with TraceClient(address) as c:
        c.wait_until_serving()
        yield c


@pytest.fixture(scope="module")
def stub(address: str) -> Iterator[pb_grpc.GenealogyStub]:
    with grpc.insecure_channel(address, options=[("grpc.max_receive_message_length",
                                                  64 << 20)]) as channel:
        yield pb_grpc.GenealogyStub(channel)


def _unit(graph: engine.Graph) -> str:
    return str(graph.trace(WIDEST_LOT, node_kinds=["serial"]).column("key")[-1].as_py())


def _same(remote: pa.Table, local: pa.Table) -> None:
    """The whole table, schema included (a dictionary index width that drifts is a change
    every client sees), then every value."""
    assert remote.schema == local.schema
    assert remote.combine_chunks().equals(local.combine_chunks())


def test_trace_streams_the_engine_answer(client: TraceClient, graph: engine.Graph) -> None:
    expected = graph.trace(WIDEST_LOT)
    assert expected.num_rows >= 100_000
    for arrow in (False, True):
        _same(client.trace(WIDEST_LOT, arrow=arrow), expected)
    unit = _unit(graph)
    for arrow in (False, True):
        _same(client.trace(unit, "upstream", via=True, edge_kinds=["consumed", "produced"],
                           arrow=arrow),
              graph.trace(unit, "upstream", via=True, edge_kinds=["consumed", "produced"]))
    for arrow in (False, True):  # time-respecting, and kept to one product, over the wire
        _same(client.trace(WIDEST_LOT, time_respecting=True, arrow=arrow),
              graph.trace(WIDEST_LOT, time_respecting=True))
        product = graph.node(unit)["product"]
        _same(client.trace(WIDEST_LOT, products=[product], arrow=arrow),
              graph.trace(WIDEST_LOT, products=[product]))


def test_chunking_and_first_chunk_metadata(stub: pb_grpc.GenealogyStub,
                                           graph: engine.Graph) -> None:
    chunks = list(stub.Trace(pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM,
                                             chunk_rows=10_000), timeout=30))
    total = graph.trace(WIDEST_LOT).num_rows
    assert chunks[0].total_rows == total
    assert list(chunks[0].kind_names) == graph.snapshot.node_kinds
    assert all(c.total_rows == 0 for c in chunks[1:])
    assert [len(c.keys) for c in chunks[:-1]] == [10_000] * (len(chunks) - 1)
    assert sum(len(c.keys) for c in chunks) == total


def test_other_rpcs_match_the_engine(client: TraceClient, graph: engine.Graph) -> None:
    unit = _unit(graph)
    _same(client.hourglass(unit), graph.hourglass(unit))
    _same(client.hourglass(unit, arrow=True), graph.hourglass(unit))
    remote, local = client.impact([WIDEST_LOT]), graph.impact([WIDEST_LOT])
    assert (remote.seeds, remote.affected) == (local.seeds, local.affected)
    _same(remote.by_kind, local.by_kind)
    _same(remote.by_shipment, local.by_shipment)
    _same(remote.by_customer, local.by_customer)
    assert remote.rows is not None
    assert local.rows is not None
    _same(remote.rows, local.rows)
    assert client.impact([WIDEST_LOT], rows=False).rows is None
    _same(client.path(WIDEST_LOT, unit), graph.path(WIDEST_LOT, unit))
    assert client.node(unit) == graph.node(unit)
    stats = client.stats()
    assert stats == graph.stats()


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (pb.TraceRequest(seeds=["no-such-key"], direction=pb.DOWNSTREAM),
         grpc.StatusCode.NOT_FOUND, "unknown node key 'no-such-key'"),
        (pb.TraceRequest(seeds=[], direction=pb.DOWNSTREAM),
         grpc.StatusCode.INVALID_ARGUMENT, "no seed keys"),
        (pb.TraceRequest(seeds=[WIDEST_LOT]),
         grpc.StatusCode.INVALID_ARGUMENT, "direction must be DOWNSTREAM"),
        (pb.TraceRequest(seeds=[WIDEST_LOT], direction=7),  # type: ignore[arg-type]
         grpc.StatusCode.INVALID_ARGUMENT, "got 7"),
        (pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM, limit=10**12),
         grpc.StatusCode.INVALID_ARGUMENT, "above the server maximum"),
        (pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM, limit=10),
         grpc.StatusCode.RESOURCE_EXHAUSTED, "narrow it"),
        (pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM, format=9),  # type: ignore[arg-type]
         grpc.StatusCode.INVALID_ARGUMENT, "format must be"),
        (pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM, chunk_rows=10**7),
         grpc.StatusCode.INVALID_ARGUMENT, "chunk_rows"),
        (pb.TraceRequest(seeds=[" padded"], direction=pb.DOWNSTREAM),
         grpc.StatusCode.INVALID_ARGUMENT, "malformed node key"),
        (pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM,
                         filters=pb.Filters(edge_kinds=["packd"])),
         grpc.StatusCode.INVALID_ARGUMENT, "unknown edge kind 'packd'"),
    ],
)
def test_trace_errors(stub: pb_grpc.GenealogyStub, request_: pb.TraceRequest,
                      code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Trace(request_, timeout=30))
    assert info.value.code() == code
    assert message in info.value.details()
    assert "Traceback" not in info.value.details()


def test_unary_errors(stub: pb_grpc.GenealogyStub, graph: engine.Graph) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.GetNode(pb.GetNodeRequest(key="urn:nope"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    unit = _unit(graph)
    with pytest.raises(grpc.RpcError) as info:
        stub.Path(pb.PathRequest(source=unit, target=WIDEST_LOT), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "is not downstream of" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Impact(pb.ImpactRequest(seeds=[]), timeout=10))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_client_raises_engine_errors(client: TraceClient) -> None:
    with pytest.raises(engine.UnknownNode, match="unknown node key 'x-y'"):
        client.trace("x-y")
    with pytest.raises(engine.ResultLimitExceeded):
        client.trace(WIDEST_LOT, limit=5)
    with pytest.raises(engine.NotConnected):
        client.path("urn:epc:id:sgln:4012345.00001.0", WIDEST_LOT)


def test_expired_deadline(stub: pb_grpc.GenealogyStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        list(stub.Trace(pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM),
                        timeout=0.000_001))
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_cancelled_stream_leaves_server_healthy(stub: pb_grpc.GenealogyStub,
                                                client: TraceClient) -> None:
    call = stub.Trace(pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM,
                                      chunk_rows=1000), timeout=30)
    first = next(call)
    assert first.total_rows > 1000
    call.cancel()
    with pytest.raises(grpc.RpcError) as info:
        list(call)
    assert info.value.code() == grpc.StatusCode.CANCELLED
    assert client.stats()["nodes"] > 0


def test_concurrent_clients(address: str, graph: engine.Graph) -> None:
    unit = _unit(graph)
    expected_up = graph.trace(unit, "upstream").column("key").to_pylist()
    expected_down = graph.trace(WIDEST_LOT).num_rows
    failures: list[str] = []

    def worker(index: int) -> None:
        with TraceClient(address) as own:
            for _ in range(10):
                if index % 2:
                    ok = own.trace(unit, "upstream").column("key").to_pylist() == expected_up
                else:
                    ok = own.trace(WIDEST_LOT, arrow=True).num_rows == expected_down
                if not ok:
                    failures.append(str(index))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_graceful_shutdown_finishes_the_call_in_flight(wide_data: Path,
                                                       graph: engine.Graph) -> None:
    process, target = start_server(wide_data, "--grace", "20", "--read-only")
    expected = graph.trace(WIDEST_LOT).num_rows
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        call = pb_grpc.GenealogyStub(channel).Trace(
            pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM, chunk_rows=2000),
            timeout=60)
        received = len(next(call).keys)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        try:
            status = health.Check(health_pb2.HealthCheckRequest(), timeout=2).status
        except grpc.RpcError:
            status = None  # refused: a stopping server takes no new calls
        assert status in (None, health_pb2.HealthCheckResponse.NOT_SERVING)
        for chunk in call:
            received += len(chunk.keys)
            time.sleep(0.001)
    assert received == expected
    process.communicate(timeout=30)
    assert process.returncode == 0


def test_health_before_and_after_warm_up(wide_data: Path) -> None:
    server = TraceServer(wide_data, ServerConfig(port=0, no_auth=True, read_only=True))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            service = "tracegraph.v1.Genealogy"
            check = health_pb2.HealthCheckRequest(service=service)
            assert health.Check(check, timeout=5).status == \
                health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.RpcError) as info:
                pb_grpc.GenealogyStub(channel).Stats(pb.StatsRequest(), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "warming up" in info.value.details()
            server.load()
            assert health.Check(check, timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
            assert pb_grpc.GenealogyStub(channel).Stats(pb.StatsRequest(), timeout=5).nodes > 0
    finally:
        server.stop(0)


@pytest.mark.parametrize("dev", [False, True])
def test_reflection_only_in_dev_mode(wide_data: Path, dev: bool) -> None:
    server = TraceServer(wide_data, ServerConfig(port=0, no_auth=True, dev=dev, read_only=True))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            if not dev:
                with pytest.raises(grpc.RpcError) as info:
                    list(stub.ServerReflectionInfo(iter([request]), timeout=5))
                assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
                return
            reply = next(stub.ServerReflectionInfo(iter([request]), timeout=5))
            names = {s.name for s in reply.list_services_response.service}
            assert "tracegraph.v1.Genealogy" in names
    finally:
        server.stop(0)


def test_node_client_gets_the_same_answers(address: str, client: TraceClient) -> None:
    modules = node_modules()
    node = shutil.which("node")
    assert node, "node is needed for the Node.js contract test"
    result = subprocess.run([node, str(ROOT / "tests" / "node" / "client.js"), address,
                             WIDEST_LOT], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NODE_PATH": str(modules)}, check=False)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    expected = client.trace(WIDEST_LOT)
    assert answer["trace"]["keys"] == expected.column("key").to_pylist()
    assert answer["trace"]["total"] == expected.num_rows
    assert answer["trace"]["kinds"] == expected.column("kind").cast("string").to_pylist()
    assert answer["trace"]["depths"] == expected.column("depth").to_pylist()
    impact = client.impact([WIDEST_LOT], rows=False)
    summary = answer["summary"]
    assert summary["affected"] == impact.affected
    assert {c["kind"]: c["nodes"] for c in summary["by_kind"]} == dict(
        zip(impact.by_kind.column("kind").to_pylist(),
            impact.by_kind.column("nodes").to_pylist(), strict=True))
    assert [(c["customer"], c["units"]) for c in summary["by_customer"]] == list(
        zip(impact.by_customer.column("customer").to_pylist(),
            impact.by_customer.column("units").to_pylist(), strict=True))
    assert answer["missing"]["code"] == grpc.StatusCode.NOT_FOUND.value[0]


def test_trace_unary(stub: pb_grpc.GenealogyStub, graph: engine.Graph) -> None:
    unit = _unit(graph)
    reply = stub.TraceUnary(pb.TraceRequest(seeds=[unit], direction=pb.UPSTREAM,
                                            include_via=True), timeout=10)
    expected = graph.trace(unit, "upstream", via=True)
    assert list(reply.keys) == expected.column("key").to_pylist()
    assert list(reply.via) == expected.column("via").to_pylist()
    assert reply.total_rows == expected.num_rows
    with pytest.raises(grpc.RpcError) as info:
        stub.TraceUnary(pb.TraceRequest(seeds=[WIDEST_LOT], direction=pb.DOWNSTREAM),
                        timeout=10)
    assert info.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "stream it with Trace" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        stub.TraceUnary(pb.TraceRequest(seeds=[unit], direction=pb.UPSTREAM, limit=2),
                        timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.Stats(pb.StatsRequest(), timeout=10).unary_max_rows == 100_000


def test_cli_server_and_data_print_the_same(address: str, wide_data: Path,
                                            graph: engine.Graph) -> None:
    unit = _unit(graph)
    verbs = [
        ["trace", unit, "--direction", "upstream", "--via", "--format", "csv"],
        ["trace", WIDEST_LOT, "--node-kind", "customer", "--format", "json"],
        ["hourglass", unit, "--format", "json"],
        ["impact", WIDEST_LOT, "--format", "json"],
        ["path", WIDEST_LOT, unit, "--format", "json"],
        ["stats", "--format", "json"],
        ["trace", "no-such-key"],
    ]
    for verb in verbs:
        outputs = []
        for source in (["--server", address], ["--data", str(wide_data)]):
            result = subprocess.run([sys.executable, "-m", "server.cli", *verb, *source],
                                    capture_output=True, text=True, env=ENV, check=False,
                                    timeout=120)
            errors = [line for line in result.stderr.splitlines() if "error" in line]
            outputs.append((result.returncode, result.stdout, errors))
        assert outputs[0] == outputs[1], verb
