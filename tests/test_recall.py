"""A recall worked end to end through the command line on a real data directory: open a case
for a bad lot (a drill), export its consignee list as CSV, JSON (three templates), XLSX and
PDF and read them back with openpyxl and pypdf, ingest more, diff, refresh, compact, close
with a signature; and the denials and bad input on the way."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from domain.time import from_micros
from index.ingest import IngestBatch
from index.live import LiveStore
from index.master import MasterData
from index.store import Store
from recall.cases import Cases
from tests.test_shipped import EDGES, NODES, _load
from trust.audit import decode
from trust.identity import Directory, Principal

ROOT = Path(__file__).resolve().parents[1]
OWNER = Principal(0, "os:test", "os:test", "admin", "os")
PASSWORDS = {"ivy": "ivy-password-long", "quinn": "quinn-password-long",
             "vic": "vic-password-long"}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return recall_data(tmp_path / "data")


def recall_data(folder: Path) -> Path:
    """The hand-worked genealogy (tests.test_shipped), master data for one customer and the
    product, and users ivy (investigator), quinn (qa) and vic (viewer)."""
    with LiveStore(folder) as live:
        _load(live, NODES, EDGES)
        MasterData(live).put([
            ("customer", "cust:a", {"name": "St. Mary Hospital", "street": "1 Main St",
                                    "city": "Springfield", "country": "US"}),
            ("product", "gtin:09506000134352", {"gtin": "09506000134352",
                                                "description": "Infusion pump IP-3",
                                                "level": "finished"}),
            ("lot", "lot:prod", {"expiry": "20281130"})], OWNER, "test")
        directory = Directory(live)
        for name, role in (("ivy", "investigator"), ("quinn", "qa"), ("vic", "viewer")):
            directory.add(name, role, OWNER, full_name=name.title(), password=PASSWORDS[name])
    return folder


def _cli(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    who = [] if user is None else ["--user", user, "--password-stdin"]
    return subprocess.run([sys.executable, "-m", "server.cli", "recall", *args, *who],
                          input=PASSWORDS.get(user or "", "") + "\n", capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                          check=False)


def test_a_recall_from_a_bad_lot_to_a_signed_consignee_list(data: Path, tmp_path: Path) -> None:
    denied = _cli("open", "--data", str(data), "--title", "x", "--seeds", "lot:bad", user="vic")
    assert denied.returncode == 1
    assert "may not run `tracegraph recall open`" in denied.stderr
    unknown = _cli("open", "--data", str(data), "--title", "x", "--seeds", "lot:nope",
                   user="ivy")
    assert unknown.returncode == 1
    assert "lot:nope" in unknown.stderr
    opened = _cli("open", "--data", str(data), "--title", "Bad resin lot", "--seeds", "lot:bad",
                  "--reason", "supplier notice SN-7", "--drill", user="ivy")
    assert opened.returncode == 0, opened.stderr
    number = opened.stdout.split()[-1]
    assert number == "1"

    out = tmp_path / "out"
    out.mkdir()
    made = _cli("consignees", number, "--data", str(data), "--format", "csv", "--output",
                str(out / "c.csv"))
    assert made.returncode == 0, made.stderr
    assert "1 customer(s) without master data" in made.stderr
    rows = list(csv.DictReader((out / "c.csv").read_text().splitlines()))
    got = sorted((r["customer_name"], r["shipment"], r["item"], r["quantity"]) for r in rows)
    assert got == [("", "ship:4", "sn:4", "1.0"),
                   ("St. Mary Hospital", "ship:1", "sn:1", "1.0"),
                   ("St. Mary Hospital", "ship:1", "sn:2", "1.0"),
                   ("St. Mary Hospital", "ship:3", "lot:fin", "20.0"),  # 25, 5 reversed
                   ("unknown", "ship:2", "lot:fin", "40.0")]
    mary = next(r for r in rows if r["item"] == "sn:1")
    assert (mary["description"], mary["lot"], mary["expiry"], mary["ship_date"]) == (
        "Infusion pump IP-3", "lot:prod", "2028-11-30", "2026-02-04T10:00:00+00:00")

    for template in ("consignees", "eu-fsca", "fda-806"):
        done = _cli("consignees", number, "--data", str(data), "--format", "json",
                    "--template", template, "--output", str(out / f"{template}.json"))
        assert done.returncode == 0, done.stderr
    doc = json.loads((out / "consignees.json").read_text())
    assert doc["header"]["case"] == "1 (DRILL: mock recall)"
    summary = {r["customer"]: r["units"] for r in doc["summary"]}
    assert summary == {"cust:a": 22.0, "cust:b": 40.0, None: 1.0}
    fsca = json.loads((out / "eu-fsca.json").read_text())["rows"]
    assert {"customer", "udi_di", "delivered_on"} <= set(fsca[0])
    report = json.loads((out / "fda-806.json").read_text())["rows"]
    fin = next(r for r in report if r["lot"] == "lot:fin")
    assert (fin["consignees"], fin["quantity_distributed"]) == (2, 60.0)

    assert _cli("consignees", number, "--data", str(data), "--format", "xlsx", "--output",
                str(out / "c.xlsx")).returncode == 0
    book = load_workbook(out / "c.xlsx", read_only=False)
    assert book.sheetnames == ["case", "customers", "consignees"]
    customers = book["customers"]
    assert [c.value for c in customers[1]][:3] == ["customer", "customer_name", "street"]
    assert "1 Main St" in [c.value for row in customers.iter_rows() for c in row]
    sheet = book["consignees"]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert "street" not in header  # addresses are on the customers sheet, once each
    quantities = [row[header.index("quantity")] for row in sheet.iter_rows(min_row=2,
                                                                            values_only=True)]
    assert sorted(quantities) == [1.0, 1.0, 1.0, 20.0, 40.0]  # numbers, not text

    assert _cli("consignees", number, "--data", str(data), "--format", "pdf", "--output",
                str(out / "c.pdf")).returncode == 0
    text = " ".join(p.extract_text() for p in PdfReader(out / "c.pdf").pages)
    store = Store(data, writable=False)
    case = Cases(store).get(1)
    last = list(store.entries())[-1]
    store.close()
    # Pinned at the record time of the newest change the answer saw, not at "now": a batch
    # committed while the case opened cannot slip in later.
    assert case.as_of == from_micros(last.recorded_at).isoformat()
    assert case.log_sequence == last.seq
    assert "Recall case 1: Bad resin lot (DRILL)" in text
    assert case.result_hash in text.replace("\n", "")
    assert "Prepared by" in text
    nowhere = _cli("consignees", number, "--data", str(data), "--format", "csv", "--output",
                   str(tmp_path / "missing" / "c.csv"))
    assert nowhere.returncode == 1
    assert "does not exist" in nowhere.stderr
    assert not list(out.glob(".*"))  # no temporary file left behind

    # More units reach the customer after the case was opened.
    with LiveStore(data) as live:
        live.ingest(IngestBatch("mes", 9, pl.DataFrame({"key": ["sn:5"], "kind": ["serial"]}),
                                pl.DataFrame({"src": ["wo:1", "sn:5"],
                                              "dst": ["sn:5", "case:1"],
                                              "kind": ["produced", "packed"]})))
    diff = _cli("diff", number, "--data", str(data), "--format", "json")
    assert diff.returncode == 0, diff.stderr
    changed = json.loads(diff.stdout)
    assert (changed["rows_added"], changed["rows_removed"], changed["units_change"]) == (1, 0,
                                                                                        1.0)
    assert changed["added"][0]["item"] == "sn:5"
    again = _cli("consignees", number, "--data", str(data), "--format", "csv", "--output",
                 str(out / "again.csv"))
    assert again.returncode == 0, again.stderr
    assert (out / "again.csv").read_bytes() == (out / "c.csv").read_bytes()  # as pinned

    with LiveStore(data) as live:
        assert live.compact() is not None  # the pin still reproduces from history
    assert _cli("consignees", number, "--data", str(data), "--format", "csv", "--output",
                str(out / "compacted.csv")).returncode == 0
    assert (out / "compacted.csv").read_bytes() == (out / "c.csv").read_bytes()

    refreshed = _cli("refresh", number, "--data", str(data), user="ivy")
    assert refreshed.returncode == 0, refreshed.stderr
    no_reason = _cli("close", number, "--data", str(data), "--reason", " ", user="quinn")
    assert no_reason.returncode == 1
    closed = _cli("close", number, "--data", str(data), "--reason", "all consignees notified",
                  user="quinn")
    assert closed.returncode == 0, closed.stderr
    twice = _cli("close", number, "--data", str(data), "--reason", "again", user="quinn")
    assert twice.returncode == 1
    assert "is closed" in twice.stderr

    shown = json.loads(_cli("show", number, "--data", str(data), "--format", "json").stdout)
    assert shown["state"] == "closed"
    assert shown["counts"]["units"] == 64  # refreshed: sn:5 too
    assert len(shown["history"]) == 1
    assert shown["history"][0]["counts"]["units"] == 63
    assert shown["signatures"][0]["meaning"] == "responsibility"
    assert shown["signatures"][0]["signer"] == "Quinn (quinn)"
    assert shown["signature_problems"] == []
    drill = shown["drill_report"]
    assert drill["drill"] is True
    assert 0 <= drill["seconds_to_scope"] <= drill["seconds_to_consignee_list"]
    assert drill["seconds_to_notification_ready_export"] is not None
    store = Store(data, writable=False)
    actions = [decode(v)["action"] for _, v in store.audit_records()]
    store.close()
    assert actions.count("recall.open") == 1
    assert actions.count("recall.export") == 8  # the failed one is not recorded
    assert actions.count("recall.refresh") == 1
    assert actions.count("recall.close") == 1
    listed = _cli("list", "--data", str(data))
    assert "closed drill Bad resin lot" in listed.stdout


def test_a_diff_between_two_times(data: Path) -> None:
    opened = _cli("open", "--data", str(data), "--title", "t", "--seeds", "lot:good",
                  user="quinn")
    assert opened.returncode == 0, opened.stderr
    store = Store(data, writable=False)
    first = Cases(store).get(1).as_of
    store.close()
    with LiveStore(data) as live:
        live.ingest(IngestBatch("erp", 5, pl.DataFrame({"key": ["ship:9"],
                                                        "kind": ["shipment"]}),
                                pl.DataFrame({"src": ["lot:fin", "ship:9"],
                                              "dst": ["ship:9", "cust:a"],
                                              "kind": ["shipped", "delivered"],
                                              "quantity": [10.0, None]})))
    later = datetime.now(UTC).isoformat()
    diff = _cli("diff", "1", "--data", str(data), "--as-of", first, "--as-of", later,
                "--format", "json")
    assert diff.returncode == 0, diff.stderr
    assert json.loads(diff.stdout)["units_change"] == 10.0
    assert json.loads(diff.stdout)["by_customer"] == [
        {"customer": "cust:a", "units_before": 20.0, "units_after": 30.0, "change": 10.0}]
    same = _cli("diff", "1", "--data", str(data), "--as-of", first, "--as-of", first,
                "--format", "json")
    assert json.loads(same.stdout)["rows_added"] == 0
    one = _cli("diff", "1", "--data", str(data), "--as-of", first)
    assert one.returncode == 1
    assert "give --as-of twice" in one.stderr


def test_impact_on_a_data_directory_counts_finished_units(data: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "server.cli", "impact", "lot:bad", "--data",
                           str(data), "--format", "json"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    customers = {r["customer"]: (r["quantity"], r["units"])
                 for r in json.loads(done.stdout)["by_customer"]}
    assert customers == {"cust:a": (22.0, 2), "cust:b": (40.0, 0)}


def test_trace_on_a_data_directory_adds_lot_expiry(data: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "server.cli", "trace", "lot:bad", "--data",
                           str(data), "--columns", "serial,expiry,edge_kind", "--format",
                           "json"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    rows = {r["key"]: r for r in json.loads(done.stdout)}
    assert (rows["sn:1"]["expiry"], rows["sn:1"]["edge_kind"]) == ("2028-11-30", "produced")
    assert "lot" not in rows["sn:1"]  # asked for to find the expiry, not shown
