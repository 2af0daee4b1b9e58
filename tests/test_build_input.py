"""Bad input to the build: every bad row is rejected with file, row, field and reason; good rows
still load; nothing is silently dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine
from domain.errors import InvalidInput
from index.build import build_from_files
from tests.conftest import write_tables

NODES_CSV = """key,kind,product,quantity,uom,created_at
lot-A,lot,0614141000019,100,KG,2025-01-01T00:00:00Z
wo-1,work_order,,,,2025-01-02
sn-1,serial,,1,EA,2025-01-03 10:00:00
sn-2,serial,,1,EA,2025-01-03T10:00:00+02:00
,serial,,1,EA,
sn-3,Serial!,,1,EA,
sn-4,serial,,lots,EA,
sn-5,serial,,1,EA,yesterday
sn-1,serial,,1,EA,2025-01-03 10:00:00
sn-2,lot,,1,EA,
"""

EDGES_CSV = """src,dst,kind,event_time,recorded_at,quantity,event_id
lot-A,wo-1,consumed,2025-01-02T08:00:00Z,,5.5,ev-1
wo-1,sn-1,produced,2025-01-03T10:00:00Z,2025-01-03T11:00:00Z,,ev-2
wo-1,sn-2,produced,2025-01-03T10:00:00Z,,,ev-3
wo-1,sn-2,produced,2025-01-03T10:00:00Z,,,ev-3
lot-A,ghost,consumed,2025-01-02T08:00:00Z,,,ev-4
sn-1,sn-1,reworked,2025-01-04T00:00:00Z,,,ev-5
lot-A,wo-1,consumed,not-a-time,,,ev-6
lot-A,wo-1,,2025-01-02T08:00:00Z,,,ev-7
lot-A ,wo-1,consumed,2025-01-02T08:00:00Z,,,ev-8
lot-A,wo-1,consumed,1960-01-01T00:00:00Z,,,ev-9
lot-A,wo-1,consumed,2999-01-01T00:00:00Z,,,ev-10
,wo-1,consumed,2025-01-02T08:00:00Z,,,ev-11
lot-A,wo-1,consumed,2025-01-02T08:00:00Z,,inf,ev-12
lot-A,wo-1,consumed,2025-01-05T08:00:00Z,,-2.5,ev-13
"""


@pytest.fixture
def built(tmp_path: Path) -> tuple[engine.Graph, Path]:
    (tmp_path / "nodes.csv").write_text(NODES_CSV)
    (tmp_path / "edges.csv").write_text(EDGES_CSV)
    report = build_from_files([tmp_path / "nodes.csv"], [tmp_path / "edges.csv"],
                              tmp_path / "data")
    assert report.nodes == 4
    assert report.edges == 4  # the reversal (-2.5) included
    assert report.folded_nodes == 1
    assert report.folded_edges == 1
    return engine.open(tmp_path / "data"), tmp_path


def _rejects(graph: engine.Graph) -> dict[tuple[str, int], tuple[str, str]]:
    table = graph.snapshot.rejects.to_pylist()
    return {(r["table"], r["row"]): (r["field"], r["reason"]) for r in table}


def test_each_bad_row_is_kept_with_its_reason(built: tuple[engine.Graph, Path]) -> None:
    graph, folder = built
    rejects = _rejects(graph)
    expected = {
        ("nodes", 5): ("key", "missing key"),
        ("nodes", 6): ("kind", "kind must be lower-case"),
        ("nodes", 7): ("quantity", "quantity is not a number"),
        ("nodes", 8): ("created_at", "created_at is not a timestamp"),
        ("nodes", 10): ("key", "duplicate key with different attributes; first defined in"),
        ("edges", 5): ("dst", "unknown node ghost"),
        ("edges", 6): ("dst", "self-loop"),
        ("edges", 7): ("event_time", "event_time is not a timestamp"),
        ("edges", 8): ("kind", "missing kind"),
        ("edges", 9): ("src", "source key contains whitespace"),
        ("edges", 10): ("event_time", "event_time is before 1970"),
        ("edges", 11): ("event_time", "event_time is in the future"),
        ("edges", 12): ("src", "missing source key"),
        ("edges", 13): ("quantity", "quantity is not a finite number"),
    }
    assert set(rejects) == set(expected)
    for where, (field, reason) in expected.items():
        assert rejects[where][0] == field, where
        assert rejects[where][1].startswith(reason), (where, rejects[where])
    rows = graph.snapshot.rejects.to_pylist()
    assert all(r["file"].endswith(("nodes.csv", "edges.csv")) for r in rows)
    ghost = next(r for r in rows if r["row"] == 5 and r["table"] == "edges")
    assert json.loads(ghost["record"])["dst"] == "ghost"
    assert str(folder) in ghost["file"]


def test_good_rows_load_with_their_attributes(built: tuple[engine.Graph, Path]) -> None:
    graph, _ = built
    # A negative edge quantity is a reversal (SAP 262 against 261): kept, to net.
    assert sorted(graph.snapshot.edges.column("quantity").drop_null().to_pylist()) == [-2.5,
                                                                                       5.5]
    assert graph.node("lot-A")["quantity"] == 100.0
    assert graph.node("sn-2")["created_at"].isoformat() == "2025-01-03T08:00:00+00:00"
    down = graph.trace("lot-A", "downstream")
    assert sorted(down.column("key").to_pylist()) == ["sn-1", "sn-2", "wo-1"]
    edges = graph.snapshot.edges.to_pylist()
    assert sorted(e["event_id"] for e in edges) == ["ev-1", "ev-13", "ev-2", "ev-3"]
    assert any(e["quantity"] == 5.5 for e in edges)


def test_missing_required_column_fails_the_file(tmp_path: Path) -> None:
    (tmp_path / "nodes.csv").write_text("key,type\nx,lot\n")
    (tmp_path / "edges.csv").write_text("src,dst,kind\n")
    with pytest.raises(InvalidInput, match=r"nodes\.csv: nodes file lacks required column"):
        build_from_files([tmp_path / "nodes.csv"], [tmp_path / "edges.csv"], tmp_path / "d")


def test_unreadable_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        build_from_files([tmp_path / "none.parquet"], [tmp_path / "e.csv"], tmp_path / "d")
    (tmp_path / "nodes.xlsx").write_text("x")
    with pytest.raises(InvalidInput, match="unknown file type"):
        build_from_files([tmp_path / "nodes.xlsx"], [tmp_path / "e.csv"], tmp_path / "d")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "n.csv").write_text("key,kind\na,lot\n")
    with pytest.raises(InvalidInput, match="cannot read"):
        build_from_files([tmp_path / "n.csv"], [tmp_path / "broken.parquet"], tmp_path / "d")


def test_wrong_typed_parquet_column_is_rejected_per_row(tmp_path: Path) -> None:
    nodes = pa.table({"key": ["a", "b"], "kind": ["lot", "serial"],
                      "quantity": ["12", "twelve"]})
    pq.write_table(nodes, tmp_path / "nodes.parquet")
    edges = pa.table({"src": ["a"], "dst": ["b"], "kind": ["consumed"],
                      "event_time": pa.array([1], pa.int64())})
    pq.write_table(edges, tmp_path / "edges.parquet")
    report = build_from_files([tmp_path / "nodes.parquet"], [tmp_path / "edges.parquet"],
                              tmp_path / "data")
    assert report.reject_reasons == {
        "quantity is not a number": 1,
        "event_time is not a timestamp (ISO 8601 expected)": 1,
    }


def test_empty_node_table_is_an_error(tmp_path: Path) -> None:
    nodes, edges = write_tables(tmp_path, [], [])
    with pytest.raises(InvalidInput, match="no valid rows"):
        build_from_files([nodes], [edges], tmp_path / "data")


def test_extra_columns_are_reported_not_silently_used(tmp_path: Path) -> None:
    (tmp_path / "nodes.csv").write_text("key,kind,colour\na,lot,red\nb,serial,blue\n")
    (tmp_path / "edges.csv").write_text("src,dst,kind,plant\na,b,consumed,P1\n")
    report = build_from_files([tmp_path / "nodes.csv"], [tmp_path / "edges.csv"],
                              tmp_path / "data")
    assert report.ignored_columns == {str(tmp_path / "nodes.csv"): ["colour"],
                                      str(tmp_path / "edges.csv"): ["plant"]}


def test_recorded_at_defaults_to_load_time(tmp_path: Path) -> None:
    (tmp_path / "nodes.csv").write_text("key,kind\na,lot\nb,lot\n")
    (tmp_path / "edges.csv").write_text("src,dst,kind,event_time\na,b,split,2025-01-01\n")
    before = datetime.now(UTC)
    build_from_files([tmp_path / "nodes.csv"], [tmp_path / "edges.csv"], tmp_path / "data")
    graph = engine.open(tmp_path / "data")
    assert graph.trace("a", as_of=before - timedelta(seconds=1)).num_rows == 0
    assert graph.trace("a", as_of=datetime.now(UTC)).num_rows == 1


def test_row_group_batches_number_rows_like_one_reader(tmp_path: Path) -> None:
    """Row groups read as independent tasks (several at once in the build) give the same rows,
    row numbers and rejects as one sequential reader, and the build keeps every good edge."""
    from loaders.edge_files import edge_batch_tasks

    keys = [f"n{i}" for i in range(41)]
    (tmp_path / "nodes.csv").write_text("key,kind\n" + "".join(f"{k},lot\n" for k in keys))
    src = keys[:-1]
    dst = keys[1:]
    src[9], dst[23], src[30] = "ghost", "", "n31"  # unknown, missing, self-loop (n31 -> n31)
    times = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(40)]
    times[17] = datetime(1960, 1, 1, tzinfo=UTC)
    pq.write_table(pa.table({"src": src, "dst": dst, "kind": ["consumed"] * 40,
                             "event_time": pa.array(times, pa.timestamp("us", tz="UTC"))}),
                   tmp_path / "edges.parquet", row_group_size=7)
    path = tmp_path / "edges.parquet"

    def collect(batch_rows: int) -> tuple[list[int], list[tuple[int, str]]]:
        loaded = [task() for task in edge_batch_tasks([path], batch_rows=batch_rows)]
        rows = [r for part in loaded for r in part.table["__row"].to_list()]
        rejects = [(r["row"], r["reason"]) for part in loaded for r in part.rejects.to_dicts()]
        return rows, rejects

    by_group, by_reader = collect(100), collect(3)  # 7-row groups: tasks vs shared reader
    assert by_group == by_reader
    rows, rejects = by_group
    assert rows == [r for r in range(1, 41) if r not in (18, 24)]
    assert rejects == [(18, "event_time is before 1970"), (24, "missing destination key")]
    report = build_from_files([tmp_path / "nodes.csv"], [path], tmp_path / "data")
    assert report.edges == 36
    assert report.reject_reasons == {
        "event_time is before 1970": 1, "missing destination key": 1,
        "unknown node ghost: source key is not in the node table": 1,
        "self-loop: source and destination are the same node": 1,
    }
