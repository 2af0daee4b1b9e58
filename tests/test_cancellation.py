"""Cancellation reaches *inside* the kernels: on a walk far longer than the poll interval
(`CANCEL_CHECK_EVERY` nodes), a flag raised once the walk has begun stops it part-way, in
process and through a real server whose call is cancelled while the query runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

import engine
from engine import _kernels as k
from engine.view import EMPTY_LIVE
from server.rpc import genealogy_pb2 as pb
from server.rpc import genealogy_pb2_grpc as pb_grpc
from server.serve import ServerConfig, TraceServer
from tests.conftest import T0, build_graph

WORK_ORDERS, UNITS_PER_ORDER = 40, 1_500  # 120,041 nodes downstream of the lot
UNITS = WORK_ORDERS * UNITS_PER_ORDER
LOT = "lot:wide"


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[engine.Graph, Path]:
    root = tmp_path_factory.mktemp("wide")
    orders = [f"wo:{i}" for i in range(WORK_ORDERS)]
    units = [f"sn:{i}:{j}" for i in range(WORK_ORDERS) for j in range(UNITS_PER_ORDER)]
    nodes = ([{"key": LOT, "kind": "lot"}] + [{"key": o, "kind": "work_order"} for o in orders]
             + [{"key": u, "kind": "serial"} for u in units]
             + [{"key": f"box:{u}", "kind": "logistic_unit"} for u in units])
    edges = ([{"src": LOT, "dst": o, "kind": "consumed", "event_time": T0} for o in orders]
             + [{"src": f"wo:{u.split(':')[1]}", "dst": u, "kind": "produced",
                 "event_time": T0} for u in units]
             + [{"src": u, "dst": f"box:{u}", "kind": "packed", "event_time": T0}
                for u in units])
    graph = build_graph(root, nodes, edges)
    assert graph.count(LOT) > 10 * k.CANCEL_CHECK_EVERY
    return graph, root / "data"


class _RaisedOnceRunning(engine.Cancellation):
    """A flag raised after the query's own check, as a cancel arriving mid-walk is: the
    pre-check sees nothing, only the kernel's poll can stop the walk."""

    @property
    def cancelled(self) -> bool:
        return False


@pytest.mark.parametrize("filters", [{}, {"edge_kinds": ["consumed", "produced"]},
                                     {"node_kinds": ["serial"]}],
                         ids=["plain-kernel", "edge-filter", "node-filter"])
def test_a_walk_cancelled_inside_the_kernel_stops(wide: tuple[engine.Graph, Path],
                                                  filters: dict[str, list[str]]) -> None:
    graph, _ = wide
    cancellation = _RaisedOnceRunning()
    cancellation.flag[0] = 1
    before = graph.walks_cancelled
    with pytest.raises(engine.QueryCancelled, match="before it finished"):
        graph.trace(LOT, cancellation=cancellation, **filters)
    assert graph.walks_cancelled == before + 1
    with pytest.raises(engine.QueryCancelled, match="before it finished"):
        graph.impact([LOT], cancellation=cancellation)
    assert graph.trace(LOT, **filters).num_rows > 10 * k.CANCEL_CHECK_EVERY  # still answers


@pytest.mark.parametrize("plain", [True, False], ids=["traverse_plain", "traverse"])
def test_the_kernels_stop_part_way(wide: tuple[engine.Graph, Path], plain: bool) -> None:
    """Called directly: a raised flag stops each kernel a poll interval or two into the
    units' level, long before the boxes (the third level) are all marked."""
    graph, _ = wide
    snap = graph.snapshot
    scratch = graph._scratch.get()
    epoch = scratch.next_epoch()
    seeds = snap.keys.lookup([LOT]).astype(np.int64)
    flag = np.ones(1, dtype=np.uint8)
    down = snap.down
    if plain:
        count, _, _ = k.traverse_plain(down.indptr, down.neighbor, down.recorded_at,
                                       k.MAX_TIME, seeds, -1, 2**62, scratch.marks, epoch,
                                       scratch.queue, scratch.depth, flag, EMPTY_LIVE)
    else:
        live = graph.view().live(down)
        count, _, _ = k.traverse(
            down.indptr, down.neighbor, down.kind, down.event_time, down.recorded_at, down.edge,
            down.mapped, seeds, -1, np.ones(256, dtype=np.bool_), False, k.MIN_TIME,
            k.MAX_TIME, k.MAX_TIME, snap.node_kind, np.ones(256, dtype=np.bool_), True,
            2**62, -1, scratch.marks, epoch, scratch.queue, scratch.depth, scratch.parent,
            True, flag, live)
    assert count == k.CANCELLED
    marked = int((scratch.marks == epoch).sum())
    whole = 1 + WORK_ORDERS + 2 * UNITS
    assert 1 + WORK_ORDERS + UNITS <= marked < 1 + WORK_ORDERS + UNITS + 3 * k.CANCEL_CHECK_EVERY
    assert marked < whole


@pytest.fixture
def server(wide: tuple[engine.Graph, Path],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[TraceServer]:
    _, data = wide
    monkeypatch.setenv("TRACEGRAPH_FAULTS", "before-walk:sleep=1.5")
    running = TraceServer(data, ServerConfig(port=0, no_auth=True, read_only=True))
    running.load()
    yield running
    running.stop(0)


@pytest.mark.parametrize("how", ["cancel", "deadline"])
def test_a_server_call_cancelled_mid_walk_stops_its_kernel(server: TraceServer,
                                                           how: str) -> None:
    """The call ends while its query waits at the start of the walk (a fault hook holds it
    1.5 s): the call's callback raises the flag, and the kernel's poll stops the walk."""
    graph = server.graph
    assert graph is not None
    before = graph.walks_cancelled
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.GenealogyStub(channel)
        request = pb.TraceRequest(seeds=[LOT], direction=pb.DOWNSTREAM)
        if how == "cancel":
            call = stub.Trace(request, timeout=30)
            threading.Timer(0.3, call.cancel).start()
            with pytest.raises(grpc.RpcError) as info:
                list(call)
            assert info.value.code() == grpc.StatusCode.CANCELLED
        else:
            with pytest.raises(grpc.RpcError) as info:
                stub.TraceUnary(request, timeout=0.3)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        deadline = time.monotonic() + 10
        while graph.walks_cancelled == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert graph.walks_cancelled == before + 1
        health = stub.Stats(pb.StatsRequest(), timeout=10)
        assert health.nodes > 0
