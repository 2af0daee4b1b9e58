"""One contract for both stores: RocksDB in a real directory and the in-memory twin
(`Store.in_memory()`, index.kv.MemoryKeyValue). Every test here runs against both, so the twin
behaves as the real store does (Flower's pattern for its state backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import StoreCorrupt
from index.log import EDGE_LOG_SCHEMA, NODE_LOG_SCHEMA, LogEntry, Retraction, seq_key
from index.store import Store


@pytest.fixture(params=["rocksdb", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = (Store(tmp_path / "data", writable=True) if request.param == "rocksdb"
              else Store.in_memory())
    yield opened
    opened.close()


def _entry(seq: int, keys: list[str], batch: str | None = None) -> LogEntry:
    first = seq * 100
    nodes = pa.table({"sid": list(range(first, first + len(keys))), "key": keys,
                      "kind": ["lot"] * len(keys), "product": [None] * len(keys),
                      "quantity": [None] * len(keys), "uom": [None] * len(keys),
                      "created_at": [seq] * len(keys)}, schema=NODE_LOG_SCHEMA)
    edges = pa.table({"src": [first], "dst": [first], "kind": ["consumed"],
                      "event_time": [seq], "recorded_at": [seq], "quantity": [1.5],
                      "event_id": [f"ev{seq}"]}, schema=EDGE_LOG_SCHEMA)
    return LogEntry(seq, batch or f"mes/{seq}", "tester", seq * 10, nodes, edges,
                    retractions=(Retraction(1, 2, "packed", None, "wrong case"),),
                    digest=f"d{seq}")


def _commit(store: Store, *entries: LogEntry, rejects: list[dict[str, object]] = ()) -> None:
    store.commit(list(entries), [(e.batch, e.seq, e.digest) for e in entries],
                 [([f"k{e.seq}"], [e.seq]) for e in entries], list(rejects),
                 next_sid=max((e.seq for e in entries), default=0) + 1)


def test_a_new_store_is_empty(store: Store) -> None:
    assert (store.last_seq, store.next_sid, store.reject_count()) == (0, 0, 0)
    assert list(store.entries()) == []
    assert list(store.batch_records()) == []
    assert store.verify() == []


def test_committed_entries_read_back_in_order(store: Store) -> None:
    _commit(store, _entry(1, ["a", "b"]))
    _commit(store, _entry(2, ["c"]), _entry(3, ["d"]))
    got = list(store.entries())
    assert [e.seq for e in got] == [1, 2, 3]
    assert got[0].nodes.column("key").to_pylist() == ["a", "b"]
    assert got[0].retractions == (Retraction(1, 2, "packed", None, "wrong case"),)
    assert [e.seq for e in store.entries(after=2)] == [3]
    assert (store.last_seq, store.next_sid) == (3, 4)
    record = store.batch("mes/2")
    assert record is not None
    assert (record.seq, record.digest) == (2, "d2")
    assert store.batch("mes/9") is None
    assert [name for name, _ in store.batch_records()] == ["mes/1", "mes/2", "mes/3"]
    assert store.read("keys", b"k2") == (2).to_bytes(4, "big")
    assert store.read("nodes", (3).to_bytes(4, "big")) == b"k3"


def test_a_reject_seen_again_is_kept_once(store: Store) -> None:
    reject = {"batch": "erp/1", "row": 4, "reason": "bad date", "at": "t1", "writer": "a"}
    _commit(store, _entry(1, ["a"]), rejects=[reject, {**reject, "at": "t2"}])
    _commit(store, _entry(2, ["b"]), rejects=[{**reject, "writer": "b"},
                                              {**reject, "row": 5}])
    assert store.reject_count() == 2
    assert [r["row"] for r in store.rejects()] == [4, 5]
    assert [name for name, _ in store.batch_records()] == ["mes/1", "mes/2"]  # markers hidden


def test_scans_are_in_key_order_from_a_start(store: Store) -> None:
    _commit(store, *(_entry(seq, [f"n{seq}"]) for seq in (1, 2, 3, 4)))
    keys = [key for key, _ in store.scan("log", seq_key(3))]
    assert keys == [seq_key(3), seq_key(4)]


def test_a_gap_in_the_log_is_corruption_not_a_short_replay(store: Store) -> None:
    _commit(store, _entry(1, ["a"]))
    # Entry 3 without entry 2 (a commit can never do this; damage can).
    store.commit([_entry(3, ["c"])], [], [], [], next_sid=4)
    with pytest.raises(StoreCorrupt, match="log entries 2 to 2 are missing"):
        list(store.entries())
    assert any("missing" in problem for problem in store.verify())


@settings(max_examples=25, deadline=None)
@given(keys=st.lists(st.binary(min_size=1, max_size=6), min_size=1, max_size=30),
       start=st.binary(max_size=6))
def test_scan_order_matches_sorted_bytes(keys: list[bytes], start: bytes) -> None:
    """The twin sorts keys bytewise, as RocksDB's default comparator does."""
    memory = Store.in_memory()
    memory.kv.write([("rejects", key, b"v") for key in keys])
    expected = sorted({key for key in keys if key >= start})
    assert [key for key, _ in memory.scan("rejects", start)] == expected


def test_rocksdb_and_the_twin_agree_on_order(tmp_path: Path) -> None:
    keys = [b"\x00", b"\xff", b"a", b"ab", b"b", b"\x00\x01", b"A"]
    rocks = Store(tmp_path / "data", writable=True)
    memory = Store.in_memory()
    try:
        for one in (rocks, memory):
            one.kv.write([("rejects", key, key) for key in keys])
        assert list(rocks.scan("rejects")) == list(memory.scan("rejects"))
        assert list(rocks.scan("rejects", b"a")) == list(memory.scan("rejects", b"a"))
    finally:
        rocks.close()
