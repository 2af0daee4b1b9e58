"""The Genealogy servicer: adapters over the engine API. Each method unpacks the request, calls
plain engine code, maps errors through `server.status`, and returns or streams the answer.

A call's cancellation or deadline sets the query's `Cancellation`, so a long traversal stops
within a few thousand nodes instead of running on for a client that is gone.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pyarrow as pa

from domain import knobs
from domain.errors import Unavailable
from engine import (
    Cancellation,
    Graph,
    InvalidInput,
    QueryCancelled,
    ResultLimitExceeded,
    TraceError,
)
from index.master import MasterData, finished_products
from recall.columns import split_columns, with_master_columns
from server.calls import CallGuard, WatchedCall
from server.convert.queries import (
    chunk_rows_from_proto,
    direction_from_proto,
    drawing_to_proto,
    filters_from_proto,
    format_from_proto,
    impact_to_proto,
    node_to_proto,
    path_to_proto,
    stats_to_proto,
)
from server.convert.rows import from_timestamp, table_chunks
from server.convert.wire import IMPACT_ROWS_TAG, varint
from server.rpc import genealogy_pb2 as pb
from server.rpc import genealogy_pb2_grpc as pb_grpc
from server.status import abort_for, abort_with

__all__ = ["GenealogyService", "Limits", "add_service"]

log = logging.getLogger(__name__)
MAX_DRAWN = 20_000
"""The most nodes and edges a Draw call may ask for (a browser draws 2,000 well)."""
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """Explicit bounds for every request; nothing is left to library defaults."""

    default_rows: int = knobs.DEFAULT_ROWS
    max_rows: int = knobs.MAX_ROWS
    max_seeds: int = knobs.MAX_SEEDS
    unary_rows: int = knobs.UNARY_ROWS


class _Status(Exception):
    """Raised inside a servicer method to end the call with this status code and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _rpc(method: Callable[..., T]) -> Callable[..., T]:
    """Map TraceErrors to status codes, cancellation to CANCELLED or DEADLINE_EXCEEDED, and
    anything unexpected to INTERNAL with a short message (the traceback goes to the log).
    A streaming method holds a stream slot (server.calls) from before its query runs until
    its last message went out."""

    @functools.wraps(method)
    def wrapper(self: GenealogyService, request: Any, context: grpc.ServicerContext) -> Any:
        call = (self.calls.acquire(context, method.__name__)
                if method.__name__ in _STREAMING else None)
        try:
            result = method(self, request, context)
            if call is not None:
                assert isinstance(result, Iterator)
                stream, call = _guard_stream(result, context, self.calls, call), None
                return stream
            return result
        except TraceError as e:
            _abort(context, e)
        except _Status as e:
            context.abort(e.code, e.message)
        except Exception:
            log.exception("internal error in %s", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
        finally:
            if call is not None:  # the query failed before its stream began
                self.calls.release(call)
        raise AssertionError("unreachable")  # context.abort always raises

    return wrapper


_STREAMING = frozenset({"Trace", "Hourglass", "Impact"})


def _guard_stream(stream: Iterator[T], context: grpc.ServicerContext, calls: CallGuard,
                  call: WatchedCall) -> Iterator[T]:
    """Yield the stream's messages, each one progress (the watchdog cancels a stream whose
    client stopped reading); give the slot back however the stream ends."""
    try:
        for message in stream:
            yield message
            call.progress()  # resumed: the previous message was taken
    except TraceError as e:
        _abort(context, e)
    except Exception:
        log.exception("internal error while streaming")
        context.abort(grpc.StatusCode.INTERNAL, "internal error; see the server log")
    finally:
        calls.release(call)


def _abort(context: grpc.ServicerContext, error: TraceError) -> None:
    if isinstance(error, QueryCancelled):
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            abort_with(context, grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded while "
                       "the query ran; raise the deadline or narrow the query",
                       "QUERY_CANCELLED")
    abort_for(context, error)


def _cancellation(context: grpc.ServicerContext) -> Cancellation:
    cancellation = Cancellation()
    context.add_callback(cancellation.cancel)  # runs when the call ends early or completes
    return cancellation


class GenealogyService(pb_grpc.GenealogyServicer):  # type: ignore[misc]
    """tracegraph.v1.Genealogy over one opened Graph."""

    def __init__(self, graph: Graph | None, limits: Limits | None = None,
                 calls: CallGuard | None = None) -> None:
        self._graph = graph
        self.limits = limits or Limits()
        self.calls = calls or CallGuard()
        # Master data (set by the server once the store is open), read per call: it changes
        # while the server runs. Impact counts its finished products; Trace adds expiry.
        self.master_data: Callable[[], MasterData] | None = None

    def unit_products(self) -> list[str] | None:
        """The products whose lots and serials are finished units; None: every one."""
        return None if self.master_data is None else finished_products(self.master_data())

    def _trace(self, request: pb.TraceRequest, context: grpc.ServicerContext,
               limit: int) -> pa.Table:
        engine_columns, _ = split_columns(request.columns)
        table = self.graph.trace(
            self._seeds(request.seeds), direction_from_proto(request.direction), limit=limit,
            via=request.include_via, cancellation=_cancellation(context),
            time_respecting=request.time_respecting, products=list(request.products) or None,
            columns=engine_columns, **filters_from_proto(request.filters))
        return with_master_columns(table, request.columns, self.master_data)

    @property
    def graph(self) -> Graph:
        """The graph being served; until it is loaded every call is UNAVAILABLE."""
        if self._graph is None:
            raise Unavailable("warming up: the snapshot is not loaded yet; retry shortly")
        return self._graph

    @graph.setter
    def graph(self, graph: Graph) -> None:
        self._graph = graph

    def kind_names(self, table: pa.Table | None) -> list[str]:
        """The kind names the rows' codes refer to: the result's own dictionary (a live graph
        adds kinds, and a compaction renumbers them, between two calls)."""
        if table is not None and table.num_rows:
            column = table.column("kind")
            if pa.types.is_dictionary(column.type):
                names: list[str] = column.chunk(0).dictionary.to_pylist()
                return names
        return list(self.graph.node_kinds)

    def _limit(self, requested: int) -> int:
        if requested == 0:
            return self.limits.default_rows
        if requested > self.limits.max_rows:
            raise InvalidInput(f"limit {requested:,} is above the server maximum "
                               f"{self.limits.max_rows:,}")
        return requested

    def _seeds(self, seeds: Any) -> list[str]:
        if len(seeds) > self.limits.max_seeds:
            raise InvalidInput(f"{len(seeds):,} seeds is above the server maximum "
                               f"{self.limits.max_seeds:,}; split the request")
        return list(seeds)

    @_rpc
    def Trace(self, request: pb.TraceRequest,  # noqa: N802 - gRPC method name
              context: grpc.ServicerContext) -> Iterator[bytes]:
        arrow = format_from_proto(request.format)
        chunk_rows = chunk_rows_from_proto(request.chunk_rows)
        table = self._trace(request, context, self._limit(request.limit))
        return table_chunks(table, self.kind_names(table), chunk_rows, arrow=arrow)

    @_rpc
    def TraceUnary(self, request: pb.TraceRequest,  # noqa: N802
                   context: grpc.ServicerContext) -> bytes:
        arrow = format_from_proto(request.format)
        limit = self._limit(request.limit)
        cap = self.limits.unary_rows
        try:
            table = self._trace(request, context, min(limit, cap))
        except ResultLimitExceeded:
            if limit <= cap:
                raise
            raise _Status(grpc.StatusCode.OUT_OF_RANGE,
                          f"the answer has more than {cap:,} rows, too many for TraceUnary; "
                          "stream it with Trace") from None
        names = self.kind_names(table)
        return next(table_chunks(table, names, max(table.num_rows, 1), arrow=arrow))

    @_rpc
    def Hourglass(self, request: pb.HourglassRequest,  # noqa: N802
                  context: grpc.ServicerContext) -> Iterator[bytes]:
        arrow = format_from_proto(request.format)
        chunk_rows = chunk_rows_from_proto(request.chunk_rows)
        table = self.graph.hourglass(request.key, limit=self._limit(request.limit),
                                     cancellation=_cancellation(context),
                                     **filters_from_proto(request.filters))
        return table_chunks(table, self.kind_names(table), chunk_rows, arrow=arrow)

    @_rpc
    def Impact(self, request: pb.ImpactRequest,  # noqa: N802
               context: grpc.ServicerContext) -> Iterator[bytes | pb.ImpactChunk]:
        arrow = format_from_proto(request.format)
        chunk_rows = chunk_rows_from_proto(request.chunk_rows)
        filters = filters_from_proto(request.filters, depth_and_nodes=False)
        depth = request.filters.max_depth if request.filters.HasField("max_depth") else None
        result = self.graph.impact(self._seeds(request.seeds), max_depth=depth,
                                   limit=self._limit(request.limit), rows=request.include_rows,
                                   cancellation=_cancellation(context),
                                   unit_products=self.unit_products(), **filters)
        summary = impact_to_proto(result)
        return _impact_stream(summary, result.rows, self.kind_names(result.rows), chunk_rows,
                              arrow)

    @_rpc
    def Path(self, request: pb.PathRequest,  # noqa: N802
             context: grpc.ServicerContext) -> pb.PathResponse:
        chain = self.graph.path(request.source, request.target,
                                cancellation=_cancellation(context),
                                **filters_from_proto(request.filters, depth_and_nodes=False))
        return path_to_proto(chain)

    @_rpc
    def Draw(self, request: pb.DrawRequest,  # noqa: N802
             context: grpc.ServicerContext) -> pb.Drawing:
        f = request.filters
        if f.edge_kinds or f.node_kinds or f.HasField("since") or f.HasField("until"):
            raise InvalidInput("Draw honours filters.max_depth and filters.as_of only")
        if request.max_elements > MAX_DRAWN:
            raise InvalidInput(f"max_elements {request.max_elements:,} is above "
                               f"{MAX_DRAWN:,}")
        drawing = self.graph.drawing(
            self._seeds(request.seeds),
            "hourglass" if request.hourglass else direction_from_proto(request.direction),
            max_depth=f.max_depth if f.HasField("max_depth") else None,
            as_of=from_timestamp(f.as_of, f.HasField("as_of"), "filters.as_of"),
            hide_kinds=list(request.hide_kinds), expand=list(request.expand),
            max_elements=request.max_elements or 2000, cancellation=_cancellation(context))
        return drawing_to_proto(drawing)

    @_rpc
    def GetNode(self, request: pb.GetNodeRequest,  # noqa: N802
                context: grpc.ServicerContext) -> pb.Node:
        return node_to_proto(self.graph.node(request.key))

    @_rpc
    def Stats(self, request: pb.StatsRequest,  # noqa: N802
              context: grpc.ServicerContext) -> pb.StatsResponse:
        return stats_to_proto(self.graph.stats(), default_limit=self.limits.default_rows,
                              max_limit=self.limits.max_rows,
                              unary_max_rows=self.limits.unary_rows)


def _impact_stream(summary: pb.ImpactSummary, rows: Any, kind_names: list[str],
                   chunk_rows: int, arrow: bool) -> Iterator[bytes | pb.ImpactChunk]:
    yield pb.ImpactChunk(summary=summary)
    if rows is not None:
        for chunk in table_chunks(rows, kind_names, chunk_rows, arrow=arrow):
            yield IMPACT_ROWS_TAG + varint(len(chunk)) + chunk  # ImpactChunk.rows


def add_service(service: GenealogyService, server: grpc.Server) -> None:
    """Register the service like the generated add_GenealogyServicer_to_server, with response
    serializers that pass already-encoded bytes through (see server.convert.wire)."""
    descriptor = pb.DESCRIPTOR.services_by_name["Genealogy"]
    handlers = {}
    for method in descriptor.methods:
        request = getattr(pb, method.input_type.name)
        response = getattr(pb, method.output_type.name)
        factory = (grpc.unary_stream_rpc_method_handler if method.server_streaming
                   else grpc.unary_unary_rpc_method_handler)
        handlers[method.name] = factory(
            getattr(service, method.name), request_deserializer=request.FromString,
            response_serializer=_passthrough(response.SerializeToString))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(descriptor.full_name, handlers),))
    server.add_registered_method_handlers(descriptor.full_name, handlers)


def _passthrough(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def serializer(message: Any) -> bytes:
        return message if isinstance(message, bytes) else serialize(message)

    return serializer
