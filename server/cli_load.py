"""The loading verbs of the command line: ingest, import (ERP, EPCIS, scans), compact,
retract, check and rejects. Each prints what it loaded; `ingest` and `import` exit
EXIT_REJECTED when anything was rejected under `--policy all`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from domain.errors import InvalidInput
from server.cli_common import err, progress_printer, timed
from server.output import emit_mapping, emit_table

__all__ = ["EXIT_REJECTED", "cmd_check", "cmd_compact", "cmd_import", "cmd_ingest",
           "cmd_rejects", "cmd_retract"]

EXIT_REJECTED = 3
"""ingest / import finished, but records were rejected under `--policy all` (what loaded is
printed; every rejected record is kept with its reason: `tracegraph rejects`)."""


def _writer() -> str:
    import getpass
    import socket

    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


def cmd_ingest(args: argparse.Namespace) -> int:
    from index.file_ingest import ingest_files
    from index.live import LiveStore

    say = progress_printer("ingest")
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


def cmd_import(args: argparse.Namespace) -> int:
    import hashlib

    from index.file_ingest import ingest_frames
    from index.live import LiveStore
    from loaders.erp import convert, load_mapping

    say = progress_printer("import")
    started = time.perf_counter()
    if args.format == "epcis":
        return _import_epcis(args, say, started)
    if args.format == "scans":
        return _import_scans(args, say, started)
    if args.format == "quality":
        from server.cli_quality import import_quality

        return import_quality(args, started)
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
        master = _import_master(live, converted.master, args.data, source)
    emit_mapping({
        "export rows": sum(converted.rows.values()),
        "rows rejected by the mapping": converted.rejects.height,
        "batches applied": report.batches["applied"],
        "batches already applied (duplicates)": report.batches["duplicate"],
        "batches rejected": report.batches["rejected"],
        "nodes added": report.nodes, "edges added": report.edges,
        "records rejected by the store": report.rejected_records,
        **({} if master is None else {"master records added": master.added,
                                      "master records changed": master.changed,
                                      "master records unchanged": master.unchanged}),
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


def _import_master(live: Any, frame: Any, data: Path, source: str) -> Any:
    """Master data records of the mapping, kept in the store (index.master), by the
    directory's owner; None when the mapping has no master rules."""
    import json

    from index.master import MasterData
    from server.cli_trust import local_principal

    if frame.height == 0:
        return None
    return MasterData(live).put(((r["kind"], r["key"], json.loads(r["fields"]))
                                 for r in frame.iter_rows(named=True)),
                                local_principal(data), source)


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
    import engine
    from index.file_ingest import ingest_epcis
    from index.live import LiveStore

    with LiveStore(args.data, progress=say) as live:
        graph = engine.Graph(live.view().snapshot, live.view)  # reads each new view
        report, problems = ingest_epcis(live, args.files, writer=_writer(), progress=say,
                                        unknown_keys=graph.unknown_keys)
    emit_mapping({
        "events applied": report.batches["applied"],
        "events already loaded (duplicates)": report.batches["duplicate"],
        "events rejected": report.batches["rejected"] + report.rejected_records,
        "nodes added": report.nodes, "edges added": report.edges,
        "error declarations proposed as corrections": len(report.proposed),
        "master data records added or changed": report.master,
        "inspection records (inspecting events)": report.quality,
        "seconds": round(time.perf_counter() - started, 2),
    }, "table", None)
    if report.proposed:
        err.print(f"error declarations are corrections: they retract nothing until approved "
                  f"(tracegraph correct approve ID; pending: "
                  f"{', '.join(str(n) for n in report.proposed)})")
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


def cmd_compact(args: argparse.Namespace) -> None:
    from index.live import LiveStore

    say = progress_printer("compact")
    with LiveStore(args.data, progress=say) as live:
        report = live.compact(progress=say)
    if report is None:
        say("nothing to compact: the newest snapshot covers the whole log")
        return
    emit_mapping({"snapshot": str(report.snapshot), "nodes": report.nodes,
                  "edges": report.edges, "folded duplicate edges": report.folded_edges,
                  "seconds": round(report.seconds, 2)}, "table", None)


def cmd_retract(args: argparse.Namespace) -> None:
    """A retraction changes recorded data: it is proposed as a correction (by --user, with
    the password on stdin) and applies once the approval path signs it
    (`tracegraph correct approve ID`). Prints the proposal's id alone on the last line."""
    from index.live import LiveStore
    from server.cli_trust import signed_in
    from trust.changes import describe
    from trust.corrections import Corrections

    if args.user is None:
        raise InvalidInput("a retraction changes recorded data, so it is a correction: give "
                           "--user NAME --password-stdin (a writer, investigator or qa user "
                           "proposes it; another person approves it with `tracegraph correct "
                           "approve ID`). No users yet? `tracegraph users add` first")
    with LiveStore(args.data) as live:
        author = signed_in(live, args, "retract")
        proposal = Corrections(live).propose(
            {"type": "retract-edge", "src": args.src, "dst": args.dst, "kind": args.kind,
             "event_time": args.event_time, "event_id": args.event_id}, author, args.reason)
    print(f"proposed correction {proposal.id}: {describe(proposal.change)}; it retracts "
          f"nothing until it is approved (tracegraph correct approve {proposal.id})",
          file=sys.stderr)
    print(proposal.id)


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


def cmd_check(args: argparse.Namespace) -> None:
    import json

    import engine
    from engine.quality import check_graph
    from server.report import print_summary, render_html

    graph = engine.open(args.data, warm=False)
    started = time.perf_counter()
    report = check_graph(graph, _all_rejects(args.data, graph))
    timed("checked", started)
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


def cmd_rejects(args: argparse.Namespace) -> None:
    import pyarrow as pa

    import engine

    graph = engine.open(args.data, warm=False)
    rows = _all_rejects(args.data, graph)
    columns = ("source", "table", "row", "field", "reason", "record")
    emit_table(pa.table({c: [r[c] for r in rows] for c in columns}), args.format, args.output,
               title=f"{len(rows):,} rejected records")
