"""The web app's JSON calls, each one gRPC call to the same server: one schema, one set of
rules. A route turns its query string (or JSON body) into the method's request message,
calls the method over a loopback channel with the browser's session token as the bearer,
and answers the response message as JSON (protobuf's JSON mapping: field names as in the
.proto, int64/uint64 as strings, enums by name).

Nothing is decided here that the gRPC server does not decide: who may call what is
trust.roles.RPC_RULES, enforced by the server's interceptor; a gRPC status becomes the
HTTP status a browser understands (UNAUTHENTICATED 401, PERMISSION_DENIED 403, ...) with
the server's message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from domain.errors import TraceError
from domain.time import parse_time
from server.rpc import auth_pb2 as apb
from server.rpc import genealogy_pb2 as pb
from server.rpc import quality_pb2 as qpb
from server.rpc import recall_pb2 as rpb

__all__ = ["EXPORT_RPC", "ROUTES", "BadRequest", "Gateway", "Route", "export_request",
           "http_status"]

Params = Mapping[str, str]
AUDIT_ROWS = 2_000
"""Audit records one page of the audit view shows; narrower filters show the rest."""


class BadRequest(ValueError):
    """A query parameter the request message cannot carry (said in one line)."""


@dataclass(frozen=True)
class Route:
    """GET/POST /api/<name> -> the gRPC method `rpc`."""

    name: str
    rpc: str
    request: Callable[[Params], Message]
    response: type[Message]
    stream: str = ""  # a server-streaming method: "first" message answers, or "all" (items)
    post: bool = False  # changes something: POST with the CSRF header
    signs: bool = False  # carries a re-entered password: a refusal is of it, not the session
    cap: int = 0  # stream "all": at most this many items (0: every one), then "truncated"


def _text(params: Params, name: str, *, required: bool = True, longest: int = 4096) -> str:
    value = params.get(name, "").strip()
    if required and not value:
        raise BadRequest(f"missing parameter {name!r}")
    if len(value) > longest:
        raise BadRequest(f"parameter {name!r} is longer than {longest:,} characters")
    return value


def _list(params: Params, name: str) -> list[str]:
    """Comma-separated keys: up to 12,000 characters (the request line of a GET must fit
    the HTTP server's 16 KiB; a few hundred keys)."""
    return [part.strip() for part in _text(params, name, required=False,
                                           longest=12_000).split(",") if part.strip()]


def _count(params: Params, name: str, *, low: int = 0, high: int = 1_000_000) -> int | None:
    value = _text(params, name, required=False)
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(f"parameter {name!r} must be a whole number from {low} to {high:,}, "
                         f"got {value[:40]!r}")
    return int(value)


def _id(params: Params) -> int:
    """A case id: required, a whole number."""
    value = _count(params, "id", low=1, high=2**32 - 1)
    if value is None:
        raise BadRequest("missing parameter 'id'")
    return value


def _flag(params: Params, name: str) -> bool:
    return _text(params, name, required=False).lower() in ("true", "1", "yes", "on")


def _direction(params: Params) -> pb.Direction:
    value = _text(params, "direction", required=False) or "downstream"
    codes: dict[str, pb.Direction] = {"downstream": pb.DOWNSTREAM, "upstream": pb.UPSTREAM}
    if value not in codes:
        raise BadRequest(f"direction must be downstream or upstream, got {value[:40]!r}")
    return codes[value]


def _filters(params: Params) -> pb.Filters:
    depth = _count(params, "depth", low=1, high=10_000)
    return pb.Filters(max_depth=depth) if depth is not None else pb.Filters()


def _draw(params: Params) -> pb.DrawRequest:
    hourglass = params.get("direction") == "hourglass"
    return pb.DrawRequest(seeds=[_text(params, "key")], hourglass=hourglass,
                          direction=pb.DOWNSTREAM if hourglass else _direction(params),
                          filters=_filters(params), hide_kinds=_list(params, "hide"),
                          expand=_list(params, "expand"),
                          max_elements=_count(params, "max", low=10, high=20_000) or 0)


def _trace(params: Params) -> pb.TraceRequest:
    return pb.TraceRequest(seeds=[_text(params, "key")], direction=_direction(params),
                           filters=_filters(params), include_via=True, format=pb.ROWS,
                           limit=_count(params, "limit", low=1, high=100_000) or 0)


def _time(params: Params, name: str) -> Timestamp | None:
    """An ISO 8601 time parameter (a date alone is its midnight UTC)."""
    text = _text(params, name, required=False)
    if not text:
        return None
    try:
        when = parse_time(text, name)
    except (ValueError, TraceError) as e:
        raise BadRequest(f"parameter {name!r}: {e}") from None
    if when is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _audit(params: Params) -> apb.AuditLogRequest:
    request = apb.AuditLogRequest(user=_text(params, "user", required=False),
                                  key=_text(params, "key", required=False),
                                  action=_text(params, "action", required=False))
    for name in ("since", "until"):
        if (stamp := _time(params, name)) is not None:
            getattr(request, name).CopyFrom(stamp)
    return request


def _decide(params: Params) -> apb.DecideRequest:
    return apb.DecideRequest(id=_id(params), reason=_text(params, "reason", required=False),
                             password=params.get("password", ""))


def _impact(params: Params) -> pb.ImpactRequest:
    keys = _list(params, "keys")
    if not keys:
        raise BadRequest("missing parameter 'keys' (comma-separated node keys)")
    return pb.ImpactRequest(seeds=keys, include_rows=False)


ROUTES: dict[str, Route] = {route.name: route for route in (
    Route("login", "/tracegraph.v1.Auth/Login",
          lambda p: apb.LoginRequest(user=_text(p, "user"), password=p.get("password", "")),
          apb.LoginResponse, post=True),
    Route("logout", "/tracegraph.v1.Auth/Logout", lambda p: apb.LogoutRequest(),
          apb.LogoutResponse, post=True),
    Route("whoami", "/tracegraph.v1.Auth/WhoAmI", lambda p: apb.WhoAmIRequest(), apb.Identity),
    Route("find", "/tracegraph.v1.Investigation/Find",
          lambda p: rpb.FindRequest(text=_text(p, "q"),
                                    limit=_count(p, "limit", low=1, high=200) or 0),
          rpb.FindResponse),
    Route("draw", "/tracegraph.v1.Genealogy/Draw", _draw, pb.Drawing),
    Route("trace", "/tracegraph.v1.Genealogy/TraceUnary", _trace, pb.RowChunk),
    Route("impact", "/tracegraph.v1.Genealogy/Impact", _impact, pb.ImpactChunk,
          stream="first"),
    Route("path", "/tracegraph.v1.Genealogy/Path",
          lambda p: pb.PathRequest(source=_text(p, "source"), target=_text(p, "target")),
          pb.PathResponse),
    Route("node", "/tracegraph.v1.Genealogy/GetNode",
          lambda p: pb.GetNodeRequest(key=_text(p, "key")), pb.Node),
    Route("dhr", "/tracegraph.v1.Quality/GetDhr",
          lambda p: qpb.DhrRequest(key=_text(p, "key")), qpb.DeviceHistory),
    Route("kpi", "/tracegraph.v1.Quality/Kpi",
          lambda p: qpb.KpiRequest(period=_text(p, "period", required=False)), qpb.KpiResponse),
    Route("alerts", "/tracegraph.v1.Quality/ListAlerts",
          lambda p: qpb.ListAlertsRequest(state=_text(p, "state", required=False)),
          qpb.Alert, stream="all"),
    Route("alert_ack", "/tracegraph.v1.Quality/AcknowledgeAlert",
          lambda p: qpb.AcknowledgeAlertRequest(id=_id(p), reason=_text(p, "reason")),
          qpb.Alert, post=True),
    Route("recalls", "/tracegraph.v1.Recalls/List", lambda p: rpb.ListRecallsRequest(),
          rpb.RecallCase, stream="all"),
    Route("recall", "/tracegraph.v1.Recalls/Get", lambda p: rpb.GetRecallRequest(id=_id(p)),
          rpb.RecallCase),
    Route("recall_open", "/tracegraph.v1.Recalls/Open",
          lambda p: rpb.OpenRecallRequest(title=_text(p, "title"), seeds=_list(p, "seeds"),
                                          reason=_text(p, "reason", required=False),
                                          drill=_flag(p, "drill")),
          rpb.RecallCase, post=True),
    Route("recall_diff", "/tracegraph.v1.Recalls/Diff",
          lambda p: rpb.RecallDiffRequest(id=_id(p)), rpb.RecallDiff),
    Route("recall_refresh", "/tracegraph.v1.Recalls/Refresh",
          lambda p: rpb.RefreshRecallRequest(id=_id(p)), rpb.RecallDiff, post=True),
    Route("consignees", "/tracegraph.v1.Recalls/Consignees",
          lambda p: rpb.ConsigneesRequest(id=_id(p)), rpb.ConsigneeRow, stream="all"),
    Route("audit", "/tracegraph.v1.Audit/Log", _audit, apb.AuditRecord, stream="all",
          cap=AUDIT_ROWS),
    Route("audit_verify", "/tracegraph.v1.Audit/Verify", lambda p: apb.AuditVerifyRequest(),
          apb.AuditVerifyResponse),
    Route("corrections", "/tracegraph.v1.Corrections/List",
          lambda p: apb.ListCorrectionsRequest(), apb.CorrectionRecord, stream="all"),
    Route("correction_approve", "/tracegraph.v1.Corrections/Approve", _decide,
          apb.CorrectionRecord, post=True, signs=True),
    Route("correction_reject", "/tracegraph.v1.Corrections/Reject", _decide,
          apb.CorrectionRecord, post=True),
    Route("recall_close", "/tracegraph.v1.Recalls/Close",
          lambda p: rpb.CloseRecallRequest(id=_id(p), reason=_text(p, "reason"),
                                           password=p.get("password", "")),
          rpb.RecallCase, post=True, signs=True),
)}
"""Every call the web app makes; anything else under /api/ is 404."""

_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.CANCELLED: 499,
}


def http_status(code: grpc.StatusCode) -> int:
    return _HTTP.get(code, 500)


def _metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return () if token is None else (("authorization", f"Bearer {token}"),)


def _json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def export_request(params: Params) -> rpb.ExportRecallRequest:
    """GET /api/download/recall?id=&format=&template= -> Recalls.Export."""
    return rpb.ExportRecallRequest(id=_id(params),
                                   format=_text(params, "format", required=False) or "csv",
                                   template=_text(params, "template", required=False))


EXPORT_RPC = "/tracegraph.v1.Recalls/Export"


class Gateway:
    """Calls the served methods over one loopback channel (thread-safe, reused)."""

    def __init__(self, target: str, timeout: float = 60.0) -> None:
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        self.timeout = timeout

    def call(self, route: Route, params: Params, token: str | None) -> dict[str, Any]:
        """The response of `route` as JSON-ready data. Raises BadRequest for parameters the
        request cannot carry and grpc.RpcError for what the server refused."""
        request = route.request(params)
        if route.stream == "all":
            stream = self.stream(route.rpc, request, route.response, token)
            items: list[dict[str, Any]] = []
            truncated = False
            try:
                for message in stream:
                    if route.cap and len(items) == route.cap:
                        truncated = True
                        break
                    items.append(_json(message))
            finally:
                stream.cancel()
            return {"items": items, "truncated": truncated}
        if route.stream == "first":
            stream = self.stream(route.rpc, request, route.response, token)
            try:
                return _json(next(iter(stream)))
            finally:
                stream.cancel()  # the first message answers; the rest are not read
        method = self.channel.unary_unary(route.rpc,
                                          request_serializer=type(request).SerializeToString,
                                          response_deserializer=route.response.FromString)
        return _json(method(request, metadata=_metadata(token), timeout=self.timeout))

    def stream(self, rpc: str, request: Message, response: type[Message],
               token: str | None) -> Any:
        """The messages of server-streaming `rpc` (a grpc call: iterate it, or cancel)."""
        call = self.channel.unary_stream(rpc, request_serializer=type(request).SerializeToString,
                                         response_deserializer=response.FromString)
        return call(request, metadata=_metadata(token), timeout=self.timeout)

    def close(self) -> None:
        self.channel.close()
