"""Quality records: read from files with every bad row kept with its reason, kept in a real
store as versions that only move forward, and inherited by the device history record of every
unit downstream (checked by hand, and against networkx on hypothesis genealogies)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import networkx as nx
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import Graph
from index.ingest import IngestBatch
from index.live import LiveStore
from index.quality_records import COLUMNS, QualityRecords
from loaders.quality_records import read_quality_files
from qms.dhr import device_history
from server.rpc import quality_pb2 as qpb
from server.rpc import quality_pb2_grpc as qpb_grpc
from server.serve import ServerConfig, TraceServer
from tests.conftest import opened_store
from tests.test_recall import recall_data
from tests.test_recall_rpc import _as
from tests.test_shipped import EDGES, NODES, _load
from trust.identity import Directory, Principal

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
OWNER = Principal(0, "os:test", "os:test", "admin", "os")
HEADER = "record_id,record_type,key,status,opened_at,title,closed_at,result,disposition," \
         "effective_from,products\n"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _write(folder: Path, name: str, rows: str) -> Path:
    path = folder / name
    path.write_text(HEADER + rows)
    return path


def _put(live: LiveStore, graph: Graph, path: Path) -> Any:
    versions, rejects = read_quality_files([path], NOW)
    report = QualityRecords(live).put(versions, OWNER, "test", graph.unknown_keys, NOW)
    report.rejects = rejects + report.rejects
    return report


def test_bad_rows_are_rejected_with_file_row_field_and_reason(tmp_path: Path) -> None:
    path = _write(tmp_path, "q.csv", "\n".join([
        "NC-1,nonconformance,lot:bad,open,2026-02-01T08:00:00Z,Resin specks,,,,,",
        "X-1,complaint,lot:bad,open,2026-02-01T08:00:00Z,not a type,,,,,",
        "NC-2,nonconformance,lot:bad,shipped,2026-02-01T08:00:00Z,bad status,,,,,",
        "NC-3,nonconformance,lot:bad,open,2027-01-01T00:00:00Z,future,,,,,",
        "IN-1,inspection,sn:1,done,2026-02-02T08:00:00Z,final test,,,,,",
        "NC-4,nonconformance,lot:bad,closed,2026-02-01T08:00:00Z,no disposition,,,,,",
        "NC-5,nonconformance,lot:bad,open,yesterday,bad time,,,,,",
        ",nonconformance,lot:bad,open,2026-02-01T08:00:00Z,no id,,,,,",
        "NC-1,nonconformance,lot:good,open,2026-02-01T08:00:00Z,Other title,,,,,",
        "IN-2,inspection,sn:2,done,2026-02-02T08:00:00Z,final test,,maybe,,,",
    ]) + "\n")
    versions, rejects = read_quality_files([path], NOW)
    assert [v.record_id for v in versions] == ["NC-1"]
    got = {r["row"]: (r["field"], r["reason"]) for r in rejects}
    assert got[3][0] == "record_type"
    assert "not a record type" in got[3][1]
    assert got[4][0] == "status"
    assert "open, investigating" in got[4][1]
    assert got[5] == ("opened_at", "2027-01-01T00:00:00Z is in the future")
    assert got[6] == ("result", "a done inspection needs a result (pass or fail)")
    assert got[7] == ("disposition", "a closed nonconformance needs a disposition")
    assert got[8][0] == "opened_at"
    assert "not an ISO 8601 time" in got[8][1]
    assert got[9] == ("record_id", "record_id is empty")
    assert got[10][0] == "record_id"
    assert "other content" in got[10][1]
    assert got[11][0] == "result"
    assert all(r["file"] == str(path) and json.loads(r["record"]) for r in rejects)


def test_records_move_forward_only_and_keep_every_version(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        _load(live, NODES, EDGES)
        live.compact()  # suggestions come from the snapshot's sorted keys
        graph = Graph(live.view().snapshot, live.view)
        first = _write(tmp_path, "a.csv",
                       "NC-1,nonconformance,lot:bad,open,2026-02-01T08:00:00Z,Resin specks,,,,,\n"
                       "NC-1,nonconformance,wo:1,open,2026-02-01T08:00:00Z,Resin specks,,,,,\n"
                       "NC-9,nonconformance,lot:bda,open,2026-02-01T08:00:00Z,Typo,,,,,\n")
        report = _put(live, graph, first)
        assert (report.added, report.changed, report.unchanged) == (1, 0, 0)
        [typo] = report.rejects
        assert typo["field"] == "key"
        assert "did you mean lot:bad?" in typo["reason"]
        again = _put(live, graph, first)  # the same file twice adds nothing
        assert (again.added, again.changed, again.unchanged) == (0, 0, 1)
        moved = _put(live, graph, _write(
            tmp_path, "b.csv", "NC-1,nonconformance,lot:bad,closed,2026-02-01T08:00:00Z,"
                               "Resin specks,2026-02-10T08:00:00Z,,scrap,,\n"))
        assert moved.changed == 1
        # An export listing the record's whole history, sent again: its first line is the
        # kept version 1, no step back; nothing is added and nothing refused.
        history = _put(live, graph, _write(
            tmp_path, "all.csv",
            "NC-1,nonconformance,lot:bad,open,2026-02-01T08:00:00Z,Resin specks,,,,,\n"
            "NC-1,nonconformance,lot:bad,closed,2026-02-01T08:00:00Z,"
            "Resin specks,2026-02-10T08:00:00Z,,scrap,,\n"))
        assert (history.added, history.changed, history.unchanged, history.rejects) == (
            0, 0, 2, [])
        back = _put(live, graph, _write(
            tmp_path, "c.csv",
            "NC-1,nonconformance,lot:bad,investigating,2026-02-01T08:00:00Z,Resin specks,,,,,\n"
            "NC-1,nonconformance,lot:bad,closed,2026-02-01T08:00:00Z,Other,"
            "2026-02-10T08:00:00Z,,scrap,,\n"))
        reasons = " | ".join(r["reason"] for r in back.rejects)
        assert len(back.rejects) == 2
        assert "moving it back to investigating is a correction" in reasons
        assert "(closed) is kept with other content" in reasons
        records = QualityRecords(live)
        history = records.history("NC-1")
        assert [(v["version"], v["status"]) for v in history] == [(1, "open"), (2, "closed")]
        assert history[-1]["keys"] == ["lot:bad", "wo:1"]  # kept from the first version
        assert history[-1]["disposition"] == "scrap"
        assert [r["record_id"] for r in records.for_nodes(["wo:1"])["wo:1"]] == ["NC-1"]
        actions = [json.loads(v)["action"] for _, v in live.scan("audit")]
        assert actions.count("quality.nonconformance") == 2  # one per kept version


def test_a_unit_inherits_every_upstream_record_with_its_chain(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "data") as live:
        graph = _load(live, NODES, EDGES)
        report = _put(live, graph, _write(tmp_path, "q.csv", "\n".join([
            "NC-1,nonconformance,lot:bad,open,2026-02-01T08:00:00Z,Resin specks,,,,,",
            "IN-1,inspection,sn:1,done,2026-02-02T12:00:00Z,Final test,,pass,,,",
            "DV-1,deviation,wo:1,approved,2026-02-01T09:00:00Z,Line 2 speed,,,,,",
            "IN-2,inspection,sn:3,done,2026-02-02T12:00:00Z,Not upstream of sn:1,,pass,,,",
            "CO-1,change_order,lot:prod,effective,2026-01-20T00:00:00Z,New seal,,,,"
            "2026-02-01T00:00:00Z,gtin:09506000134352",
            "CO-2,change_order,lot:prod,effective,2026-01-20T00:00:00Z,New label,,,,"
            "2026-03-01T00:00:00Z,gtin:09506000134352",
            "CO-3,change_order,lot:prod,effective,2026-01-20T00:00:00Z,Other product,,,,"
            "2026-01-01T00:00:00Z,gtin:00000000000000",
        ]) + "\n"))
        assert report.rejects == []
        dhr = device_history(graph, QualityRecords(live), "sn:1")
    assert [r["record_id"] for r in dhr.own] == ["IN-1"]
    inherited = {(r.node, r.record["record_id"]): r.path for r in dhr.upstream}
    assert inherited[("wo:1", "DV-1")] == ["sn:1", "wo:1"]
    assert inherited[("lot:bad", "NC-1")] == ["sn:1", "wo:1", "lot:bad"]
    assert ("lot:prod", "CO-1") in inherited
    assert not any(record == "IN-2" for _, record in inherited)
    assert dhr.identity["lot"] == "lot:prod"
    assert dhr.identity["kind"] == "serial"
    assert dhr.built_at == "2026-02-02T10:00:00+00:00"
    assert [o["record_id"] for o in dhr.change_orders_in_effect] == ["CO-1"]
    assert [o["record_id"] for o in dhr.change_orders_after] == ["CO-2"]


@st.composite
def _genealogies(draw: st.DrawFn) -> tuple[dict[str, str], list[tuple[Any, ...]], set[str]]:
    """A random DAG over lots, work orders and serials (parents before children), and the
    nodes that carry a record."""
    n = draw(st.integers(2, 12))
    names = [f"n{i}" for i in range(n)]
    nodes = {name: draw(st.sampled_from(["lot", "work_order", "serial"])) for name in names}
    edges = []
    for i in range(1, n):
        for j in draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)):
            edges.append((names[j], names[i], "consumed", f"2026-02-0{1 + j % 8}T10:00:00Z",
                          None))
    marked = set(draw(st.lists(st.sampled_from(names), max_size=n, unique=True)))
    return nodes, edges, marked


@settings(max_examples=40, deadline=None)
@given(genealogy=_genealogies(), data=st.data())
def test_inheritance_matches_networkx(tmp_path_factory: pytest.TempPathFactory,
                                      genealogy: Any, data: st.DataObject) -> None:
    nodes, edges, marked = genealogy
    unit = data.draw(st.sampled_from(sorted(nodes)))
    folder = tmp_path_factory.mktemp("dhr")
    rows = "".join(f"R-{k},deviation,{k},open,2026-02-01T08:00:00Z,on {k},,,,,\n"
                   for k in sorted(marked))
    with LiveStore(folder / "data") as live:
        graph = _load(live, nodes, edges)
        if rows:
            assert _put(live, graph, _write(folder, "q.csv", rows)).rejects == []
        dhr = device_history(graph, QualityRecords(live), unit)
    g = nx.DiGraph([(e[0], e[1]) for e in edges])
    g.add_nodes_from(nodes)
    ancestors = nx.ancestors(g, unit)
    assert {r.node for r in dhr.upstream} == ancestors & marked
    assert {r["record_id"] for r in dhr.own} == ({f"R-{unit}"} if unit in marked else set())
    for record in dhr.upstream:  # a real chain, and a shortest one
        chain = record.path
        assert chain[0] == unit
        assert chain[-1] == record.node
        assert all(g.has_edge(b, a) for a, b in itertools.pairwise(chain))
        assert len(chain) - 1 == nx.shortest_path_length(g, record.node, unit)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True,
                          text=True, env=ENV, timeout=120, check=False)


def test_the_cli_imports_shows_a_dhr_and_scopes_an_nc(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiveStore(data) as live:
        _load(live, NODES, EDGES)
    path = _write(tmp_path, "q.csv",
                  "NC-1,nonconformance,lot:bad,open,2026-02-01T08:00:00Z,Resin specks,,,,,\n"
                  "NC-2,nonconformance,lot:gone,open,2026-02-01T08:00:00Z,Unknown lot,,,,,\n")
    done = _cli("import", "quality", str(path), "--data", str(data))
    assert done.returncode == 3, done.stderr
    assert "q.csv row 3: key: unknown node key 'lot:gone'" in " ".join(done.stderr.split())
    rejects = json.loads(_cli("rejects", "--data", str(data), "--format", "json").stdout)
    assert any("lot:gone" in r["reason"] for r in rejects)
    dhr = json.loads(_cli("dhr", "sn:2", "--data", str(data), "--format", "json").stdout)
    assert [(r["node"], r["record"]["record_id"]) for r in dhr["upstream_records"]] == [
        ("lot:bad", "NC-1")]
    scope = json.loads(_cli("affected-by", "NC-1", "--data", str(data), "--format",
                            "json").stdout)
    assert {r["customer"] for r in scope["by_customer"]} == {"cust:a", "cust:b"}
    assert scope["affected"] == engine.open(data).impact(["lot:bad"]).affected
    shown = _cli("quality", "show", "NC-1", "--data", str(data))
    assert shown.returncode == 0
    assert "v1  open" in shown.stdout
    # The DHR as documents: a PDF a reader opens, an HTML page with every value escaped.
    from pypdf import PdfReader
    assert _cli("dhr", "sn:2", "--data", str(data), "--format", "pdf").returncode == 1
    pdf = tmp_path / "dhr.pdf"
    done = _cli("dhr", "sn:2", "--data", str(data), "--format", "pdf", "--output", str(pdf))
    assert done.returncode == 0, done.stderr
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    for words in ("Device history record: sn:2", "lot:bad", "NC-1", "Resin", "specks",
                  "Reviewed by (quality)"):
        assert words in " ".join(text.split()), words
    page = tmp_path / "dhr.html"
    done = _cli("dhr", "sn:2", "--data", str(data), "--format", "html", "--output", str(page))
    assert done.returncode == 0, done.stderr
    written = page.read_text()
    assert "<td>NC-1</td>" in written
    assert "<script" not in written
    unwritable = _cli("dhr", "sn:2", "--data", str(data), "--format", "html", "--output",
                      str(tmp_path / "no-such-folder" / "dhr.html"))
    assert unwritable.returncode == 1
    assert "does not exist" in unwritable.stderr
    missing = _cli("affected-by", "NC-404", "--data", str(data))
    assert missing.returncode == 1
    assert "no quality record NC-404" in missing.stderr


def test_the_quality_service_over_grpc(tmp_path: Path) -> None:
    """GetDhr, AffectedBy and GetRecord for any reading role; no token, no answer."""
    data = recall_data(tmp_path / "data")
    with LiveStore(data) as live:
        graph = Graph(live.view().snapshot, live.view)
        assert _put(live, graph, _write(tmp_path, "q.csv", "\n".join([
            "NC-1,nonconformance,lot:bad,open,2026-02-01T08:00:00Z,Resin specks,,,,,",
            "IN-1,inspection,sn:1,done,2026-02-02T12:00:00Z,Final test,,pass,,,",
        ]) + "\n")).rejects == []
    server = TraceServer(data, ServerConfig(port=0, compact_edges=0))
    server.load()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            ask = qpb_grpc.QualityStub(channel)
            vic = _as(channel, "vic")
            dhr = ask.GetDhr(qpb.DhrRequest(key="sn:1"), metadata=vic, timeout=10)
            assert [r.record_id for r in dhr.own] == ["IN-1"]
            assert json.loads(dhr.own[0].fields_json)["result"] == "pass"
            [nc] = [u for u in dhr.upstream if u.record.record_id == "NC-1"]
            assert list(nc.path) == ["sn:1", "wo:1", "lot:bad"]
            assert dhr.identity["lot"] == "lot:prod"
            scope = ask.AffectedBy(qpb.AffectedByRequest(record_id="NC-1"), metadata=vic,
                                   timeout=10)
            assert {c.customer: c.quantity for c in scope.by_customer} == {
                "cust:a": 22.0, "cust:b": 40.0}
            history = ask.GetRecord(qpb.GetRecordRequest(record_id="NC-1"), metadata=vic,
                                    timeout=10)
            assert [(v.version, v.status) for v in history.versions] == [(1, "open")]
            with pytest.raises(grpc.RpcError) as unknown:
                ask.GetRecord(qpb.GetRecordRequest(record_id="NC-404"), metadata=vic,
                              timeout=10)
            assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(grpc.RpcError) as anonymous:
                ask.GetDhr(qpb.DhrRequest(key="sn:1"), timeout=10)
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop(0)


def test_a_qms_export_of_another_shape_through_the_sample_mapping(tmp_path: Path) -> None:
    """The sample QMS mapping: NCR states and disposition codes translated, plant-local
    times to UTC, a mapping reject (unparsable time) and a record reject (an unknown
    verdict) each kept with file, row and reason; nothing else half-loaded."""
    data = tmp_path / "data"
    with LiveStore(data) as live:
        _load(live, NODES, EDGES)
        live.ingest(IngestBatch("erp", 2, pl.DataFrame({
            "key": ["erp:sap:lot:RESIN-7:B0042"], "kind": ["lot"]})))
    ncrs = tmp_path / "ncr.csv"
    ncrs.write_text(
        "NCR_NO,NCR_STATE,MATNR,CHARG,CREATED,CLOSED,SHORT_TEXT,DISP_CODE,CAPA_NO\n"
        "100,NEW,RESIN-7,B0042,2026-02-01 09:30:00,,Specks in resin,,\n"
        "100,CLSD,RESIN-7,B0042,2026-02-01 09:30:00,2026-02-03 17:00:00,Specks in resin,"
        "UAI,CAPA-9\n"
        "101,NEW,RESIN-7,B0042,2026-02-3O 08:00:00,,Bad time,,\n")
    tests = tmp_path / "tests.csv"
    tests.write_text("TEST_ID,SERIAL_URN,TESTED_AT,VERDICT,STATION,PLAN_NAME\n"
                     "1,sn:1,2026-02-02T10:00:00Z,OK,QC-3,Final test\n"
                     "2,sn:2,2026-02-02T11:00:00Z,NOK,QC-3,Final test\n"
                     "3,sn:3,2026-02-02T12:00:00Z,MAYBE,QC-3,Final test\n")
    mapping = ROOT / "loaders" / "mappings" / "qms_sample.toml"
    done = _cli("import", "quality", str(ncrs), str(tests), "--mapping", str(mapping),
                "--data", str(data))
    assert done.returncode == 3, done.stderr  # two rows rejected, each kept
    with LiveStore(data) as live:
        records = QualityRecords(live)
        ncr = records.history("NCR-100")
        assert [(v["status"], v.get("disposition"), v.get("capa_id")) for v in ncr] == [
            ("open", None, None), ("closed", "use-as-is", "CAPA-9")]
        # Europe/Berlin in February is UTC+1.
        assert ncr[0]["opened_at"] == "2026-02-01T08:30:00Z"
        assert ncr[1]["closed_at"] == "2026-02-03T16:00:00Z"
        assert ncr[0]["keys"] == ["erp:sap:lot:RESIN-7:B0042"]
        assert [records.get(f"FT-{i}")["result"] for i in (1, 2)] == ["pass", "fail"]
        assert records.get("FT-3") is None
        assert records.get("NCR-101") is None
    rejects = json.loads(_cli("rejects", "--data", str(data), "--format", "json").stdout)
    # Rows as the ERP loader numbers an export's rows (the third data row is 3).
    reasons = {(r["row"], r["reason"]) for r in rejects}
    assert any(row == 3 and "opened_at: CREATED='2026-02-3O 08:00:00' does not parse" in why
               for row, why in reasons), reasons
    assert (3, "'MAYBE' is not pass or fail") in reasons


@pytest.mark.parametrize(("rule", "words"), [
    ('record_id = "{A}"\nrecord_type = "capa"\nkey = "{B}"\nstatus = "{C}"\n'
     'opened_at = "{D}"\n', "needs title"),
    ('record_id = "{A}"\nrecord_type = "capa"\nkey = "{B}"\nstatus = "{C}"\n'
     'opened_at = "{D}"\ntitle = "t"\ncolour = "red"\n', "unknown field(s) colour"),
    ('record_id = "{A}"\nrecord_type = "capa"\nkey = "{B}"\nstatus = "{C}"\n'
     'opened_at = "{D}"\ntitle = "t"\nvalues = { result = { OK = "pass" } }\n',
     "values for field(s) the rule does not set: result"),
    ('record_id = "{A}"\nrecord_type = "capa"\nkey = "{B}"\nstatus = "{C}"\n'
     'opened_at = "{D}"\ntitle = "t"\nvalues = { status = "open" }\n',
     "values must map a field to a table"),
])
def test_bad_quality_rules_in_a_mapping_name_the_rule(tmp_path: Path, rule: str,
                                                      words: str) -> None:
    from domain.errors import InvalidInput
    from loaders.erp import load_mapping

    path = tmp_path / "qms.toml"
    path.write_text('[mapping]\nsystem = "qms"\n[[source]]\nname = "x"\nmatch = ["A"]\n'
                    f"[[source.quality]]\n{rule}")
    with pytest.raises(InvalidInput, match=r"qms\.toml") as caught:
        load_mapping(path)
    assert words in str(caught.value)
    assert "quality 1" in str(caught.value)


def test_a_kept_record_is_corrected_through_two_person_approval(tmp_path: Path) -> None:
    """Closing NC-1 was a mistake: moving it back to open is proposed by one person and
    applied by a qa user's approval as a new version (the closed one stays in its history);
    a stale proposal (the record moved on meanwhile) is refused; the CLI proposes one."""
    from domain.errors import InvalidInput, PermissionDenied
    from trust.corrections import Corrections

    author = Principal(3, "ivy", "Ivy", "investigator", "password")
    qa = Principal(4, "quinn", "Quinn", "qa", "password")
    data = tmp_path / "data"
    with LiveStore(data) as live:
        graph = _load(live, NODES, EDGES)
        assert _put(live, graph, _write(tmp_path, "q.csv", "\n".join([
            "NC-1,nonconformance,lot:bad,open,2026-02-01T08:00:00Z,Resin specks,,,,,",
            "NC-1,nonconformance,lot:bad,closed,2026-02-01T08:00:00Z,Resin specks,"
            "2026-02-03T08:00:00Z,,use-as-is,,"]) + "\n")).rejects == []
        records = QualityRecords(live)
        with pytest.raises(InvalidInput, match="not a status of a nonconformance"):
            records.correction("NC-1", "reopened", {})
        with pytest.raises(InvalidInput, match="already holds that"):
            records.correction("NC-1", "closed", {})
        with pytest.raises(InvalidInput, match="no quality record NC-9"):
            records.correction("NC-9", "open", {})
        change = records.correction("NC-1", "open", {"closed_at": None,
                                                    "disposition": None})
        corrections = Corrections(live)
        proposal = corrections.propose(change, author, "closed by mistake: the lot is "
                                                       "still on hold")
        assert records.get("NC-1")["status"] == "closed"  # pending: nothing changes
        with pytest.raises(PermissionDenied):
            corrections.approval(proposal.id, author)  # never the author
        assert live.ingest(corrections.approval(proposal.id, qa)).outcome == "applied"
        history = records.history("NC-1")
        assert [(v["version"], v["status"], v.get("disposition")) for v in history] == [
            (1, "open", None), (2, "closed", "use-as-is"), (3, "open", None)]
        assert history[-1]["source"] == f"correction {proposal.id}"
        assert history[-1]["recorded_by"] == author.printed
        # A proposal made before the record moved on no longer applies.
        stale = corrections.propose(records.correction("NC-1", "investigating", {}), author,
                                    "investigation started")
        assert _put(live, graph, _write(tmp_path, "q2.csv",
                    "NC-1,nonconformance,lot:bad,dispositioned,2026-02-01T08:00:00Z,"
                    "Resin specks,,,rework,,\n")).rejects == []
        ack = live.ingest(corrections.approval(stale.id, qa))
        assert ack.outcome == "rejected"
        assert "changed" in ack.message
        assert records.get("NC-1")["status"] == "dispositioned"
        # The import refusing a step back names the way.
        # (A line restating a version it kept, the corrected open one, is no step back.)
        report = _put(live, graph, _write(tmp_path, "q3.csv",
                      "NC-1,nonconformance,lot:bad,open,2026-02-01T08:00:00Z,Resin specks,"
                      ",,,,\n"
                      "NC-1,nonconformance,lot:bad,investigating,2026-02-01T08:00:00Z,"
                      "Resin specks,,,,,\n"))
        assert report.unchanged == 1
        assert [r["reason"] for r in report.rejects] == [
            "record NC-1 is dispositioned; moving it back to investigating is a correction "
            "(propose it: tracegraph correct propose --quality-record NC-1 --status "
            "investigating)"]
        # Every write path (the bulk import, the checked one, the correction) left its
        # versions in the columns frame() reads: the same as decoding every version's JSON.
        fields = COLUMNS.names()
        assert records.frame(fields).to_dicts() == records._decoded(fields).to_dicts()
        assert records.frame(("status", "version")).to_dicts() == [
            {"status": "dispositioned", "version": 4}]
        Directory(live).add("ivy", "investigator", OWNER, password="ivy-investigates-1")
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "correct", "propose", "--quality-record", "NC-1",
         "--set", "title=Resin specks (lot B0042)", "--reason", "the title names the lot",
         "--user", "ivy", "--password-stdin", "--data", str(data)],
        input="ivy-investigates-1\n", capture_output=True, text=True, env=ENV, timeout=120,
        check=False)
    assert done.returncode == 0, done.stderr
    assert ("quality-record: NC-1 v4 dispositioned -> dispositioned; title changed"
            in done.stderr)


TWO_RECORDS = "\n".join([
    "NC-1,nonconformance,lot:bad,open,2026-02-01T08:00:00Z,Resin specks,,,,,",
    "NC-1,nonconformance,lot:bad,closed,2026-02-01T08:00:00Z,Resin specks,"
    "2026-02-03T08:00:00Z,,use-as-is,,",
    "IN-1,inspection,sn:1,done,2026-02-02T12:00:00Z,Final test,,pass,,,"]) + "\n"
"""An NC opened and closed (two versions) and a passed final test."""


def test_the_records_frame_takes_any_fields(tmp_path: Path) -> None:
    """frame() keeps the newest version of each record whatever fields are asked for (the
    record id is read for that even when not asked)."""
    with LiveStore(tmp_path / "data") as live:
        graph = _load(live, NODES, EDGES)
        assert _put(live, graph, _write(tmp_path, "q.csv", TWO_RECORDS)).rejects == []
        records = QualityRecords(live)
        assert records.frame(("status",)).to_dicts() == [{"status": "done"},
                                                        {"status": "closed"}]
        assert records.frame(("opened_at", "version"))["version"].to_list() == [1, 2]
    empty = QualityRecords(opened_store(tmp_path / "empty"))
    assert empty.frame(("status",)).columns == ["status"]


def test_a_store_kept_before_the_columns_gets_them_when_it_opens(tmp_path: Path) -> None:
    """A store whose records were written before quality_columns existed (their JSON only,
    no mark) is read from the JSON; opening it as the writer builds the columns once, and
    frame() then reads them, with the same answer."""
    data = tmp_path / "data"
    with LiveStore(data) as live:
        graph = _load(live, NODES, EDGES)
        assert _put(live, graph, _write(tmp_path, "q.csv", TWO_RECORDS)).rejects == []
        expected = QualityRecords(live).frame(COLUMNS.names())
        versions = list(live.scan("quality"))
    older = tmp_path / "older"
    with LiveStore(older) as live:  # the same records as an older version kept them
        live.write([("quality", key, value) for key, value in versions], [])
        records = QualityRecords(live)
        assert live.read("meta", b"quality_columns") is None
        assert list(live.scan("quality_columns")) == []
        assert records.frame(COLUMNS.names()).to_dicts() == expected.to_dicts()
    said: list[str] = []
    with LiveStore(older, progress=said.append) as live:
        assert live.read("meta", b"quality_columns") == b"1"
        assert len(list(live.scan("quality_columns"))) == 1
        assert QualityRecords(live).frame(COLUMNS.names()).to_dicts() == expected.to_dicts()
    assert any("quality_columns" in line for line in said)
    with LiveStore(older) as live:  # once
        assert len(list(live.scan("quality_columns"))) == 1


def test_two_imports_of_one_record_at_once_lose_no_version(tmp_path: Path) -> None:
    """Two imports moving the same 2,000 records on at the same time (two Ingest streams, say):
    every version either import kept is in its record's history, numbered 1, 2, ... without
    a gap or a number written twice; a second step that came too late is refused."""
    with LiveStore(tmp_path / "data") as live:
        graph = _load(live, NODES, EDGES)
        ids = [f"NC-{i}" for i in range(2000)]

        def rows(status: str, extra: str) -> str:
            return "".join(f"{rid},nonconformance,lot:bad,{status},2026-02-01T08:00:00Z,"
                           f"Specks,{extra}\n" for rid in ids)

        assert _put(live, graph, _write(tmp_path, "open.csv", rows("open", ",,,,"))
                    ).added == 2000
        files = [_write(tmp_path, "a.csv", rows("investigating", ",,,,")),
                 _write(tmp_path, "b.csv", rows("dispositioned", ",,rework,,"))]
        reports: list[Any] = [None, None]

        def run(i: int) -> None:
            reports[i] = _put(live, graph, files[i])

        threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        kept = sum(r.changed for r in reports)
        assert kept + sum(len(r.rejects) for r in reports) == 4000
        records = QualityRecords(live)
        versions = [[v["version"] for v in records.history(rid)] for rid in ids]
        assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in versions)
        assert sum(len(numbers) - 1 for numbers in versions) == kept
        actions = [json.loads(v)["action"] for _, v in live.scan("audit")]
        assert actions.count("quality.nonconformance") == 2000 + kept
