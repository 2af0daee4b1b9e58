"""The command line, run the way a user runs it: real files, real snapshot, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from server.cli import main

SCRIPT = [sys.executable, "-m", "server.cli"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    assert main(["generate", "--units", "400", "--seed", "3", "--out", str(root / "src")]) == 0
    assert main(["build", "--nodes", str(root / "src" / "nodes.parquet"),
                 "--edges", str(root / "src" / "edges.parquet"),
                 "--data", str(root / "data")]) == 0
    return root / "data"


def _first(data_dir: Path, prefix: str) -> str:
    keys = pq.read_table(data_dir.parent / "src" / "nodes.parquet", columns=["key"])
    return next(k for k in keys.column("key").to_pylist() if k.startswith(prefix))


def test_trace_formats_agree(data_dir: Path, capsys: pytest.CaptureFixture[str],
                             tmp_path: Path) -> None:
    unit = _first(data_dir, "urn:epc:id:sgtin:4012345.11")
    assert main(["trace", unit, "--data", str(data_dir), "--direction", "upstream",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows
    assert {"key", "kind", "depth"} <= set(rows[0])
    assert main(["trace", unit, "--data", str(data_dir), "--direction", "upstream",
                 "--format", "csv"]) == 0
    csv_rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["key"] for r in csv_rows] == [r["key"] for r in rows]
    out = tmp_path / "up.parquet"
    assert main(["trace", unit, "--data", str(data_dir), "--direction", "upstream",
                 "--format", "parquet", "-o", str(out)]) == 0
    assert pq.read_table(out).column("key").to_pylist() == [r["key"] for r in rows]
    assert main(["trace", unit, "--data", str(data_dir), "--direction", "upstream"]) == 0
    terminal = capsys.readouterr().out
    assert "rows" in terminal
    assert "kind" in terminal


def test_other_verbs(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unit = _first(data_dir, "urn:epc:id:sgtin:4012345.11")
    lot = _first(data_dir, "urn:epc:class:lgtin:0614141.1090")
    assert main(["hourglass", unit, "--data", str(data_dir), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["direction"] for r in rows} == {"upstream", "downstream"}
    assert main(["impact", lot, "--data", str(data_dir), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["seeds"] == 1
    assert summary["affected"] > 0
    assert summary["by_customer"]
    assert main(["path", lot, unit, "--data", str(data_dir), "--format", "json"]) == 0
    chain = json.loads(capsys.readouterr().out)
    assert chain[0]["key"] == lot
    assert chain[-1]["key"] == unit
    assert main(["stats", "--data", str(data_dir), "--format", "json", "--verify"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["nodes"] > 0


def test_impact_reads_a_keys_file(data_dir: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    lot = _first(data_dir, "urn:epc:class:lgtin:0614141.1090")
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{lot}\n\n")
    assert main(["impact", "--keys-file", str(keys), "--data", str(data_dir), "--rows",
                 "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) > 2


def test_errors_are_one_line_and_exit_nonzero(data_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    cases = [
        (["trace", "no-such-key", "--data", str(data_dir)], "unknown node key 'no-such-key'"),
        (["trace", "x", "--data", str(tmp_path / "nowhere")], "no such data directory"),
        (["trace", "x", "--data", str(data_dir), "--direction", "up"], "direction 'up'"),
        (["build", "--nodes", str(tmp_path / "n.csv"), "--edges", str(tmp_path / "e.csv"),
          "--data", str(tmp_path / "d")], "no such file"),
    ]
    for argv, message in cases:
        result = subprocess.run([*SCRIPT, *argv], capture_output=True, text=True, env=env,
                                check=False)
        assert result.returncode == 1, (argv, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("tracegraph: error: ")]
        assert errors == lines[-1:], result.stderr  # one error line, last (progress before it)
        assert message in errors[0]
        assert "Traceback" not in result.stderr
    usage = subprocess.run([*SCRIPT, "trace"], capture_output=True, text=True, env=env,
                           check=False)
    assert usage.returncode == 2


def test_parquet_without_output_is_an_error(data_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    unit = _first(data_dir, "urn:epc:id:sgtin:4012345.11")
    assert main(["trace", unit, "--data", str(data_dir), "--format", "parquet"]) == 1
    assert "--format parquet needs --output" in capsys.readouterr().err


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "COLUMNS": "120"}
    result = subprocess.run([*SCRIPT, "demo", "--units", "2000", "--work", str(tmp_path)],
                            capture_output=True, text=True, env=env, check=False, timeout=600)
    assert result.returncode == 0, result.stderr
    for step in ("generate", "build the snapshot", "downstream (where-used)",
                 "upstream (where-from)", "impact of recalling", "quality records",
                 "device history record of urn:epc:id:sgtin:", "nonconformance",
                 "quality KPIs per month", "the investigator's web app",
                 "http://127.0.0.1:8080/trace?key=urn:epc:class:lgtin:"):
        assert step in result.stdout
    assert "ms" in result.stdout


def test_impact_writes_real_csv_and_parquet_with_the_summary(
        data_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import engine

    lot = _first(data_dir, "urn:epc:class:lgtin:0614141.1090")
    expected = engine.open(data_dir).impact([lot])
    assert main(["impact", lot, "--data", str(data_dir), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == ["section", "key", "kind", "nodes", "quantity", "unknown_quantity",
                             "units", "shipments", "depth"]
    by_kind = {r["kind"]: int(r["nodes"]) for r in rows if r["section"] == "by_kind"}
    assert by_kind == {r["kind"]: r["nodes"] for r in expected.by_kind.to_pylist()}
    customers = {r["key"]: (float(r["quantity"]), int(r["units"]), int(r["shipments"]))
                 for r in rows if r["section"] == "by_customer"}
    assert customers == {r["customer"]: (r["quantity"], r["units"], r["shipments"])
                         for r in expected.by_customer.to_pylist()}
    assert not [r for r in rows if r["section"] == "rows"]

    out = tmp_path / "impact.parquet"
    assert main(["impact", lot, "--data", str(data_dir), "--format", "parquet", "--rows",
                 "-o", str(out)]) == 0
    table = pq.read_table(out)
    sections = table.column("section").to_pylist()
    assert sections.count("rows") == expected.affected
    assert sections.count("by_shipment") == expected.by_shipment.num_rows
    assert set(table.filter(table.column("section").to_numpy(zero_copy_only=False) == "rows")
               .column("key").to_pylist()) == set(expected.rows.column("key").to_pylist())

    assert main(["impact", lot, "--data", str(data_dir), "--format", "json", "--rows"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert both["affected"] == expected.affected
    assert both["by_kind"]
    assert len(both["rows"]) == expected.affected


def test_events_of_an_unknown_key_is_an_error_with_suggestions(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unit = _first(data_dir, "urn:epc:id:sgtin:4012345.11")
    assert main(["events", unit[:-1] + "x", "--data", str(data_dir)]) == 1
    message = capsys.readouterr().err
    assert "unknown node key" in message
    assert "did you mean" in message


def test_every_verb_reads_a_scanned_barcode_as_its_key(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from loaders.barcodes import parse

    unit = _first(data_dir, "urn:epc:id:sgtin:4012345.11")
    # urn:epc:id:sgtin:4012345.1ITEM.SERIAL -> its GTIN and serial as a Digital Link and a scan
    company, item, serial = unit.removeprefix("urn:epc:id:sgtin:").split(".")
    body = item[0] + company + item[1:]
    check = (10 - sum(int(d) * (3 if i % 2 == 0 else 1)
                      for i, d in enumerate(reversed(body))) % 10) % 10
    gtin = body + str(check)
    link, scan = f"https://id.gs1.org/01/{gtin}/21/{serial}", f"]d201{gtin}21{serial}"
    assert parse(link).key == parse(scan).key == unit
    outputs = []
    for form in (unit, link, scan):
        assert main(["trace", form, "--data", str(data_dir), "--direction", "upstream",
                     "--format", "json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0]
    assert main(["events", link, "--data", str(data_dir)]) == 0


def test_an_ambiguous_scan_is_an_error_listing_its_readings(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "010950600013435210ABC12321456", "--data", str(data_dir)]) == 1
    message = capsys.readouterr().err
    assert "reads more than one way" in message
    assert "lgtin" in message


def test_every_option_with_a_default_states_it_in_help() -> None:
    import argparse

    from server.cli_args import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for name, command in commands.choices.items():
        text = " ".join(command.format_help().split())
        for action in command._actions:
            if not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
                continue
            checked += 1
            assert f"(default: {action.default})" in text, (name, action.option_strings)
    assert checked >= 15


def test_first_use_says_it_compiles_kernels_once(
        data_dir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import engine

    lot = _first(data_dir, "urn:epc:class:lgtin:0614141.1090")
    assert main(["trace", lot, "--data", str(data_dir), "--format", "csv"]) == 0
    assert engine.kernels_compiled()  # cached on disk (domain.kernel_cache)
    assert "compiling" not in capsys.readouterr().err
    monkeypatch.setattr(engine, "kernels_compiled", lambda: False)
    assert main(["trace", lot, "--data", str(data_dir), "--format", "csv"]) == 0
    assert "compiling query kernels, once per install" in capsys.readouterr().err


def test_build_shows_one_progress_bar_not_a_line_per_batch(tmp_path: Path) -> None:
    assert main(["generate", "--units", "400", "--seed", "5", "--out", str(tmp_path / "s")]) == 0
    run = subprocess.run([*SCRIPT, "build", "--nodes", str(tmp_path / "s" / "nodes.parquet"),
                          "--edges", str(tmp_path / "s" / "edges.parquet"), "--data",
                          str(tmp_path / "d")], capture_output=True, text=True, check=False,
                         timeout=120, env={**os.environ, "COLUMNS": "120"})
    assert run.returncode == 0, run.stderr
    assert "resolved" not in run.stderr
    assert run.stderr.count("build: done in") == 1


def test_times_have_one_format_in_every_output(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import re

    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00")
    any_time = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[^\",\s│]*")
    unit = _first(data_dir, "urn:epc:id:sgtin:4012345.11")
    lot = _first(data_dir, "urn:epc:class:lgtin:0614141.1090")
    # path rows carry event times; stats carries the snapshot's time
    outputs = []
    for fmt in ("csv", "json", "table"):
        assert main(["path", lot, unit, "--data", str(data_dir), "--format", fmt]) == 0
        outputs.append(capsys.readouterr().out)
    assert main(["stats", "--data", str(data_dir), "--format", "json"]) == 0
    outputs.append(capsys.readouterr().out)
    times = [t for text in outputs for t in any_time.findall(text)]
    assert len(times) >= 4
    assert [t for t in times if not iso.fullmatch(t)] == []


def test_a_terminal_table_never_cuts_a_key(data_dir: Path) -> None:
    import pyarrow as pa
    from rich.console import Console

    from server.output import emit_table

    long_key = "urn:epc:id:sgtin:4012345.110003.000000000000000000000000000000000001"
    printed = io.StringIO()
    emit_table(pa.table({"key": [long_key], "kind": ["serial"], "depth": [3]}), "table", None,
               title=f"upstream of {long_key}", console=Console(width=40, file=printed))
    text = printed.getvalue()
    assert text.count(long_key) == 2  # the title and the row, both whole


def test_the_terminal_table_shows_floats_to_four_decimals() -> None:
    """A KPI of 0.9894710866 reads 0.9895 in the terminal (CSV and JSON keep every digit);
    whole numbers lose the zeros; NaN, infinities and huge values print as they are."""
    import pyarrow as pa
    from rich.console import Console

    from server.output import emit_table

    table = pa.table({"yield": [0.9894710866, 2.0, -0.00001, float("nan"), 1234.56789],
                      "n": [1, 2, 3, 4, 5]})
    console = Console(record=True, width=120)
    emit_table(table, "table", None, console=console)
    text = console.export_text()
    for shown in ("0.9895", "│ 2 ", "│ 0 ", "nan", "1,234.5679"):
        assert shown in text
    assert "0.9894710866" not in text
