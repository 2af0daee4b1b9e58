"""Scanner logs through the barcode parser into a live store: keys as the parser gives them,
packing edges, and scans that are invalid or ambiguous rejected with the parser's reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
LOG = """scan,parent_scan,kind,scanned_at
]d2010952012345678821SN0001,(00)106141412345678908,packed,2025-05-01T10:00:00Z
https://id.gs1.org/01/09520123456788/21/SN0002,]C100106141412345678908,packed,2025-05-01T10:01:00Z
+A99912345/$$52001510X33,(00)106141412345678908,packed,2025-05-01T10:02:00Z
010952012345678810032915210526,(00)106141412345678908,packed,2025-05-01T10:03:00Z
not-a-barcode,,,
"""


def test_a_scan_log_becomes_packing_edges(tmp_path: Path) -> None:
    log = tmp_path / "scans.csv"
    log.write_text(LOG)
    data = tmp_path / "data"
    run = subprocess.run([sys.executable, "-m", "server.cli", "import", "scans", str(log),
                          "--data", str(data), "--no-check"], capture_output=True, text=True,
                         env=ENV, check=False, timeout=120)
    # Two scans are rejected (kept with their reasons): exit 3, with what loaded.
    assert run.returncode == 3, run.stderr
    assert "2 record(s) rejected, 4 nodes and 3 edges loaded" in run.stderr
    graph = engine.open(data)
    pallet = "urn:epc:id:sscc:0614141.1234567890"
    inside = set(graph.trace(pallet, "upstream").column("key").to_pylist())
    assert inside == {"urn:epc:id:sgtin:952012.0345678.SN0001",
                      "urn:epc:id:sgtin:952012.0345678.SN0002",
                      "hibc:A99912345:lot:10X3"}
    listed = subprocess.run([sys.executable, "-m", "server.cli", "rejects", "--data", str(data),
                             "--format", "json"], capture_output=True, text=True, env=ENV,
                            check=False, timeout=120)
    reasons = {r["row"]: r["reason"] for r in json.loads(listed.stdout)}
    assert reasons[4].startswith("ambiguous without a GS separator")
    assert reasons[5].startswith("not a valid barcode")
