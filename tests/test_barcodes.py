"""Barcode parsing against the shared UDI vectors (GS1 syntax-engine, biip, HIBCC and GUDID
examples, written outside this project), plus ambiguity, canonical keys and the CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loaders.barcodes import parse
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
VECTORS = SHARED / "testdata" / "barcodes" / "udi_core_vectors.csv"
with VECTORS.open(newline="") as handle:
    ROWS = list(csv.DictReader(handle))
FIELDS = {"gtin_or_di": "gtin", "lot": "lot", "serial": "serial", "expiry": "expiry",
          "prod_date": "production_date", "sscc": "sscc"}


def test_all_vectors_are_here() -> None:
    assert len(ROWS) == 174


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_udi_core_vector(row: dict[str, str]) -> None:
    result = parse(row["input"].replace("{GS}", "\x1d"))
    if row["expect_valid"] == "false":
        assert result.error, f"{row['input']!r} should be rejected"
        assert result.key is None
        return
    assert result.error is None, result.error
    for column, name in FIELDS.items():
        assert getattr(result, name) == (row[column] or None), name
    # A key needs an identity: a GTIN/DI or an SSCC (a lone lot or date has none).
    assert bool(result.key) == bool(result.gtin or result.sscc)
    assert result.agency in ("GS1", "HIBCC", "ICCBBA")


def test_a_missing_separator_is_flagged_with_the_other_readings() -> None:
    result = parse("010703206980498810032915210526")
    assert result.lot == "032915210526"  # the standard's reading: the lot runs to the end
    assert result.confidence == "ambiguous"
    assert {"lot": "0329"}.items() <= next(a for a in result.alternatives
                                           if a["lot"] == "0329").items()
    with_gs = parse("0107032069804988100329\x1d15210526")
    assert (with_gs.lot, with_gs.confidence, with_gs.alternatives) == ("0329", "certain", [])


def test_the_same_item_gets_the_same_key_in_every_form() -> None:
    forms = ["(01)09520123456788(21)ABC123",
             "]d2010952012345678821ABC123",
             "https://id.gs1.org/01/09520123456788/21/ABC123",
             "https://example.com/some/prefix/01/09520123456788/21/ABC123"]
    keys = {parse(text).key for text in forms}
    assert keys == {"urn:epc:id:sgtin:952012.0345678.ABC123"}
    assert parse("https://id.gs1.org/01/09520123456788/10/LOT7").key == \
        "urn:epc:class:lgtin:952012.0345678.LOT7"


def test_hibc_check_character_is_verified() -> None:
    assert parse("+A99912345/$$52001510X33").error is None
    assert "check character" in (parse("+A99912345/$$52001510X34").error or "")


def test_cli_prints_one_result_per_input_in_order(tmp_path: Path) -> None:
    lines = "+A99912345/$$52001510X33\nnot a barcode\n(01)09520123456788(17)251231\n"
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "parse-barcode", "-", "--format", "json"],
        input=lines, capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [r["input"] for r in out] == lines.splitlines()
    assert out[0]["lot"] == "10X3"
    assert out[1]["error"]
    assert out[2]["expiry"] == "2025-12-31"


@pytest.mark.parametrize("aim", ["]d2", "]C1", "]Q3", "]e0", "]J1"])
def test_a_symbology_identifier_does_not_change_the_verdict(aim: str) -> None:
    data = "010950600013435210ABC12321456"  # lot runs to the end; its tail reads as (21)
    bare, prefixed = parse(data), parse(aim + data)
    assert bare.confidence == "ambiguous"
    assert (prefixed.confidence, prefixed.key, prefixed.lot, prefixed.alternatives) == \
        (bare.confidence, bare.key, bare.lot, bare.alternatives)


def test_a_wrong_check_digit_reads_alike_in_every_form() -> None:
    forms = ["(01)09506000134353(10)ABC", "010950600013435310ABC", "]d2010950600013435310ABC",
             "https://id.gs1.org/01/09506000134353/10/ABC"]
    results = [parse(text) for text in forms]
    assert {(r.confidence, tuple(r.warnings), r.key) for r in results} == {(
        "unverified", ("Invalid GTIN check digit for '09506000134353': Expected 2, got 3.",),
        "https://id.gs1.org/01/09506000134353/10/ABC")}


def test_digital_link_qualifiers_out_of_order_say_so() -> None:
    result = parse("https://id.gs1.org/01/09506000134352/21/X/10/ABC")
    assert result.error is not None
    assert "not in GS1's order" in result.error
    assert "22/10/21" in result.error
