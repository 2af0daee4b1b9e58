"""No client can wedge or starve the server: real clients on a loopback port that drop after
their ack, idle, open too many streams, or never read a big answer. Health and Stats answer
throughout; stalled and idle streams are cancelled; SIGTERM stops a real server process within
its grace period whatever its clients do."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.calls import CallLimits
from server.rpc import genealogy_pb2 as pb
from server.rpc import genealogy_pb2_grpc as pb_grpc
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc
from server.serve import ServerConfig, TraceServer
from tests.conftest import T0, write_tables

LOT = "lot:wide"
LIMITS = CallLimits(max_streams=8, max_streams_per_peer=4, max_streams_per_connection=3,
                    stall_seconds=1.5,
                    idle_seconds=1.5, watch_every=0.1)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lot with 60,000 units downstream: a Trace answer of several megabytes."""
    root = tmp_path_factory.mktemp("wedge")
    units = [f"sn:{i:06d}" for i in range(60_000)]
    nodes = [{"key": LOT, "kind": "lot"}, *({"key": u, "kind": "serial"} for u in units)]
    edges = [{"src": LOT, "dst": u, "kind": "consumed", "event_time": T0} for u in units]
    paths = write_tables(root / "in", nodes, edges)
    from index.build import build_from_files

    build_from_files([paths[0]], [paths[1]], root / "data")
    return root / "data"


@pytest.fixture
def server(data: Path, tmp_path: Path) -> Iterator[TraceServer]:
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    running = TraceServer(copy, ServerConfig(port=0, no_auth=True, compact_edges=0, workers=12,
                                             calls=LIMITS))
    running.load()
    yield running
    running.stop(0)


def _address(server: TraceServer) -> str:
    return f"127.0.0.1:{server.port}"


def _answerable(address: str) -> None:
    """Health and Stats answer, each within a second."""
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=1)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert pb_grpc.GenealogyStub(channel).Stats(pb.StatsRequest(), timeout=1).nodes > 0


def _batch(i: int) -> ipb.IngestBatch:
    return ipb.IngestBatch(source="drop", sequence=i, nodes=[
        ipb.NodeRecord(key=f"drop:{i}", kind="serial")])


def _readers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "tracegraph-ingest-reader")


def test_clients_that_drop_after_their_ack_leak_nothing(server: TraceServer) -> None:
    address = _address(server)
    for i in range(30):  # more than the worker pool: each must free its worker
        channel = grpc.insecure_channel(address)
        requests: list[ipb.IngestBatch] = [_batch(i)]
        blocker = threading.Event()

        def stream(items: list[ipb.IngestBatch] = requests,
                   wait: threading.Event = blocker) -> Iterator[ipb.IngestBatch]:
            yield from items
            wait.wait(5)  # keep the request stream open, as a client that vanished would

        acks = ipb_grpc.IngestStub(channel).Ingest(stream(), timeout=30)
        assert next(acks).outcome == ipb.APPLIED
        channel.close()  # gone without a word
        blocker.set()
        deadline = time.monotonic() + 2  # its slot comes back at once, not after a timeout
        while server.calls.open_streams() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.calls.open_streams() == 0
    _answerable(address)
    deadline = time.monotonic() + 10
    while _readers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _readers() == 0
    assert server.calls.open_streams() == 0


def test_idle_ingest_streams_are_limited_and_closed(server: TraceServer) -> None:
    address = _address(server)
    own = [("grpc.use_local_subchannel_pool", 1)]  # a connection per channel
    channels = [grpc.insecure_channel(address, options=own) for _ in range(6)]
    stop = threading.Event()

    def idle() -> Iterator[ipb.IngestBatch]:
        stop.wait(30)
        yield from ()

    calls = [ipb_grpc.IngestStub(c).Ingest(idle(), timeout=30) for c in channels]
    time.sleep(0.5)
    _answerable(address)  # health and Stats while the streams sit there
    codes = []
    for call in calls:  # one client host: 4 streams at most; those 4 closed once idle
        with pytest.raises(grpc.RpcError) as info:
            next(call)
        codes.append(info.value.code())
    assert sorted(codes, key=str) == sorted(
        [grpc.StatusCode.CANCELLED] * LIMITS.max_streams_per_peer
        + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2, key=str)
    assert server.calls.cancelled["idle"] == LIMITS.max_streams_per_peer
    stop.set()
    for channel in channels:
        channel.close()
    _answerable(address)


def test_trace_streams_that_are_never_read_are_cancelled(server: TraceServer) -> None:
    address = _address(server)
    # A small, fixed receive window (no BDP growth): the server's sends block on flow control
    # once the client stops reading, as they do for any client that reads slower than it asks.
    small_window = [("grpc.http2.bdp_probe", 0), ("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.insecure_channel(address, options=small_window) for _ in range(4)]
    calls = [pb_grpc.GenealogyStub(c).Trace(
        pb.TraceRequest(seeds=[LOT], direction=pb.DOWNSTREAM, chunk_rows=500), timeout=60)
        for c in channels]
    for call in calls:
        next(call)  # the answer has begun; the client reads no more
    time.sleep(0.3)
    assert server.calls.open_streams() == 4
    _answerable(address)
    deadline = time.monotonic() + 10
    while server.calls.open_streams() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.calls.open_streams() == 0
    assert server.calls.cancelled["stalled"] == 4
    for call in calls:
        with pytest.raises(grpc.RpcError) as info:
            list(call)
        assert info.value.code() == grpc.StatusCode.CANCELLED
    for channel in channels:
        channel.close()
    _answerable(address)


def test_sigterm_stops_a_busy_server_within_its_grace(data: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    from tests.test_server import start_server

    process, address = start_server(copy, "--grace", "2")
    stop = threading.Event()

    def idle() -> Iterator[ipb.IngestBatch]:
        yield _batch(1)
        stop.wait(60)

    channels = [grpc.insecure_channel(address, options=[("grpc.http2.bdp_probe", 0)])
                for _ in range(3)]
    ingest = ipb_grpc.IngestStub(channels[0]).Ingest(idle(), timeout=60)
    assert next(ingest).outcome == ipb.APPLIED
    trace = pb_grpc.GenealogyStub(channels[1]).Trace(
        pb.TraceRequest(seeds=[LOT], direction=pb.DOWNSTREAM, chunk_rows=500), timeout=60)
    next(trace)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=2 + 5)
    finally:
        process.kill()
    assert time.monotonic() - started < 2 + 5
    assert process.returncode == 0
    stop.set()
    for channel in channels:
        channel.close()


def test_streams_are_limited_per_connection(server: TraceServer) -> None:
    address = _address(server)
    stop = threading.Event()

    def idle() -> Iterator[ipb.IngestBatch]:
        stop.wait(30)
        yield from ()

    limit = LIMITS.max_streams_per_connection
    with grpc.insecure_channel(address) as channel:  # one connection, many streams
        stub = ipb_grpc.IngestStub(channel)
        calls = [stub.Ingest(idle(), timeout=30) for _ in range(limit + 1)]
        time.sleep(0.5)
        assert server.calls.open_streams() == limit
        _answerable(address)
        stop.set()
        for call in calls:
            call.cancel()
