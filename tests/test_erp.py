"""ERP/MES exports through the shipped mappings into a live data directory: the genealogy comes
out as worked out by hand from the rows, bad rows are rejected with file, row and reason, a
re-run adds nothing twice, and a broken mapping says what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.compute as pc
import pytest

import engine
from domain.errors import InvalidInput, UnknownNode
from loaders.erp import convert, load_mapping

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "loaders" / "mappings"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
HEADER = "MBLNR,ZEILE,BWART,MATNR,CHARG,AUFNR,SERNR,VBELN,KUNNR,MENGE,MEINS,BUDAT,CPUTM\n"
MOVEMENTS = HEADER + """\
4900000001,1,101,RESIN-A,R100,,,,,500,KG,20250301,080000
4900000002,1,261,RESIN-A,R100,1000001,,,,12.5,KG,20250302,090000
4900000003,1,101,PUMP-X,,1000001,SN0001,,,1,EA,20250302,170000
4900000003,2,101,PUMP-X,,1000001,SN0002,,,1,EA,20250302,170100
4900000004,1,601,PUMP-X,,,SN0001,8000001,C-77,1,EA,20250305,110000
4900000005,1,261,RESIN-A,,1000002,,,,3,KG,20250306,090000
4900000006,1,261,RESIN-A,R100,1000002,,,,4,KG,2025030X,090000
"""
AS_BUILT = """unit_serial,component,component_type,work_order,timestamp
U-1,SUB-9,serial,WO-5,2025-04-01T10:00:00Z
U-1,GLUE-LOT-3,lot,WO-5,2025-04-01T10:00:00Z
U-2,GLUE-LOT-3,lot,WO-6,2025-04-02T11:00:00Z
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True,
                          text=True, env=ENV, check=False, timeout=180)


def test_sap_goods_movements_become_the_genealogy(tmp_path: Path) -> None:
    export = tmp_path / "mseg.csv"
    export.write_text(MOVEMENTS)
    data = tmp_path / "data"
    args = ("import", "erp", str(export), "--mapping",
            str(MAPPINGS / "sap_goods_movements.toml"), "--data", str(data), "--no-check")
    first = _cli(*args)
    # Two rows are rejected: the import says what loaded and exits 3, not 0.
    assert first.returncode == 3, first.stderr
    assert "2 record(s) rejected, 6 nodes and 5 edges loaded" in first.stderr
    graph = engine.open(data)
    lot = "erp:sap:lot:RESIN-A:R100"
    down = dict(zip(graph.trace(lot).column("key").to_pylist(),
                    graph.trace(lot).column("depth").to_pylist(), strict=True))
    assert down == {"erp:sap:work_order:1000001": 1, "erp:sap:serial:PUMP-X:SN0001": 2,
                    "erp:sap:serial:PUMP-X:SN0002": 2, "erp:sap:shipment:8000001": 3,
                    "erp:sap:customer:C-77": 4}
    consumed = graph.path(lot, "erp:sap:work_order:1000001").to_pylist()[1]
    assert consumed["edge_kind"] == "consumed"
    assert consumed["event_time"].isoformat() == "2025-03-02T08:00:00+00:00"  # Berlin, CET
    # Rows 6 (no batch on a 261) and 7 (a date that does not parse) are rejected, with why,
    # and kept with the export row itself.
    listed = _cli("rejects", "--data", str(data), "--format", "json")
    rejects = {(r["row"], r["reason"].split(":")[0]): json.loads(r["record"])
               for r in json.loads(listed.stdout)}
    assert set(rejects) == {(6, "src template 'erp"), (7, "BUDAT+CPUTM='2025030X090000' does "
                                                         "not parse as %Y%m%d%H%M%S (time zone "
                                                         "Europe/Berlin)")}
    assert "column CHARG is empty" in next(r["reason"] for r in json.loads(listed.stdout)
                                           if r["row"] == 6)
    # Row 6 named order 1000002 and nothing else did: its node goes with the row.
    with pytest.raises(UnknownNode):
        graph.node("erp:sap:work_order:1000002")
    assert rejects[(6, "src template 'erp")]["MBLNR"] == "4900000005"
    # One count of rejects everywhere: the import's summary, stats, check and rejects.
    stats = json.loads(_cli("stats", "--data", str(data), "--format", "json").stdout)
    check = json.loads(_cli("check", "--data", str(data), "--format", "json").stdout)
    checked = next(f for f in check["findings"] if f["check"] == "rejected_records")
    assert stats["rejected"] == checked["count"] == len(rejects) == 2
    again = _cli(*args)
    assert again.returncode == 3, again.stderr
    # The same rejects seen again are kept once.
    assert json.loads(_cli("stats", "--data", str(data), "--format", "json").stdout)[
        "rejected"] == 2
    assert "batches already applied (duplicates) │ 2" in again.stdout
    assert engine.open(data).edge_count == graph.edge_count


REVERSALS = HEADER + """\
4900000011,1,101,PUMP-L,L7,1000003,,,,60,EA,20250310,080000
4900000012,1,601,PUMP-L,L7,,,8000002,C-77,40,EA,20250311,090000
4900000013,1,602,PUMP-L,L7,,,8000002,,10,EA,20250312,090000
4900000014,1,601,PUMP-L,L7,,,8000003,C-88,5,EA,20250311,100000
4900000015,1,602,PUMP-L,L7,,,8000003,,5,EA,20250313,100000
4900000016,1,601,PUMP-X,,,SN0009,8000004,C-99,1,EA,20250311,110000
4900000017,1,602,PUMP-X,,,SN0009,8000004,,1,EA,20250314,110000
4900000018,1,262,PUMP-L,L7,1000009,,,,2,EA,20250315,080000
"""


def test_sap_reversals_net_against_the_postings_they_reverse(tmp_path: Path) -> None:
    export = tmp_path / "mseg.csv"
    export.write_text(REVERSALS)
    data = tmp_path / "data"
    done = _cli("import", "erp", str(export), "--mapping",
                str(MAPPINGS / "sap_goods_movements.toml"), "--data", str(data), "--no-check")
    assert done.returncode == 0, done.stderr
    graph = engine.open(data)
    lot = "erp:sap:lot:PUMP-L:L7"
    rows = {(r["customer"], r["shipment"]): r["quantity"]
            for r in graph.shipped([lot]).to_pylist()}
    # 40 delivered, 10 reversed: 30; delivery 8000003 fully reversed: no consignee.
    assert rows == {("erp:sap:customer:C-77", "erp:sap:shipment:8000002"): 30.0}
    serial = "erp:sap:serial:PUMP-X:SN0009"
    assert graph.shipped([serial]).num_rows == 0  # shipped, then the 601 was reversed
    # Up to a time before the reversals were posted, the list is what had shipped by then.
    then = {(r["customer"], r["shipment"]): r["quantity"]
            for r in graph.shipped([lot], until="2025-03-11T12:00:00Z").to_pylist()}
    assert then == {("erp:sap:customer:C-77", "erp:sap:shipment:8000002"): 40.0,
                    ("erp:sap:customer:C-88", "erp:sap:shipment:8000003"): 5.0}
    edges = graph.path(lot, "erp:sap:shipment:8000002").to_pylist()
    assert edges[1]["edge_kind"] == "shipped"
    # A 262 without its 261 is kept as posted (a negative consumption), not dropped.
    assert graph.trace(lot).filter(pc.equal(graph.trace(lot).column("key"),
                                            "erp:sap:work_order:1000009")).num_rows == 1


def test_mes_as_built_with_kinds_from_a_column(tmp_path: Path) -> None:
    export = tmp_path / "as_built.csv"
    export.write_text(AS_BUILT)
    mapping = load_mapping(MAPPINGS / "mes_as_built.toml")
    converted = convert(mapping, [export])
    kinds = dict(zip(converted.nodes["key"].to_list(), converted.nodes["kind"].to_list(),
                     strict=True))
    assert kinds["erp:mes:serial:SUB-9"] == "serial"
    assert kinds["erp:mes:lot:GLUE-LOT-3"] == "lot"
    assert converted.edges.height == 5  # the repeated WO-5 -> U-1 edge folds
    assert converted.rejects.height == 0
    result = _cli("import", "erp", str(export), "--mapping", str(MAPPINGS / "mes_as_built.toml"),
                  "--data", str(tmp_path / "data"), "--no-check")
    assert result.returncode == 0, result.stderr
    graph = engine.open(tmp_path / "data")
    assert sorted(graph.trace("erp:mes:lot:GLUE-LOT-3", node_kinds=["serial"])
                  .column("key").to_pylist()) == ["erp:mes:serial:U-1", "erp:mes:serial:U-2"]


@pytest.mark.parametrize(("text", "message"), [
    ("[mapping]\nsystem = 'SAP!'\n", "system must be a short lower-case name"),
    ("[mapping]\nsystem = 'x'\ntimezone = 'Mars/Base'\n", "not an IANA time zone"),
    ("[mapping]\nsystem = 'x'\n[[source]]\nmatch = ['A']\n[[source.edge]]\nsrc = '{A}'\n"
     "kind = 'consumed'\n", "edge 1: needs dst"),
    ("[mapping]\nsystem = 'x'\n[[source]]\nmatch = ['A']\n[[source.node]]\nkey = '{A}'\n"
     "kind = 'lot'\ncolour = 'red'\n", "unknown field(s) colour"),
    ("not toml [", "not valid TOML"),
])
def test_a_broken_mapping_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_mapping(path)


def test_an_export_the_mapping_does_not_describe_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "other.csv"
    pl.DataFrame({"x": [1]}).write_csv(export)
    mapping = load_mapping(MAPPINGS / "sap_goods_movements.toml")
    with pytest.raises(InvalidInput, match=r"no source of sap_goods_movements\.toml matches"):
        convert(mapping, [export])


def test_a_store_reject_names_the_export_row_and_fails_the_import(tmp_path: Path) -> None:
    export = tmp_path / "mseg.csv"
    export.write_text(HEADER + "4900000001,1,101,RESIN-A,R100,,,,,500,KG,20250301,080000\n"
                      "4900000002,1,261,RESIN-A,R100,1000001,,,,inf,KG,20250302,090000\n")
    result = _cli("import", "erp", str(export), "--mapping",
                  str(MAPPINGS / "sap_goods_movements.toml"), "--data", str(tmp_path / "data"),
                  "--no-check")
    assert result.returncode == 3
    assert f"{export} row 2: quantity" in " ".join(result.stderr.split())
    assert "0 edges loaded" in result.stderr
    valid = _cli("import", "erp", str(export), "--mapping",
                 str(MAPPINGS / "sap_goods_movements.toml"), "--data", str(tmp_path / "v"),
                 "--no-check", "--policy", "valid")
    assert valid.returncode == 0, valid.stderr
