"""`find` and seeds by what people have in hand, on a real live store: scanned barcodes (the
external UDI vectors in ../shared/testdata), GTIN + lot or serial typed apart, ERP material +
batch with and without leading zeros, delivery numbers, key beginnings; an ambiguous seed is
an error listing the candidates."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from domain.errors import InvalidInput
from engine import Graph
from index.ingest import IngestBatch
from index.live import LiveStore
from loaders.barcodes import parse
from recall.find import find
from server.seeds import resolve_seed
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
VECTORS = SHARED / "testdata" / "barcodes" / "udi_core_vectors.csv"
KEYS = {
    "urn:epc:class:lgtin:4012345.011111.L42": "lot",
    "urn:epc:id:sgtin:4012345.011111.900017": "serial",
    "urn:epc:id:sgtin:4012345.011111.900018": "serial",
    "erp:sap:lot:000000000000100003:0000004711": "lot",
    "erp:sap:serial:000000000000100003:77": "serial",
    "erp:sap:shipment:0080001013": "shipment",
    "erp:sap:work_order:1000234": "work_order",
}


def _scanned() -> list[dict[str, str]]:
    """Valid vectors (GS1 element strings, scan data with AIM prefixes, Digital Link URIs,
    HIBC, HRI) that name one lot or serial."""
    rows = list(csv.DictReader(VECTORS.read_text().splitlines()))
    out = []
    for r in rows:
        if r["expect_valid"] != "true" or not (r["lot"] or r["serial"]):
            continue
        reading = parse(r["input"].replace("{GS}", "\x1d"))
        if reading.key and reading.confidence == "certain" and "idpat" not in reading.key:
            out.append({**r, "key": reading.key})
    return out


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[Graph]:
    scanned = {r["key"]: "lot" for r in _scanned()}
    nodes = {**KEYS, **scanned}
    with LiveStore(tmp_path / "data") as live:
        live.ingest(IngestBatch("t", 1, pl.DataFrame({"key": list(nodes),
                                                      "kind": list(nodes.values())})))
        yield Graph(live.view().snapshot, live.view)


def test_every_scanned_vector_finds_its_node(graph: Graph) -> None:
    vectors = _scanned()
    assert len(vectors) >= 10
    for row in vectors:
        found = find(graph.view(), row["input"])
        assert [c.key for c in found] == [row["key"]], row["id"]
        assert found[0].why.startswith("barcode: "), row["id"]


@pytest.mark.parametrize(("text", "key", "why"), [
    ("urn:epc:id:sgtin:4012345.011111.900017", "urn:epc:id:sgtin:4012345.011111.900017",
     "the key itself"),
    ("04012345111118 L42", "urn:epc:class:lgtin:4012345.011111.L42",
     "GTIN 04012345111118 + lot L42"),
    ("04012345111118/900017", "urn:epc:id:sgtin:4012345.011111.900017",
     "GTIN 04012345111118 + serial 900017"),
    ("https://id.gs1.org/01/04012345111118/21/900018", "urn:epc:id:sgtin:4012345.011111.900018",
     "barcode: GTIN 04012345111118 + serial 900018"),
    ("100003 4711", "erp:sap:lot:000000000000100003:0000004711",
     "sap material 100003 + batch 4711"),
    ("000000000000100003 0000004711", "erp:sap:lot:000000000000100003:0000004711",
     "sap material 000000000000100003 + batch 0000004711"),
    ("100003 77", "erp:sap:serial:000000000000100003:77", "sap material 100003 + serial 77"),
    ("80001013", "erp:sap:shipment:0080001013", "sap delivery 80001013"),
    ("1000234", "erp:sap:work_order:1000234", "sap order 1000234"),
])
def test_what_people_type_finds_one_node(graph: Graph, text: str, key: str, why: str) -> None:
    found = find(graph.view(), text)
    assert [(c.key, c.why) for c in found] == [(key, why)]
    assert resolve_seed(graph, text) == key


def test_a_beginning_lists_keys_and_an_ambiguous_seed_is_refused(graph: Graph) -> None:
    found = find(graph.view(), "urn:epc:id:sgtin:4012345.011111.9000")
    assert [c.key for c in found] == ["urn:epc:id:sgtin:4012345.011111.900017",
                                      "urn:epc:id:sgtin:4012345.011111.900018"]
    assert found[0].kind == "serial"
    assert [c.key for c in find(graph.view(), "04012345111118")][:1] == [
        "urn:epc:class:lgtin:4012345.011111.L42"]  # a GTIN alone: its lots and serials
    with pytest.raises(InvalidInput, match="names 3 nodes"):
        resolve_seed(graph, "04012345111118")
    assert find(graph.view(), "nothing-like-this") == []
    assert resolve_seed(graph, "nothing-like-this") == "nothing-like-this"  # unknown later


def test_the_find_command(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    data = tmp_path / "cli"
    with LiveStore(data) as live:
        live.ingest(IngestBatch("t", 1, pl.DataFrame({"key": list(KEYS),
                                                      "kind": list(KEYS.values())})))
    done = subprocess.run([sys.executable, "-m", "server.cli", "find", "100003 4711", "--data",
                           str(data), "--format", "json"], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert '"erp:sap:lot:000000000000100003:0000004711"' in done.stdout
    none = subprocess.run([sys.executable, "-m", "server.cli", "find", "zzz-none", "--data",
                           str(data)], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert none.returncode == 1
    assert "nothing matches" in none.stderr
    traced = subprocess.run([sys.executable, "-m", "server.cli", "trace", "04012345111118",
                             "--data", str(data)], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    assert traced.returncode == 1
    assert "names 3 nodes" in traced.stderr
