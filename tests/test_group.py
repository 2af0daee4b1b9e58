"""`plan_group` alone: no writer thread, no store. What each batch of a group becomes is
decided from the delta and the applied batch ids, and planning changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from index.delta import Delta
from index.group import plan_group
from index.ingest import IngestBatch
from index.live import _empty_snapshot
from index.snapshot import open_snapshot
from index.store import BatchRecord

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def delta(tmp_path: Path) -> Delta:
    _empty_snapshot(tmp_path)
    return Delta(open_snapshot(tmp_path))


def _nodes(*keys: str) -> pl.DataFrame:
    return pl.DataFrame({"key": list(keys), "kind": ["serial"] * len(keys)})


def _edges(*pairs: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame({"src": [a for a, _ in pairs], "dst": [b for _, b in pairs],
                         "kind": ["packed"] * len(pairs)})


def _none(_: str) -> BatchRecord | None:
    return None


def test_a_batch_sees_what_the_batches_before_it_planned(delta: Delta) -> None:
    first = IngestBatch("mes", 1, _nodes("sn:1", "case:1"), None)
    second = IngestBatch("mes", 2, None, _edges(("sn:1", "case:1")))
    plan = plan_group([first, second], delta, _none, next_sid=0, last_seq=5, now=NOW)
    assert [(a.outcome, a.seq, a.nodes, a.edges) for a in plan.acks] == [
        ("applied", 6, 2, 0), ("applied", 7, 0, 1)]
    assert [e.seq for e in plan.entries] == [6, 7]
    assert plan.batch_rows[0][:2] == ("mes/1", 6)
    assert plan.new_keys == [(["sn:1", "case:1"], [0, 1])]
    assert (plan.next_sid, plan.seq, plan.rejects) == (2, 7, [])
    assert plan.entries[1].edges.column("src").to_pylist() == [0]  # the planned sid
    assert (delta.n_nodes, delta.n_edges, delta.seq) == (0, 0, 0)  # planning changed nothing


def test_applied_ids_are_duplicates_or_conflicts(delta: Delta) -> None:
    batch = IngestBatch("mes", 1, _nodes("sn:1"), None)
    same = plan_group([batch], delta, _none, 0, 0, NOW).batch_rows[0][2]
    records = {"mes/1": BatchRecord(3, same)}
    again = plan_group([batch], delta, records.get, 0, 3, NOW)
    assert (again.acks[0].outcome, again.acks[0].seq, again.entries) == ("duplicate", 3, [])
    changed = IngestBatch("mes", 1, _nodes("sn:2"), None)
    conflict = plan_group([changed], delta, records.get, 0, 3, NOW)
    assert conflict.acks[0].outcome == "rejected"
    assert "different content" in conflict.acks[0].errors[0].reason
    assert [r["batch"] for r in conflict.rejects] == ["mes/1"]  # kept, with its reason


def test_the_same_batch_twice_in_one_group_is_applied_once(delta: Delta) -> None:
    batch = IngestBatch("mes", 1, _nodes("sn:1"), None)
    plan = plan_group([batch, batch], delta, _none, 0, 0, NOW)
    assert [a.outcome for a in plan.acks] == ["applied", "duplicate"]
    assert len(plan.entries) == 1


def test_policy_decides_what_a_bad_record_does(delta: Delta) -> None:
    bad = _edges(("sn:1", "nowhere"))
    strict = IngestBatch("mes", 1, _nodes("sn:1"), bad)
    plan = plan_group([strict], delta, _none, 0, 0, NOW)
    assert (plan.acks[0].outcome, plan.entries, plan.next_sid) == ("rejected", [], 0)
    assert plan.rejects[0]["reason"].startswith("unknown node")
    lenient = IngestBatch("mes", 2, _nodes("sn:1"), bad, policy="valid")
    plan = plan_group([lenient], delta, _none, 0, 0, NOW)
    assert (plan.acks[0].outcome, plan.acks[0].nodes, plan.acks[0].edges) == ("applied", 1, 0)
    assert len(plan.rejects) == 1
