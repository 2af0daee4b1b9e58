"""Edge provenance: a link asserted by several events stays until every assertion of it is
retracted. A retraction names one assertion (with an event_id) or the whole link (without);
both hold in a built snapshot, in the live delta, after compaction, over the CLI and over the
Ingest RPC, and `as_of` before a retraction still answers as then."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import grpc
import polars as pl
import pytest

from engine import Graph
from index.build import build_from_files
from index.ingest import IngestBatch, RetractionRequest
from index.live import LiveStore
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc
from server.serve import ServerConfig, TraceServer
from tests.conftest import write_tables

ROOT = Path(__file__).resolve().parents[1]
T = datetime(2025, 3, 1, 8, tzinfo=UTC)
UNIT, CASE = "urn:epc:id:sgtin:4012345.110003.1", "urn:epc:id:sscc:4012345.0000000001"
NODES = [{"key": UNIT, "kind": "serial"}, {"key": CASE, "kind": "logistic_unit"}]
# The same link asserted by two events, one of them twice (an exact repeat folds).
EDGES = [{"src": UNIT, "dst": CASE, "kind": "packed", "event_time": T, "event_id": "ev-1"},
         {"src": UNIT, "dst": CASE, "kind": "packed", "event_time": T, "event_id": "ev-2"},
         {"src": UNIT, "dst": CASE, "kind": "packed", "event_time": T, "event_id": "ev-1"}]


def _graph(live: LiveStore) -> Graph:
    return Graph(live.view().snapshot, live.view)


def _linked(live: LiveStore, **filters: str) -> bool:
    return CASE in _graph(live).trace(UNIT, **filters).column("key").to_pylist()


def _retract(live: LiveStore, tag: str, event_id: str | None) -> int:
    ack = live.ingest(IngestBatch(tag, 0, retractions=[RetractionRequest(
        UNIT, CASE, "packed", "wrong case", event_id=event_id)]))
    assert ack.outcome == "applied", ack
    return ack.retracted


@pytest.fixture(params=["built", "live"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LiveStore:
    """The two assertions in a built snapshot, or ingested into the live delta."""
    data = tmp_path / "data"
    if request.param == "built":
        nodes, edges = write_tables(tmp_path / "source", NODES, EDGES)
        report = build_from_files([nodes], [edges], data)
        assert report.folded_edges == 1  # ev-1 twice is one assertion; ev-2 is another
        return LiveStore(data)
    live = LiveStore(data)
    live.ingest(IngestBatch("mes", 1, pl.DataFrame(NODES), pl.DataFrame(EDGES)))
    return live


def test_the_link_stays_until_every_assertion_is_retracted(store: LiveStore) -> None:
    with store as live:
        assert _retract(live, "r1", "ev-1") >= 1
        assert _linked(live)
        after_first = datetime.now(UTC).isoformat()
        live.compact()
        assert _linked(live)
        assert _retract(live, "r2", "ev-2") == 1
        assert not _linked(live)
        assert _linked(live, as_of=after_first)
        live.compact()
        assert not _linked(live)
        assert _linked(live, as_of=after_first)


def test_a_retraction_without_an_event_names_the_link(store: LiveStore) -> None:
    with store as live:
        assert _retract(live, "r1", None) >= 2
        assert not _linked(live)


def test_an_event_that_asserted_nothing_there_is_rejected(store: LiveStore) -> None:
    with store as live:
        ack = live.ingest(IngestBatch("r1", 0, retractions=[RetractionRequest(
            UNIT, CASE, "packed", "wrong case", event_id="ev-404")]))
        assert ack.outcome == "rejected"
        assert "asserted by event 'ev-404'" in ack.errors[0].reason
        assert _linked(live)


def test_the_cli_retracts_one_assertion_or_the_link(tmp_path: Path) -> None:
    nodes, edges = write_tables(tmp_path / "source", NODES, EDGES)
    build_from_files([nodes], [edges], tmp_path / "data")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", "retract", "--data",
                               str(tmp_path / "data"), "--src", UNIT, "--dst", CASE, "--kind",
                               "packed", "--reason", "wrong case", *args],
                              capture_output=True, text=True, env=env, timeout=120, check=False)

    one = cli("--event-id", "ev-2")
    assert one.returncode == 0, one.stderr
    assert "retracted 1 edge(s)" in one.stdout
    with LiveStore(tmp_path / "data") as live:
        assert _linked(live)
    link = cli()
    assert link.returncode == 0, link.stderr
    assert "retracted 1 edge(s)" in link.stdout  # the one assertion left
    with LiveStore(tmp_path / "data") as live:
        assert not _linked(live)
    again = cli()
    assert again.returncode == 1
    assert "no live 'packed' edge" in again.stderr


def test_the_ingest_rpc_retracts_one_assertion(tmp_path: Path) -> None:
    server = TraceServer(tmp_path / "data", ServerConfig(port=0, no_auth=True, compact_edges=0))
    server.load()
    try:
        edges = [ipb.EdgeRecord(src=UNIT, dst=CASE, kind="packed", event_id=e)
                 for e in ("ev-1", "ev-2")]
        nodes = [ipb.NodeRecord(key=n["key"], kind=n["kind"]) for n in NODES]
        batches = [
            ipb.IngestBatch(source="mes", sequence=1, nodes=nodes, edges=edges),
            ipb.IngestBatch(source="qa", sequence=1, retractions=[ipb.RetractionRecord(
                src=UNIT, dst=CASE, kind="packed", reason="wrong", event_id="ev-1")]),
        ]
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            acks = list(ipb_grpc.IngestStub(channel).Ingest(iter(batches), timeout=30))
        assert [a.outcome for a in acks] == [ipb.APPLIED, ipb.APPLIED]
        assert acks[1].edges_retracted == 1
        graph = server.graph
        assert graph is not None
        assert graph.trace(UNIT).column("key").to_pylist() == [CASE]
    finally:
        server.stop(0)
