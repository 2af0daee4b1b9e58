"""The `tracegraph` command line: demo, generate, build, ingest, compact, retract, rejects, trace,
hourglass, impact, path, stats, serve. Query verbs take `--data DIR` (in-process) or
`--server HOST:PORT` (gRPC).

Errors print one line `tracegraph: error: ...` on stderr and exit 1 (2 for usage errors);
progress and timings go to stderr, results to stdout, so pipes get clean CSV/JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from domain.errors import InvalidInput, TraceError
from server.output import FORMATS, emit_mapping, emit_table, impact_table, printable
from server.progress import ProgressBar
from server.seeds import seed_key, seed_keys

__all__ = ["main"]

err = Console(stderr=True, highlight=False)
EXIT_ERROR = 1
_POLICY = ("all: a batch with a bad record applies nothing (exit 3 when anything is rejected); "
           "valid: apply the valid records of each batch")
EXIT_REJECTED = 3
"""ingest / import finished, but records were rejected under `--policy all` (what loaded is
printed; every rejected record is kept with its reason: `tracegraph rejects`)."""


def _progress(prefix: str) -> Callable[[str], None]:
    started = time.perf_counter()

    def say(message: str) -> None:
        err.print(f"[dim]{time.perf_counter() - started:7.2f}s[/dim] {prefix}: {message}")

    return say


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


def _parser() -> argparse.ArgumentParser:
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

    p = sub.add_parser("stats", help="snapshot version and counts by kind")
    _add_source(p)
    p.add_argument("--verify", action="store_true", help="check every file's SHA-256")
    _add_output(p)

    p = sub.add_parser("serve", help="serve a data directory over gRPC (tracegraph.v1)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    p.add_argument("--workers", type=int, default=16, help="RPC worker threads")
    p.add_argument("--grace", type=float, default=10.0,
                   help="seconds in-flight calls get to finish on SIGTERM/SIGINT")
    p.add_argument("--dev", action="store_true", help="enable gRPC server reflection")
    p.add_argument("--read-only", action="store_true",
                   help="serve queries only: no Ingest RPC, no writer lock on the directory")
    p.add_argument("--compact-edges", type=int, default=1_000_000,
                   help="compact in the background when this many edges arrived since the "
                        "snapshot (0: never)")

    p = sub.add_parser("ingest", help="add canonical node/edge files to a live store (durable, "
                                      "idempotent; creates the directory if new)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="node tables (key, kind, ...) and edge tables (src, dst, kind, ...)")
    p.add_argument("--batch-rows", type=int, default=10_000, help="rows per batch")
    p.add_argument("--policy", choices=("all", "valid"), default="all", help=_POLICY)
    p.add_argument("--no-check", action="store_true",
                   help="skip the data-quality summary printed after the ingest")

    p = sub.add_parser("import", help="convert ERP/MES exports through a mapping and add them "
                                      "to a data directory's live store")
    p.add_argument("format", choices=("erp", "epcis", "scans"),
                   help="erp: CSV/Parquet exports + a TOML mapping; epcis: EPCIS JSON/JSON-LD "
                        "or XML; scans: scanner logs (scan, parent_scan, kind, scanned_at)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--mapping", type=Path,
                   help="erp only: the data dictionary (see loaders/mappings/*.toml)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--policy", choices=("all", "valid"), default="all", help=_POLICY)
    p.add_argument("--no-check", action="store_true",
                   help="skip the data-quality summary printed after the import")

    p = sub.add_parser("events", help="EPCIS events kept for a node (sensor data, inspections)")
    p.add_argument("key")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    _add_output(p)

    p = sub.add_parser("compact", help="fold the live delta into a new snapshot")
    p.add_argument("--data", type=Path, required=True, help="data directory")

    p = sub.add_parser("retract", help="retract a wrong edge (kept as history; as_of before "
                                       "the retraction still sees it)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--kind", required=True, help="edge kind")
    p.add_argument("--event-time", help="only the edge with this event time (ISO 8601)")
    p.add_argument("--event-id", help="retract only what this event asserted (one assertion); "
                                      "default: the link, every assertion of it")
    p.add_argument("--reason", required=True, help="why (recorded with the retraction)")

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
    for command in sub.choices.values():
        command.formatter_class = _HelpWithDefaults
    return parser


def _open(args: argparse.Namespace) -> Any:
    """The in-process graph (--data) or a client of a running server (--server): both answer
    with the same methods, tables and errors, so every verb prints the same either way."""
    if getattr(args, "server", None):
        from server.client import TraceClient

        if getattr(args, "verify", False):
            raise InvalidInput("--verify checks files: use it with --data on the server host")
        return TraceClient(args.server)
    import engine

    if not engine.kernels_compiled():
        err.print("[dim]compiling query kernels, once per install (a few seconds)...[/dim]")
    return engine.open(args.data, verify="full" if getattr(args, "verify", False) else "size")


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    out = {
        "max_depth": args.max_depth, "edge_kinds": args.edge_kinds, "since": args.since,
        "until": args.until, "as_of": args.as_of, "limit": args.limit,
    }
    if hasattr(args, "node_kinds"):
        out["node_kinds"] = args.node_kinds
    return out


def _timed(label: str, started: float) -> None:
    err.print(f"[dim]{label} in {(time.perf_counter() - started) * 1000:.2f} ms[/dim]")


def _cmd_generate(args: argparse.Namespace) -> None:
    from loaders.synthetic import GenealogyConfig, write_genealogy

    say = _progress("generate")
    nodes, edges = write_genealogy(GenealogyConfig(units=args.units, seed=args.seed), args.out,
                                   say)
    say(f"wrote {nodes} and {edges}")


def _cmd_build(args: argparse.Namespace) -> None:
    from index.build import build_from_files

    with ProgressBar(err, "build") as bar:
        report = build_from_files(args.nodes, args.edges, args.data, progress=bar,
                                  order=args.order)
    emit_mapping({
        "snapshot": str(report.snapshot), "nodes": report.nodes, "edges": report.edges,
        "rejected": report.rejected, "folded duplicate nodes": report.folded_nodes,
        "folded duplicate edges": report.folded_edges, "seconds": round(report.seconds, 2),
        "reject reasons": report.reject_reasons,
        "ignored columns": report.ignored_columns,
    }, "table", None)
    if report.rejected:
        err.print(f"[yellow]{report.rejected:,} rows rejected; they are kept with file, row, "
                  f"field and reason in {report.snapshot / 'rejects.arrow'}[/yellow]")


def _cmd_trace(args: argparse.Namespace) -> None:
    graph = _open(args)
    started = time.perf_counter()
    table = graph.trace(seed_keys(args.keys), args.direction, via=args.via, **_filters(args))
    _timed(f"{table.num_rows:,} rows", started)
    title = f"{args.direction} of {len(args.keys)} key(s)"
    emit_table(table, args.format, args.output, title=title)


def _cmd_hourglass(args: argparse.Namespace) -> None:
    graph = _open(args)
    started = time.perf_counter()
    table = graph.hourglass(seed_key(args.key), **_filters(args))
    _timed(f"{table.num_rows:,} rows", started)
    if args.format != "table":
        emit_table(table, args.format, args.output, title=f"hourglass of {args.key}")
        return
    # On a terminal each half gets its own first rows, downstream first: one cut over both
    # would hide the downstream part behind a long upstream list (or the reverse).
    import pyarrow as pa

    direction = table.column("direction").to_numpy(zero_copy_only=False).astype(str)
    for part in ("downstream", "upstream"):
        rows = table.filter(pa.array(direction == part)).drop_columns(["direction"])
        emit_table(rows, "table", None, title=f"{part} of {args.key}")


def _read_keys(args: argparse.Namespace) -> list[str]:
    keys = list(args.keys)
    if args.keys_file:
        try:
            text = args.keys_file.read_text()
        except OSError as e:
            raise InvalidInput(f"{args.keys_file}: cannot read: {e.strerror}") from e
        keys += [line.strip() for line in text.splitlines() if line.strip()]
    return seed_keys(keys)


def _cmd_impact(args: argparse.Namespace) -> None:
    graph = _open(args)
    keys = _read_keys(args)
    started = time.perf_counter()
    result = graph.impact(keys, rows=args.rows, **_filters(args))
    _timed(f"impact of {result.seeds:,} seeds: {result.affected:,} affected nodes", started)
    if args.format == "table":
        emit_table(result.by_kind, "table", None, title="affected nodes by kind")
        emit_table(result.by_customer, "table", None, title="affected customers")
        emit_table(result.by_shipment, "table", None, title="affected shipments")
        if result.rows is not None:
            emit_table(result.rows, "table", None, title="affected nodes")
        return
    if args.format in ("csv", "parquet"):
        emit_table(impact_table(result.by_kind, result.by_customer, result.by_shipment,
                                result.rows), args.format, args.output)
        return
    summary: dict[str, Any] = {
        "seeds": result.seeds, "affected": result.affected,
        "by_kind": result.by_kind.to_pylist(), "by_customer": result.by_customer.to_pylist(),
        "by_shipment": result.by_shipment.to_pylist(),
    }
    if result.rows is not None:
        summary["rows"] = [{"key": r["key"], "kind": r["kind"], "depth": r["depth"]}
                           for r in result.rows.to_pylist()]
    emit_mapping(summary, "json", args.output)


def _cmd_path(args: argparse.Namespace) -> None:
    graph = _open(args)
    started = time.perf_counter()
    table = graph.path(seed_key(args.src), seed_key(args.dst), edge_kinds=args.edge_kinds,
                       since=args.since, until=args.until, as_of=args.as_of)
    _timed(f"chain of {table.num_rows} nodes", started)
    emit_table(table, args.format, args.output, title=f"{args.src} -> {args.dst}")


def _cmd_stats(args: argparse.Namespace) -> None:
    graph = _open(args)
    stats = graph.stats()
    if args.verify and args.data is not None:
        from index.store import Store, StoreCorrupt, has_store

        if has_store(args.data):
            store = Store(args.data, writable=False)
            try:
                problems = store.verify()
            finally:
                store.close()
            if problems:
                raise StoreCorrupt("; ".join(problems))
            stats["verified"] = "every snapshot file's SHA-256 and every store record's checksum"
        else:
            stats["verified"] = "every snapshot file's SHA-256"
    emit_mapping(stats, args.format, args.output)


def _cmd_repair(args: argparse.Namespace) -> int:
    from index.repair import inspect_store
    from index.store import has_store

    if not has_store(args.data):
        raise InvalidInput(f"{args.data}: no store here (nothing was ingested); a built "
                           "directory is checked by `tracegraph stats --verify`")
    report = inspect_store(args.data)
    if args.format == "json":
        emit_mapping(report.to_dict(), "json", args.output)
    else:
        emit_mapping({"store": str(report.store), "opened": report.opened,
                      "acknowledged log entries": report.last_seq,
                      "entries intact": report.entries_ok,
                      "entries lost or damaged": len(report.lost),
                      "other damage": len(report.families)}, "table", None)
        for lost in report.lost[:50]:
            batches = ", ".join(lost.batches) or "batch id unknown"
            err.print(f"log entry {lost.seq}: {lost.state} ({lost.detail}); re-send: {batches}")
        for problem in report.families:
            err.print(problem)
    if report.intact:
        err.print("the store is intact: every acknowledged log entry reads back")
        return 0
    print(f"tracegraph: the store is damaged: {len(report.lost)} log entries lost or damaged"
          f"{'' if not report.families else ', other column families damaged'}; keep this "
          "directory, rebuild from the sources or a backup and re-send the listed batches "
          "(README: Guarantees)", file=sys.stderr)
    return EXIT_ERROR


def _cmd_demo(args: argparse.Namespace) -> None:
    from server.demo import run_demo

    run_demo(args.units, args.seed, args.work, err)


def _cmd_serve(args: argparse.Namespace) -> None:
    import logging

    from server.serve import ServerConfig, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = ServerConfig(host=args.host, port=args.port, workers=args.workers,
                          grace_seconds=args.grace, dev=args.dev, read_only=args.read_only,
                          compact_edges=args.compact_edges)
    serve(args.data, config, announce=lambda m: print(f"tracegraph serve: {m}", flush=True))


def _writer() -> str:
    import getpass
    import socket

    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


def _cmd_ingest(args: argparse.Namespace) -> int:
    from index.file_ingest import ingest_files
    from index.live import LiveStore

    say = _progress("ingest")
    if args.batch_rows < 1:
        raise InvalidInput("--batch-rows must be at least 1")
    started = time.perf_counter()
    with LiveStore(args.data, progress=say) as live:
        report = ingest_files(live, args.files, batch_rows=args.batch_rows,
                              policy=args.policy, writer=_writer(), progress=say)
    seconds = time.perf_counter() - started
    emit_mapping({
        "batches applied": report.batches["applied"],
        "batches already applied (duplicates)": report.batches["duplicate"],
        "batches rejected": report.batches["rejected"],
        "nodes added": report.nodes, "edges added": report.edges,
        "records rejected": report.rejected_records, "log sequence": report.last_seq,
        "seconds": round(seconds, 2),
    }, "table", None)
    for problem in report.problems[:20]:
        err.print(f"[yellow]{problem}[/yellow]")
    _check_after(args)
    return _rejected_exit(args, report.rejected_records, report.nodes, report.edges)


def _cmd_import(args: argparse.Namespace) -> int:
    import hashlib

    from index.file_ingest import ingest_frames
    from index.live import LiveStore
    from loaders.erp import convert, load_mapping

    say = _progress("import")
    started = time.perf_counter()
    if args.format == "epcis":
        return _import_epcis(args, say, started)
    if args.format == "scans":
        return _import_scans(args, say, started)
    if args.mapping is None:
        raise InvalidInput("import erp needs --mapping M.toml")
    mapping = load_mapping(args.mapping)
    converted = convert(mapping, args.files)
    say(f"converted {sum(converted.rows.values()):,} export rows into "
        f"{converted.nodes.height:,} nodes and {converted.edges.height:,} edges "
        f"({converted.rejects.height:,} rows rejected) in {time.perf_counter() - started:.1f} s")
    digest = hashlib.sha256(args.mapping.read_bytes())
    for path in args.files:
        digest.update(path.read_bytes())
    source = f"erp-{mapping.system}@{digest.hexdigest()[:16]}"
    with LiveStore(args.data, progress=say) as live:
        live.keep_rejects(converted.rejects.to_dicts(), source)
        report = ingest_frames(live, [(f"{source}-nodes", "nodes", converted.nodes),
                                      (f"{source}-edges", "edges", converted.edges)],
                               policy=args.policy, writer=_writer(), progress=say)
    emit_mapping({
        "export rows": sum(converted.rows.values()),
        "rows rejected by the mapping": converted.rejects.height,
        "batches applied": report.batches["applied"],
        "batches already applied (duplicates)": report.batches["duplicate"],
        "batches rejected": report.batches["rejected"],
        "nodes added": report.nodes, "edges added": report.edges,
        "records rejected by the store": report.rejected_records,
        "seconds": round(time.perf_counter() - started, 2),
    }, "table", None)
    for problem in report.problems[:20]:
        err.print(f"[yellow]{problem}[/yellow]")
    for row in converted.rejects.head(10).iter_rows(named=True):
        err.print(f"[yellow]{row['file']} row {row['row']}: {row['field']}: "
                  f"{row['reason']}[/yellow]")
    _check_after(args)
    return _rejected_exit(args, converted.rejects.height + report.rejected_records,
                          report.nodes, report.edges)


def _rejected_exit(args: argparse.Namespace, rejected: int, nodes: int, edges: int) -> int:
    """The exit code of a load: EXIT_REJECTED when anything was rejected under --policy all
    (the last line says what loaded and where the rejects are), else 0."""
    if rejected and getattr(args, "policy", "all") == "all":
        print(f"tracegraph: {rejected:,} record(s) rejected, {nodes:,} nodes and {edges:,} "
              f"edges loaded; every reject is kept with its reason: "
              f"tracegraph rejects --data {args.data}", file=sys.stderr)
        return EXIT_REJECTED
    return 0


def _import_epcis(args: argparse.Namespace, say: Callable[[str], None],
                  started: float) -> int:
    from index.file_ingest import ingest_epcis
    from index.live import LiveStore

    with LiveStore(args.data, progress=say) as live:
        report, problems = ingest_epcis(live, args.files, writer=_writer(), progress=say)
    emit_mapping({
        "events applied": report.batches["applied"],
        "events already loaded (duplicates)": report.batches["duplicate"],
        "events rejected": report.batches["rejected"] + report.rejected_records,
        "nodes added": report.nodes, "edges added": report.edges,
        "seconds": round(time.perf_counter() - started, 2),
    }, "table", None)
    for problem in problems[:20]:
        err.print(f"[yellow]{problem}[/yellow]")
    _check_after(args)
    return _rejected_exit(args, report.rejected_records, report.nodes, report.edges)


def _import_scans(args: argparse.Namespace, say: Callable[[str], None],
                  started: float) -> int:
    import hashlib

    from index.file_ingest import ingest_frames
    from index.live import LiveStore
    from loaders.scans import convert_scans

    rejected = loaded_nodes = loaded_edges = 0
    with LiveStore(args.data, progress=say) as live:
        for path in args.files:
            nodes, edges, rejects = convert_scans(path)
            source = f"scans@{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
            live.keep_rejects(rejects.to_dicts(), source)
            report = ingest_frames(live, [(f"{source}-nodes", "nodes", nodes),
                                          (f"{source}-edges", "edges", edges)],
                                   policy=args.policy, writer=_writer(), progress=say)
            emit_mapping({"file": str(path), "scans rejected": rejects.height,
                          "nodes added": report.nodes, "edges added": report.edges,
                          "batches already applied (duplicates)": report.batches["duplicate"],
                          "seconds": round(time.perf_counter() - started, 2)}, "table", None)
            for row in rejects.head(20).iter_rows(named=True):
                err.print(f"[yellow]{path} row {row['row']}: {row['field']}: "
                          f"{row['reason']}[/yellow]")
            for problem in report.problems[:20]:
                err.print(f"[yellow]{problem}[/yellow]")
            rejected += rejects.height + report.rejected_records
            loaded_nodes, loaded_edges = loaded_nodes + report.nodes, loaded_edges + report.edges
    _check_after(args)
    return _rejected_exit(args, rejected, loaded_nodes, loaded_edges)


def _check_after(args: argparse.Namespace) -> None:
    if args.no_check:
        return
    import engine
    from engine.quality import check_graph
    from server.report import print_summary

    graph = engine.open(args.data, warm=False)
    print_summary(check_graph(graph, _all_rejects(args.data, graph)), err)


def _cmd_events(args: argparse.Namespace) -> None:
    import polars as pl

    import engine
    from index.file_ingest import events_of_node

    key = seed_key(args.key)
    engine.open(args.data).node(key)  # an unknown key is an error, with suggestions
    events = events_of_node(args.data, key)
    if "keys" in events.columns:  # flat text for CSV and terminals
        events = events.with_columns(pl.col("keys").list.join(" "))
    emit_table(events.to_arrow(), args.format, args.output,
               title=f"EPCIS events naming {key}")


def _cmd_compact(args: argparse.Namespace) -> None:
    from index.live import LiveStore

    say = _progress("compact")
    with LiveStore(args.data, progress=say) as live:
        report = live.compact(progress=say)
    if report is None:
        say("nothing to compact: the newest snapshot covers the whole log")
        return
    emit_mapping({"snapshot": str(report.snapshot), "nodes": report.nodes,
                  "edges": report.edges, "folded duplicate edges": report.folded_edges,
                  "seconds": round(report.seconds, 2)}, "table", None)


def _cmd_retract(args: argparse.Namespace) -> None:
    from datetime import datetime

    from index.ingest import IngestBatch, RetractionRequest
    from index.live import LiveStore

    when = None
    if args.event_time:
        try:
            when = datetime.fromisoformat(args.event_time.replace("Z", "+00:00"))
        except ValueError as e:
            raise InvalidInput(f"--event-time {args.event_time!r} is not ISO 8601") from e
    request = RetractionRequest(args.src, args.dst, args.kind, args.reason, when,
                                event_id=args.event_id)
    with LiveStore(args.data) as live:
        batch = IngestBatch(f"retract-{time.time_ns()}", 0, retractions=[request],
                            writer=_writer())
        ack = live.ingest(batch)
    if ack.outcome != "applied":
        raise InvalidInput("; ".join(e.reason for e in ack.errors) or ack.message)
    print(f"retracted {ack.retracted} edge(s) at log sequence {ack.seq}")


def _cmd_parse_barcode(args: argparse.Namespace) -> None:
    import json

    from loaders.barcodes import parse

    texts: list[str] = []
    for item in args.inputs:
        if item == "-":
            texts += [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
        else:
            texts.append(item)
    results = [{**parse(text.replace("{GS}", "\x1d")).to_dict(), "input": text}
               for text in texts]
    if args.format == "json":
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return
    for result in results:
        shown = {k: v for k, v in result.items() if v not in (None, [], "")}
        emit_mapping(shown, "table", None)  # control characters escaped (GS as {GS})


def _all_rejects(data: Path, graph: Any) -> list[dict[str, Any]]:
    """Rejected records of the build (snapshot) and of every ingest (store)."""
    from index.store import Store, has_store

    rows: list[dict[str, Any]] = []
    if has_store(data):
        store = Store(data, writable=False)
        try:
            rows += [{"source": f"ingest {r['batch']}", "table": r["table"], "row": r["row"],
                      "field": r["field"], "reason": r["reason"], "record": r["record"]}
                     for r in store.rejects()]
        finally:
            store.close()
    rows += [{"source": r["file"], "table": r["table"], "row": r["row"], "field": r["field"],
              "reason": r["reason"], "record": r["record"]}
             for r in graph.snapshot.rejects.to_pylist()]
    return rows


def _cmd_check(args: argparse.Namespace) -> None:
    import json

    import engine
    from engine.quality import check_graph
    from server.report import print_summary, render_html

    graph = engine.open(args.data, warm=False)
    started = time.perf_counter()
    report = check_graph(graph, _all_rejects(args.data, graph))
    _timed("checked", started)
    if args.format == "json":
        text = json.dumps(report.to_dict(), indent=2, default=str) + "\n"
    elif args.format == "html":
        text = render_html(report, str(args.data))
    else:
        print_summary(report, Console())
        return
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)


def _cmd_rejects(args: argparse.Namespace) -> None:
    import pyarrow as pa

    import engine

    graph = engine.open(args.data, warm=False)
    rows = _all_rejects(args.data, graph)
    columns = ("source", "table", "row", "field", "reason", "record")
    emit_table(pa.table({c: [r[c] for r in rows] for c in columns}), args.format, args.output,
               title=f"{len(rows):,} rejected records")


COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {
    "ingest": _cmd_ingest,
    "import": _cmd_import,
    "events": _cmd_events,
    "compact": _cmd_compact,
    "retract": _cmd_retract,
    "rejects": _cmd_rejects,
    "check": _cmd_check,
    "parse-barcode": _cmd_parse_barcode,
    "demo": _cmd_demo,
    "generate": _cmd_generate,
    "build": _cmd_build,
    "trace": _cmd_trace,
    "hourglass": _cmd_hourglass,
    "impact": _cmd_impact,
    "path": _cmd_path,
    "stats": _cmd_stats,
    "repair": _cmd_repair,
    "serve": _cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tracegraph` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    data: Path | None = getattr(args, "data", None)
    new_directory = data is not None and not data.exists()
    try:
        code = COMMANDS[args.command](args)
    except KeyboardInterrupt:
        err.print("tracegraph: interrupted")
        return 130
    except Exception as e:
        if data is not None and new_directory and args.command in _CREATES_DIRECTORY:
            _remove_new_directory(data)  # a failed first load leaves no empty store behind
        if os.environ.get("TRACEGRAPH_DEBUG"):
            raise
        # Plain print: one line, never wrapped or styled, easy to grep in a job log.
        print(f"tracegraph: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    return code or 0


_CREATES_DIRECTORY = frozenset({"ingest", "import", "build"})


def _one_line(error: Exception) -> str:
    """An error as one line: its own message (a library's, too, first lines only), control
    characters escaped, at most 500 characters; errors we did not foresee name their type."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        text = f"{where}{error.strerror}"
    elif not isinstance(error, TraceError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    text = printable(text)
    return text if len(text) <= 500 else text[:497] + "..."


def _remove_new_directory(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
