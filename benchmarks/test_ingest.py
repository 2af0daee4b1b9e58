"""Live store benchmarks: durable streaming ingest (in-process and over gRPC, protobuf records
and Arrow), time until an acknowledged edge is visible to a trace, upstream-trace latency while
the benchmark genealogy is compacted, and the compaction itself.

The compaction benchmark works on a hard-linked copy of the benchmark snapshot (its files are
immutable), so the cached dataset stays a plain built directory.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import engine
from benchmarks.conftest import MEASURED
from engine import Graph
from index.ingest import IngestBatch
from index.live import LiveStore
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc

ROOT = Path(__file__).resolve().parents[1]
BATCHES = 300
BATCH_EDGES = 1000


def _frames(b: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Batch b: a work order and 1,000 serials, then the 1,000 produced edges between them."""
    serials = [f"urn:bench:sn:{b}:{i}" for i in range(BATCH_EDGES)]
    order = f"urn:bench:wo:{b}"
    nodes = pl.DataFrame({"key": [order, *serials],
                          "kind": ["work_order"] + ["serial"] * BATCH_EDGES})
    edges = pl.DataFrame({
        "src": [order] * BATCH_EDGES, "dst": serials, "kind": ["produced"] * BATCH_EDGES,
        "event_time": pl.Series([1_700_000_000_000_000 + b] * BATCH_EDGES).cast(
            pl.Datetime("us", "UTC")),
    })
    return nodes, edges


def _stream(live: LiveStore, batches: list[IngestBatch], in_flight: int = 64) -> None:
    pending: deque[Any] = deque()
    for batch in batches:
        pending.append(live.submit(batch))
        while len(pending) > in_flight:
            assert pending.popleft().result().outcome == "applied"
    while pending:
        assert pending.popleft().result().outcome == "applied"


def test_ingest_in_process(benchmark: Any, tmp_path: Path) -> None:
    """Durable streaming ingest of 1,000-edge batches through the LiveStore API."""
    frames = [_frames(b) for b in range(BATCHES)]
    rounds = iter(range(100))

    def setup() -> tuple[tuple[LiveStore, list[IngestBatch]], dict[str, Any]]:
        live = LiveStore(tmp_path / f"r{next(rounds)}")
        _stream(live, [IngestBatch("nodes", b, nodes) for b, (nodes, _) in enumerate(frames)])
        return (live, [IngestBatch("edges", b, None, e) for b, (_, e) in enumerate(frames)]), {}

    def run(live: LiveStore, batches: list[IngestBatch]) -> None:
        _stream(live, batches)
        live.close()

    benchmark.pedantic(run, setup=setup, rounds=3)
    rate = BATCHES * BATCH_EDGES / benchmark.stats.stats.median
    benchmark.extra_info["edges_per_s"] = round(rate)
    MEASURED.append(f"durable ingest, in-process, 1,000-edge batches: {rate:,.0f} edges/s")


@pytest.fixture(scope="module")
def ingest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("ingest") / "data"
    log = data.parent / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--no-auth",
             "--data", str(data), "--port", "0",
             "--compact-edges", "0"], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
    address = ""
    while not address:
        time.sleep(0.1)
        for line in log.read_text().splitlines():
            if "tracegraph serve: serving" in line:
                address = line.rsplit(" on ", 1)[1]
        assert process.poll() is None, log.read_text()
    yield address
    process.terminate()
    process.wait(60)


def _proto_batches(source: str, arrow: bool) -> list[ipb.IngestBatch]:
    out = []
    for b in range(BATCHES):
        _, edges = _frames(b)
        if arrow:
            table = edges.to_arrow()
            sink = io.BytesIO()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            out.append(ipb.IngestBatch(source=source, sequence=b, edges_arrow=sink.getvalue()))
        else:
            out.append(ipb.IngestBatch(source=source, sequence=b, edges=[
                ipb.EdgeRecord(src=r["src"], dst=r["dst"], kind=r["kind"])
                for r in edges.iter_rows(named=True)]))
    return out


@pytest.mark.parametrize("form", ["protobuf", "arrow"])
def test_ingest_over_grpc(benchmark: Any, ingest_server: str, form: str) -> None:
    """Durable streaming ingest over one Ingest stream (nodes sent first, not timed)."""
    with grpc.insecure_channel(ingest_server) as channel:
        stub = ipb_grpc.IngestStub(channel)
        rounds = iter(range(100))

        def setup() -> tuple[tuple[list[ipb.IngestBatch]], dict[str, Any]]:
            r = next(rounds)
            nodes = [ipb.IngestBatch(source=f"n{form}{r}", sequence=b, nodes=[
                ipb.NodeRecord(key=row["key"].replace("urn:bench:", f"urn:{form}{r}:"),
                               kind=row["kind"]) for row in _frames(b)[0].iter_rows(named=True)])
                for b in range(BATCHES)]
            for ack in stub.Ingest(iter(nodes)):
                assert ack.outcome == ipb.APPLIED, ack.message
            batches = _proto_batches(f"e{form}{r}", form == "arrow")
            for batch in batches:  # point the edges at this round's nodes
                if batch.edges_arrow:
                    table = pa.ipc.open_stream(batch.edges_arrow).read_all()
                    frame = pl.from_arrow(table)
                    assert isinstance(frame, pl.DataFrame)
                    frame = frame.with_columns(pl.col("src", "dst").str.replace(
                        "urn:bench:", f"urn:{form}{r}:"))
                    sink = io.BytesIO()
                    arrow = frame.to_arrow()
                    with pa.ipc.new_stream(sink, arrow.schema) as writer:
                        writer.write_table(arrow)
                    batch.edges_arrow = sink.getvalue()
                for edge in batch.edges:
                    edge.src = edge.src.replace("urn:bench:", f"urn:{form}{r}:")
                    edge.dst = edge.dst.replace("urn:bench:", f"urn:{form}{r}:")
            return (batches,), {}

        def run(batches: list[ipb.IngestBatch]) -> None:
            for ack in stub.Ingest(iter(batches)):
                assert ack.outcome == ipb.APPLIED, ack.message

        benchmark.pedantic(run, setup=setup, rounds=3)
    rate = BATCHES * BATCH_EDGES / benchmark.stats.stats.median
    benchmark.extra_info["edges_per_s"] = round(rate)
    MEASURED.append(f"durable ingest over gRPC ({form}), 1,000-edge batches: {rate:,.0f} "
                    "edges/s")


def test_acknowledged_edge_visible_to_trace(benchmark: Any, tmp_path: Path) -> None:
    """From submitting a one-edge batch to a trace that returns the new edge's node."""
    with LiveStore(tmp_path / "data") as live:
        graph = Graph(live.view().snapshot, live.view)
        live.ingest(IngestBatch("seed", 0, pl.DataFrame({"key": ["lot:v"], "kind": ["lot"]})))
        counter = iter(range(1, 1_000_000))

        def once() -> None:
            n = next(counter)
            key = f"sn:v:{n}"
            live.ingest(IngestBatch("v", n, pl.DataFrame({"key": [key], "kind": ["serial"]}),
                                    pl.DataFrame({"src": ["lot:v"], "dst": [key],
                                                  "kind": ["consumed"]})))
            assert graph.trace(key, "upstream").num_rows == 1

        benchmark.pedantic(once, rounds=200, warmup_rounds=5)
    MEASURED.append(f"submit -> durable -> visible to a trace: median "
                    f"{benchmark.stats.stats.median * 1e3:.2f} ms, max "
                    f"{benchmark.stats.stats.max * 1e3:.2f} ms")


def _p99(graph: Graph, units: list[str], stop: threading.Event | None = None,
         calls: int = 2000) -> float:
    times = []
    i = 0
    while (stop is None and i < calls) or (stop is not None and not stop.is_set()):
        key = units[i % len(units)]
        started = time.perf_counter()
        graph.trace(key, "upstream")
        times.append(time.perf_counter() - started)
        i += 1
        time.sleep(0.0005)  # an ERP's pace, not a tight loop: leaves the other core free
    return float(np.percentile(times, 99))


def test_trace_p99_during_compaction(benchmark: Any, data_dir: Path, tmp_path: Path,
                                     samples: dict[str, Any]) -> None:
    """Upstream unit traces keep answering while the whole genealogy is compacted in a
    child process; reports idle and during-compaction p99 and the compaction time."""
    work = tmp_path / "data"
    shutil.copytree(data_dir, work, copy_function=os.link)  # snapshot files are immutable
    units = list(samples["units"][:500])
    with LiveStore(work) as live:
        frames = [_frames(b) for b in range(20)]
        _stream(live, [IngestBatch("n", b, nodes) for b, (nodes, _) in enumerate(frames)])
        _stream(live, [IngestBatch("e", b, None, e) for b, (_, e) in enumerate(frames)])
        graph = Graph(live.view().snapshot, live.view)
        graph.warm()
        idle = _p99(graph, units)
        stop = threading.Event()
        during: list[float] = []
        watcher = threading.Thread(target=lambda: during.append(_p99(graph, units, stop)))
        watcher.start()
        report: list[Any] = []

        def compact() -> None:
            report.append(live.compact())

        try:
            benchmark.pedantic(compact, rounds=1)
        finally:
            stop.set()
            watcher.join()
        assert report[0] is not None
        assert graph.snapshot.path == report[0].snapshot  # the new snapshot is being served
        assert graph.stats()["delta_edges"] == 0
    ratio = during[0] / idle
    benchmark.extra_info.update(idle_p99_ms=idle * 1e3, compaction_p99_ms=during[0] * 1e3,
                                ratio=ratio, edges=report[0].edges)
    MEASURED.append(f"compaction of {report[0].edges:,} edges: "
                    f"{benchmark.stats.stats.median:.1f} s; upstream-trace p99 idle "
                    f"{idle * 1e3:.3f} ms, during compaction {during[0] * 1e3:.3f} ms "
                    f"({ratio:.2f}x)")


def test_open_a_live_store(benchmark: Any, tmp_path: Path) -> None:
    """engine.open on a store directory: the snapshot plus a replay of 100 log entries."""
    with LiveStore(tmp_path / "data") as live:
        frames = [_frames(b) for b in range(50)]
        _stream(live, [IngestBatch("n", b, nodes) for b, (nodes, _) in enumerate(frames)])
        _stream(live, [IngestBatch("e", b, None, e) for b, (_, e) in enumerate(frames)])
    graph = benchmark(lambda: engine.open(tmp_path / "data", warm=False))
    assert graph.edge_count == 50 * BATCH_EDGES
