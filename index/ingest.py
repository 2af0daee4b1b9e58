"""Ingest batches: what a client sends, how a group of batches is checked, what it is told.

A batch carries nodes, edges and retractions plus a batch id (`source`/`sequence`) that makes a
retry idempotent. Checks, each failure naming the table, the 1-based record number, the field and
the reason:
- the canonical row checks of `loaders.canonical` (missing or padded keys, malformed kinds, bad
  times, times in the future or before 1970, negative node quantities; a negative edge
  quantity is a reversal, which nets);
- kinds must be known (the schema's kinds, or kinds already in the store), so a typo does not
  create a new kind;
- an edge's ends must be nodes in the store or created by the same batch (or an earlier batch of
  the same group); no self-loops;
- a node key that already exists folds when its kind matches and is rejected otherwise;
- a retraction needs a reason, and must match at least one live edge.

Batch policy: `all` (the default) applies the whole batch or nothing; `valid` applies the valid
records and rejects the rest. Rejected records are kept, with their reason, in the store's
rejects log either way.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from domain.knobs import MAX_BATCH_RECORDS, MAX_SOURCE_LENGTH
from domain.time import NO_TIME, to_micros
from index.attributes import AttributeRequest
from loaders.canonical import validate_edges, validate_nodes

__all__ = [
    "MAX_BATCH_RECORDS",
    "Ack",
    "EndRequest",
    "IngestBatch",
    "RecordError",
    "RetractionRequest",
    "batch_digest",
    "check_batch_id",
    "to_micros",
    "validate_group",
]

Policy = Literal["all", "valid"]
Outcome = Literal["applied", "duplicate", "rejected"]


@dataclass(frozen=True)
class RetractionRequest:
    """Retract the live edges src -> dst of `kind` (only the one at `event_time`, if given).

    Without `event_id` a retraction names the *link*: every live assertion of it goes. With
    `event_id` it names *one assertion*: only the edges that event asserted go, and the link
    stays while another event still asserts it (how an EPCIS errorDeclaration withdraws its
    own event and nothing else)."""

    src: str
    dst: str
    kind: str
    reason: str
    event_time: datetime | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class EndRequest:
    """End the open edges src -> dst of `kind` (only the one at `event_time`, if given) at
    `at`: what was packed was unpacked then. `src` None ends every open edge into `dst`."""

    src: str | None
    dst: str
    kind: str
    at: datetime
    event_time: datetime | None = None


@dataclass
class IngestBatch:
    """One client batch. `nodes` and `edges` are canonical tables (any columns the canonical
    schema knows; CSV-style text is fine). `writer` is who sent it, recorded in the log and
    in the audit trail with `user_id` (trust.identity; 0 when no user signed in: a local
    command run by the directory's owner)."""

    source: str
    sequence: int
    nodes: pl.DataFrame | None = None
    edges: pl.DataFrame | None = None
    retractions: Sequence[RetractionRequest] = ()
    policy: Policy = "all"
    writer: str = "unknown"
    ends: Sequence[EndRequest] = ()
    user_id: int = 0
    expect: Sequence[tuple[str, bytes, bytes | None]] = ()
    """Preconditions (family, key, value the store must hold; None: absent), checked by the
    writer when the batch commits: a compare-and-set, so of two approvals of one correction
    exactly one applies."""
    side_puts: Sequence[tuple[str, bytes, bytes]] = ()
    """Records written with the batch when it applies (a correction's new state)."""
    side_audit: Sequence[Any] = ()
    """trust.audit.AuditEvent records of `side_puts`, in the same write."""
    attributes: Sequence[AttributeRequest] = ()
    """Node attribute changes (index.attributes; made by corrections only)."""

    @property
    def batch_id(self) -> str:
        return f"{self.source}/{self.sequence}"

    @property
    def records(self) -> int:
        return ((0 if self.nodes is None else self.nodes.height)
                + (0 if self.edges is None else self.edges.height) + len(self.retractions)
                + len(self.ends) + len(self.attributes))


@dataclass(frozen=True)
class RecordError:
    """Why one record was not applied: table (nodes, edges, retractions, batch), 1-based
    record number within the batch's table (0 for the batch as a whole), field, reason."""

    table: str
    row: int
    field: str
    reason: str


@dataclass(frozen=True)
class Ack:
    """The answer to one batch. `seq` is the log sequence that applied it (for a duplicate:
    the original one; 0 when rejected)."""

    batch: str
    outcome: Outcome
    seq: int
    nodes: int = 0
    edges: int = 0
    retracted: int = 0
    errors: tuple[RecordError, ...] = ()
    message: str = ""
    quality: int = 0  # quality record versions kept (server.ingest_service)


def check_batch_id(batch: IngestBatch) -> RecordError | None:
    source = batch.source
    if not isinstance(source, str) or not source or len(source) > MAX_SOURCE_LENGTH or any(
            c.isspace() or c == "/" or not c.isprintable() for c in source):
        shown = repr(source[:MAX_SOURCE_LENGTH]) + ("..." if len(source) > MAX_SOURCE_LENGTH
                                                    else "")
        return RecordError("batch", 0, "source", f"batch source {shown} must be 1 to "
                           f"{MAX_SOURCE_LENGTH} printable characters without spaces or '/'")
    if isinstance(batch.sequence, bool) or not isinstance(batch.sequence, int) or not (
            0 <= batch.sequence < 2**63):
        return RecordError("batch", 0, "sequence", f"batch sequence {batch.sequence!r} must be "
                           "a non-negative integer")
    if batch.policy not in ("all", "valid"):
        return RecordError("batch", 0, "policy", f"batch policy {batch.policy!r} is not 'all' "
                           "or 'valid'")
    if batch.records > MAX_BATCH_RECORDS:
        return RecordError("batch", 0, "records", f"batch has {batch.records:,} records; at "
                           f"most {MAX_BATCH_RECORDS:,} per batch (split it)")
    if batch.records == 0 and not batch.side_audit:
        return RecordError("batch", 0, "records", "batch is empty")
    return None


def batch_digest(batch: IngestBatch) -> str:
    """SHA-256 of a batch's content: a retry has the same digest, a reused batch id does not."""
    digest = hashlib.sha256()
    for frame in (batch.nodes, batch.edges):
        if frame is not None and frame.height:
            table = frame.to_arrow()
            sink = io.BytesIO()
            with pa.ipc.new_stream(sink, table.schema) as writer:  # only the rows, even of a slice
                writer.write_table(table)
            digest.update(sink.getvalue())
        digest.update(b"|")
    digest.update(json.dumps([[r.src, r.dst, r.kind, r.reason, str(r.event_time)]
                              + ([] if r.event_id is None else [r.event_id])
                              for r in batch.retractions]).encode())
    if batch.ends:
        digest.update(json.dumps([[e.src, e.dst, e.kind, str(e.at), str(e.event_time)]
                                  for e in batch.ends]).encode())
    if batch.attributes:
        digest.update(json.dumps([[a.key, a.field, a.value] for a in batch.attributes]).encode())
    return digest.hexdigest()


@dataclass
class Checked:
    """One batch after the row checks: valid rows (row numbers kept) and the errors."""

    nodes: pl.DataFrame
    edges: pl.DataFrame
    errors: list[RecordError] = field(default_factory=list)


def _label(frames: list[pl.DataFrame | None]) -> pl.DataFrame | None:
    """Concatenate the group's frames, tagging rows with their batch index and record number."""
    # hstack of ready-made columns: no query plan per batch (polars' fixed cost per call).
    parts = [frame.hstack([pl.Series("__file", [str(i)] * frame.height, dtype=pl.String),
                           pl.Series("__row", np.arange(1, frame.height + 1, dtype=np.int64))])
             for i, frame in enumerate(frames) if frame is not None and frame.height]
    if not parts:
        return None
    return pl.concat(parts, how="diagonal_relaxed")


def _errors_by_batch(rejects: pl.DataFrame, table: str, out: list[Checked]) -> None:
    for file, row, field_name, reason in rejects.select("file", "row", "field",
                                                        "reason").iter_rows():
        out[int(file)].errors.append(RecordError(table, int(row), field_name, reason))


def validate_group(batches: Sequence[IngestBatch], now: datetime) -> list[Checked]:
    """The canonical row checks for a whole group of batches in one polars pass per table
    (per-call overhead dominates small batches). Raises InvalidInput only for a frame that
    cannot be a node or edge table at all (missing required columns)."""
    empty_nodes = pl.DataFrame(schema={"key": pl.String, "kind": pl.String, "product": pl.String,
                                       "quantity": pl.Float64, "uom": pl.String,
                                       "created_at": pl.Datetime("us", "UTC"),
                                       "__row": pl.Int64, "__file": pl.String})
    empty_edges = pl.DataFrame(schema={"src": pl.String, "dst": pl.String, "kind": pl.String,
                                       "event_time": pl.Datetime("us", "UTC"),
                                       "recorded_at": pl.Datetime("us", "UTC"),
                                       "quantity": pl.Float64, "event_id": pl.String,
                                       "__row": pl.Int64, "__file": pl.String})
    out = [Checked(empty_nodes, empty_edges) for _ in batches]
    nodes = _label([b.nodes for b in batches])
    if nodes is not None:
        loaded = validate_nodes(nodes, "ingest")
        _errors_by_batch(loaded.rejects, "nodes", out)
        for (file,), part in loaded.table.partition_by("__file", as_dict=True).items():
            out[int(str(file))].nodes = part
    edges = _label([b.edges for b in batches])
    if edges is not None:
        loaded = validate_edges(edges, "ingest", now)
        _errors_by_batch(loaded.rejects, "edges", out)
        for (file,), part in loaded.table.partition_by("__file", as_dict=True).items():
            out[int(str(file))].edges = part
    return out


def epoch_micros(column: pl.Series, *, nulls: bool = False) -> pa.Array:
    """A validated UTC microsecond time column as int64; a null becomes int64 min (the no-time
    sentinel of the kernels) unless `nulls` keeps it. Through Arrow: polars' per-call overhead
    is 20x the work."""
    times = column.to_arrow()
    if isinstance(times, pa.ChunkedArray):
        times = times.combine_chunks()
    if pa.types.is_timestamp(times.type) and times.type.unit != "us":
        times = times.cast(pa.timestamp("us", tz=times.type.tz))
    micros = times.cast(pa.int64())
    return micros if nulls else pc.fill_null(micros, NO_TIME)
