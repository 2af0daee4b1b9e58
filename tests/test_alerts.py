"""Alert rules and alerts: the rules file's errors, each metric worked by hand on a small
genealogy (per product, per supplier, over all), and an alert's life in a real store: raised
once, acknowledged by a person who may, cleared when the value recovers, raised anew; every
change an audit record. And the CLI: rules set, import quality raising an alert, ack."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from domain.errors import InvalidInput, PermissionDenied
from engine import Graph
from index.ingest import IngestBatch
from index.live import LiveStore
from index.quality_records import QualityRecords
from loaders.alert_rules import parse_rules
from loaders.quality_records import read_quality_files
from qms.alerts import Alerts, check, grouper, measure
from tests.conftest import opened_store
from trust.audit import decode
from trust.identity import Directory, Principal

ROOT = Path(__file__).resolve().parents[1]
OWNER = Principal(0, "os:test", "os:test", "admin", "os")
QA = Principal(7, "quinn", "Quinn", "qa", "password")
VIEWER = Principal(8, "vic", "Vic", "viewer", "password")
NOW = datetime(2026, 6, 10, 12, tzinfo=UTC)
HEADER = "record_id,record_type,key,status,opened_at,title,result,disposition\n"


def _day(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _genealogy(live: LiveStore) -> Graph:
    """Suppliers S1, S2 -> lots L1, L2 -> units u1-u3 (product P, from L1) and u4-u6 (Q,
    from L2)."""
    nodes = {"S1": ("supplier", None), "S2": ("supplier", None), "L1": ("lot", "resin"),
             "L2": ("lot", "resin"), **{f"u{i}": ("serial", "P" if i <= 3 else "Q")
                                        for i in range(1, 7)}}
    edges = [("S1", "L1"), ("S2", "L2")] + [("L1" if i <= 3 else "L2", f"u{i}")
                                            for i in range(1, 7)]
    ack = live.ingest(IngestBatch("t", 1, pl.DataFrame({
        "key": list(nodes), "kind": [k for k, _ in nodes.values()],
        "product": [p for _, p in nodes.values()]}), pl.DataFrame({
            "src": [a for a, _ in edges], "dst": [b for _, b in edges],
            "kind": ["consumed"] * len(edges)})))
    assert ack.outcome == "applied", ack.message
    return Graph(live.view().snapshot, live.view)


def _put(live: LiveStore, graph: Graph, folder: Path, rows: list[str],
         now: datetime = NOW) -> None:
    path = folder / f"q{len(list(folder.glob('q*.csv')))}.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    versions, rejects = read_quality_files([path], now)
    assert not rejects
    report = QualityRecords(live).put(versions, OWNER, "test", graph.unknown_keys, now)
    assert not report.rejects, report.rejects


RULES = """
[[rule]]
id = "fpy"
title = "First-pass yield below 75 %"
metric = "first_pass_yield"
window = "7d"
below = 0.75
per = "product"
min_count = 2

[[rule]]
id = "supplier-ncs"
title = "More than 1 NC per supplier in 30 days"
metric = "ncs_opened"
window = "30d"
above = 1
per = "supplier"

[[rule]]
id = "open-ncs"
title = "Any open NC"
metric = "open_ncs"
above = 0
"""


@pytest.mark.parametrize(("text", "words"), [
    ("[[rule]]\nid='a'\ntitle='t'\nmetric='nope'\nabove=1", "metric 'nope' is not one of"),
    ("[[rule]]\nid='a'\ntitle='t'\nmetric='ncs_opened'", "exactly one threshold"),
    ("[[rule]]\nid='a'\ntitle='t'\nmetric='ncs_opened'\nabove=1\nbelow=2",
     "exactly one threshold"),
    ("[[rule]]\nid='a'\ntitle='t'\nmetric='ncs_opened'\nabove=1\nwindow='7 days'",
     "window '7 days' must be like"),
    ("[[rule]]\nid='a'\ntitle='t'\nmetric='ncs_opened'\nabove=1\ncolour='red'",
     "unknown field(s) colour"),
    ("[[rule]]\nid='a b'\ntitle='t'\nmetric='ncs_opened'\nabove=1", "id must be"),
    ("[[rule]]\nid='a'\ntitle='t'\nmetric='first_pass_yield'\nbelow=1\nper='supplier'",
     "per supplier counts nonconformances"),
    ("[[rule]]\nid='a'\ntitle='t'\nmetric='ncs_opened'\nabove=1\n"
     "[[rule]]\nid='a'\ntitle='u'\nmetric='open_ncs'\nabove=1", "used twice: a"),
    ("[rules]\nx=1", "unknown table(s) rules"),
    ("[[rule]\n", "not TOML"),
])
def test_bad_rules_are_refused_naming_the_rule(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=r"rules\.toml") as caught:
        parse_rules(text, "rules.toml")
    assert words in str(caught.value)


def test_each_metric_by_hand(tmp_path: Path) -> None:
    live = opened_store(tmp_path / "data")
    graph = _genealogy(live)
    _put(live, graph, tmp_path, [
        # P: u1 fails then passes on re-test (the first one counts), u2 passes: 1 of 2.
        f"IN-1,inspection,u1,done,{_day(2)},Final test,fail,",
        f"IN-2,inspection,u1,done,{_day(1)},Final test,pass,",
        f"IN-3,inspection,u2,done,{_day(1)},Final test,pass,",
        # Q: u4 passes, u5 failed 9 days ago (outside the 7-day window): 1 of 1.
        f"IN-4,inspection,u4,done,{_day(1)},Final test,pass,",
        f"IN-5,inspection,u5,done,{_day(9)},Final test,fail,",
        # NCs: two on L1 (supplier S1), one on L2 (S2), one 40 days ago on L2.
        f"NC-1,nonconformance,L1,open,{_day(3)},Specks,,",
        f"NC-2,nonconformance,L1,closed,{_day(5)},Moisture,,use-as-is",
        f"NC-3,nonconformance,L2,open,{_day(6)},Colour,,",
        f"NC-4,nonconformance,L2,closed,{_day(40)},Old,,use-as-is",
    ])
    rules = parse_rules(RULES)
    readings = {(r.rule.id, r.group): (r.value, r.count, r.breached)
                for r in measure(rules, QualityRecords(live), grouper(graph), NOW)}
    assert readings == {
        ("fpy", "P"): (0.5, 2, True),
        ("fpy", "Q"): (1.0, 1, False),  # one inspection: below min_count, never breached
        ("supplier-ncs", "S1"): (2.0, 2, True),
        ("supplier-ncs", "S2"): (1.0, 1, False),
        ("open-ncs", "all"): (2.0, 2, True),
    }
    assert graph.products_of(["u1", "u6", "nope", "S1"]) == ["P", "Q", None, None]
    assert graph.parents_of_kind(["L1", "L2", "u1", "nope"], "supplier") == [
        "S1", "S2", None, None]


def test_an_alert_is_raised_once_acknowledged_cleared_and_raised_anew(tmp_path: Path) -> None:
    live = opened_store(tmp_path / "data")
    graph = _genealogy(live)
    alerts = Alerts(live)
    alerts.set_rules(RULES, OWNER, "rules.toml")
    _put(live, graph, tmp_path, [f"NC-1,nonconformance,L1,open,{_day(3)},Specks,,"])
    raised = check(live, graph, OWNER, NOW)
    assert [(a.rule, a.group, a.state) for a in raised] == [("open-ncs", "all", "open")]
    assert check(live, graph, OWNER, NOW) == []  # still breached: nothing new
    first = raised[0]
    with pytest.raises(PermissionDenied, match="may not acknowledge"):
        alerts.acknowledge(first.id, VIEWER, "seen")
    with pytest.raises(InvalidInput, match="needs a reason"):
        alerts.acknowledge(first.id, QA, " ")
    acked = alerts.acknowledge(first.id, QA, "NC-1 under investigation")
    assert (acked.state, acked.acknowledged_by) == ("acknowledged", "Quinn (quinn)")
    with pytest.raises(InvalidInput, match="is acknowledged"):
        alerts.acknowledge(first.id, QA, "again")
    _put(live, graph, tmp_path, [f"NC-1,nonconformance,L1,closed,{_day(1)},Specks,,use-as-is"])
    [cleared] = check(live, graph, OWNER, NOW)
    assert (cleared.id, cleared.state, cleared.cleared_value) == (first.id, "cleared", "0")
    _put(live, graph, tmp_path, [f"NC-9,nonconformance,L2,open,{_day(1)},Again,,"])
    [again] = check(live, graph, OWNER, NOW)
    assert (again.id, again.state) == (first.id + 1, "open")
    # Removing the rule clears its alert, saying why.
    fewer = RULES.split('[[rule]]\nid = "open-ncs"', maxsplit=1)[0]
    alerts.set_rules(fewer, OWNER, "fewer.toml")
    [gone] = check(live, graph, OWNER, NOW)
    assert (gone.id, gone.state) == (again.id, "cleared")
    actions = [(decode(r)["action"], decode(r).get("reason"))
               for _, r in live.store.audit_records() if decode(r)["action"].startswith("alert")]
    assert actions == [("alerts.rules", None), ("alert.raise", None),
                       ("alert.acknowledge", "NC-1 under investigation"),
                       ("alert.clear", None), ("alert.raise", None), ("alerts.rules", None),
                       ("alert.clear", "rule removed")]
    assert [a.state for a in alerts.all()] == ["cleared", "cleared"]


def test_the_alerts_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiveStore(data) as live:
        _genealogy(live)
        Directory(live).add("quinn", "qa", OWNER, password="quinn-approves-1")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", *args, "--data", str(data)],
                              capture_output=True, text=True, env=env, input=stdin,
                              check=False, cwd=ROOT)

    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]]\nid='x'\ntitle='t'\nmetric='nope'\nabove=1\n")
    result = run("alerts", "rules", str(bad))
    assert result.returncode != 0
    assert "metric 'nope' is not one of" in result.stderr
    assert run("alerts", "rules").stdout == "# no alert rules set"  # nothing was set
    result = run("alerts", "rules", str(rules))
    assert result.returncode == 0, result.stderr
    assert "3 alert rule(s) set: fpy, supplier-ncs, open-ncs" in result.stderr
    assert run("alerts", "rules").stdout == RULES
    records = tmp_path / "q.csv"
    records.write_text(HEADER + f"NC-1,nonconformance,L1,open,{_day(3)},Specks,,\n")
    result = run("import", "quality", str(records))
    assert result.returncode == 0, result.stderr
    assert "alert 1 open: Any open NC (all: 1, threshold > 0)" in result.stderr
    listed = run("alerts")
    assert "open-ncs" in listed.stdout
    assert "1 active alert(s)" in listed.stdout
    result = run("alerts", "ack", "1", "--reason", "looking", "--user", "quinn",
                 "--password-stdin", stdin="wrong\n")
    assert result.returncode != 0
    result = run("alerts", "ack", "1", "--reason", "looking", "--user", "quinn",
                 "--password-stdin", stdin="quinn-approves-1\n")
    assert result.returncode == 0, result.stderr
    assert "alert 1 acknowledged by quinn (quinn)" in result.stdout
    assert '"state": "acknowledged"' in run("alerts", "--format", "json").stdout


def test_the_server_measures_the_rules_and_streams_alerts(tmp_path: Path) -> None:
    """A real server measuring every 0.2 s: WatchAlerts gives the active alerts, then a new
    one as an NC arrives, then its acknowledgement; a viewer may watch but not acknowledge."""
    import grpc

    from server.rpc import auth_pb2 as apb
    from server.rpc import auth_pb2_grpc as apb_grpc
    from server.rpc import quality_pb2 as qpb
    from server.rpc import quality_pb2_grpc as qpb_grpc
    from server.serve import ServerConfig, TraceServer

    data = tmp_path / "data"
    with LiveStore(data) as live:
        _genealogy(live)
        directory = Directory(live)
        directory.add("quinn", "qa", OWNER, password="quinn-approves-1")
        directory.add("vic", "viewer", OWNER, password="vic-views-only-1")
        Alerts(live).set_rules(RULES, OWNER, "rules.toml")
    server = TraceServer(data, ServerConfig(port=0, alert_seconds=0.2, compact_edges=0,
                                            scrub_hours=0))
    server.load()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        auth = apb_grpc.AuthStub(channel)
        quality = qpb_grpc.QualityStub(channel)

        def bearer(user: str, password: str) -> list[tuple[str, str]]:
            token = auth.Login(apb.LoginRequest(user=user, password=password), timeout=10).token
            return [("authorization", f"Bearer {token}")]

        qa, viewer = bearer("quinn", "quinn-approves-1"), bearer("vic", "vic-views-only-1")
        stream = quality.WatchAlerts(qpb.WatchAlertsRequest(), metadata=viewer, timeout=60)
        assert list(next(stream).alerts) == []  # nothing breached yet
        assert server.live is not None
        graph = server.graph
        assert graph is not None
        now = datetime.now(UTC)
        _put(server.live, graph, tmp_path, [
            f"NC-1,nonconformance,L1,open,{now - timedelta(minutes=1):%Y-%m-%dT%H:%M:%SZ},"
            "Specks,,"], now)
        raised = next(batch for batch in stream if batch.alerts).alerts
        assert [(a.rule, a.group, a.state, a.value) for a in raised] == [
            ("open-ncs", "all", "open", "1")]
        with pytest.raises(grpc.RpcError) as refused:
            quality.AcknowledgeAlert(qpb.AcknowledgeAlertRequest(id=raised[0].id, reason="x"),
                                     metadata=viewer, timeout=10)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        acked = quality.AcknowledgeAlert(
            qpb.AcknowledgeAlertRequest(id=raised[0].id, reason="NC-1 contained"),
            metadata=qa, timeout=10)
        assert (acked.state, acked.acknowledged_by) == ("acknowledged", "quinn (quinn)")
        seen = next(batch for batch in stream if batch.alerts).alerts
        assert [(a.id, a.state) for a in seen] == [(raised[0].id, "acknowledged")]
        stream.cancel()
        listed = list(quality.ListAlerts(qpb.ListAlertsRequest(state="all"), metadata=viewer,
                                         timeout=10))
        assert [(a.id, a.state) for a in listed] == [(raised[0].id, "acknowledged")]
        with pytest.raises(grpc.RpcError) as bad:
            list(quality.ListAlerts(qpb.ListAlertsRequest(state="loud"), metadata=viewer,
                                    timeout=10))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        channel.close()
    finally:
        server.stop(0)


def test_nc_rate_per_supplier_by_hand(tmp_path: Path) -> None:
    import json as json_module

    from qms.kpi import supplier_nc_rates

    data = tmp_path / "data"
    with LiveStore(data) as live:
        graph = _genealogy(live)
        live.ingest(IngestBatch("t", 2, pl.DataFrame({"key": ["L3"], "kind": ["lot"]})))
        _put(live, graph, tmp_path, [
            f"NC-1,nonconformance,L1,open,{_day(3)},Specks,,",
            f"NC-2,nonconformance,L1,open,{_day(2)},Moisture,,",
            f"NC-3,nonconformance,L2,open,{_day(1)},Colour,,"])
        rows = supplier_nc_rates(QualityRecords(live), graph).to_dicts()
    assert rows == [
        {"supplier": "S1", "lots": 1, "lots_with_nc": 1, "ncs": 2, "nc_rate": 1.0},
        {"supplier": "S2", "lots": 1, "lots_with_nc": 1, "ncs": 1, "nc_rate": 1.0},
        {"supplier": "(none recorded)", "lots": 1, "lots_with_nc": 0, "ncs": 0, "nc_rate": 0.0}]
    done = subprocess.run([sys.executable, "-m", "server.cli", "kpi", "--by", "supplier",
                           "--format", "json", "--data", str(data)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json_module.loads(done.stdout) == rows
