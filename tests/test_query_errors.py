"""Bad input to every query gets a clear, typed error; limits, epochs and threads behave."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pytest

import engine
from engine import (
    EmptySeeds,
    InvalidInput,
    NotConnected,
    ResultLimitExceeded,
    TraceError,
    UnknownNode,
)
from engine.scratch import Scratch
from engine.view import EMPTY_LIVE


def _some_unit(graph: engine.Graph) -> str:
    keys = graph.snapshot.node_keys.to_pylist()
    return next(k for k in keys if k.startswith("urn:epc:id:sgtin:4012345.11"))


def test_unknown_key_names_it_and_suggests_close_ones(small_graph: engine.Graph) -> None:
    unit = _some_unit(small_graph)
    typo = unit[:-1] + ("0" if unit[-1] != "0" else "1") + "9"
    with pytest.raises(UnknownNode) as info:
        small_graph.trace(typo)
    assert info.value.key == typo
    assert typo in str(info.value)
    assert info.value.suggestions, "a near-miss key should come with suggestions"
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, TraceError)
    with pytest.raises(UnknownNode, match="did you mean") as info:
        small_graph.trace([unit, typo])
    with pytest.raises(UnknownNode) as info:
        small_graph.trace("zzz-nothing-like-it")
    assert info.value.suggestions == ()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda g: g.trace([]), EmptySeeds, "no seed keys"),
        (lambda g: g.impact([]), EmptySeeds, "no seed keys"),
        (lambda g: g.trace("x", direction="sideways"), InvalidInput, "direction 'sideways'"),
        (lambda g: g.trace(" padded"), InvalidInput, "malformed node key"),
        (lambda g: g.trace([""]), InvalidInput, "malformed node key"),
        (lambda g: g.trace([42]), InvalidInput, "node keys are strings"),
        (lambda g: g.trace("x", max_depth=-1), InvalidInput, "max_depth"),
        (lambda g: g.trace("x", limit=0), InvalidInput, "limit must be a positive"),
        (lambda g: g.trace("x", edge_kinds=["packd"]), InvalidInput, "unknown edge kind 'packd'"),
        (lambda g: g.trace("x", node_kinds=[]), InvalidInput, "filter is empty"),
        (lambda g: g.trace("x", since="last tuesday"), InvalidInput, "not an ISO 8601 time"),
        (lambda g: g.trace("x", since="2025-02-01", until="2025-01-01"), InvalidInput,
         "is after until"),
        (lambda g: g.trace("x", as_of=12), InvalidInput, "expected a datetime"),
        (lambda g: g.hourglass(["a", "b"]), InvalidInput, "one key"),
    ],
)
def test_invalid_arguments(small_graph: engine.Graph, call: object, error: type[Exception],
                           message: str) -> None:
    with pytest.raises(error, match=message):
        call(small_graph)  # type: ignore[operator]


def test_result_limit(small_graph: engine.Graph) -> None:
    lot = small_graph.trace(_some_unit(small_graph), "upstream",
                            node_kinds=["lot"]).column("key")[0].as_py()
    full = small_graph.trace(lot).num_rows
    assert small_graph.trace(lot, limit=full).num_rows == full
    with pytest.raises(ResultLimitExceeded, match="narrow it") as info:
        small_graph.trace(lot, limit=full - 1)
    assert info.value.limit == full - 1
    # The limit counts returned rows, after the node filter.
    serials = small_graph.trace(lot, node_kinds=["serial"]).num_rows
    assert small_graph.trace(lot, node_kinds=["serial"], limit=serials).num_rows == serials


def test_path_not_connected_and_trivial(small_graph: engine.Graph) -> None:
    unit = _some_unit(small_graph)
    upstream_lot = small_graph.trace(unit, "upstream",
                                     node_kinds=["lot"]).column("key")[0].as_py()
    with pytest.raises(NotConnected, match="is not downstream of"):
        small_graph.path(unit, upstream_lot)
    chain = small_graph.path(upstream_lot, unit)
    assert chain.column("key")[0].as_py() == upstream_lot
    assert chain.column("key")[-1].as_py() == unit
    assert small_graph.path(unit, unit).num_rows == 1


def test_as_of_before_anything_was_recorded_sees_nothing(small_graph: engine.Graph) -> None:
    unit = _some_unit(small_graph)
    assert small_graph.trace(unit, "upstream").num_rows > 0
    assert small_graph.trace(unit, "upstream",
                             as_of=datetime(2000, 1, 1, tzinfo=UTC)).num_rows == 0
    naive = datetime(2000, 1, 1)  # naive times are UTC
    assert small_graph.trace(unit, "upstream", as_of=naive).num_rows == 0


def test_direction_aliases(small_graph: engine.Graph) -> None:
    unit = _some_unit(small_graph)
    up = small_graph.trace(unit, "upstream").column("key").to_pylist()
    assert small_graph.trace(unit, "where-from").column("key").to_pylist() == up
    assert small_graph.trace(unit, "backward").column("key").to_pylist() == up


def test_epoch_wraparound_clears_marks() -> None:
    scratch = Scratch(8)
    scratch.epoch = np.iinfo(np.uint32).max - 1
    scratch.marks[:] = 7
    assert scratch.next_epoch() == 1
    assert not scratch.marks.any()


def test_concurrent_queries_get_their_own_scratch(small_graph: engine.Graph) -> None:
    unit = _some_unit(small_graph)
    lot = small_graph.trace(unit, "upstream", node_kinds=["lot"]).column("key")[0].as_py()
    expected_up = small_graph.trace(unit, "upstream").column("key").to_pylist()
    expected_down = small_graph.trace(lot).column("key").to_pylist()
    failures: list[str] = []

    def worker(index: int) -> None:
        for _ in range(30):
            if index % 2:
                got = small_graph.trace(unit, "upstream").column("key").to_pylist()
                ok = got == expected_up
            else:
                ok = small_graph.trace(lot).column("key").to_pylist() == expected_down
            if not ok:
                failures.append(f"thread {index}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_node_and_stats(small_graph: engine.Graph) -> None:
    unit = _some_unit(small_graph)
    node = small_graph.node(unit)
    assert node["kind"] == "serial"
    assert node["key"] == unit
    stats = small_graph.stats()
    assert stats["nodes"] == small_graph.node_count
    assert sum(stats["nodes_by_kind"].values()) == stats["nodes"]
    assert sum(stats["edges_by_kind"].values()) == stats["edges"]


def test_cancellation_stops_a_query(small_graph: engine.Graph) -> None:
    lot = small_graph.trace(_some_unit(small_graph), "upstream",
                            node_kinds=["lot"]).column("key")[0].as_py()
    cancellation = engine.Cancellation()
    assert small_graph.trace(lot, cancellation=cancellation).num_rows > 0
    cancellation.cancel()
    with pytest.raises(engine.QueryCancelled):
        small_graph.trace(lot, cancellation=cancellation)
    with pytest.raises(engine.QueryCancelled):
        small_graph.impact([lot], cancellation=cancellation)
    # A flag set while the walk runs is seen within a few thousand nodes.
    from engine import _kernels as k

    snap = small_graph.snapshot
    scratch = small_graph._scratch.get()
    flag = np.ones(1, dtype=np.uint8)
    count, _, _ = k.traverse_plain(snap.down.indptr, snap.down.neighbor, snap.down.recorded_at,
                                   k.MAX_TIME, snap.keys.lookup([lot]), -1, 2**62, scratch.marks,
                                   scratch.next_epoch(), scratch.queue, scratch.depth, flag,
                                   EMPTY_LIVE)
    assert count == k.CANCELLED or count < k.CANCEL_CHECK_EVERY
