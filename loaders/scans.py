"""Scanner logs -> canonical nodes and edges, through the barcode parser.

A scan log is a table with a `scan` column (what the scanner sent: GS1 element string with or
without AIM prefix and GS, Digital Link, HIBC, ISBT 128), and optionally `parent_scan` (the
container or assembly it went into), `kind` (the edge kind, `packed` by default) and
`scanned_at` (ISO 8601). Each scan becomes a node under the key `loaders.barcodes` gives it
(serial, lot or logistic unit by what the barcode carries); a row with a parent becomes an edge
item -> parent. A scan that is not a valid barcode, or whose reading is ambiguous (a missing GS
separator), is rejected with the parser's reason: a scanner ingest never guesses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from domain.errors import InvalidInput
from domain.schemas import REJECTS_SCHEMA
from loaders.barcodes import Barcode, parse
from loaders.canonical import read_frame

__all__ = ["convert_scans"]


def _node(code: Barcode) -> tuple[str, str] | None:
    if code.key is None:
        return None
    kind = "logistic_unit" if code.sscc else "serial" if code.serial else "lot"
    return code.key, kind


def _reading(text: Any) -> tuple[Barcode | None, str | None]:
    if text is None or not str(text).strip():
        return None, "empty scan"
    code = parse(str(text).replace("{GS}", "\x1d"))
    if code.error:
        return None, f"not a valid barcode: {code.error}"
    if code.confidence == "ambiguous":
        return None, (f"ambiguous without a GS separator ({len(code.alternatives)} other "
                      "readings); rescan or send the separator")
    if code.key is None:
        return None, "the barcode names no item (no GTIN/DI or SSCC)"
    return code, None


def convert_scans(path: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(nodes, edges, rejects) of one scan log."""
    frame = read_frame(path)
    if "scan" not in frame.columns:
        raise InvalidInput(f"{path}: a scan log needs a 'scan' column (it has: "
                           f"{', '.join(frame.columns)})")
    nodes: dict[str, tuple[str, str | None]] = {}
    edges: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for row_number, row in enumerate(frame.iter_rows(named=True), start=1):
        readings = []
        for column in ("scan", "parent_scan"):
            if column == "parent_scan" and not row.get("parent_scan"):
                continue
            code, why = _reading(row.get(column))
            if why is not None:
                rejects.append({"table": "scans", "file": str(path), "row": row_number,
                                "field": column, "reason": why,
                                "record": json.dumps(row, default=str)})
                break
            assert code is not None
            readings.append(code)
        else:
            for code in readings:
                found = _node(code)
                assert found is not None
                nodes.setdefault(found[0], (found[1], code.gtin))
            if len(readings) == 2:
                edges.append({"src": readings[0].key, "dst": readings[1].key,
                              "kind": row.get("kind") or "packed",
                              "event_time": row.get("scanned_at")})
    node_frame = pl.DataFrame({"key": list(nodes), "kind": [k for k, _ in nodes.values()],
                               "product": [p for _, p in nodes.values()]},
                              schema={"key": pl.String, "kind": pl.String, "product": pl.String})
    edge_frame = pl.DataFrame(edges, schema={"src": pl.String, "dst": pl.String,
                                             "kind": pl.String, "event_time": pl.String})
    reject_frame = (pl.DataFrame(rejects).select(REJECTS_SCHEMA.names) if rejects
                    else pl.from_arrow(REJECTS_SCHEMA.empty_table()))
    assert isinstance(reject_frame, pl.DataFrame)
    return node_frame, edge_frame, reject_frame
