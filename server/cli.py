"""The `tracegraph` command line: demo, generate, build, ingest, compact, retract, rejects, trace,
hourglass, impact, path, stats, serve. Query verbs take `--data DIR` (in-process) or
`--server HOST:PORT` (gRPC).

Errors print one line `tracegraph: error: ...` on stderr and exit 1 (2 for usage errors);
progress and timings go to stderr, results to stdout, so pipes get clean CSV/JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput, TraceError
from server.cli_args import build_parser
from server.cli_common import err, progress_printer, timed
from server.cli_correct import cmd_correct
from server.cli_load import (
    cmd_check,
    cmd_compact,
    cmd_import,
    cmd_ingest,
    cmd_rejects,
    cmd_retract,
)
from server.cli_quality import (
    cmd_affected_by,
    cmd_alerts,
    cmd_dhr,
    cmd_dhr_check,
    cmd_effectivity,
    cmd_kpi,
    cmd_quality,
)
from server.cli_recall import cmd_recall
from server.cli_trust import cmd_audit, cmd_login, cmd_tokens, cmd_users
from server.output import emit_mapping, emit_table, impact_table, printable
from server.progress import ProgressBar
from server.seeds import resolve_seed, resolve_seeds, seed_key

__all__ = ["build_parser", "main"]

EXIT_ERROR = 1


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


def _cmd_generate(args: argparse.Namespace) -> None:
    from loaders.synthetic import GenealogyConfig, write_genealogy

    say = progress_printer("generate")
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
    timed_walk: dict[str, Any] = {"time_respecting": True} if args.time_respecting else {}
    if args.products:
        timed_walk["products"] = args.products
    master: Any = None
    if args.columns and args.server:  # the server adds the master-data columns itself
        timed_walk["columns"] = args.columns
    elif args.columns:
        from index.master import MasterData
        from recall.columns import split_columns
        from server.read_only import ReadOnlyRecords

        timed_walk["columns"], _ = split_columns(args.columns)
        master = lambda: MasterData(ReadOnlyRecords(args.data))  # noqa: E731
    table = graph.trace(resolve_seeds(graph, args.keys), args.direction, via=args.via,
                        **_filters(args), **timed_walk)
    if master is not None:
        from recall.columns import with_master_columns

        table = with_master_columns(table, args.columns, master)
    timed(f"{table.num_rows:,} rows", started)
    title = f"{args.direction} of {len(args.keys)} key(s)"
    emit_table(table, args.format, args.output, title=title)


def _cmd_hourglass(args: argparse.Namespace) -> None:
    graph = _open(args)
    started = time.perf_counter()
    table = graph.hourglass(resolve_seed(graph, args.key), **_filters(args))
    timed(f"{table.num_rows:,} rows", started)
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


def _read_keys(args: argparse.Namespace, graph: Any) -> list[str]:
    keys = list(args.keys)
    if args.keys_file:
        try:
            text = args.keys_file.read_text()
        except OSError as e:
            raise InvalidInput(f"{args.keys_file}: cannot read: {e.strerror}") from e
        keys += [line.strip() for line in text.splitlines() if line.strip()]
    return resolve_seeds(graph, keys)


def _cmd_impact(args: argparse.Namespace) -> None:
    graph = _open(args)
    keys = _read_keys(args, graph)
    started = time.perf_counter()
    units: dict[str, Any] = {}
    if args.data is not None:  # a server (--server) applies its own master data
        from index.master import MasterData, finished_products
        from server.read_only import ReadOnlyRecords

        units["unit_products"] = finished_products(MasterData(ReadOnlyRecords(args.data)))
    result = graph.impact(keys, rows=args.rows, **units, **_filters(args))
    timed(f"impact of {result.seeds:,} seeds: {result.affected:,} affected nodes", started)
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


def _cmd_containment(args: argparse.Namespace) -> None:
    import engine

    graph = engine.open(args.data)
    started = time.perf_counter()
    curve, units = graph.containment(resolve_seed(graph, args.key), since=args.since,
                                     until=args.until, edge_kinds=args.edge_kinds,
                                     as_of=args.as_of,
                                     unit_kinds=tuple(args.unit_kinds or ("serial",)))
    timed(f"{units.num_rows:,} unit(s) in the window, {curve.num_rows:,} distinct time(s)",
          started)
    if args.rows:
        emit_table(units, args.format, args.output, title=f"units through {args.key}")
    else:
        emit_table(curve, args.format, args.output,
                   title=f"scope through {args.key} as the window widens")


def _cmd_common_cause(args: argparse.Namespace) -> None:
    import engine

    graph = engine.open(args.data)
    keys = _read_keys(args, graph)
    if not keys:
        raise InvalidInput("give the complaint units (KEY... or --keys-file F)")
    started = time.perf_counter()
    table = graph.common_cause(keys, min_shared=args.min_shared, limit=args.limit,
                               edge_kinds=args.edge_kinds, as_of=args.as_of)
    timed(f"{table.num_rows} candidate cause(s) for {len(keys)} complaint unit(s)", started)
    emit_table(table, args.format, args.output, title="common cause, most significant first")


def _cmd_path(args: argparse.Namespace) -> None:
    graph = _open(args)
    started = time.perf_counter()
    table = graph.path(resolve_seed(graph, args.src), resolve_seed(graph, args.dst),
                       edge_kinds=args.edge_kinds,
                       since=args.since, until=args.until, as_of=args.as_of)
    timed(f"chain of {table.num_rows} nodes", started)
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
    _run_server(args, "serve", port=args.port, web_port=args.web_port)


def _cmd_web(args: argparse.Namespace) -> None:
    _run_server(args, "web", port=args.grpc_port, web_port=args.port)


def _run_server(args: argparse.Namespace, verb: str, port: int, web_port: int | None) -> None:
    import logging

    from server.serve import ServerConfig, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = ServerConfig(host=args.host, port=port, web_port=web_port, workers=args.workers,
                          grace_seconds=args.grace, dev=args.dev, read_only=args.read_only,
                          compact_edges=args.compact_edges, no_auth=args.no_auth,
                          audit_recovery=args.audit_recovery, audit_key=args.audit_key,
                          checkpoints=args.checkpoints, tls_cert=args.tls_cert,
                          tls_key=args.tls_key, client_ca=args.client_ca,
                          client_crl=args.client_crl,
                          password_max_days=args.password_max_days)
    serve(args.data, config, announce=lambda m: print(f"tracegraph {verb}: {m}", flush=True))


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


def _cmd_find(args: argparse.Namespace) -> int:
    import engine

    started = time.perf_counter()
    from recall.find import find

    found = find(engine.open(args.data, warm=False).view(), args.text, args.limit)
    timed(f"{len(found)} candidate(s)", started)
    rows = [{"key": c.key, "kind": c.kind, "product": c.product, "why": c.why} for c in found]
    if args.format == "json":
        print(json.dumps(rows, indent=1, ensure_ascii=False))
    else:
        for row in rows:
            print(f"{row['key']}  {row['kind']}  {row['product'] or ''}  ({row['why']})")
    if not rows:
        print(f"nothing matches {args.text!r}", file=sys.stderr)
        return 1
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int | None]] = {
    "ingest": cmd_ingest,
    "import": cmd_import,
    "events": _cmd_events,
    "compact": cmd_compact,
    "retract": cmd_retract,
    "rejects": cmd_rejects,
    "check": cmd_check,
    "parse-barcode": _cmd_parse_barcode,
    "find": _cmd_find,
    "demo": _cmd_demo,
    "generate": _cmd_generate,
    "build": _cmd_build,
    "trace": _cmd_trace,
    "hourglass": _cmd_hourglass,
    "impact": _cmd_impact,
    "path": _cmd_path,
    "common-cause": _cmd_common_cause,
    "containment": _cmd_containment,
    "stats": _cmd_stats,
    "repair": _cmd_repair,
    "serve": _cmd_serve,
    "web": _cmd_web,
    "users": cmd_users,
    "tokens": cmd_tokens,
    "audit": cmd_audit,
    "login": cmd_login,
    "correct": cmd_correct,
    "recall": cmd_recall,
    "dhr": cmd_dhr,
    "dhr-check": cmd_dhr_check,
    "effectivity": cmd_effectivity,
    "kpi": cmd_kpi,
    "alerts": cmd_alerts,
    "affected-by": cmd_affected_by,
    "quality": cmd_quality,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tracegraph` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
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
