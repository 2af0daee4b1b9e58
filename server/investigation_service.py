"""tracegraph.v1.Investigation: find, common cause and containment windows over the served
graph (an adapter: unpack, call recall.find / engine, map errors, return)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from domain.errors import TraceError, Unavailable
from recall.find import find
from server.auth import require
from server.convert.rows import from_timestamp, timestamp
from server.rpc import recall_pb2 as rpb
from server.rpc import recall_pb2_grpc as rpb_grpc
from server.seeds import resolve_seed, resolve_seeds
from server.status import abort_for

__all__ = ["InvestigationService"]

T = TypeVar("T")


class InvestigationService(rpb_grpc.InvestigationServicer):  # type: ignore[misc]
    def __init__(self, graph: Callable[[], Any]) -> None:
        """`graph()`: the served engine.Graph (None while loading)."""
        self.graph = graph

    def _call(self, context: grpc.ServicerContext, work: Callable[[Any], T]) -> T:
        require(context)
        try:
            graph = self.graph()
            if graph is None:
                raise Unavailable("the server is still loading")
            return work(graph)
        except TraceError as error:
            abort_for(context, error)
            raise

    def Find(self, request: rpb.FindRequest,  # noqa: N802 - gRPC method name
             context: grpc.ServicerContext) -> rpb.FindResponse:
        def work(graph: Any) -> rpb.FindResponse:
            found = find(graph.view(), request.text, request.limit or 20)
            return rpb.FindResponse(candidates=[
                rpb.Candidate(key=c.key, kind=c.kind, product=c.product or "", why=c.why)
                for c in found])
        return self._call(context, work)

    def CommonCause(self, request: rpb.CommonCauseRequest,  # noqa: N802
                    context: grpc.ServicerContext) -> rpb.CommonCauseResponse:
        def work(graph: Any) -> rpb.CommonCauseResponse:
            table = graph.common_cause(resolve_seeds(graph, request.units),
                                       min_shared=request.min_shared or 2,
                                       limit=request.limit or 50)
            return rpb.CommonCauseResponse(rows=[
                rpb.CauseRow(**{**row, "product": row["product"] or ""})
                for row in table.to_pylist()])
        return self._call(context, work)

    def Containment(self, request: rpb.ContainmentRequest,  # noqa: N802
                    context: grpc.ServicerContext) -> rpb.ContainmentResponse:
        def work(graph: Any) -> rpb.ContainmentResponse:
            curve, units = graph.containment(
                resolve_seed(graph, request.suspect),
                since=from_timestamp(request.since, request.HasField("since"), "since"),
                until=from_timestamp(request.until, request.HasField("until"), "until"),
                unit_kinds=tuple(request.unit_kinds) or ("serial",))
            return rpb.ContainmentResponse(
                curve=[rpb.WindowStep(event_time=timestamp(r["event_time"]), edges=r["edges"],
                                      units_added=r["units_added"],
                                      units_total=r["units_total"])
                       for r in curve.to_pylist()],
                units=units.num_rows,
                unit_keys=units.column("key").to_pylist() if request.include_units else [])
        return self._call(context, work)
