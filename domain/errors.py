"""The one error hierarchy of tracegraph. Every layer raises these; `server` maps them to exit
codes and gRPC status codes through `REASONS`, the one table, and a client maps a failed call
back to the same class by its machine-readable reason (never by message text).

    TraceError
     +-- InvalidInput (ValueError)        malformed request or file: what, where, why
     |    +-- EmptySeeds                  a query was given no seed keys
     +-- UnknownNode (KeyError)           a key that is not in the graph (suggests close keys)
     +-- NotConnected (LookupError)       path(a, b): b is not downstream of a
     +-- ResultLimitExceeded              the answer has more rows than the caller allowed
     +-- QueryCancelled                   the caller cancelled or its deadline passed
     +-- Unavailable                      not now: warming up, closing; retry shortly
     +-- StoreLocked                      another process writes this data directory
     +-- SnapshotError                    a data directory is missing, torn or corrupt
     |    +-- StoreCorrupt                the store's files are damaged (`tracegraph repair`)
     +-- WriteFailed                      a write failed; the store stopped accepting writes
     +-- CompactionError                  compaction failed; the store goes on without it
     +-- Unauthenticated                  no, or no valid, credentials (sign in first)
     +-- PermissionDenied                 signed in, but the role does not allow this
     +-- AuditUnverifiable                the audit trail is missing or fails verification
     +-- Conflict                         someone else changed it first (a correction decided)

They live at the bottom of the dependency chain so that every package can raise them.
"""

from __future__ import annotations

__all__ = [
    "REASONS",
    "AuditUnverifiable",
    "CompactionError",
    "Conflict",
    "EmptySeeds",
    "InvalidInput",
    "NotConnected",
    "PermissionDenied",
    "QueryCancelled",
    "ResultLimitExceeded",
    "SnapshotError",
    "StoreCorrupt",
    "StoreLocked",
    "TraceError",
    "Unauthenticated",
    "Unavailable",
    "UnknownNode",
    "WriteFailed",
    "reason_of",
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


class Unavailable(TraceError):
    """Not now: the server is warming up or closing. Retrying shortly is right."""


class StoreLocked(TraceError):
    """Another process has the data directory open for writing."""


class SnapshotError(TraceError):
    """A data directory has no loadable snapshot, or a snapshot file is torn or corrupt."""


class StoreCorrupt(SnapshotError):
    """The store's files are damaged: a block checksum failed, a record does not decode, or
    the log has a hole. The writer stops; `tracegraph repair` says what is lost."""


class WriteFailed(TraceError):
    """A durable write failed; the store accepts no more writes until it is restarted (what
    was acknowledged is safe in the log)."""


class CompactionError(TraceError):
    """Compaction failed; the store keeps serving and ingesting from the log and the delta."""


class Unauthenticated(TraceError):
    """No credentials, or credentials that are not valid (unknown, expired, revoked, a wrong
    password). The message never says which part was wrong."""


class PermissionDenied(TraceError):
    """The caller is known, but their role does not allow this (trust.roles)."""


class Conflict(TraceError):
    """The thing changed since it was read: another approver decided the correction first."""


class AuditUnverifiable(TraceError):
    """The audit trail is missing or fails verification: the store will not start without an
    explicit, audited recovery."""


REASONS: tuple[tuple[type[TraceError], str, str], ...] = (
    (EmptySeeds, "INVALID_ARGUMENT", "EMPTY_SEEDS"),
    (InvalidInput, "INVALID_ARGUMENT", "INVALID_INPUT"),
    (UnknownNode, "NOT_FOUND", "UNKNOWN_NODE"),
    (NotConnected, "NOT_FOUND", "NOT_CONNECTED"),
    (ResultLimitExceeded, "RESOURCE_EXHAUSTED", "RESULT_LIMIT_EXCEEDED"),
    (QueryCancelled, "CANCELLED", "QUERY_CANCELLED"),
    (Unavailable, "UNAVAILABLE", "UNAVAILABLE"),
    (StoreLocked, "FAILED_PRECONDITION", "STORE_LOCKED"),
    (StoreCorrupt, "DATA_LOSS", "STORE_CORRUPT"),
    (SnapshotError, "UNAVAILABLE", "SNAPSHOT_ERROR"),
    (WriteFailed, "UNAVAILABLE", "WRITE_FAILED"),
    (CompactionError, "INTERNAL", "COMPACTION_FAILED"),
    (Unauthenticated, "UNAUTHENTICATED", "UNAUTHENTICATED"),
    (PermissionDenied, "PERMISSION_DENIED", "PERMISSION_DENIED"),
    (AuditUnverifiable, "FAILED_PRECONDITION", "AUDIT_UNVERIFIABLE"),
    (Conflict, "FAILED_PRECONDITION", "CONFLICT"),
)
"""Each class: its gRPC status code (by name: no grpc here) and its machine-readable reason,
sent as google.rpc.ErrorInfo. Most specific first: the first class that matches wins."""


def reason_of(error: TraceError) -> tuple[str, str]:
    """(status code name, reason) of an error, from `REASONS`."""
    for kind, code, reason in REASONS:
        if isinstance(error, kind):
            return code, reason
    return "INTERNAL", "INTERNAL"
