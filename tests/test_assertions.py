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
from index.store import Store
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc
from server.serve import ServerConfig, TraceServer
from tests.conftest import write_tables
from trust.identity import Directory, Principal

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
    """`tracegraph retract` proposes (a writer, with a password); a qa user approves; a
    retraction without --user is refused and changes nothing."""
    nodes, edges = write_tables(tmp_path / "source", NODES, EDGES)
    data = tmp_path / "data"
    build_from_files([nodes], [edges], data)
    store = Store(data, writable=True)
    owner = Principal(0, "os:test", "os:test", "admin", "os")
    Directory(store).add("wes", "writer", owner, password="wes-password-long")
    Directory(store).add("quinn", "qa", owner, password="quinn-password-long")
    store.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args: str, user: str | None = "wes") -> subprocess.CompletedProcess[str]:
        who = [] if user is None else ["--user", user, "--password-stdin"]
        return subprocess.run([sys.executable, "-m", "server.cli", "retract", "--data",
                               str(data), "--src", UNIT, "--dst", CASE, "--kind",
                               "packed", "--reason", "wrong case", *who, *args],
                              input=f"{user}-password-long\n", capture_output=True, text=True,
                              env=env, timeout=120, check=False)

    def approve(number: str) -> None:
        done = subprocess.run([sys.executable, "-m", "server.cli", "correct", "approve", number,
                               "--data", str(data), "--user", "quinn", "--password-stdin"],
                              input="quinn-password-long\n", capture_output=True, text=True,
                              env=env, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "applied at log sequence" in done.stdout

    direct = cli(user=None)
    assert direct.returncode == 1
    assert "--user NAME --password-stdin" in direct.stderr
    one = cli("--event-id", "ev-2")
    assert one.returncode == 0, one.stderr
    assert "[1 assertion(s)]" in one.stderr
    with LiveStore(data) as live:
        assert _linked(live)  # pending: changes nothing
    approve(one.stdout.split()[-1])
    with LiveStore(data) as live:
        assert _linked(live)  # ev-1 still asserts the link
    link = cli()
    assert link.returncode == 0, link.stderr
    assert "[1 assertion(s)]" in link.stderr  # the one assertion left
    approve(link.stdout.split()[-1])
    with LiveStore(data) as live:
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
