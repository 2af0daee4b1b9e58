"""tracegraph.v1.Ingest messages <-> the store's batches and acknowledgements (index.ingest).

A batch that cannot be read at all (a bad Timestamp, an unreadable or oversized Arrow table, a
table sent twice) raises `Rejected`: the servicer answers it with a REJECTED acknowledgement
naming the record and field, and the stream goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from domain.time import from_micros, to_micros
from index.ingest import (
    MAX_BATCH_RECORDS,
    Ack,
    IngestBatch,
    Outcome,
    RecordError,
    RetractionRequest,
)
from server.arrow_limits import MAX_ARROW_BYTES, ArrowTooLarge, check_arrow_payload
from server.convert.rows import TIMESTAMP_SECONDS, timestamp
from server.rpc import ingest_pb2 as ipb

__all__ = ["Rejected", "ack_from_proto", "ack_to_proto", "batch_from_proto", "batch_to_proto",
           "quality_from_proto"]

_OUTCOME: dict[Outcome, ipb.IngestOutcome] = {"applied": ipb.APPLIED, "duplicate": ipb.DUPLICATE,
                               "rejected": ipb.REJECTED}
_POLICY = {ipb.BATCH_POLICY_UNSPECIFIED: "all", ipb.ALL_OR_NOTHING: "all",
           ipb.APPLY_VALID: "valid"}
_UTC_US = pl.Datetime("us", "UTC")


_MIN_SECONDS, _MAX_SECONDS = TIMESTAMP_SECONDS


class Rejected(Exception):
    """A batch that cannot be read at all; becomes a REJECTED acknowledgement naming why."""

    def __init__(self, error: RecordError) -> None:
        super().__init__(f"{error.table} {error.row}: {error.field}: {error.reason}")
        self.error = error


def _micros(message: Any, name: str, table: str = "batch", row: int = 0) -> int | None:
    """A Timestamp field as microseconds; one outside Timestamp's range (or with nanos outside
    0..999,999,999) rejects the batch, naming the record and field (never an overflow in the
    reader thread). Times before 1970 or in the future are the row checks' to reject."""
    if not message.HasField(name):
        return None
    stamp = getattr(message, name)
    if not (_MIN_SECONDS <= stamp.seconds <= _MAX_SECONDS and 0 <= stamp.nanos < 10**9):
        raise Rejected(RecordError(table, row, name, f"{name} is not a valid Timestamp "
                                    f"(seconds {stamp.seconds}, nanos {stamp.nanos})"))
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1000


def _time(message: Any, name: str, table: str, row: int) -> datetime | None:
    micros = _micros(message, name, table, row)
    if micros is None:
        return None
    return from_micros(micros)


def _bad_arrow(name: str, reason: str) -> Rejected:
    return Rejected(RecordError("batch", 0, name, reason))


_TEXT_COLUMNS = ("key", "kind", "product", "uom", "src", "dst", "event_id")


def _arrow(payload: bytes, name: str) -> pl.DataFrame:
    """An Arrow IPC stream as a frame, checked before it is decoded (arrow_limits: record
    count and decompressed size) and after (text columns must be text)."""
    try:
        check_arrow_payload(payload, max_rows=MAX_BATCH_RECORDS, max_bytes=MAX_ARROW_BYTES)
        table = pa.ipc.open_stream(payload).read_all()
    except ArrowTooLarge as e:
        raise _bad_arrow(name, str(e)) from e
    except (pa.ArrowException, OSError, ValueError) as e:
        raise _bad_arrow(name, f"not a readable Arrow IPC stream: {str(e)[:200]}") from e
    for column in table.schema:
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if column.name in _TEXT_COLUMNS and not (
                pa.types.is_string(kind) or pa.types.is_large_string(kind)
                or pa.types.is_null(kind)):
            raise _bad_arrow(name, f"column {column.name} is {column.type}; keys, kinds and "
                                   "ids are sent as utf8")
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):
        raise _bad_arrow(name, "not a table")
    return frame


def batch_from_proto(message: ipb.IngestBatch, writer: str, user_id: int = 0) -> IngestBatch:
    """The engine's batch for a protobuf one (empty strings are absent values). Raises
    Rejected for an unreadable or doubly given table or an invalid Timestamp."""
    nodes = edges = None
    for records, payload, name in ((message.nodes, message.nodes_arrow, "nodes_arrow"),
                                   (message.edges, message.edges_arrow, "edges_arrow")):
        if records and payload:
            raise _bad_arrow(name, "a batch sends a table either as records or as Arrow, "
                                   "not both")
    if message.nodes:
        node_rows = message.nodes
        nodes = pl.DataFrame({
            "key": [n.key for n in node_rows],
            "kind": [n.kind for n in node_rows],
            "product": [n.product or None for n in node_rows],
            "quantity": [n.quantity if n.HasField("quantity") else None for n in node_rows],
            "uom": [n.uom or None for n in node_rows],
            "created_at": pl.Series([_micros(n, "created_at", "nodes", i)
                                     for i, n in enumerate(node_rows, start=1)],
                                    dtype=pl.Int64).cast(_UTC_US),
        })
    if message.edges:
        rows = message.edges
        edges = pl.DataFrame({
            "src": [e.src for e in rows],
            "dst": [e.dst for e in rows],
            "kind": [e.kind for e in rows],
            "event_time": pl.Series([_micros(e, "event_time", "edges", i)
                                     for i, e in enumerate(rows, start=1)],
                                    dtype=pl.Int64).cast(_UTC_US),
            "quantity": pl.Series([e.quantity if e.HasField("quantity") else None
                                   for e in rows], dtype=pl.Float64),
            "event_id": pl.Series([e.event_id or None for e in rows], dtype=pl.String),
        })
    if message.nodes_arrow:
        nodes = _arrow(message.nodes_arrow, "nodes_arrow")
    if message.edges_arrow:
        edges = _arrow(message.edges_arrow, "edges_arrow")
    retractions = [RetractionRequest(r.src, r.dst, r.kind, r.reason,
                                     _time(r, "event_time", "retractions", i),
                                     event_id=r.event_id or None)
                   for i, r in enumerate(message.retractions, start=1)]
    policy = _POLICY.get(message.policy, f"unknown ({message.policy})")
    # An unknown policy value is passed on as text: check_batch_id rejects the batch, naming it.
    return IngestBatch(message.source, message.sequence, nodes, edges, retractions,
                       policy, writer, user_id=user_id)  # type: ignore[arg-type]


def ack_to_proto(ack: Ack, source: str, sequence: int) -> ipb.IngestAck:
    return ipb.IngestAck(
        source=source, sequence=sequence, outcome=_OUTCOME[ack.outcome],
        log_sequence=ack.seq, nodes_added=ack.nodes, edges_added=ack.edges,
        edges_retracted=ack.retracted, message=ack.message, quality_versions=ack.quality,
        errors=[ipb.RecordError(table=e.table, index=e.row, field=e.field, reason=e.reason)
                for e in ack.errors],
    )


_OUTCOME_NAMES: dict[int, Outcome] = {int(code): name for name, code in _OUTCOME.items()}
_POLICY_CODES = {"all": ipb.ALL_OR_NOTHING, "valid": ipb.APPLY_VALID}


def ack_from_proto(message: ipb.IngestAck) -> Ack:
    """The acknowledgement a client reads (the inverse of `ack_to_proto`)."""
    return Ack(batch=f"{message.source}/{message.sequence}",
               outcome=_OUTCOME_NAMES[message.outcome], seq=message.log_sequence,
               nodes=message.nodes_added, edges=message.edges_added,
               retracted=message.edges_retracted, message=message.message,
               quality=message.quality_versions,
               errors=tuple(RecordError(e.table, e.index, e.field, e.reason)
                            for e in message.errors))


def batch_to_proto(batch: IngestBatch) -> ipb.IngestBatch:
    """A batch as a client sends it, as records (the inverse of `batch_from_proto`; absent
    values are empty strings or unset fields). Ends are not part of the wire batch."""
    message = ipb.IngestBatch(source=batch.source, sequence=batch.sequence,
                              policy=_POLICY_CODES[batch.policy])
    for row in ([] if batch.nodes is None else batch.nodes.to_dicts()):
        node = message.nodes.add(key=row["key"], kind=row["kind"],
                                 product=row.get("product") or "", uom=row.get("uom") or "")
        if row.get("quantity") is not None:
            node.quantity = row["quantity"]
        if row.get("created_at") is not None:
            node.created_at.CopyFrom(timestamp(row["created_at"]))
    for row in ([] if batch.edges is None else batch.edges.to_dicts()):
        edge = message.edges.add(src=row["src"], dst=row["dst"], kind=row["kind"],
                                 event_id=row.get("event_id") or "")
        if row.get("quantity") is not None:
            edge.quantity = row["quantity"]
        if row.get("event_time") is not None:
            edge.event_time.CopyFrom(timestamp(row["event_time"]))
    for r in batch.retractions:
        retraction = message.retractions.add(src=r.src, dst=r.dst, kind=r.kind, reason=r.reason,
                                             event_id=r.event_id or "")
        if (micros := to_micros(r.event_time)) is not None:
            retraction.event_time.CopyFrom(timestamp(from_micros(micros)))
    return message


_QUALITY_TIMES = ("opened_at", "closed_at", "effective_from")
_QUALITY_TEXT = ("record_id", "record_type", "key", "status", "title", "result",
                 "disposition", "capa_id", "inspector", "measurements")


def quality_from_proto(records: Sequence[ipb.QualityRecordIn]) -> pl.DataFrame:
    """Quality records of an ingest batch in the record file format (loaders.quality_records
    checks them): text columns, times as ISO 8601 UTC, products joined by ';'; empty = null.
    Row numbers are the records' 1-based places in the batch (source_row)."""
    rows: list[dict[str, Any]] = []
    for n, r in enumerate(records, start=1):
        row: dict[str, Any] = {"source_file": "quality", "source_row": n}
        for name in _QUALITY_TEXT:
            row[name] = getattr(r, name) or None
        for name in _QUALITY_TIMES:
            row[name] = (getattr(r, name).ToDatetime(tzinfo=UTC).isoformat()
                         .replace("+00:00", "Z") if r.HasField(name) else None)
        row["products"] = ";".join(r.products) or None
        rows.append(row)
    return pl.DataFrame(rows, schema={"source_file": pl.String, "source_row": pl.Int64,
                                      **dict.fromkeys((*_QUALITY_TEXT, *_QUALITY_TIMES,
                                                       "products"), pl.String)})
