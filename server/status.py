"""The one table between tracegraph errors and gRPC status codes, both ways.

The server maps a raised `TraceError` to a status code with its message (never UNKNOWN, never a
traceback); the client maps a status code back to the same error class, so callers of the
client and of the in-process engine catch the same exceptions.
"""

from __future__ import annotations

import grpc

from loaders.errors import (
    EmptySeeds,
    InvalidInput,
    NotConnected,
    QueryCancelled,
    ResultLimitExceeded,
    SnapshotError,
    TraceError,
    UnknownNode,
)

__all__ = ["STATUS_OF", "error_from_status", "status_of"]

# Most specific first: the first matching class wins.
STATUS_OF: tuple[tuple[type[TraceError], grpc.StatusCode], ...] = (
    (EmptySeeds, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownNode, grpc.StatusCode.NOT_FOUND),
    (NotConnected, grpc.StatusCode.NOT_FOUND),
    (ResultLimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (QueryCancelled, grpc.StatusCode.CANCELLED),
    (SnapshotError, grpc.StatusCode.UNAVAILABLE),
)


def status_of(error: TraceError) -> grpc.StatusCode:
    for kind, code in STATUS_OF:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


class RemoteUnknownNode(UnknownNode):
    """UnknownNode as reported by a server: the message is the server's, word for word."""

    def __init__(self, message: str) -> None:
        TraceError.__init__(self, message)
        self.key = ""
        self.suggestions = ()


def error_from_status(code: grpc.StatusCode, message: str) -> TraceError:
    """The TraceError a client raises for a failed call."""
    if code == grpc.StatusCode.NOT_FOUND:
        if "is not downstream of" in message:
            return NotConnected(message)
        return RemoteUnknownNode(message)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidInput(message)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResultLimitExceeded(0, message)
    if code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
        return QueryCancelled(f"{code.name.lower()}: {message}")
    if code == grpc.StatusCode.UNAVAILABLE:
        return SnapshotError(f"server unavailable: {message}")
    return TraceError(f"{code.name}: {message}")
