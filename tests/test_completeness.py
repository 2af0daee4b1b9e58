"""DHR completeness (qms.completeness) and change-order effectivity (qms.effectivity) worked
by hand on the small genealogy of tests.test_shipped, and open-NC inheritance over whole
populations against networkx on hypothesis genealogies."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings

from domain.errors import InvalidInput
from engine import Graph
from index.live import LiveStore
from index.quality_records import QualityRecords
from loaders.routes import Route, load_routes
from qms.completeness import dhr_check
from qms.effectivity import effectivity
from qms.kpi import kpis
from tests.test_quality_records import ENV, ROOT, _genealogies, _put, _write
from tests.test_shipped import EDGES, NODES, _load

GTIN = "gtin:09506000134352"
RECORDS = "\n".join([
    "IN-1,inspection,sn:1,done,2026-02-02T12:00:00Z,Final test,,pass,,,",
    "IN-2,inspection,sn:2,done,2026-02-02T12:00:00Z,Final test,,fail,,,",
    "CE-1,certificate,lot:bad,accepted,2026-01-30T00:00:00Z,Resin CoA,,,,,",
    "NC-1,nonconformance,lot:prod,open,2026-02-01T00:00:00Z,Seal leak,,,,,",
    f"CO-1,change_order,lot:prod,effective,2026-01-20T00:00:00Z,New seal,,,,"
    f"2026-02-03T00:00:00Z,{GTIN}",
]) + "\n"
ROUTE = Route("IP-3", (GTIN,), operations=("work_order",), inspections=("Final test",),
              certificates=("Resin CoA",))


@pytest.fixture
def loaded(tmp_path: Path) -> Any:
    with LiveStore(tmp_path / "data") as live:
        graph = _load(live, NODES, EDGES)
        assert _put(live, graph, _write(tmp_path, "q.csv", RECORDS)).rejects == []
        yield graph, QualityRecords(live)


def test_dhr_check_by_hand(loaded: Any) -> None:
    graph, records = loaded
    result = dhr_check(graph, records, [ROUTE])
    found: dict[str, set[str]] = {}
    for row in result.findings.iter_rows(named=True):
        found.setdefault(row["key"], set()).add(row["finding"])
    assert result.checked == 6  # sn:1-4, lot:fin, lot:prod
    assert found == {
        "sn:1": {"open nonconformance"},  # NC-1 on its lot
        "sn:2": {"failed inspection", "missing inspection Final test"},
        "sn:3": {"missing operation work_order", "missing inspection Final test",
                 "missing certificate Resin CoA"},
        "sn:4": {"missing inspection Final test"},
        "lot:fin": {"missing inspection Final test"},
        "lot:prod": {"missing operation work_order", "missing inspection Final test",
                     "missing certificate Resin CoA", "open nonconformance"},
    }
    assert result.incomplete == 6
    later = dhr_check(graph, records, [ROUTE], since="2026-02-02T11:00:00Z")
    assert set(later.findings["key"]) == {"sn:3", "lot:prod"}  # no build time: kept


def test_effectivity_by_hand(loaded: Any) -> None:
    graph, records = loaded
    result = effectivity(graph, records, "CO-1")
    built = {r["key"]: r["built"] for r in result.units.iter_rows(named=True)}
    assert built == {"sn:1": "before", "sn:2": "before", "sn:4": "before",
                     "lot:fin": "before", "sn:3": "unknown", "lot:prod": "unknown"}
    assert set(result.lacking()["key"]) == {"sn:1", "sn:2", "sn:4", "lot:fin"}
    assert result.counts()["shipped lacking it"] == 4
    with pytest.raises(Exception, match="not a change order"):
        effectivity(graph, records, "NC-1")


@settings(max_examples=40, deadline=None)
@given(genealogy=_genealogies())
def test_open_nc_findings_match_networkx(tmp_path_factory: pytest.TempPathFactory,
                                         genealogy: Any) -> None:
    nodes, edges, marked = genealogy
    folder = tmp_path_factory.mktemp("check")
    rows = "".join(f"NC-{k},nonconformance,{k},open,2026-02-01T08:00:00Z,on {k},,,,,\n"
                   for k in sorted(marked))
    with LiveStore(folder / "data") as live:
        graph: Graph = _load(live, nodes, edges)
        if rows:
            assert _put(live, graph, _write(folder, "q.csv", rows)).rejects == []
        graph = Graph(live.view().snapshot, live.view)
        population = graph.coverage(None, ("serial", "lot"), {"nc": sorted(marked)})
        result = {r["key"]: r["nc"] for r in population.to_pylist()}
    g = nx.DiGraph([(e[0], e[1]) for e in edges])
    g.add_nodes_from(nodes)
    units = {k for k, kind in nodes.items() if kind in ("serial", "lot")}
    assert set(result) == units
    for unit in units:
        assert result[unit] == bool(({unit} | nx.ancestors(g, unit)) & marked), unit


def test_dhr_check_and_effectivity_on_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LiveStore(data) as live:
        graph = _load(live, NODES, EDGES)
        assert _put(live, graph, _write(tmp_path, "q.csv", RECORDS)).rejects == []
    routes = tmp_path / "routes.toml"
    routes.write_text(f'[[route]]\nname = "IP-3"\nproducts = ["{GTIN}"]\n'
                      'inspections = ["Final test"]\n')
    assert load_routes(routes)[0].inspections == ("Final test",)
    done = subprocess.run([sys.executable, "-m", "server.cli", "dhr-check", "--routes",
                           str(routes), "--data", str(data), "--format", "json"],
                          capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert done.returncode == 4, done.stderr  # incomplete records found
    doc = json.loads(done.stdout)
    assert (doc["checked"], doc["incomplete"]) == (6, 6)
    shown = subprocess.run([sys.executable, "-m", "server.cli", "effectivity", "CO-1",
                            "--data", str(data), "--format", "json"],
                           capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["counts"]["shipped lacking it"] == 4
    kpi = subprocess.run([sys.executable, "-m", "server.cli", "kpi", "--data", str(data),
                          "--period", "week", "--format", "json"], capture_output=True,
                         text=True, env=ENV, timeout=120, check=False)
    assert kpi.returncode == 0, kpi.stderr
    weeks = json.loads(kpi.stdout)
    assert weeks[0]["period"] == "2026-01-19"  # CO-1 opened on Tuesday 20 January
    assert sum(w["inspections"] for w in weeks) == 2
    kpi = subprocess.run([sys.executable, "-m", "server.cli", "kpi", "--data", str(data),
                          "--routes", str(routes), "--format", "json"], capture_output=True,
                         text=True, env=ENV, timeout=120, check=False)
    assert kpi.returncode == 0, kpi.stderr
    months = json.loads(kpi.stdout)
    assert sum(m["units_built"] for m in months) == 4  # sn:3 and lot:prod have no build time
    assert all(m["dhr_defect_rate"] in (None, 1.0) for m in months)  # every DHR incomplete
    bad = tmp_path / "bad.toml"
    bad.write_text('[[route]]\nproducts = ["x"]\ncolour = "red"\n')
    refused = subprocess.run([sys.executable, "-m", "server.cli", "dhr-check", "--routes",
                              str(bad), "--data", str(data)], capture_output=True, text=True,
                             env=ENV, timeout=120, check=False)
    assert refused.returncode == 1
    assert "route 1: unknown field(s) colour" in refused.stderr


def test_kpis_by_hand(tmp_path: Path) -> None:
    rows = "\n".join([
        "IN-1,inspection,sn:1,done,2026-02-02T08:00:00Z,Final test,,pass,,,",
        "IN-2,inspection,sn:2,done,2026-02-02T09:00:00Z,Final test,,fail,,,",
        "IN-3,inspection,sn:2,done,2026-02-05T09:00:00Z,Final test,,pass,,,",  # a re-test
        "IN-4,inspection,sn:3,done,2026-03-01T09:00:00Z,Final test,,pass,,,",
        "NC-1,nonconformance,lot:bad,open,2026-02-01T00:00:00Z,Resin specks,,,,,",
        "NC-2,nonconformance,lot:good,closed,2026-02-10T00:00:00Z,Label,"
        "2026-02-20T00:00:00Z,,scrap,,",
        "CAPA-1,capa,wo:1,open,2026-03-05T00:00:00Z,Supplier audit,,,,,",
    ]) + "\n"
    with LiveStore(tmp_path / "data") as live:
        graph = _load(live, NODES, EDGES)
        assert _put(live, graph, _write(tmp_path, "q.csv", rows)).rejects == []
        table = kpis(QualityRecords(live), [], "month",
                     now=datetime(2026, 3, 15, tzinfo=UTC))
    got = {r["period"].strftime("%Y-%m"): r for r in table.to_dicts()}
    assert list(got) == ["2026-02", "2026-03"]
    feb, mar = got["2026-02"], got["2026-03"]
    # February: first passes of sn:1 and sn:2 (the re-test after the fail does not count).
    assert (feb["inspections"], feb["first_pass_yield"]) == (2, 0.5)
    assert (feb["ncs_opened"], feb["open_ncs"], feb["open_capas"]) == (2, 1, 0)
    assert feb["open_nc_age_days"] == 28.0  # NC-1 on 1 March; NC-2 closed on the 20th
    assert (mar["inspections"], mar["first_pass_yield"]) == (1, 1.0)
    assert (mar["ncs_opened"], mar["open_ncs"], mar["open_capas"]) == (0, 1, 1)
    assert mar["open_nc_age_days"] == 42.0  # up to now (15 March), inside the month
    assert (mar["recalls_opened"], mar["recall_hours"]) == (0, None)
    with pytest.raises(InvalidInput, match="not one of day, week, month"):
        kpis(QualityRecords(live), [], "year")


@pytest.mark.parametrize("compact", [False, True], ids=["live", "snapshot"])
def test_mass_balance_of_lots_by_hand(tmp_path: Path, compact: bool) -> None:
    """L1 held 100 and gave 30 + 50 + 40 - 10 (a reversal) = 110: over-consumed. L2 held
    100, gave 60 and once an unknown amount: not judged. L3 held 10 and gave nothing. A
    retracted edge does not count."""
    import polars as pl

    from index.ingest import IngestBatch, RetractionRequest
    from qms.kpi import mass_balance

    with LiveStore(tmp_path / "data") as live:
        nodes = pl.DataFrame({"key": ["L1", "L2", "L3", *[f"u{i}" for i in range(1, 7)]],
                              "kind": ["lot"] * 3 + ["serial"] * 6,
                              "quantity": [100.0, 100.0, 10.0] + [None] * 6,
                              "uom": ["KG"] * 3 + [None] * 6})
        edges = pl.DataFrame({
            "src": ["L1", "L1", "L1", "L1", "L2", "L2", "L3"],
            "dst": ["u1", "u2", "u3", "u3", "u4", "u5", "u6"],
            "kind": ["consumed"] * 7,
            "event_id": ["261-1", "261-2", "261-3", "262-3", "261-4", "261-5", "261-6"],
            "quantity": [30.0, 50.0, 40.0, -10.0, 60.0, None, 5.0]})
        assert live.ingest(IngestBatch("t", 1, nodes, edges)).outcome == "applied"
        assert live.ingest(IngestBatch("t", 2, retractions=[RetractionRequest(
            "L3", "u6", "consumed", "posted to the wrong lot")])).outcome == "applied"
        if compact:
            live.compact()
        graph = Graph(live.view().snapshot, live.view)
        rows = {r["key"]: r for r in mass_balance(graph).to_dicts()}
    assert list(rows) == ["L1", "L2", "L3"]  # the error first, then the largest remainder
    assert (rows["L1"]["out_quantity"], rows["L1"]["remaining"], rows["L1"]["complete"],
            rows["L1"]["over_consumed"]) == (110.0, -10.0, True, True)
    assert (rows["L2"]["out_quantity"], rows["L2"]["complete"],
            rows["L2"]["over_consumed"]) == (60.0, False, False)
    assert (rows["L3"]["out_quantity"], rows["L3"]["remaining"],
            rows["L3"]["over_consumed"]) == (0.0, 10.0, False)
    assert rows["L1"]["uom"] == "KG"



def test_dhr_defect_rate_per_period_by_hand(loaded: Any, tmp_path: Path) -> None:
    """Units with a build time: sn:1, sn:2, sn:4 and lot:fin (sn:3 and lot:prod have none:
    in no period). A passed final test makes sn:4's DHR complete; the rest stay
    incomplete."""
    from qms.completeness import defect_rates

    graph, records = loaded
    assert _put(records.records, graph, _write(tmp_path, "more.csv",
                "IN-4,inspection,sn:4,done,2026-02-04T12:00:00Z,Final test,,pass,,,\n"),
                ).rejects == []
    result = dhr_check(graph, records, [ROUTE])
    built = {k: b for k, b in result.built.iter_rows() if b is not None}
    assert set(built) == {"sn:1", "sn:2", "sn:4", "lot:fin"}
    rates = defect_rates(result, "1mo").to_dicts()
    by_month: dict[str, list[str]] = {}
    for key, at in built.items():
        by_month.setdefault(at.strftime("%Y-%m"), []).append(key)
    assert [r["period"].strftime("%Y-%m") for r in rates] == sorted(by_month)
    for row in rates:
        keys = by_month[row["period"].strftime("%Y-%m")]
        bad = [k for k in keys if k != "sn:4"]
        assert (row["units_built"], row["incomplete_dhrs"]) == (len(keys), len(bad))
        assert row["dhr_defect_rate"] == len(bad) / len(keys)


def test_plan_attainment_from_erp_order_data(tmp_path: Path) -> None:
    """Orders come in as master data through the sample SAP mapping (AFKO-like); wo 1
    made three serials of five planned, wo 2 a lot of 40 (its edge's quantity) of 40, wo 3
    nothing of 10; a planned quantity that is not a number gives no attainment."""
    import polars as pl

    from index.ingest import IngestBatch

    data = tmp_path / "data"
    with LiveStore(data) as live:
        nodes = pl.DataFrame({"key": ["erp:sap:work_order:1", "erp:sap:work_order:2",
                                      "u1", "u2", "u3", "L9"],
                              "kind": ["work_order"] * 2 + ["serial"] * 3 + ["lot"]})
        edges = pl.DataFrame({"src": ["erp:sap:work_order:1"] * 3 + ["erp:sap:work_order:2"],
                              "dst": ["u1", "u2", "u3", "L9"], "kind": ["produced"] * 4,
                              "quantity": [None, None, None, 40.0]},
                             schema_overrides={"quantity": pl.Float64})
        assert live.ingest(IngestBatch("t", 1, nodes, edges)).outcome == "applied"
    orders = tmp_path / "afko.csv"
    orders.write_text("AUFNR,MATNR,GAMNG,GMEIN,GSTRP,GLTRP,WERKS\n"
                      "1,IP-3,5,EA,20260201,20260205,1000\n"
                      "2,RESIN,40,KG,20260201,20260203,1000\n"
                      "3,IP-3,10,EA,20260210,20260212,1000\n"
                      "4,IP-3,ten,EA,20260210,20260212,1000\n")
    mapping = ROOT / "loaders" / "mappings" / "sap_orders.toml"
    done = subprocess.run([sys.executable, "-m", "server.cli", "import", "erp", str(orders),
                           "--mapping", str(mapping), "--data", str(data)],
                          capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    kpi = subprocess.run([sys.executable, "-m", "server.cli", "kpi", "--by", "work_order",
                          "--format", "json", "--data", str(data)], capture_output=True,
                         text=True, env=ENV, timeout=120, check=False)
    assert kpi.returncode == 0, kpi.stderr
    rows = {r["key"].rsplit(":", 1)[1]: r for r in json.loads(kpi.stdout)}
    assert [(rows[n]["planned"], rows[n]["built"], rows[n]["attainment"]) for n in "1234"] == [
        (5.0, 3.0, 0.6), (40.0, 40.0, 1.0), (10.0, 0.0, 0.0), (None, 0.0, None)]
    assert rows["1"]["planned_finish"] == "2026-02-05"
    assert [r["key"][-1] for r in json.loads(kpi.stdout)] == ["3", "1", "2", "4"]
