"""Quality-record verbs of the `tracegraph` CLI: `import quality` (in cli_load's `import`),
`dhr` (a unit's device history record), `affected-by` (an NC's downstream scope) and
`quality show` (a record's versions). Reads run as the directory's OS owner, like every read;
an import adds new records and forward status changes only, audited as that owner."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from domain.errors import InvalidInput
from server.cli_common import err
from server.output import emit_mapping, emit_table

__all__ = ["EXIT_INCOMPLETE", "add_quality_parsers", "cmd_affected_by", "cmd_dhr",
           "cmd_dhr_check", "cmd_effectivity", "cmd_kpi", "cmd_quality", "import_quality"]

EXIT_INCOMPLETE = 4
"""`dhr-check` found incomplete device history records (a job can fail on it)."""


def add_quality_parsers(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("dhr", help="a unit's device history record: identity, its own "
                                   "quality records and every record upstream, with the chain "
                                   "that links it; change orders in effect when it was built",
                       formatter_class=formatter)
    p.add_argument("key", help="the unit (a key or a scanned barcode)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--format", choices=("table", "json", "html", "pdf"), default="table",
                   help="output (html and pdf: a document, written to --output)")
    p.add_argument("--output", type=Path, help="the file for html or pdf (written whole or "
                                               "not at all)")
    p = sub.add_parser("affected-by", help="everything downstream of the nodes a quality "
                                           "record attaches to (an NC becomes a recall scope)",
                       formatter_class=formatter)
    p.add_argument("record_id")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output")
    p = sub.add_parser("dhr-check", help="is every routed unit's DHR complete? (required "
                                         "operations, inspections, certificates; failed "
                                         "inspections, open NCs upstream)",
                       formatter_class=formatter)
    p.add_argument("--routes", type=Path, required=True,
                   help="route definitions (TOML; loaders/mappings/routes_sample.toml)")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--product", action="append", dest="products",
                   help="check only the routes of this product (repeatable)")
    p.add_argument("--since", help="only units built at or after this time")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="output (json and csv: every finding)")
    p = sub.add_parser("effectivity", help="a change order's units: built before or after it "
                                           "took effect, and the shipped ones that lack it",
                       formatter_class=formatter)
    p.add_argument("record_id", help="the change order")
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="output (csv: every unit)")
    p = sub.add_parser("kpi", help="quality KPIs per period: first-pass yield, NCs opened and "
                                   "open, CAPAs open, NC age, recall response time",
                       formatter_class=formatter)
    p.add_argument("--data", type=Path, required=True, help="data directory")
    p.add_argument("--period", choices=("day", "week", "month"), default="month",
                   help="period (UTC; weeks start on Monday)")
    p.add_argument("--routes", type=Path, help="route definitions (TOML): add units built, "
                                                "incomplete DHRs and the DHR defect rate per "
                                                "period (as dhr-check finds them)")
    p.add_argument("--by", choices=("period", "supplier", "lot", "work_order"),
                   default="period",
                   help="supplier: the NC rate of each supplier's lots; lot: each lot's mass "
                        "balance (its quantity against what left it downstream); work_order: "
                        "plan attainment (planned quantity from ERP order data against what "
                        "each order made)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="output")
    p = sub.add_parser("alerts", help="early warnings from the alert rules: list them, set the "
                                      "rules, check now, acknowledge one",
                       formatter_class=formatter)
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    q = verbs.add_parser("list", help="the alerts (the default verb)")
    for target in (p, q):
        target.add_argument("--data", type=Path, required=target is q, help="data directory")
        target.add_argument("--state", choices=("active", "open", "acknowledged", "cleared",
                                                "all"), default="active",
                            help="which alerts (active: open or acknowledged)")
        target.add_argument("--format", choices=("table", "json"), default="table",
                            help="output")
    q = verbs.add_parser("rules", help="show the alert rules, or set them from a TOML file "
                                       "(loaders/mappings/alert_rules_sample.toml)")
    q.add_argument("file", type=Path, nargs="?", help="the new rules (omit to show them)")
    q.add_argument("--data", type=Path, required=True, help="data directory")
    q = verbs.add_parser("check", help="measure the rules now and raise or clear alerts "
                                       "(import quality does this after every import)")
    q.add_argument("--data", type=Path, required=True, help="data directory")
    q = verbs.add_parser("ack", help="acknowledge an open alert: you have seen it and say "
                                     "what is being done (investigator, qa)")
    q.add_argument("id", type=int)
    q.add_argument("--reason", required=True, help="what is being done")
    q.add_argument("--user", required=True, help="who acknowledges it")
    q.add_argument("--password-stdin", action="store_true",
                   help="your password, read from stdin")
    q.add_argument("--data", type=Path, required=True, help="data directory")
    p = sub.add_parser("quality", help="quality records: show one with every version",
                       formatter_class=formatter)
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    q = verbs.add_parser("show", help="a record's versions, oldest first")
    q.add_argument("record_id")
    q.add_argument("--data", type=Path, required=True, help="data directory")
    q.add_argument("--format", choices=("table", "json"), default="table", help="output")


def import_quality(args: argparse.Namespace, started: float) -> int:
    """`tracegraph import quality FILE... --data DIR`: exit 0, or EXIT_REJECTED when any row
    was rejected (each kept with file, row, field and reason: `tracegraph rejects`)."""
    import engine
    from index.live import LiveStore
    from index.quality_records import QualityRecords
    from loaders.quality_records import read_quality_files
    from server.cli_trust import local_principal

    if args.mapping is not None:  # a QMS export of another shape, through its dictionary
        from loaders.erp import convert, load_mapping
        from loaders.quality_records import read_quality_frames

        converted = convert(load_mapping(args.mapping), args.files)
        if converted.nodes.height or converted.edges.height or converted.master.height:
            err.print("[yellow]this mapping also makes nodes, edges or master data: "
                      "`tracegraph import erp` loads those[/yellow]")
        versions, rejects = read_quality_frames(
            [(f"{len(args.files)} file(s) through {args.mapping.name}", converted.quality)])
        rejects = converted.rejects.to_dicts() + rejects
    else:
        versions, rejects = read_quality_files(args.files)
    with LiveStore(args.data) as live:
        graph = engine.Graph(live.view().snapshot, live.view)
        report = QualityRecords(live).put(versions, local_principal(args.data),
                                          f"quality:{','.join(p.name for p in args.files)}",
                                          graph.unknown_keys)
        rejects += report.rejects
        live.keep_rejects(rejects, "quality-import")
        raised = _check_alerts(live, graph, local_principal(args.data))
    emit_mapping({"record versions read": len(versions), "records added": report.added,
                  "records moved forward": report.changed, "unchanged": report.unchanged,
                  "rows rejected": len(rejects),
                  "seconds": round(time.perf_counter() - started, 2)}, "table", None)
    for row in rejects[:10]:
        err.print(f"[yellow]{row['file']} row {row['row']}: {row['field']}: "
                  f"{row['reason']}[/yellow]")
    for alert in raised:
        err.print(f"[red]alert {alert.id} {alert.state}: {alert.title} ({alert.group}: "
                  f"{alert.value}, threshold {alert.threshold})[/red]")
    if rejects:
        print(f"tracegraph: {len(rejects):,} row(s) rejected, {report.added + report.changed:,}"
              f" record version(s) kept; every reject is kept with its reason: tracegraph "
              f"rejects --data {args.data}", file=sys.stderr)
        return 3
    return 0


def _open(data: Path) -> tuple[Any, Any, Any]:
    import engine
    from index.master import MasterData
    from index.quality_records import QualityRecords
    from server.read_only import ReadOnlyRecords

    records = ReadOnlyRecords(data)
    return engine.open(data), QualityRecords(records), MasterData(records)


def cmd_dhr(args: argparse.Namespace) -> None:
    import functools

    from index.file_ingest import events_of_nodes
    from qms.dhr import device_history
    from server.seeds import resolve_seeds

    graph, records, master = _open(args.data)
    [key] = resolve_seeds(graph, [args.key])
    if args.format in ("html", "pdf") and args.output is None:
        raise InvalidInput(f"--format {args.format} writes a document: give --output FILE")
    history = device_history(graph, records, key, master,
                             functools.partial(events_of_nodes, args.data))
    if args.format in ("html", "pdf"):
        _dhr_document(args, graph, key, history)
        return
    if args.format == "json":
        print(json.dumps(history.to_dict(), indent=1, default=str))
        return
    emit_mapping({k: v for k, v in history.identity.items() if not isinstance(v, dict)},
                 "table", None)
    err.print(f"built {history.built_at or 'unknown'}; {history.upstream_nodes:,} upstream "
              f"node(s)")
    rows = [{"node": key, "depth": 0, "record_id": r["record_id"], "type": r["record_type"],
             "status": r["status"], "title": r["title"], "path": key} for r in history.own]
    rows += [{"node": r.node, "depth": r.depth, "record_id": r.record["record_id"],
              "type": r.record["record_type"], "status": r.record["status"],
              "title": r.record["title"], "path": " <- ".join(r.path)}
             for r in history.upstream]
    emit_table(pa.Table.from_pylist(rows, schema=pa.schema(
        [("node", pa.string()), ("depth", pa.int64()), ("record_id", pa.string()),
         ("type", pa.string()), ("status", pa.string()), ("title", pa.string()),
         ("path", pa.string())])), "table", None, title="quality records")
    if history.events:
        emit_table(pa.Table.from_pylist([
            {"time": e.time, "type": e.type, "nodes": " ".join(e.nodes),
             "sensors": "; ".join(e.sensors), "event_id": e.event_id}
            for e in history.events]), "table", None, title="EPCIS events kept")
    for label, orders in (("in effect when built", history.change_orders_in_effect),
                          ("effective after it was built", history.change_orders_after)):
        for order in orders:
            err.print(f"change order {order['record_id']} ({label}, from "
                      f"{order.get('effective_from')}): {order['title']}")


def cmd_affected_by(args: argparse.Namespace) -> None:
    from index.master import finished_products

    graph, records, master = _open(args.data)
    record = records.get(args.record_id)
    if record is None:
        raise InvalidInput(f"no quality record {args.record_id}")
    result = graph.impact(record["keys"], rows=False,
                          unit_products=finished_products(master))
    summary = {"record": args.record_id, "type": record["record_type"],
               "status": record["status"], "attached to": len(record["keys"]),
               "affected": result.affected}
    if args.format == "json":
        print(json.dumps({**summary, "by_kind": result.by_kind.to_pylist(),
                          "by_customer": result.by_customer.to_pylist(),
                          "by_shipment": result.by_shipment.to_pylist()}, indent=1))
        return
    emit_mapping(summary, "table", None)
    emit_table(result.by_kind, "table", None, title="affected nodes by kind")
    emit_table(result.by_customer, "table", None, title="affected customers")


def cmd_quality(args: argparse.Namespace) -> None:
    from index.quality_records import QualityRecords
    from server.read_only import ReadOnlyRecords

    # The records alone: no graph to open and warm for a record's versions.
    versions = QualityRecords(ReadOnlyRecords(args.data)).history(args.record_id)
    if not versions:
        raise InvalidInput(f"no quality record {args.record_id}")
    if args.format == "json":
        print(json.dumps(versions, indent=1))
        return
    for v in versions:
        print(f"v{v['version']}  {v['status']:<14} {v['recorded_at']}  {v['recorded_by']}  "
              f"{v['record_type']}: {v['title']}  keys: {', '.join(v['keys'])}")


def _dhr_document(args: argparse.Namespace, graph: Any, key: str, history: Any) -> None:
    from datetime import UTC, datetime

    from server.cli_trust import local_principal
    from server.dhr_documents import DhrHeader, dhr_html, dhr_pdf
    from server.recall_exports import write_atomically
    from trust.audit import iso_ms

    header = DhrHeader(key, iso_ms(datetime.now(UTC)), local_principal(args.data).printed,
                       f"{args.data} (snapshot {graph.snapshot.version}, log sequence "
                       f"{graph.log_sequence})")
    if args.format == "pdf":
        content = dhr_pdf(history, header)
        write_atomically(args.output, lambda path: path.write_bytes(content))
    else:
        text = dhr_html(history, header)
        write_atomically(args.output, lambda path: path.write_text(text, encoding="utf-8"))
    err.print(f"wrote the device history record of {key} to {args.output}")


def cmd_dhr_check(args: argparse.Namespace) -> int:
    from loaders.routes import load_routes
    from qms.completeness import dhr_check

    routes = load_routes(args.routes)
    if args.products:
        wanted = set(args.products)
        routes = [r for r in routes if wanted & set(r.products)]
        if not routes:
            raise InvalidInput(f"no route in {args.routes} names {', '.join(args.products)}")
    graph, records, _ = _open(args.data)
    started = time.perf_counter()
    result = dhr_check(graph, records, routes, since=args.since)
    seconds = round(time.perf_counter() - started, 2)
    if args.format == "csv":
        sys.stdout.write(result.findings.write_csv())
    elif args.format == "json":
        print(json.dumps({"checked": result.checked, "incomplete": result.incomplete,
                          "seconds": seconds,
                          "findings": result.findings.with_columns(
                              result.findings["built_at"].dt.to_string(
                                  "%Y-%m-%dT%H:%M:%S%:z")).to_dicts()}, indent=1))
    else:
        emit_mapping({"units checked": result.checked, "incomplete": result.incomplete,
                      "seconds": seconds}, "table", None)
        if result.findings.height:
            summary = result.findings.group_by("route", "finding").len().sort(
                "len", descending=True)
            emit_table(summary.to_arrow(), "table", None, title="findings")
            emit_table(result.findings.head(50).to_arrow(), "table", None,
                       title="first findings (--format csv for all)")
    return EXIT_INCOMPLETE if result.incomplete else 0


def cmd_effectivity(args: argparse.Namespace) -> None:
    from qms.effectivity import effectivity

    graph, records, _ = _open(args.data)
    result = effectivity(graph, records, args.record_id)
    if args.format == "csv":
        sys.stdout.write(result.units.write_csv())
        return
    if args.format == "json":
        print(json.dumps({"change_order": args.record_id,
                          "effective_from": result.order["effective_from"],
                          "counts": result.counts(),
                          "shipped_lacking": result.lacking()["key"].to_list()}, indent=1))
        return
    emit_mapping({"change order": args.record_id,
                  "effective from": result.order["effective_from"], **result.counts()},
                 "table", None)
    emit_table(result.lacking().to_arrow(), "table", None,
               title="shipped units built before it took effect")


def cmd_kpi(args: argparse.Namespace) -> None:
    from index.quality_records import QualityRecords
    from qms.kpi import kpis
    from recall.cases import Cases
    from server.read_only import ReadOnlyRecords

    store = ReadOnlyRecords(args.data)
    if args.by == "supplier":  # the genealogy says which supplier each lot came from
        import engine
        from qms.kpi import supplier_nc_rates

        table = supplier_nc_rates(QualityRecords(store), engine.open(args.data, warm=False))
        title = "nonconformances per supplier (lots with an NC / lots supplied)"
    elif args.by == "work_order":  # the plan (ERP order data) against the genealogy
        import engine
        from index.master import MasterData
        from qms.kpi import plan_attainment

        table = plan_attainment(engine.open(args.data, warm=False), MasterData(store))
        title = f"plan attainment of {table.height:,} planned work order(s)"
    elif args.by == "lot":  # the genealogy's quantities
        import engine
        from qms.kpi import mass_balance

        table = mass_balance(engine.open(args.data, warm=False))
        title = (f"mass balance of {table.height:,} lots with a quantity: "
                 f"{int(table['over_consumed'].sum()):,} consumed more than they held")
    else:  # per period from records and cases; with routes, the DHR defect rate too
        records = QualityRecords(store)
        table = kpis(records, Cases(store).all(), args.period)
        if args.routes is not None:
            import polars as pl

            import engine
            from loaders.routes import load_routes
            from qms.completeness import defect_rates, dhr_check
            from qms.kpi import PERIODS

            rates = defect_rates(dhr_check(engine.open(args.data), records,
                                           load_routes(args.routes)), PERIODS[args.period])
            table = (table.join(rates, on="period", how="full", coalesce=True)
                     .sort("period").with_columns(
                         pl.col("units_built", "incomplete_dhrs").fill_null(0)))
        table = table.with_columns(table["period"].dt.strftime("%Y-%m-%d"))
        title = f"quality KPIs per {args.period}"
    if args.format == "csv":
        sys.stdout.write(table.write_csv())
    elif args.format == "json":
        print(json.dumps(table.to_dicts(), indent=1))
    else:
        emit_table(table.to_arrow(), "table", None, title=title)


def _check_alerts(live: Any, graph: Any, by: Any) -> list[Any]:
    from qms.alerts import check

    return check(live, graph, by)


def cmd_alerts(args: argparse.Namespace) -> int:
    import engine
    from index.live import LiveStore
    from qms.alerts import Alerts
    from server.cli_trust import local_principal, signed_in
    from server.read_only import ReadOnlyRecords

    verb = args.verb or "list"
    if args.data is None:
        raise InvalidInput("give the data directory: --data DIR")
    if verb in ("list", "rules") and not (verb == "rules" and args.file):
        alerts = Alerts(ReadOnlyRecords(args.data))
        if verb == "rules":
            print(alerts.rules_text() or "# no alert rules set", end="")
            return 0
        shown = [a for a in alerts.all() if args.state in ("all", a.state)
                 or (args.state == "active" and a.state != "cleared")]
        if args.format == "json":
            print(json.dumps([asdict(a) for a in shown], indent=1))
            return 0
        emit_table(pa.Table.from_pylist([
            {"id": a.id, "state": a.state, "rule": a.rule, "group": a.group, "value": a.value,
             "threshold": a.threshold, "raised_at": a.raised_at, "title": a.title}
            for a in shown]), "table", None, title=f"{len(shown)} {args.state} alert(s)")
        return 0
    with LiveStore(args.data) as live:
        alerts = Alerts(live)
        if verb == "rules":
            rules = alerts.set_rules(args.file.read_text(encoding="utf-8"),
                                     local_principal(args.data), str(args.file))
            err.print(f"{len(rules)} alert rule(s) set: {', '.join(r.id for r in rules)}")
            verb = "check"  # the new rules are measured at once
        if verb == "check":
            graph = engine.Graph(live.view().snapshot, live.view)
            changed = _check_alerts(live, graph, local_principal(args.data))
            for alert in changed:
                print(f"alert {alert.id} {alert.state}: {alert.title} ({alert.group}: "
                      f"{alert.value}, threshold {alert.threshold})")
            err.print(f"{len(changed)} alert(s) raised or cleared; "
                      f"{len(alerts.active())} active")
            return 0
        by = signed_in(live, args, "alerts ack")
        acked = alerts.acknowledge(args.id, by, args.reason)
        print(f"alert {acked.id} acknowledged by {acked.acknowledged_by}")
    return 0
