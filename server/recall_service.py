"""tracegraph.v1.Recalls: recall cases over the live store (recall.cases), an adapter like the
other servicers: unpack the request, call the recall code, map errors, return."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc

from domain.errors import InvalidInput, TraceError, Unavailable
from domain.time import parse_time
from index.master import MasterData
from index.store import Store
from recall.cases import Cases, Diff, RecallCase, compare
from recall.consignees import COLUMNS, consignee_list
from server.auth import Gate, require
from server.convert.rows import from_timestamp, timestamp
from server.recall_exports import FORMATS, TEMPLATES, Header, export
from server.rpc import recall_pb2 as rpb
from server.rpc import recall_pb2_grpc as rpb_grpc
from server.seeds import resolve_seeds
from server.status import abort_for
from trust.audit import iso_ms

__all__ = ["RecallsService"]

T = TypeVar("T")

_TEXT = tuple(c for c in COLUMNS if c not in ("ship_date", "quantity"))
EXPORT_CHUNK = 1024 * 1024
MEDIA = {"csv": "text/csv", "json": "application/json", "pdf": "application/pdf",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _case(case: RecallCase) -> rpb.RecallCase:
    as_of = parse_time(case.as_of)
    assert as_of is not None
    return rpb.RecallCase(id=case.id, title=case.title, state=case.state, drill=case.drill,
                          as_of=timestamp(as_of), log_sequence=case.log_sequence,
                          result_hash=case.result_hash,
                          customers=case.counts["customers"],
                          shipments=case.counts["shipments"], rows=case.counts["rows"],
                          units=float(case.counts["units"]),
                          json=case.encode().decode("utf-8"))


def _diff(diff: Diff) -> rpb.RecallDiff:
    before, after = parse_time(diff.before), parse_time(diff.after)
    assert before is not None
    assert after is not None
    summary = diff.summary()
    return rpb.RecallDiff(
        before=timestamp(before), after=timestamp(after), rows_added=summary["rows_added"],
        rows_removed=summary["rows_removed"], units_change=float(summary["units_change"]),
        customers=[rpb.CustomerChange(customer=r["customer"] or "",
                                      units_before=r["units_before"],
                                      units_after=r["units_after"])
                   for r in diff.by_customer.iter_rows(named=True)])


def _row(row: dict[str, Any]) -> rpb.ConsigneeRow:
    message = rpb.ConsigneeRow()
    for column in _TEXT:
        setattr(message, column, row[column] or "")
    if row["ship_date"] is not None:
        message.ship_date.CopyFrom(timestamp(row["ship_date"]))
    if row["quantity"] is not None and not math.isnan(row["quantity"]):
        message.quantity = row["quantity"]
    return message


class RecallsService(rpb_grpc.RecallsServicer):  # type: ignore[misc]
    def __init__(self, gate: Gate, live: Callable[[], Any], graph: Callable[[], Any],
                 store: Callable[[], AbstractContextManager[Store]]) -> None:
        """`live()`: the writer (None on a read-only server); `graph()`: the served graph;
        `store()`: a store to read cases from (the writer's, or a read-only open)."""
        self.gate = gate
        self.live = live
        self.graph = graph
        self.store = store

    def _writer(self) -> tuple[Cases, Any]:
        live, graph = self.live(), self.graph()
        if live is None or graph is None:
            raise Unavailable("recall cases are changed and exported on the server that owns "
                              "the data directory (this one is read-only, or still loading)")
        return Cases(live), graph

    def _call(self, context: grpc.ServicerContext, work: Callable[[Any], T]) -> T:
        principal = require(context)
        try:
            return work(principal)
        except TraceError as error:
            abort_for(context, error)
            raise

    def Open(self, request: rpb.OpenRecallRequest,  # noqa: N802 - gRPC method name
             context: grpc.ServicerContext) -> rpb.RecallCase:
        def work(by: Any) -> rpb.RecallCase:
            cases, graph = self._writer()
            filters = {"max_depth": request.max_depth or None,
                       "edge_kinds": list(request.edge_kinds) or None,
                       "since": from_timestamp(request.since, request.HasField("since"),
                                               "since"),
                       "until": from_timestamp(request.until, request.HasField("until"),
                                               "until")}
            case, _ = cases.open(request.title, resolve_seeds(graph, request.seeds), filters,
                                 request.reason, by, graph.shipped_rows, graph.log_sequence,
                                 graph.snapshot.version, drill=request.drill)
            return _case(case)
        return self._call(context, work)

    def Get(self, request: rpb.GetRecallRequest,  # noqa: N802
            context: grpc.ServicerContext) -> rpb.RecallCase:
        def work(_: Any) -> rpb.RecallCase:
            with self.store() as store:
                return _case(Cases(store).get(request.id))
        return self._call(context, work)

    def List(self, request: rpb.ListRecallsRequest,  # noqa: N802
             context: grpc.ServicerContext) -> Iterator[rpb.RecallCase]:
        def work(_: Any) -> list[rpb.RecallCase]:
            with self.store() as store:
                return [_case(c) for c in Cases(store).all()]
        yield from self._call(context, work)

    def Refresh(self, request: rpb.RefreshRecallRequest,  # noqa: N802
                context: grpc.ServicerContext) -> rpb.RecallDiff:
        def work(by: Any) -> rpb.RecallDiff:
            cases, graph = self._writer()
            _, diff = cases.refresh(request.id, by, graph.shipped_rows, graph.log_sequence,
                                    graph.snapshot.version)
            return _diff(diff)
        return self._call(context, work)

    def Diff(self, request: rpb.RecallDiffRequest,  # noqa: N802
             context: grpc.ServicerContext) -> rpb.RecallDiff:
        def work(_: Any) -> rpb.RecallDiff:
            graph = self.graph()
            if graph is None:
                raise Unavailable("the server is still loading")
            with self.store() as store:
                cases = Cases(store)
                case = cases.get(request.id)
                times: list[datetime | None] = [
                    from_timestamp(request.before, request.HasField("before"), "before"),
                    from_timestamp(request.after, request.HasField("after"), "after")]
                if all(t is not None for t in times):
                    before, after = (cases.answer(graph.shipped_rows, case.seeds, case.filters, t,
                                                  graph.log_sequence, graph.snapshot.version)
                                     for t in times)
                else:
                    before = cases.pinned(case, graph.shipped_rows)
                    after = cases.answer(graph.shipped_rows, case.seeds, case.filters, None,
                                         graph.log_sequence, graph.snapshot.version)
            return _diff(compare(before, after))
        return self._call(context, work)

    def Consignees(self, request: rpb.ConsigneesRequest,  # noqa: N802
                   context: grpc.ServicerContext) -> Iterator[rpb.ConsigneeRow]:
        def work(by: Any) -> list[dict[str, Any]]:
            cases, graph = self._writer()
            case = cases.get(request.id)
            consignees = consignee_list(cases.pinned(case, graph.shipped_rows).rows,
                                        MasterData(cases.records))
            cases.record_export(case.id, by, "grpc", "consignees", "Recalls.Consignees",
                                consignees.rows.height)
            return consignees.rows.to_dicts()
        for row in self._call(context, work):
            yield _row(row)

    def Export(self, request: rpb.ExportRecallRequest,  # noqa: N802
               context: grpc.ServicerContext) -> Iterator[rpb.ExportChunk]:
        fmt, template = request.format or "csv", request.template or "consignees"

        def work(by: Any) -> tuple[Path, int]:
            if fmt not in FORMATS:
                raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
            if template not in TEMPLATES:
                raise InvalidInput(f"template must be one of {', '.join(TEMPLATES)}, got "
                                   f"{template!r}")
            cases, graph = self._writer()
            case = cases.get(request.id)
            consignees = consignee_list(cases.pinned(case, graph.shipped_rows).rows,
                                        MasterData(cases.records))
            header = Header(case.id, case.title, case.drill, iso_ms(datetime.now(UTC)),
                            by.printed, case.snapshot_version, case.log_sequence, case.as_of,
                            case.result_hash)
            target = Path(folder) / f"recall-{case.id}-{template}.{fmt}"
            rows = export(consignees, header, target, fmt, template)
            cases.record_export(case.id, by, fmt, template, "Recalls.Export", rows)
            return target, rows

        with tempfile.TemporaryDirectory(prefix="tracegraph-export-") as folder:
            target, rows = self._call(context, work)
            with target.open("rb") as file:
                yield rpb.ExportChunk(filename=target.name, media_type=MEDIA[fmt], rows=rows,
                                      data=file.read(EXPORT_CHUNK))
                while data := file.read(EXPORT_CHUNK):
                    yield rpb.ExportChunk(data=data)

    def Close(self, request: rpb.CloseRecallRequest,  # noqa: N802
              context: grpc.ServicerContext) -> rpb.RecallCase:
        def work(by: Any) -> rpb.RecallCase:
            cases, _ = self._writer()
            if cases.get(request.id).state != "open":  # what is wrong with the request first,
                raise InvalidInput(f"recall case {request.id} is closed")
            if not request.reason.strip():  # then who is asking
                raise InvalidInput("closing a recall case needs a reason (what was done)")
            directory = self.gate.directory
            if directory is None:
                raise Unavailable("no user directory")
            signer = directory.login(by.name, request.password, via="signature")
            return _case(cases.close(request.id, signer, request.reason))
        return self._call(context, work)
