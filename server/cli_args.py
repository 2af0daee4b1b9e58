"""The `tracegraph` command line's arguments: every verb, every option, each option's default
stated in its `--help`."""

from __future__ import annotations

import argparse
from pathlib import Path

from server.cli_correct import add_correct_parser
from server.cli_quality import add_quality_parsers
from server.cli_recall import add_recall_parsers
from server.cli_trust import add_trust_parsers
from server.output import FORMATS

__all__ = ["POLICY_HELP", "build_parser"]

POLICY_HELP = ("all: a batch with a bad record applies nothing (exit 3 when anything is "
               "rejected); valid: apply the valid records of each batch")


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every option that has a default says it in `--help` (store_true flags, which default
    to off, and options without a default do not)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or default is None or default is False
                or default == argparse.SUPPRESS or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)".strip()


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="table (terminal), csv, json or parquet")
    p.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")


def _add_filters(p: argparse.ArgumentParser, *, node_kinds: bool = True) -> None:
    p.add_argument("--max-depth", type=int, help="follow at most this many edges")
    p.add_argument("--edge-kind", action="append", dest="edge_kinds",
                   help="follow only edges of this kind (repeatable)")
    if node_kinds:
        p.add_argument("--node-kind", action="append", dest="node_kinds",
                       help="return only nodes of this kind (repeatable)")
    p.add_argument("--since", help="keep edges whose event time is at or after this ISO time")
    p.add_argument("--until", help="keep edges whose event time is at or before this ISO time")
    p.add_argument("--as-of", help="answer as of this record time (ISO 8601)")
    p.add_argument("--limit", type=int, help="fail if the answer has more rows than this")


def _add_source(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="data directory (query in-process)")
    source.add_argument("--server", metavar="HOST:PORT",
                        help="a running `tracegraph serve` (same answers, over gRPC)")


def _add_server_options(p: argparse.ArgumentParser) -> None:
    """What `serve` and `web` share: the data directory, sign-in, TLS, audit, limits."""
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--workers", type=int, default=16, help="RPC worker threads")
    p.add_argument("--grace", type=float, default=10.0,
                   help="seconds in-flight calls get to finish on SIGTERM/SIGINT")
    p.add_argument("--dev", action="store_true", help="enable gRPC server reflection")
    p.add_argument("--no-auth", action="store_true",
                   help="no sign-in: every caller is the local administrator (loopback only, "
                        "logged and audited; for development, never for a shared server)")
    p.add_argument("--audit-key", type=Path, help="Ed25519 private key (tracegraph audit "
                   "keygen) that signs checkpoints of the audit trail; outside the data directory")
    p.add_argument("--checkpoints", type=Path, help="folder the signed checkpoints go to "
                   "(outside the data directory)")
    p.add_argument("--tls-cert", type=Path, help="server certificate chain (PEM); with "
                   "--tls-key, serve TLS (needed for a non-loopback --host)")
    p.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    p.add_argument("--client-ca", type=Path, help="require client certificates from this CA "
                   "(mTLS); a certificate's common name names a service account")
    p.add_argument("--client-crl", type=Path, help="that CA's certificate revocation list "
                   "(PEM or DER; re-read when it changes): a revoked certificate is refused")
    p.add_argument("--password-max-days", type=int, default=0,
                   help="a password older than this no longer signs in; an admin sets a new "
                        "one (0: no aging)")
    p.add_argument("--audit-recovery", metavar="REASON",
                   help="open a store whose audit trail is missing or broken; the reason is "
                        "the next audit record (verify still reports the damage)")
    p.add_argument("--read-only", action="store_true",
                   help="serve queries only: no Ingest RPC, no writer lock on the directory")
    p.add_argument("--compact-edges", type=int, default=1_000_000,
                   help="compact in the background when this many edges arrived since the "
                        "snapshot (0: never)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracegraph",
        description="Traceability genealogy queries: downstream (where-used) and upstream "
                    "(where-from) over component lots, serials, shipments and customers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="generate a sample genealogy, build it, run recall queries")
    p.add_argument("--units", type=int, default=1_000_000, help="finished units")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    p.add_argument("--work", type=Path, default=Path("demo-data"),
                   help="folder for the generated tables and the data directory")

    p = sub.add_parser("generate", help="write a synthetic genealogy as Parquet")
    p.add_argument("--units", type=int, default=1_000_000, help="finished units")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    p.add_argument("--out", type=Path, required=True, help="folder for nodes/edges.parquet")

    p = sub.add_parser("build", help="build a snapshot from canonical node and edge tables")
    p.add_argument("--nodes", type=Path, action="append", required=True,
                   help="node table, Parquet or CSV (repeatable)")
    p.add_argument("--edges", type=Path, action="append", required=True,
                   help="edge table, Parquet or CSV (repeatable)")
    p.add_argument("--data", type=Path, required=True, help="data directory to publish into")
    p.add_argument("--order", choices=("bfs", "input"), default="bfs",
                   help="node id order: bfs (locality) or input")

    p = sub.add_parser("trace", help="downstream or upstream trace from one or more keys")
    p.add_argument("keys", nargs="+", help="seed node keys")
    _add_source(p)
    p.add_argument("--direction", default="downstream",
                   help="downstream (forward, where-used) or upstream (backward, where-from)")
    p.add_argument("--via", action="store_true", help="add one predecessor key per row")
    p.add_argument("--columns", type=lambda text: [c.strip() for c in text.split(",") if c],
                   default=[], help="add columns (comma-separated): product, quantity, uom, "
                                    "created_at, lot, serial, expiry (the lot's, master "
                                    "data), edge_kind, event_time (the edge that led there)")
    p.add_argument("--product", action="append", dest="products",
                   help="keep rows whose node carries this product (repeatable)")
    p.add_argument("--time-respecting", action="store_true",
                   help="follow an edge only if its event time is not before the material "
                        "reached its source (from --since, or the beginning); upstream the "
                        "mirror (from --until)")
    _add_filters(p)
    _add_output(p)

    p = sub.add_parser("hourglass", help="upstream and downstream of one key")
    p.add_argument("key")
    _add_source(p)
    _add_filters(p)
    _add_output(p)

    p = sub.add_parser("impact", help="downstream impact of many lots, with counts")
    p.add_argument("keys", nargs="*", help="seed keys (or --keys-file)")
    p.add_argument("--keys-file", type=Path, help="file with one key per line")
    _add_source(p)
    p.add_argument("--rows", action="store_true", help="print every affected row, not counts")
    _add_filters(p, node_kinds=False)
    _add_output(p)

    p = sub.add_parser("path", help="shortest genealogy chain from SRC down to DST")
    p.add_argument("src")
    p.add_argument("dst")
    _add_source(p)
    p.add_argument("--edge-kind", action="append", dest="edge_kinds")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--as-of")
    _add_output(p)

    p = sub.add_parser("containment", help="the units whose genealogy passes through a suspect "
                                           "node (a line, a sterilisation load, a lot) inside a "
                                           "time window, and how the scope grows with it")
    p.add_argument("key", help="the suspect node")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--since", help="the window's start (ISO 8601; default: the beginning)")
    p.add_argument("--until", help="the window's end (ISO 8601; default: now)")
    p.add_argument("--unit-kind", action="append", dest="unit_kinds",
                   help="what counts as a unit (repeatable; default: serial)")
    p.add_argument("--edge-kind", action="append", dest="edge_kinds")
    p.add_argument("--as-of")
    p.add_argument("--rows", action="store_true",
                   help="the units themselves instead of the growth curve")
    _add_output(p)

    p = sub.add_parser("common-cause", help="upstream nodes complaint units share, ranked by "
                                            "how unusual the sharing is against production "
                                            "of the same product (hypergeometric p-value)")
    p.add_argument("keys", nargs="*", metavar="KEY", help="the complaint units")
    p.add_argument("--keys-file", type=Path, help="more complaint units, one per line")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--min-shared", type=int, default=2,
                   help="only nodes at least this many complaints share")
    p.add_argument("--limit", type=int, default=25, help="rows")
    p.add_argument("--edge-kind", action="append", dest="edge_kinds")
    p.add_argument("--as-of")
    _add_output(p)

    p = sub.add_parser("stats", help="snapshot version and counts by kind")
    _add_source(p)
    p.add_argument("--verify", action="store_true", help="check every file's SHA-256")
    _add_output(p)

    p = sub.add_parser("serve", help="serve a data directory over gRPC (tracegraph.v1)")
    p.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    p.add_argument("--web-port", type=int,
                   help="also serve the web app on this port of --host (0: a free one)")
    _add_server_options(p)

    p = sub.add_parser("web", help="the investigator's web app (and the gRPC server it calls) "
                                   "on a data directory")
    p.add_argument("--port", type=int, default=8080, help="the web app's port (0: a free one)")
    p.add_argument("--grpc-port", type=int, default=0,
                   help="the gRPC server's port (0, the default: a free one)")
    _add_server_options(p)

    p = sub.add_parser("ingest", help="add canonical node/edge files to a live store (durable, "
                                      "idempotent; creates the directory if new)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="node tables (key, kind, ...) and edge tables (src, dst, kind, ...)")
    p.add_argument("--batch-rows", type=int, default=10_000, help="rows per batch")
    p.add_argument("--policy", choices=("all", "valid"), default="all", help=POLICY_HELP)
    p.add_argument("--no-check", action="store_true",
                   help="skip the data-quality summary printed after the ingest")

    p = sub.add_parser("import", help="convert ERP/MES exports through a mapping and add them "
                                      "to a data directory's live store")
    p.add_argument("format", choices=("erp", "epcis", "scans", "quality"),
                   help="erp: CSV/Parquet exports + a TOML mapping; epcis: EPCIS JSON/JSON-LD "
                        "or XML; scans: scanner logs (scan, parent_scan, kind, scanned_at); "
                        "quality: quality records (record_id, record_type, key, status, "
                        "opened_at, title, ...)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--mapping", type=Path,
                   help="erp: the data dictionary (see loaders/mappings/*.toml); quality: one "
                        "for a QMS export of another shape (loaders/mappings/qms_sample.toml)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--policy", choices=("all", "valid"), default="all", help=POLICY_HELP)
    p.add_argument("--no-check", action="store_true",
                   help="skip the data-quality summary printed after the import")

    p = sub.add_parser("events", help="EPCIS events kept for a node (sensor data, inspections)")
    p.add_argument("key")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    _add_output(p)

    p = sub.add_parser("compact", help="fold the live delta into a new snapshot")
    p.add_argument("--data", type=Path, required=True, help="data directory")

    p = sub.add_parser("retract", help="propose retracting a wrong edge (a correction another "
                                       "person approves; kept as history, as_of before it "
                                       "still sees it)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--kind", required=True, help="edge kind")
    p.add_argument("--event-time", help="only the edge with this event time (ISO 8601)")
    p.add_argument("--event-id", help="retract only what this event asserted (one assertion); "
                                      "default: the link, every assertion of it")
    p.add_argument("--reason", required=True, help="why (recorded with the retraction)")
    p.add_argument("--user", help="who proposes it (required: a retraction is a correction "
                                  "another person approves)")
    p.add_argument("--password-stdin", action="store_true",
                   help="your password, read from stdin")

    p = sub.add_parser("find", help="nodes for a scanned barcode, Digital Link, GTIN + lot or "
                                    "serial, ERP material + batch, delivery or order number, "
                                    "or a key's beginning, each with why it matched")
    p.add_argument("text", help="what you have in hand (quote it when it has spaces)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--limit", type=int, default=20, help="at most this many candidates")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (terminal) or json")

    p = sub.add_parser("parse-barcode", help="GS1 / HIBCC / ISBT 128 barcodes -> GTIN/DI, lot, "
                                             "serial, dates, SSCC and a canonical key")
    p.add_argument("inputs", nargs="+", metavar="STRING",
                   help="barcode text (GS as ASCII 29 or the text {GS}); '-' reads one per line "
                        "from stdin")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (terminal) or json")

    p = sub.add_parser("check", help="data-quality report: orphans, cycles, serials in two "
                                     "places, times running backwards, over-consumed lots, "
                                     "unknown references, rejected records")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--format", choices=("table", "json", "html"), default="table",
                   help="table (terminal summary), json or html (a self-contained page)")
    p.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")

    p = sub.add_parser("repair", help="report which acknowledged log entries and batches a "
                                      "damaged store has lost (read-only; exit 1 if any)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table (terminal) or json")
    p.add_argument("--output", "-o", type=Path, help="write the JSON report to this file")

    p = sub.add_parser("rejects", help="records that were not loaded, with their reasons")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    _add_output(p)
    add_trust_parsers(sub, _HelpWithDefaults)
    add_correct_parser(sub, _HelpWithDefaults)
    add_recall_parsers(sub, _HelpWithDefaults)
    add_quality_parsers(sub, _HelpWithDefaults)
    for command in sub.choices.values():
        command.formatter_class = _HelpWithDefaults
    return parser
