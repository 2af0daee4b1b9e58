"""The data-quality report finds each kind of problem planted in a small genealogy (built base
plus live ingest), stays quiet on a clean synthetic genealogy, and renders as JSON and HTML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl

import engine
from engine.quality import check_graph
from index.build import build_from_files
from index.ingest import IngestBatch
from index.live import LiveStore
from tests.conftest import T0, write_tables

ROOT = Path(__file__).resolve().parents[1]


def _planted(root: Path) -> Path:
    nodes = [
        {"key": "lot:big", "kind": "lot", "quantity": 100.0},
        {"key": "wo:1", "kind": "work_order"}, {"key": "wo:2", "kind": "work_order"},
        {"key": "sn:1", "kind": "serial"}, {"key": "case:1", "kind": "logistic_unit"},
        {"key": "case:2", "kind": "logistic_unit"}, {"key": "lonely", "kind": "lot"},
        {"key": "sn:r", "kind": "serial"}, {"key": "wo:r", "kind": "work_order"},
    ]
    at = [T0 + timedelta(hours=h) for h in range(10)]
    edges = [
        {"src": "lot:big", "dst": "wo:1", "kind": "consumed", "event_time": at[1],
         "quantity": 70.0},
        {"src": "lot:big", "dst": "wo:2", "kind": "consumed", "event_time": at[2],
         "quantity": 50.0},  # 120 of 100 consumed
        {"src": "wo:1", "dst": "sn:1", "kind": "produced", "event_time": at[5]},
        {"src": "sn:1", "dst": "case:1", "kind": "packed", "event_time": at[3]},  # backwards
        {"src": "wo:1", "dst": "sn:r", "kind": "produced", "event_time": at[5]},
        {"src": "sn:r", "dst": "wo:r", "kind": "reworked", "event_time": at[6]},
        {"src": "wo:r", "dst": "sn:r", "kind": "reworked", "event_time": at[7]},  # a cycle
        {"src": "nobody", "dst": "sn:1", "kind": "consumed"},  # rejected: unknown node
    ]
    paths = write_tables(root / "in", nodes, edges)
    build_from_files([paths[0]], [paths[1]], root / "data")
    with LiveStore(root / "data") as live:  # the second case arrives live
        ack = live.ingest(IngestBatch("scan", 1, None, pl.DataFrame({
            "src": ["sn:1"], "dst": ["case:2"], "kind": ["packed"],
            "event_time": [(T0 + timedelta(hours=8)).isoformat()]})))
        assert ack.outcome == "applied"
    return root / "data"


def test_each_planted_problem_is_found(tmp_path: Path) -> None:
    data = _planted(tmp_path)
    graph = engine.open(data)
    report = check_graph(graph, graph.snapshot.rejects.to_pylist())
    found = {f.check: f for f in report.findings}
    assert [e["key"] for e in found["orphans"].examples] == ["lonely"]
    assert found["cycles"].count == 1
    assert sorted(found["cycles"].examples[0]["keys"]) == ["sn:r", "wo:r"]
    assert found["serial_in_two_places"].count == 1
    assert sorted(found["serial_in_two_places"].examples[0]["parents"]) == ["case:1", "case:2"]
    backwards = found["time_runs_backwards"]
    assert backwards.count == 1
    assert (backwards.examples[0]["src"], backwards.examples[0]["dst"]) == ("sn:1", "case:1")
    assert found["lot_over_consumed"].examples == [
        {"key": "lot:big", "quantity": 100.0, "consumed": 120.0}]
    assert found["unknown_references"].count == 1
    assert "nobody" in found["unknown_references"].examples[0]["reason"]
    assert found["rejected_records"].count == 1


def test_a_clean_synthetic_genealogy_has_no_errors(small_graph: engine.Graph) -> None:
    report = check_graph(small_graph, small_graph.snapshot.rejects.to_pylist())
    errors = {f.check: f.count for f in report.findings if f.severity == "error"}
    assert errors == {"serial_in_two_places": 0, "time_runs_backwards": 0,
                      "lot_over_consumed": 0, "unknown_references": 0}
    assert report.edges == small_graph.edge_count


def test_cli_writes_json_and_html(tmp_path: Path) -> None:
    data = _planted(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "server.cli", "check", "--data", str(data),
                          "--format", "json"], capture_output=True, text=True, env=env,
                         check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    counts = {f["check"]: f["count"] for f in json.loads(run.stdout)["findings"]}
    assert counts["time_runs_backwards"] == 1
    page = tmp_path / "quality.html"
    run = subprocess.run([sys.executable, "-m", "server.cli", "check", "--data", str(data),
                          "--format", "html", "--output", str(page)], capture_output=True,
                         text=True, env=env, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    text = page.read_text()
    assert text.startswith("<!doctype html>")
    assert "Lots consumed beyond their quantity (1)" in text
    assert "<code>lot:big</code>" in text


def test_the_html_report_is_stamped_and_honest(tmp_path: Path) -> None:
    import re

    from server.report import render_html

    data = _planted(tmp_path)
    graph = engine.open(data)
    # A customer nothing was shipped to yet is master data, not an orphan.
    with LiveStore(data) as live:
        assert live.ingest(IngestBatch("md", 1, pl.DataFrame({
            "key": ["cust:new"], "kind": ["customer"]}))).outcome == "applied"
    graph = engine.open(data)
    rejects = [{"reason": f"reason {i % 25}"} for i in range(60)]
    report = check_graph(graph, rejects)
    found = {f.check: f for f in report.findings}
    assert [e["key"] for e in found["orphans"].examples] == ["lonely"]
    page = render_html(report, str(data))
    stats = graph.stats()
    assert f"snapshot version {stats['version']}, log sequence {stats['log_sequence']}" in page
    assert re.search(r"by tracegraph \d+\.\d+", page)
    # 60 records under 25 reasons: 20 reasons shown of 25, not "of 60".
    assert "Showing 20 of 25." in page
    # A check that found nothing is "ok", never styled as an error.
    zero = next(f for f in report.findings if f.count == 0 and f.severity == "error")
    assert f'<h2 id="{zero.check}" class="ok">' in page
    assert f'<h2 id="{zero.check}" class="error">' not in page
