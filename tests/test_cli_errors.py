"""Every CLI error is one line and a non-zero exit, and leaves nothing behind: run as a user
runs it, on real files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True,
                          text=True, env=ENV, timeout=120, check=False, cwd=cwd)


def _one_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("tracegraph:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ragged.csv").write_text("key,kind\na,lot\nb,serial,extra\n")
    (tmp_path / "edges.csv").write_text("src,dst,kind\na,b,consumed\n")
    (tmp_path / "nodes.csv").write_text("key,kind\na,lot\nb,serial\n")
    pq.write_table(pa.table({"key": [["a"]], "kind": ["lot"]}), tmp_path / "list.parquet")
    (tmp_path / "notepcis.json").write_text('{"hello": 1}')
    return tmp_path


@pytest.mark.parametrize(("args", "says"), [
    (["build", "--nodes", "ragged.csv", "--edges", "edges.csv", "--data", "new"],
     "ragged.csv: cannot read"),
    (["ingest", "--data", "new", "ragged.csv"], "ragged.csv: cannot read"),
    (["build", "--nodes", "list.parquet", "--edges", "edges.csv", "--data", "new"],
     "column key is List"),
    (["import", "epcis", ".", "--data", "new"], "not a file"),
])
def test_bad_input_is_one_line_and_leaves_no_directory(files: Path, args: list[str],
                                                       says: str) -> None:
    line = _one_error(_cli(*args, cwd=files))
    assert says in line
    assert not (files / "new").exists()


def test_a_file_that_is_not_epcis_fails_the_import(files: Path) -> None:
    result = _cli("import", "epcis", "notepcis.json", "--data", "new", "--no-check", cwd=files)
    assert "1 record(s) rejected" in _one_error(result, code=3)


def test_output_into_a_missing_directory(files: Path) -> None:
    assert _cli("build", "--nodes", "nodes.csv", "--edges", "edges.csv", "--data", "d",
                cwd=files).returncode == 0
    line = _one_error(_cli("trace", "a", "--data", "d", "--format", "csv", "-o",
                           "missing/out.csv", cwd=files))
    assert "missing/out.csv" in line


def test_a_second_build_into_a_directory_is_refused(files: Path) -> None:
    from index.dirlock import lock_directory

    held = lock_directory(files / "d", "build")
    try:
        line = _one_error(_cli("build", "--nodes", "nodes.csv", "--edges", "edges.csv",
                               "--data", "d", cwd=files))
        assert "already open for writing by pid" in line
        assert "(build)" in line
    finally:
        held.close()


def test_serve_on_a_bad_host_or_a_busy_port(files: Path) -> None:
    assert _cli("build", "--nodes", "nodes.csv", "--edges", "edges.csv", "--data", "d",
                cwd=files).returncode == 0
    line = _one_error(_cli("serve", "--data", "d", "--host", "999.1.1.1", cwd=files))
    assert "not an address of this machine" in line
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = _one_error(_cli("serve", "--data", "d", "--port", str(port), cwd=files))
        assert f"port {port} on 127.0.0.1 is in use" in line


def test_parse_barcode_escapes_control_characters() -> None:
    result = _cli("parse-barcode", "]d2010950600013435210A\x07B\x1d17251231")
    assert result.returncode == 0
    assert "\x07" not in result.stdout
    assert "\x1d" not in result.stdout
    assert "\\x07" in result.stdout
