"""Readable, re-verifiable copies of one entity's record (21 CFR 11.10(b)): its attributes, its
genealogy upstream and downstream, every audit record naming it (with an RFC 6962 inclusion
proof against the root of the whole trail at export time) and every correction of it with its
signatures. As JSON lines (`verify_export` re-checks every proof, and the root against a
signed checkpoint when given one) or as a printable HTML page or PDF."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import engine
from index.store import Store
from server.pdf import PdfDocument
from trust.audit import decode, iso_ms
from trust.changes import describe, keys_of
from trust.corrections import Corrections
from trust.merkle import Tree, leaf_hash, root_from_proof

__all__ = ["export_entity", "render_html", "render_pdf", "verify_export"]

GENEALOGY_ROWS_SHOWN = 1000  # a printed copy shows this many rows per direction


def export_entity(data_dir: Path, key: str) -> list[dict[str, Any]]:
    """The lines of an export of `key` (header first)."""
    graph = engine.open(data_dir)
    node = graph.node(key)  # an unknown key is an error, with suggestions
    store = Store(data_dir, writable=False)
    try:
        records = list(store.audit_records())
        tree = Tree([leaf_hash(data) for _, data in records])
        naming = [(seq, data) for seq, data in records if key in decode(data)["keys"]]
        corrections = [c for c in Corrections(store).all() if key in keys_of(c.change)]
    finally:
        store.close()
    lines: list[dict[str, Any]] = [{
        "type": "header", "key": key, "generated_at": iso_ms(datetime.now(UTC)),
        "audit_records": tree.size, "audit_root": tree.root.hex(),
        "log_sequence": graph.log_sequence, "snapshot_version": graph.snapshot.version}]
    lines.append({"type": "node", **{k: (v.isoformat() if isinstance(v, datetime) else v)
                                     for k, v in node.items()}})
    for direction in ("upstream", "downstream"):
        rows = graph.trace(key, direction, via=True)
        lines.append({"type": "genealogy", "direction": direction, "rows": [
            {"key": r["key"], "kind": r["kind"], "depth": r["depth"], "via": r["via"]}
            for r in rows.to_pylist()]})
    for seq, data in naming:
        lines.append({"type": "audit", "seq": seq, "record": data.decode("utf-8"),
                      "proof": [h.hex() for h in tree.proof(seq - 1)]})
    for correction in corrections:
        lines.append({"type": "correction", "id": correction.id,
                      "record": correction.encode().decode("utf-8"),
                      "signature_problems": Corrections.signature_problems(correction)})
    return lines


def verify_export(lines: Iterable[dict[str, Any]], checkpoint: dict[str, Any] | None = None
                  ) -> list[str]:
    """What is wrong with an export (empty: every audit record in it is, byte for byte, in
    the trail whose root the header names; and that root is the checkpoint's, when a signed
    checkpoint of the same size is given)."""
    problems: list[str] = []
    header: dict[str, Any] | None = None
    for line in lines:
        if line.get("type") == "header":
            header = line
        elif line.get("type") == "audit":
            if header is None:
                return ["the export has no header"]
            data = line["record"].encode("utf-8")
            try:
                found = root_from_proof(line["seq"] - 1, header["audit_records"],
                                        leaf_hash(data), [bytes.fromhex(h)
                                                          for h in line["proof"]])
            except ValueError as e:
                problems.append(f"audit record {line['seq']}: {e}")
                continue
            if found.hex() != header["audit_root"]:
                problems.append(f"audit record {line['seq']} is not the record the trail holds "
                                "(its proof leads to another root)")
    if header is None:
        return ["the export has no header"]
    if checkpoint is not None:
        if checkpoint["size"] != header["audit_records"]:
            problems.append(f"the checkpoint signs {checkpoint['size']} records, the export's "
                            f"root is of {header['audit_records']}: use the checkpoint of that "
                            "size")
        elif checkpoint["root"] != header["audit_root"]:
            problems.append("the export's root is not the signed checkpoint's root")
    return problems


def render_html(lines: list[dict[str, Any]]) -> str:
    """A printable page of an export (the JSON lines are the verifiable form)."""
    header = lines[0]
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(header['key'])}"
             "</title><style>body{font:12px sans-serif}table{border-collapse:collapse}"
             "td,th{border:1px solid #999;padding:2px 4px;vertical-align:top}"
             "</style></head><body>",
             f"<h1>{e(header['key'])}</h1><p>Generated {e(header['generated_at'])}; audit "
             f"trail of {header['audit_records']:,} records, root "
             f"<code>{e(header['audit_root'])}</code>; log sequence {header['log_sequence']}."
             "</p>"]
    for line in lines[1:]:
        if line["type"] == "node":
            parts.append("<h2>Node</h2><table>" + "".join(
                f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in line.items()
                if k != "type") + "</table>")
        elif line["type"] == "genealogy":
            rows = line["rows"]
            parts.append(f"<h2>{e(line['direction'].title())} ({len(rows):,})</h2><table>"
                         "<tr><th>key</th><th>kind</th><th>depth</th><th>via</th></tr>"
                         + "".join(f"<tr><td>{e(r['key'])}</td><td>{e(r['kind'])}</td>"
                                   f"<td>{r['depth']}</td><td>{e(r['via'])}</td></tr>"
                                   for r in rows[:GENEALOGY_ROWS_SHOWN]) + "</table>"
                         + ("<p>(first 1,000 rows; the JSON lines hold all)</p>"
                            if len(rows) > GENEALOGY_ROWS_SHOWN else ""))
        elif line["type"] == "audit":
            record = json.loads(line["record"])
            parts.append(f"<h3>Audit record {record['seq']}: {e(record['action'])}</h3><p>"
                         f"{e(record['time'])} by {e(record['user'])}"
                         + (f"; reason: {e(record['reason'])}" if record["reason"] else "")
                         + f"</p><pre>{e(json.dumps(record, indent=1, ensure_ascii=False))}"
                           "</pre>")
        elif line["type"] == "correction":
            record = json.loads(line["record"])
            signatures = "".join(
                f"<li>{e(s['signer'])}, {e(s['meaning'])}, {e(s['time'])}, record hash "
                f"<code>{e(s['record_hash'])}</code></li>" for s in record["signatures"])
            parts.append(f"<h3>Correction {record['id']} ({e(record['state'])})</h3><p>"
                         f"{e(describe(record['change']))}; proposed by "
                         f"{e(record['author'])}: {e(record['reason'])}</p><ul>{signatures}"
                         "</ul>")
    parts.append("</body></html>")
    return "".join(parts)


def render_pdf(lines: list[dict[str, Any]]) -> bytes:
    """The export as a printable PDF: the same sections as `render_html`, each signature
    with its manifestation (printed name, meaning, time, record hash; 21 CFR 11.50)."""
    header = lines[0]
    doc = PdfDocument(f"Record of {header['key']}",
                      f"Audit trail of {header['audit_records']:,} records, root "
                      f"{header['audit_root']}; log sequence {header['log_sequence']}. The "
                      "JSON lines export of the same key is the re-verifiable form "
                      "(tracegraph audit verify-export).", header["generated_at"])
    for line in lines[1:]:
        if line["type"] == "node":
            doc.heading("Node")
            doc.fields([(k, v) for k, v in line.items() if k != "type"])
        elif line["type"] == "genealogy":
            rows = line["rows"]
            doc.heading(f"{line['direction'].title()} ({len(rows):,})")
            doc.table(["key", "kind", "depth", "via"],
                      [[r["key"], r["kind"], r["depth"], r["via"]]
                       for r in rows[:GENEALOGY_ROWS_SHOWN]], widths=(5, 2, 1, 5))
            if len(rows) > GENEALOGY_ROWS_SHOWN:
                doc.paragraph(f"(first {GENEALOGY_ROWS_SHOWN:,} rows; the JSON lines hold all)")
        elif line["type"] == "audit":
            record = json.loads(line["record"])
            doc.heading(f"Audit record {record['seq']}: {record['action']}", level=3)
            doc.paragraph(f"{record['time']} by {record['user']}"
                          + (f"; reason: {record['reason']}" if record["reason"] else ""))
            doc.mono(json.dumps(record, indent=1, ensure_ascii=False))
        elif line["type"] == "correction":
            record = json.loads(line["record"])
            doc.heading(f"Correction {record['id']} ({record['state']})", level=3)
            doc.paragraph(f"{describe(record['change'])}; proposed by {record['author']}: "
                          f"{record['reason']}")
            if record["signatures"]:
                doc.table(["signer", "meaning", "time (UTC)", "record hash"],
                          [[s["signer"], s["meaning"], s["time"], s["record_hash"]]
                           for s in record["signatures"]], widths=(3, 2, 3, 6))
            for problem in line.get("signature_problems", []):
                doc.paragraph(f"SIGNATURE PROBLEM: {problem}")
    return doc.bytes()
