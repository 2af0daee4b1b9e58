"""`tracegraph recall`: recall cases on a data directory (recall.cases).

open, refresh and close act as a signed-in investigator or qa user (--user, the password on
stdin; closing is their "responsibility" signature); list, show, diff and consignees run as
the directory's owner, like every read (an export is still an audit record, naming them).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput
from server.output import emit_mapping

__all__ = ["add_recall_parsers", "cmd_recall"]


def add_recall_parsers(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    recall = sub.add_parser("recall", help="recall cases: open one for a bad lot, export its "
                                           "consignee list, refresh, diff, close")
    verbs = recall.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_text: str, *, signed: bool = False) -> Any:
        p = verbs.add_parser(name, help=help_text, formatter_class=formatter)
        p.add_argument("--data", type=Path, required=True, help="data directory")
        if signed:
            p.add_argument("--user", required=True, help="who you are (investigator or qa)")
            p.add_argument("--password-stdin", action="store_true", required=True,
                           help="your password, read from stdin")
        return p

    p = verb("open", "open a case: its answer is pinned now (prints the id alone on the last "
                     "line)", signed=True)
    p.add_argument("--title", required=True)
    p.add_argument("--seeds", nargs="+", required=True, metavar="KEY",
                   help="the bad lots, units or parts (keys, or scanned barcodes)")
    p.add_argument("--reason", default="", help="why (kept with the case)")
    p.add_argument("--drill", action="store_true",
                   help="a mock recall: the same flow, flagged, each step timed")
    p.add_argument("--max-depth", type=int, help="follow at most this many edges")
    p.add_argument("--edge-kind", action="append", dest="edge_kinds",
                   help="follow only edges of this kind (repeatable)")
    p.add_argument("--since", help="keep edges whose event time is at or after this")
    p.add_argument("--until", help="keep edges whose event time is at or before this")
    p = verb("list", "every case")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p = verb("show", "one case: its pin, steps, history, signature and drill times")
    p.add_argument("id", type=int)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p = verb("refresh", "pin the answer of now (the earlier pin stays in the history) and "
                        "show what changed", signed=True)
    p.add_argument("id", type=int)
    p = verb("diff", "what changed between the pinned answer and now (or two times)")
    p.add_argument("id", type=int)
    p.add_argument("--as-of", action="append", dest="as_of", metavar="T",
                   help="give twice: compare the answers as of these two record times")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p = verb("consignees", "the case's consignee list, as pinned: who received what, how "
                           "many, when")
    p.add_argument("id", type=int)
    p.add_argument("--format", choices=("csv", "json", "xlsx", "pdf"), required=True)
    p.add_argument("--output", "-o", type=Path, required=True, help="the file to write")
    p.add_argument("--template", choices=("consignees", "eu-fsca", "fda-806"),
                   default="consignees", help="which columns, for which report")
    p = verb("close", "close the case with your responsibility signature", signed=True)
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True, help="what was done (notified, recovered, ...)")


@contextmanager
def _live(data: Path) -> Iterator[tuple[Any, Any]]:
    """The live store and a graph over it."""
    from engine import Graph
    from index.live import LiveStore

    with LiveStore(data) as live:
        yield live, Graph(live.view().snapshot, live.view)


def cmd_recall(args: argparse.Namespace) -> int:
    from recall.cases import Cases

    if args.verb in ("list", "show"):
        from index.store import Store

        store = Store(args.data, writable=False)
        try:
            cases = Cases(store)
            if args.verb == "list":
                _list(cases.all(), args.format)
            else:
                _show(cases.get(args.id), args.format)
        finally:
            store.close()
        return 0
    with _live(args.data) as (live, graph):
        cases = Cases(live)
        if args.verb == "open":
            return _open(args, live, graph, cases)
        if args.verb == "refresh":
            from server.cli_trust import signed_in

            by = signed_in(live, args, "recall refresh")
            case, diff = cases.refresh(args.id, by, graph.shipped_rows, graph.log_sequence,
                                       graph.snapshot.version)
            emit_mapping({"case": case.id, "pinned as of": case.as_of, **case.counts,
                          **diff.summary()}, "table", None)
            return 0
        if args.verb == "diff":
            return _diff(args, graph, cases)
        if args.verb == "consignees":
            return _consignees(args, live, graph, cases)
        from server.cli_trust import signed_in

        by = signed_in(live, args, "recall close")
        case = cases.close(args.id, by, args.reason)
        print(f"recall case {case.id} closed by {case.closed_by} at {case.closed_at} "
              "(responsibility signature)")
    return 0


def _open(args: argparse.Namespace, live: Any, graph: Any, cases: Any) -> int:
    from server.cli_trust import signed_in
    from server.seeds import resolve_seeds

    by = signed_in(live, args, "recall open")
    filters = {"max_depth": args.max_depth, "edge_kinds": args.edge_kinds,
               "since": args.since, "until": args.until}
    case, _ = cases.open(args.title, resolve_seeds(graph, args.seeds), filters, args.reason, by,
                         graph.shipped_rows, graph.log_sequence, graph.snapshot.version,
                         drill=args.drill)
    emit_mapping({"case": case.id, "title": case.title, "drill": case.drill,
                  "pinned as of": case.as_of, "log sequence": case.log_sequence,
                  **case.counts, "result SHA-256": case.result_hash}, "table", None)
    if case.counts["rows"] == 0:
        print("warning: the seeds reached no shipment or customer (nothing shipped yet, or "
              "the filters exclude it)", file=sys.stderr)
    print(case.id)
    return 0


def _diff(args: argparse.Namespace, graph: Any, cases: Any) -> int:
    from domain.time import parse_time
    from recall.cases import compare

    case = cases.get(args.id)
    times = args.as_of or []
    if len(times) not in (0, 2):
        raise InvalidInput("give --as-of twice (two times to compare), or not at all (the "
                           "pinned answer against now)")
    if times:
        before, after = (cases.answer(graph.shipped_rows, case.seeds, case.filters,
                                      parse_time(t, "--as-of"), graph.log_sequence,
                                      graph.snapshot.version) for t in times)
    else:
        before = cases.pinned(case, graph.shipped_rows)
        after = cases.answer(graph.shipped_rows, case.seeds, case.filters, None,
                             graph.log_sequence, graph.snapshot.version)
    diff = compare(before, after)
    if args.format == "json":
        print(json.dumps({**diff.summary(),
                          "added": diff.added.select("customer", "shipment", "item",
                                                     "quantity").to_dicts(),
                          "removed": diff.removed.select("customer", "shipment", "item",
                                                         "quantity").to_dicts(),
                          "by_customer": diff.by_customer.to_dicts()}, indent=1,
                         default=str))
        return 0
    emit_mapping(diff.summary(), "table", None)
    for row in diff.by_customer.head(25).iter_rows(named=True):
        print(f"  {row['customer'] or '(no customer)'}: {row['units_before']:g} -> "
              f"{row['units_after']:g} units")
    return 0


def _consignees(args: argparse.Namespace, live: Any, graph: Any, cases: Any) -> int:
    from datetime import UTC, datetime

    from index.master import MasterData
    from recall.consignees import consignee_list
    from server.cli_trust import local_principal
    from server.recall_exports import Header, export
    from trust.audit import iso_ms

    by = local_principal(args.data)
    case = cases.get(args.id)
    pinned = cases.pinned(case, graph.shipped_rows)  # the answer as it was pinned, bit for bit
    consignees = consignee_list(pinned.rows, MasterData(live))
    header = Header(case.id, case.title, case.drill, iso_ms(datetime.now(UTC)), by.printed,
                    case.snapshot_version, case.log_sequence, case.as_of, case.result_hash)
    rows = export(consignees, header, args.output, args.format, args.template)
    cases.record_export(case.id, by, args.format, args.template, str(args.output), rows)
    for warning in consignees.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {rows:,} row(s) for {consignees.customers:,} customer(s), "
          f"{consignees.units:,.0f} unit(s) to {args.output}", file=sys.stderr)
    return 0


def _list(cases: list[Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps([_summary(c) for c in cases], indent=1))
        return
    for c in cases:
        print(f"{c.id:>4}  {c.state:<6} {'drill ' if c.drill else ''}{c.title}  "
              f"({c.counts['customers']} customers, {c.counts['units']} units, pinned "
              f"{c.as_of})")


def _summary(case: Any) -> dict[str, Any]:
    return {"id": case.id, "title": case.title, "state": case.state, "drill": case.drill,
            "as_of": case.as_of, **case.counts}


def _show(case: Any, fmt: str) -> None:
    from dataclasses import asdict

    from recall.cases import Cases, drill_report

    shown = {**asdict(case), "drill_report": drill_report(case),
             "signature_problems": Cases.signature_problems(case)}
    if fmt == "json":
        print(json.dumps(shown, indent=1, ensure_ascii=False))
        return
    emit_mapping({"case": case.id, "title": case.title, "state": case.state,
                  "drill": case.drill, "reason": case.reason, "seeds": ", ".join(case.seeds),
                  "filters": json.dumps(case.filters), "opened": f"{case.opened_at} by "
                  f"{case.opened_by}", "pinned as of": case.as_of,
                  "log sequence": case.log_sequence, "result SHA-256": case.result_hash,
                  **case.counts, **{k: v for k, v in drill_report(case).items()
                                    if v is not None}}, "table", None)
    for step in case.steps:
        print(f"  {step['at']}  {step['step']:<10} {step['by']}")
    for signature in case.signatures:
        print(f"  signed: {signature['signer']}, {signature['meaning']}, {signature['time']}, "
              f"record SHA-256 {signature['record_hash']}")
