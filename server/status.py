"""Between tracegraph errors and gRPC statuses, both ways, from the one table
(`domain.errors.REASONS`).

The server ends a failed call with the class's status code, its message, and a
`google.rpc.ErrorInfo` (domain "tracegraph.v1", reason such as "UNKNOWN_NODE") in the status
details (grpcio-status); never UNKNOWN, never a traceback. The client maps the reason back to
the same class, so callers of the client and of the in-process engine catch the same
exceptions; a server that sent no ErrorInfo (or another one) is mapped by status code alone.
Nothing here reads message text.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from domain.errors import (
    REASONS,
    InvalidInput,
    QueryCancelled,
    ResultLimitExceeded,
    SnapshotError,
    TraceError,
    Unavailable,
    UnknownNode,
    reason_of,
)

__all__ = ["ERROR_DOMAIN", "abort_for", "abort_with", "error_from_rpc", "status_of"]

ERROR_DOMAIN = "tracegraph.v1"
_BY_REASON: dict[str, type[TraceError]] = {reason: kind for kind, _code, reason in REASONS}
_BY_CODE: dict[grpc.StatusCode, type[TraceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.NOT_FOUND: UnknownNode,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResultLimitExceeded,
    grpc.StatusCode.CANCELLED: QueryCancelled,
    grpc.StatusCode.DEADLINE_EXCEEDED: QueryCancelled,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DATA_LOSS: SnapshotError,
}


def status_of(error: TraceError) -> grpc.StatusCode:
    code: grpc.StatusCode = getattr(grpc.StatusCode, reason_of(error)[0])
    return code


def abort_with(context: grpc.ServicerContext, code: grpc.StatusCode, message: str,
               reason: str) -> None:
    """End the call with `code`, `message` and an ErrorInfo carrying `reason` (raises)."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code_pb2.Code.Value(code.name), message=message,
                               details=[detail])
    context.abort_with_status(rpc_status.to_status(status))


def abort_for(context: grpc.ServicerContext, error: TraceError) -> None:
    """End the call for a raised TraceError, as `REASONS` says (raises)."""
    code_name, reason = reason_of(error)
    abort_with(context, getattr(grpc.StatusCode, code_name), str(error), reason)


def _reason(error: grpc.RpcError) -> str | None:
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # details that do not match the code and message: ignore them
        return None
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            return str(info.reason)
    return None


def error_from_rpc(error: grpc.RpcError) -> TraceError:
    """The TraceError a client raises for a failed call: by ErrorInfo reason, else by code."""
    code, message = error.code(), error.details() or ""
    kind: Any = _BY_REASON.get(_reason(error) or "") or _BY_CODE.get(code)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED or kind is QueryCancelled:
        return QueryCancelled(f"{code.name.lower()}: {message}")
    if kind is None:
        return TraceError(f"{code.name}: {message}")
    if issubclass(kind, UnknownNode):
        return RemoteUnknownNode(message)
    if issubclass(kind, ResultLimitExceeded):
        return ResultLimitExceeded(0, message)
    made: TraceError = kind(message)
    return made


class RemoteUnknownNode(UnknownNode):
    """UnknownNode as reported by a server: the message is the server's, word for word."""

    def __init__(self, message: str) -> None:
        TraceError.__init__(self, message)
        self.key = ""
        self.suggestions = ()
