"""A live store against the networkx oracle: a genealogy arrives in batches (partly as a built
base the store adopts), some edges are retracted, and after every step trace, impact and path
agree with the oracle: on the delta, after compaction, and after a restart that replays the log.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import engine
from engine import Graph
from index.build import build_from_files
from index.ingest import IngestBatch, RetractionRequest
from index.live import LiveStore
from tests import oracle
from tests.conftest import T0, write_tables
from tests.test_queries_oracle import _dedupe, genealogies

EDGE_COLUMNS = ("src", "dst", "kind", "event_time", "recorded_at")


def _graph(live: LiveStore) -> Graph:
    return Graph(live.view().snapshot, live.view)


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pl.DataFrame:
    return pl.DataFrame({c: [r.get(c) for r in rows] for c in columns},
                        schema={c: (pl.Datetime("us", "UTC") if c in ("event_time",
                                                                       "recorded_at")
                                    else pl.String) for c in columns})


def _same_link(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a[k] == b[k] for k in ("src", "dst", "kind", "event_time"))


def _check(graph: Graph, nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
           as_of: datetime | None = None) -> None:
    """Every node's downstream and upstream trace, and impact of the first nodes, match."""
    known = {n["key"] for n in nodes}
    nx_graph = oracle.genealogy(nodes, edges)
    flt = oracle.EdgeFilter(as_of=as_of)
    for key in sorted(known):
        for downstream in (True, False):
            table = graph.trace(key, "downstream" if downstream else "upstream", as_of=as_of)
            got = dict(zip(table.column("key").to_pylist(), table.column("depth").to_pylist(),
                           strict=True))
            assert got == oracle.trace(nx_graph, [key], downstream, flt), (key, downstream)
            # The run-by-run kernel (delta nodes walked alone) keeps the node-by-node order
            # of the general one, which `via` takes.
            walked = graph.trace(key, "downstream" if downstream else "upstream", as_of=as_of,
                                 via=True)
            assert walked.column("key").to_pylist() == table.column("key").to_pylist()
    for src in sorted(known)[:2]:  # path: the chain and the edges the walk took (delta too)
        for dst in sorted(known):
            expected = oracle.shortest_path_length(nx_graph, src, dst, flt)
            if expected is None:
                with pytest.raises(engine.NotConnected):
                    graph.path(src, dst, as_of=as_of)
                continue
            chain = graph.path(src, dst, as_of=as_of).to_pylist()
            assert len(chain) == expected + 1
            for a, b in itertools.pairwise(chain):
                assert any(flt.allows(d) and d["kind"] == b["edge_kind"]
                           and d.get("event_time") == b["event_time"]
                           for d in nx_graph.get_edge_data(a["key"], b["key"]).values())
    seeds = sorted(known)[:3]
    impact = graph.impact(seeds, as_of=as_of)
    affected = set(oracle.trace(nx_graph, seeds, True, flt)) | set(seeds)
    assert impact.affected == len(affected) - len(seeds)
    units = oracle.tally(nx_graph, affected, flt, "serial", {"shipment", "customer"})
    for row in impact.by_shipment.to_pylist() + impact.by_customer.to_pylist():
        key = row.get("shipment") or row["customer"]
        assert key in affected
        assert row["units"] == units.get(key, 0), key


_SAME_EDGE_TWICE = (  # split=3 puts the first three nodes, and so both copies, in the base
    [{"key": "urn:test:000", "kind": "lot"}, {"key": "urn:test:001", "kind": "serial"},
     {"key": "urn:test:002", "kind": "serial"}, {"key": "urn:test:003", "kind": "serial"}],
    [{"src": "urn:test:000", "dst": "urn:test:001", "kind": "consumed", "event_time": None,
      "recorded_at": T0 + timedelta(hours=h)} for h in (5, 1)],
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=genealogies(), split=st.integers(0, 3), batches=st.integers(1, 4),
       retract=st.lists(st.integers(0, 200), max_size=3))
# A fresh clone's CI found this: a base holding the same edge twice (the build folds it into
# one, which keeps the earlier record time), then a retraction of it: one retracted edge.
@example(data=_SAME_EDGE_TWICE, split=3, batches=1, retract=[0])
# Found exploring: the same edge twice in one live batch is one assertion (folded on ingest).
@example(data=([{"key": "urn:test:000", "kind": "lot"}, {"key": "urn:test:001", "kind": "lot"}],
               [{"src": "urn:test:001", "dst": "urn:test:000", "kind": "consumed",
                 "event_time": None, "recorded_at": T0}] * 2), split=0, batches=1, retract=[0])
@example(data=_SAME_EDGE_TWICE, split=3, batches=1, retract=[])
def test_live_store_matches_oracle(data: Any, split: int, batches: int,
                                   retract: list[int]) -> None:
    nodes, edges = data[0], [dict(e) for e in data[1]]  # the model marks its own copies
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # The first `split` quarter of the nodes (and their edges) is a built base.
        cut = len(nodes) * split // 4
        base_nodes, live_nodes = nodes[:cut], nodes[cut:]
        base_keys = {n["key"] for n in base_nodes}
        base_edges = [e for e in edges if e["src"] in base_keys and e["dst"] in base_keys]
        if base_nodes:
            paths = write_tables(root / "base", base_nodes, base_edges)
            build_from_files([paths[0]], [paths[1]], root / "data")
        rest = [e for e in edges if e not in base_edges]
        with LiveStore(root / "data", compact_in_process=True) as live:
            known = set(base_keys)
            # The build folds a repeated edge into one (the earliest record time kept): it is
            # one edge, so one retracted edge when retracted (`stats` counts it once).
            applied = _dedupe(base_edges)
            per = max(1, len(live_nodes) // batches)
            for number, start in enumerate(range(0, max(len(live_nodes), 1), per)):
                chunk = live_nodes[start: start + per]
                known |= {n["key"] for n in chunk}
                ready = [e for e in rest if e["src"] in known and e["dst"] in known]
                rest = [e for e in rest if e not in ready]
                if not chunk and not ready:
                    continue
                ack = live.ingest(IngestBatch(
                    "test", number, _frame(chunk, ("key", "kind")) if chunk else None,
                    _frame(ready, EDGE_COLUMNS) if ready else None))
                assert ack.outcome == "applied", ack.message
                # A live edge that repeats one the store holds live (same link and time; no
                # event ids here) is the same assertion again: the store does not add it.
                for edge in ready:
                    if not any(_same_link(edge, held) and not held.get("retracted_at")
                               for held in applied):
                        applied.append(edge)
                _check(_graph(live), [n for n in nodes if n["key"] in known], applied)
            visible = [n for n in nodes if n["key"] in known]
            before = datetime.now(UTC)
            time.sleep(0.002)
            for number, pick in enumerate(retract):
                if not applied:
                    break
                target = applied[pick % len(applied)]
                if target.get("retracted_at"):
                    continue
                ack = live.ingest(IngestBatch("fix", number, retractions=[RetractionRequest(
                    target["src"], target["dst"], target["kind"], "test: wrong edge",
                    target["event_time"])]))
                assert ack.outcome == "applied", ack.message
                when = datetime.now(UTC)
                for edge in applied:  # every matching live edge is retracted
                    # A retraction without an event time names the link, not one occurrence:
                    # it retracts every live src -> dst edge of the kind (RetractionRequest).
                    if ((edge["src"], edge["dst"], edge["kind"]) == (
                            target["src"], target["dst"], target["kind"])
                            and (target["event_time"] is None
                                 or edge["event_time"] == target["event_time"])
                            and not edge.get("retracted_at")):
                        edge["retracted_at"] = when
            graph = _graph(live)
            _check(graph, visible, applied)
            _check(graph, visible, applied, as_of=before)  # history keeps retracted edges
            live.compact()
            _check(graph, visible, applied)
            _check(graph, visible, applied, as_of=before)
        with LiveStore(root / "data", compact_in_process=True) as live:
            graph = _graph(live)
            _check(graph, visible, applied)
            _check(graph, visible, applied, as_of=before)
            assert graph.stats()["retracted_edges"] == sum(
                1 for e in applied if e.get("retracted_at"))


def test_as_of_before_the_edges_arrived_sees_none_of_them(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        nodes = [{"key": "lot:a", "kind": "lot"}, {"key": "sn:a", "kind": "serial"}]
        edge = {"src": "lot:a", "dst": "sn:a", "kind": "consumed", "event_time": T0,
                "recorded_at": T0 + timedelta(days=1)}
        live.ingest(IngestBatch("t", 1, _frame(nodes, ("key", "kind")),
                                _frame([edge], EDGE_COLUMNS)))
        graph = _graph(live)
        assert graph.trace("lot:a").column("key").to_pylist() == ["sn:a"]
        assert graph.trace("lot:a", as_of=T0).num_rows == 0


def test_hourglass_reads_both_halves_from_one_view(tmp_path: Path) -> None:
    """Under live ingest every view is a log sequence: hourglass takes one, not one per half."""
    with LiveStore(tmp_path / "data") as live:
        nodes = [{"key": "lot:a", "kind": "lot"}, {"key": "sn:a", "kind": "serial"},
                 {"key": "case:a", "kind": "logistic_unit"}]
        edges = [{"src": "lot:a", "dst": "sn:a", "kind": "consumed", "event_time": T0},
                 {"src": "sn:a", "dst": "case:a", "kind": "packed", "event_time": T0}]
        live.ingest(IngestBatch("t", 1, _frame(nodes, ("key", "kind")),
                                _frame(edges, EDGE_COLUMNS)))
        taken = []

        def views() -> Any:
            taken.append(1)
            return live.view()

        graph = Graph(live.view().snapshot, views)
        table = graph.hourglass("sn:a")
        assert sorted(zip(table.column("direction").to_pylist(),
                          table.column("key").to_pylist(), strict=True)) == [
            ("downstream", "case:a"), ("upstream", "lot:a")]
        assert len(taken) == 1
