"""Master data through the ERP data dictionary: SAP-like customer (KNA1) and material
(MARA/MAKT) exports become customer and product records in the store; a re-import changes
nothing; a changed address is an audit record with the old and the new fields."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from index.master import MasterData
from index.store import Store
from loaders.erp import convert, load_mapping
from trust.audit import decode

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "loaders" / "mappings"
KNA1 = """KUNNR,NAME1,STRAS,ORT01,PSTLZ,REGIO,LAND1,TELF1,SMTP_ADDR
0000100234,St. Mary Hospital,1 Main St,Springfield,62701,IL,US,+1 217 555 0100,qa@stmary.example
0000100235,Klinikum Nord,Hauptstr. 5,Hamburg,20095,,DE,,
0000100236,,Rue de la Paix 2,Paris,75002,,FR,,
"""
MARA = """MATNR,MAKTX,EAN11,MEINS,MTART,ZZ_CLASS
100003,Infusion pump IP-3,14012345100003,EA,FERT,IIb
200001,Pump housing,,EA,HALB,
300007,Resin PC-7,,KG,ROH,
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                          check=False)


def test_customer_and_material_masters_are_imported_and_audited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (tmp_path / "kna1.csv").write_text(KNA1)
    (tmp_path / "mara.csv").write_text(MARA)
    first = _cli("import", "erp", str(tmp_path / "kna1.csv"), "--mapping",
                 str(MAPPINGS / "sap_customers.toml"), "--data", str(data))
    assert first.returncode == 0, first.stderr
    assert "master records added" in first.stdout
    made = _cli("import", "erp", str(tmp_path / "mara.csv"), "--mapping",
                str(MAPPINGS / "sap_materials.toml"), "--data", str(data))
    assert made.returncode == 0, made.stderr
    again = _cli("import", "erp", str(tmp_path / "kna1.csv"), "--mapping",
                 str(MAPPINGS / "sap_customers.toml"), "--data", str(data))
    assert again.returncode == 0, again.stderr
    (tmp_path / "kna1.csv").write_text(KNA1.replace("1 Main St", "9 Elm St"))
    moved = _cli("import", "erp", str(tmp_path / "kna1.csv"), "--mapping",
                 str(MAPPINGS / "sap_customers.toml"), "--data", str(data))
    assert moved.returncode == 0, moved.stderr
    store = Store(data, writable=False)
    try:
        master = MasterData(store)
        mary = master.get("customer", "erp:sap:customer:0000100234")
        assert mary == {"name": "St. Mary Hospital", "street": "9 Elm St",
                        "city": "Springfield", "postal_code": "62701", "region": "IL",
                        "country": "US", "phone": "+1 217 555 0100",
                        "email": "qa@stmary.example"}
        assert "name" not in (master.get("customer", "erp:sap:customer:0000100236") or {})
        pump = master.get("product", "100003")
        assert pump is not None
        assert (pump["gtin"], pump["level"], pump["device_class"]) == (
            "14012345100003", "finished", "IIb")
        assert master.get("product", "300007")["level"] == "component"  # type: ignore[index]
        changes = [decode(v) for _, v in store.audit_records()
                   if decode(v)["action"] == "master.customer"]
        assert len(changes) == 4  # three added, one changed; the unchanged re-import: none
        assert changes[-1]["old"]["street"] == "1 Main St"
        assert changes[-1]["new"]["street"] == "9 Elm St"
    finally:
        store.close()


def test_a_master_rule_names_only_its_kinds_fields(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text((MAPPINGS / "sap_customers.toml").read_text()
                   .replace('phone = "{TELF1}"', 'gtin = "{TELF1}"'))
    with pytest.raises(InvalidInput, match="customer has no field"):
        load_mapping(bad)
    (tmp_path / "kna1.csv").write_text(KNA1)
    converted = convert(load_mapping(MAPPINGS / "sap_customers.toml"), [tmp_path / "kna1.csv"])
    assert converted.master.height == 3
    assert converted.nodes.height == 0


def test_batch_master_gives_lots_their_expiry(tmp_path: Path) -> None:
    (tmp_path / "mch1.csv").write_text("MATNR,CHARG,VFDAT,HSDAT,LICHA,ZUSTD\n"
                                       "100003,0000004711,20271231,20250110,SUP-77,\n"
                                       "100003,0000004712,,20250111,,X\n")
    done = _cli("import", "erp", str(tmp_path / "mch1.csv"), "--mapping",
                str(MAPPINGS / "sap_batches.toml"), "--data", str(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    store = Store(tmp_path / "data", writable=False)
    try:
        master = MasterData(store)
        assert master.get("lot", "erp:sap:lot:100003:0000004711") == {
            "expiry": "2027-12-31", "production_date": "2025-01-10", "supplier_lot": "SUP-77"}
        assert master.get("lot", "erp:sap:lot:100003:0000004712") == {
            "production_date": "2025-01-11", "status": "X"}
    finally:
        store.close()
