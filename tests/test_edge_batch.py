"""The typed fast path of `resolve_batch` against `validate_edges` on the same batches: the same
kept rows, ids, values and rejects (reason, field, row and record), for every kind of bad row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.edge_batch import ResolvedEdges, _from_typed, _from_validated, resolve_batch
from index.key_table import KeyTable
from loaders.edge_files import RawEdges

LOADED_AT = datetime(2026, 3, 1, 12, tzinfo=UTC)
NODES = pa.array([f"n{i}" for i in range(8)], pa.large_string())
KEYS = KeyTable(NODES)

KEY = st.sampled_from(["n0", "n1", "n2", "n3", "n7", "ghost", "", "n 1", "n1\t", None])
KIND = st.sampled_from(["consumed", "packed", "re_work2", "Bad", "9x", "", None])
TIME = st.one_of(
    st.none(),
    st.sampled_from([datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
                     datetime(1970, 1, 1, tzinfo=UTC),
                     LOADED_AT + timedelta(days=1),
                     LOADED_AT + timedelta(days=1, microseconds=1),
                     LOADED_AT + timedelta(days=400)]),
    st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2030, 1, 1),
                 timezones=st.just(UTC)),
)
QUANTITY = st.one_of(st.none(), st.sampled_from([0.0, -0.0, -1.5, 3.0, float("nan")]))
EVENT_ID = st.one_of(st.none(), st.sampled_from(["e1", "e2"]))


def _rows(n: int) -> Any:
    return st.lists(st.tuples(KEY, KEY, KIND, TIME, TIME, QUANTITY, EVENT_ID),
                    min_size=n, max_size=40)


def _table(rows: list[tuple[Any, ...]], dictionary: bool, extra: bool) -> pa.Table:
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [[]] * 7
    ts = pa.timestamp("us", tz="UTC")
    table = pa.table({
        "src": pa.array(columns[0], pa.large_string()),
        "dst": pa.array(columns[1], pa.large_string()),
        "kind": pa.array(columns[2], pa.string()),
        "event_time": pa.array(columns[3], ts),
        "recorded_at": pa.array(columns[4], ts),
        "quantity": pa.array(columns[5], pa.float64()),
        "event_id": pa.array(columns[6], pa.string()),
    })
    if dictionary:
        # As a Parquet reader gives dictionary columns; an unused, invalid kind in the
        # dictionary must not register a kind.
        used = sorted({k for k in columns[2] if k is not None})
        kinds = pa.array(["unused_kind", "Not Valid", *used])
        kind = table["kind"].combine_chunks()
        kind = pa.DictionaryArray.from_arrays(
            pa.array([None if k is None else kinds.to_pylist().index(k) for k in
                      kind.to_pylist()], pa.int32()), kinds)
        table = table.set_column(0, "src", table["src"].dictionary_encode())
        table = table.set_column(2, "kind", kind)
    if extra:
        table = table.append_column("note", pa.array(["x"] * table.num_rows))
    return table


def _same(fast: ResolvedEdges, slow: ResolvedEdges) -> None:
    assert fast.src.tolist() == slow.src.tolist()
    assert fast.dst.tolist() == slow.dst.tolist()
    assert [fast.kind_names[c] for c in fast.kind] == [slow.kind_names[c] for c in slow.kind]
    assert fast.event_time.tolist() == slow.event_time.tolist()
    assert fast.recorded_at.tolist() == slow.recorded_at.tolist()
    for a, b in ((fast.quantity, slow.quantity), (fast.event_id, slow.event_id)):
        # (str: NaN quantities compare equal)
        assert str(a if isinstance(a, int) else a.to_pylist()) == \
            str(b if isinstance(b, int) else b.to_pylist())
    assert fast.rows.tolist() == slow.rows.tolist()
    assert fast.read_rows == slow.read_rows
    assert fast.rejects.to_dicts() == slow.rejects.to_dicts()
    assert fast.ignored == slow.ignored


@settings(max_examples=150, deadline=None)
@given(rows=_rows(0), dictionary=st.booleans(), extra=st.booleans(),
       first_row=st.integers(1, 10_000))
def test_typed_batches_resolve_like_validate_edges(rows: list[tuple[Any, ...]], dictionary: bool,
                                                   extra: bool, first_row: int) -> None:
    raw = RawEdges(_table(rows, dictionary, extra), "edges.parquet", first_row)
    assert isinstance(raw.table, pa.Table)
    fast = _from_typed(raw, raw.table, LOADED_AT, KEYS)
    assert fast is not None, "a typed batch takes the fast path"
    _same(fast, _from_validated(raw, LOADED_AT, KEYS))


def test_clean_batch_keeps_every_row_in_order() -> None:
    rows = [("n0", "n1", "consumed", None, None, None, None),
            ("n1", "n2", "packed", LOADED_AT, LOADED_AT, 2.0, "e1"),
            ("n0", "n1", "consumed", None, None, None, None)]  # a repeat: folded later, not here
    batch = resolve_batch(RawEdges(_table(rows, True, False), "e.parquet", 5), LOADED_AT, KEYS)
    assert batch.src.tolist() == [0, 1, 0]
    assert batch.dst.tolist() == [1, 2, 1]
    assert batch.rows.tolist() == [5, 6, 7]
    assert batch.rejects.height == 0
    loaded_us = (LOADED_AT - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert batch.recorded_at.tolist() == [loaded_us] * 3  # a missing record time is load time


@pytest.mark.parametrize(("column", "values", "kept"), [
    ("event_time", pa.array([0, 1], pa.timestamp("ns", tz="UTC")), 2),  # another unit
    ("quantity", pa.array([1, 2], pa.int64()), 2),  # not float64
    ("event_id", pa.array([1, 2], pa.int64()), 2),
    ("src", pa.array([1, 2], pa.int64()), 0),  # "1", "2": unknown nodes
])
def test_other_types_take_the_validating_path(column: str, values: pa.Array, kept: int) -> None:
    table = _table([("n0", "n1", "consumed", None, None, None, None)] * 2, False, False)
    table = table.set_column(table.column_names.index(column), column, values)
    raw = RawEdges(table, "e.parquet", 1)
    assert _from_typed(raw, table, LOADED_AT, KEYS) is None
    batch = resolve_batch(raw, LOADED_AT, KEYS)  # still answered, by validate_edges
    assert batch.read_rows == 2
    assert len(batch.rows) == kept
    assert batch.rejects.height == 2 - kept
