"""The one error hierarchy of tracegraph. Every layer raises these; `server` maps them to exit
codes and gRPC status codes in one table each.

    TraceError
     +-- InvalidInput (ValueError)        malformed request or file: what, where, why
     |    +-- EmptySeeds                  a query was given no seed keys
     +-- UnknownNode (KeyError)           a key that is not in the graph (suggests close keys)
     +-- NotConnected (LookupError)       path(a, b): b is not downstream of a
     +-- ResultLimitExceeded              the answer has more rows than the caller allowed
     +-- QueryCancelled                   the caller cancelled or its deadline passed
     +-- SnapshotError                    a data directory is missing, torn or corrupt

They live at the bottom of the dependency chain (loaders) so that every package can raise them.
"""

from __future__ import annotations

__all__ = [
    "EmptySeeds",
    "InvalidInput",
    "NotConnected",
    "QueryCancelled",
    "ResultLimitExceeded",
    "SnapshotError",
    "TraceError",
    "UnknownNode",
]


class TraceError(Exception):
    """Base of every error tracegraph raises on purpose."""


class InvalidInput(TraceError, ValueError):
    """The request or input file is malformed; the message says what, where and why."""


class EmptySeeds(InvalidInput):
    """A query needs at least one seed key; an empty list is an error, not an empty answer."""


class UnknownNode(TraceError, KeyError):
    """A key that is not in the graph. `suggestions` holds known keys close to it."""

    def __init__(self, key: str, suggestions: tuple[str, ...] = ()) -> None:
        self.key = key
        self.suggestions = suggestions
        message = f"unknown node key {key!r}"
        if suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class NotConnected(TraceError, LookupError):
    """No genealogy chain leads from the source to the target under the given filters."""


class ResultLimitExceeded(TraceError):
    """The answer has more rows than `limit`; narrow the query (depth, kinds, time) or raise it."""

    def __init__(self, limit: int, message: str) -> None:
        self.limit = limit
        super().__init__(message)


class QueryCancelled(TraceError):
    """The caller cancelled the query or its deadline passed; partial work is discarded."""


class SnapshotError(TraceError):
    """A data directory has no loadable snapshot, or a snapshot file is torn or corrupt."""
