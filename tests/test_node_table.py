"""Typed node files checked on Arrow (`index.node_table`) against `load_nodes` on the same
files: the same rows in the same order, the same rejects and reports, for every kind of bad
row and repeated keys (folded or rejected)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from index.node_table import NODE_COLUMNS, NodeTable, _typed, load_node_table, node_table_from
from loaders.canonical import load_nodes

KEY = st.one_of(st.sampled_from(["", " a", "a b", "tab\there", "nbsp\u00a0x", "ideo\u3000x",
                                 "ctl\x01", "del\x7fok", "café", "Ωmega", None]),
                st.from_regex(r"[A-Za-z0-9:._/-]{1,12}", fullmatch=True))
KIND = st.sampled_from(["lot", "serial", "work_order", "Bad", "", None])
QUANTITY = st.one_of(st.none(), st.sampled_from([0.0, 2.5, -1.0, float("nan")]))
CREATED = st.one_of(st.none(), st.datetimes(min_value=datetime(1990, 1, 1),
                                            max_value=datetime(2030, 1, 1)))


def _write(path: Path, rows: list[tuple[Any, ...]], zoned: bool, extra: bool,
           drop: tuple[str, ...]) -> None:
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [[]] * 5
    table = pa.table({
        "key": pa.array(columns[0], pa.large_string()),
        "kind": pa.array(columns[1], pa.string()),
        "product": pa.array(["p1" if i % 3 else None for i in range(len(rows))], pa.string()),
        "quantity": pa.array(columns[2], pa.float64()),
        "uom": pa.array(["ea"] * len(rows), pa.string()),
        "created_at": pa.array(columns[3], pa.timestamp("us", tz="UTC" if zoned else None)),
    }).drop_columns(list(drop))
    if extra:
        table = table.append_column("note", pa.array(["x"] * len(rows)))
    pq.write_table(table, path)


def _plain(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as Python values (dictionary columns decoded; NaN as a string so it compares)."""
    rows = table.select(list(NODE_COLUMNS)).to_pylist()
    return [{k: (str(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]


def _same(fast: NodeTable, slow: NodeTable) -> None:
    assert _plain(fast.table) == _plain(slow.table)
    assert fast.files == slow.files
    assert fast.rejects.to_dicts() == slow.rejects.to_dicts()
    assert fast.ignored == slow.ignored
    assert fast.folded == slow.folded


FILE_ROWS = st.lists(st.tuples(KEY, KIND, QUANTITY, CREATED), max_size=30)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.tuples(FILE_ROWS, st.booleans(), st.booleans(),
                                st.sampled_from([(), ("product", "uom"), ("quantity",),
                                                 ("created_at",)])),
                      min_size=1, max_size=3))
def test_typed_node_files_load_like_load_nodes(tmp_path: Path, files: list[Any]) -> None:
    paths = []
    for i, (rows, zoned, extra, drop) in enumerate(files):
        path = tmp_path / f"nodes{i}.parquet"
        _write(path, rows, zoned, extra, drop)
        paths.append(path)
    slow = node_table_from(load_nodes(paths))
    fast = _typed(paths)
    assert fast is not None, "typed files take the typed path, repeated keys included"
    event("repeated keys" if slow.folded or any(
        r["reason"].startswith("duplicate key") for r in slow.rejects.to_dicts()) else "unique")
    _same(fast, slow)


def test_repeated_keys_fold_or_reject_as_load_nodes_does(tmp_path: Path) -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    _write(tmp_path / "a.parquet", [("k1", "lot", 1.0, when), ("k2", "lot", None, None)],
           True, False, ())
    _write(tmp_path / "b.parquet", [("k1", "lot", 1.0, when), ("k2", "serial", None, None)],
           True, False, ())
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    table = load_node_table(paths)
    assert table.table.column("key").to_pylist() == ["k1", "k2"]
    assert table.folded == 1  # k1 again, identical
    [reject] = table.rejects.to_dicts()
    assert reject["file"].endswith("b.parquet")
    assert reject["row"] == 2
    assert reject["reason"].startswith("duplicate key with different attributes")


def test_build_from_typed_parquet_equals_build_from_csv(tmp_path: Path) -> None:
    """Two Parquet node files (each its own dictionaries, repeated values across them, null
    products) give the snapshot node table a CSV of the same rows gives."""
    import engine
    from index.build import build_from_files

    when = datetime(2025, 1, 1, tzinfo=UTC)
    rows_a = [("a1", "lot", 1.0, when), ("a2", "serial", None, None), ("a3", "lot", 2.0, when)]
    rows_b = [("b1", "serial", 0.5, when), ("b2", "customer", None, when)]
    _write(tmp_path / "a.parquet", rows_a, True, False, ())
    _write(tmp_path / "b.parquet", rows_b, True, False, ())
    csv_rows = []
    for i, (key, kind, quantity, created) in enumerate(rows_a + rows_b):
        product = "p1" if (i if i < 3 else i - 3) % 3 else ""
        csv_rows.append(f"{key},{kind},{product},{'' if quantity is None else quantity},ea,"
                        f"{'' if created is None else created.isoformat()}\n")
    (tmp_path / "nodes.csv").write_text("key,kind,product,quantity,uom,created_at\n"
                                        + "".join(csv_rows))
    (tmp_path / "edges.csv").write_text("src,dst,kind\na1,a2,consumed\nb1,b2,shipped\n")
    tables = []
    for name, files in (("typed", ["a.parquet", "b.parquet"]), ("csv", ["nodes.csv"])):
        build_from_files([tmp_path / f for f in files], [tmp_path / "edges.csv"],
                         tmp_path / name)
        nodes = engine.open(tmp_path / name).snapshot.nodes
        tables.append(nodes.select(list(NODE_COLUMNS)).to_pylist())
    assert tables[0] == tables[1]
    assert {r["kind"] for r in tables[0]} == {"lot", "serial", "customer"}
