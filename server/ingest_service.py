"""The Ingest servicer: protobuf batches in, acknowledgements out, in order, over a LiveStore.

A reader thread per stream turns each IngestBatch into an `index.ingest.IngestBatch` and submits
it at once, so many batches are in flight and the writer commits them together (group commit);
the response iterator yields each acknowledgement when its batch is durable and visible.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import grpc
import polars as pl
import pyarrow as pa

from domain.errors import TraceError
from domain.time import from_micros
from index.ingest import MAX_BATCH_RECORDS, Ack, IngestBatch, RecordError, RetractionRequest
from index.live import LiveStore
from server.arrow_limits import MAX_ARROW_BYTES, ArrowTooLarge, check_arrow_payload
from server.calls import CallGuard, WatchedCall
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc
from server.status import abort_for

__all__ = ["IngestService", "batch_from_proto"]

log = logging.getLogger(__name__)
IN_FLIGHT = 64  # batches read ahead of their acknowledgements, per stream
_OUTCOME = {"applied": ipb.APPLIED, "duplicate": ipb.DUPLICATE, "rejected": ipb.REJECTED}
_POLICY = {ipb.BATCH_POLICY_UNSPECIFIED: "all", ipb.ALL_OR_NOTHING: "all",
           ipb.APPLY_VALID: "valid"}
_UTC_US = pl.Datetime("us", "UTC")


# google.protobuf.Timestamp's own valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799


class _Rejected(Exception):
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
        raise _Rejected(RecordError(table, row, name, f"{name} is not a valid Timestamp "
                                    f"(seconds {stamp.seconds}, nanos {stamp.nanos})"))
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1000


def _time(message: Any, name: str, table: str, row: int) -> datetime | None:
    micros = _micros(message, name, table, row)
    if micros is None:
        return None
    return from_micros(micros)


def _bad_arrow(name: str, reason: str) -> _Rejected:
    return _Rejected(RecordError("batch", 0, name, reason))


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


def batch_from_proto(message: ipb.IngestBatch, writer: str) -> IngestBatch:
    """The engine's batch for a protobuf one (empty strings are absent values). Raises
    _Rejected for an unreadable or doubly given table or an invalid Timestamp."""
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
                       policy, writer)  # type: ignore[arg-type]


def ack_to_proto(ack: Ack, source: str, sequence: int) -> ipb.IngestAck:
    return ipb.IngestAck(
        source=source, sequence=sequence, outcome=_OUTCOME[ack.outcome],
        log_sequence=ack.seq, nodes_added=ack.nodes, edges_added=ack.edges,
        edges_retracted=ack.retracted, message=ack.message,
        errors=[ipb.RecordError(table=e.table, index=e.row, field=e.field, reason=e.reason)
                for e in ack.errors],
    )


def _writer(context: grpc.ServicerContext) -> str:
    user = dict(context.invocation_metadata()).get("x-tracegraph-user", "anonymous")
    return f"grpc:{user}@{context.peer()}"


class IngestService(ipb_grpc.IngestServicer):  # type: ignore[misc]
    """tracegraph.v1.Ingest over a LiveStore (None: the server is read-only)."""

    def __init__(self, live: LiveStore | None, calls: CallGuard | None = None) -> None:
        self.live = live
        self.calls = calls or CallGuard()

    def Ingest(self, requests: Iterator[ipb.IngestBatch],  # noqa: N802 - gRPC method name
               context: grpc.ServicerContext) -> Iterator[ipb.IngestAck]:
        live = self.live
        if live is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "this server is read-only (started with --read-only); send batches to "
                          "the server that owns the data directory")
            return
        with self.calls.stream(context, "Ingest", idle_allowed=True) as call:
            yield from self._acks(live, requests, context, call)

    def _acks(self, live: LiveStore, requests: Iterator[ipb.IngestBatch],
              context: grpc.ServicerContext, call: WatchedCall) -> Iterator[ipb.IngestAck]:
        """A reader thread submits each batch as it arrives; this loop yields each ack in
        order once its batch is durable. Every batch read is answered (a bad one REJECTED,
        naming why); the stream never ends OK with a batch unanswered, and no thread waits
        forever on a client that went away."""
        writer = _writer(context)
        pending: queue.Queue[_Item] = queue.Queue(IN_FLIGHT)

        def put(item: _Item) -> None:
            # Bounded, but never stuck: a client that went away stops this reader.
            while context.is_active():
                try:
                    pending.put(item, timeout=1.0)
                    return
                except queue.Full:
                    continue

        def read() -> None:
            try:
                for message in requests:
                    call.owed += 1
                    call.progress()
                    put((message.source, message.sequence, _submit(live, message, writer)))
                put(_END)
            except BaseException as e:  # a broken stream or a store that stopped writing
                put(e)

        def ended() -> None:  # the call is over (client gone, cancelled): wake the loop now
            with contextlib.suppress(queue.Full):
                pending.put_nowait(_END)

        context.add_callback(ended)
        reader = threading.Thread(target=read, name="tracegraph-ingest-reader", daemon=True)
        reader.start()
        while True:
            try:
                item = pending.get(timeout=1.0)
            except queue.Empty:
                if context.is_active():
                    continue
                return  # the client went away (or the watchdog cancelled the call)
            if item is _END:
                return
            if isinstance(item, BaseException):
                if isinstance(item, TraceError):
                    abort_for(context, item)
                if context.is_active():
                    log.warning("ingest stream ended: %s", item)
                    context.abort(grpc.StatusCode.INTERNAL, "the request stream broke: every "
                                  "batch received was acknowledged above; send the rest again")
                return
            assert isinstance(item, tuple)
            source, sequence, future = item
            try:
                ack = future.result()
            except TraceError as e:
                abort_for(context, e)
                return
            call.owed -= 1
            yield ack_to_proto(ack, source, sequence)
            call.progress()


_END = object()
_Item = Any  # (source, sequence, Future[Ack]) | an exception | _END


def _submit(live: LiveStore, message: ipb.IngestBatch, writer: str) -> Future[Ack]:
    """Submit one batch; one that cannot even be read is answered REJECTED at once, naming
    why, and anything unexpected INTERNAL for that batch alone (logged), never the stream."""
    try:
        return live.submit(batch_from_proto(message, writer))
    except _Rejected as e:
        return _answered(message, [e.error], f"batch rejected, nothing applied: {e}")
    except TraceError:
        raise
    except Exception as e:
        log.exception("internal error reading batch %s/%s", message.source, message.sequence)
        kind = type(e).__name__
        error = RecordError("batch", 0, "batch",
                            f"internal error reading the batch ({kind}); see the server log")
        return _answered(message, [error], "batch rejected, nothing applied: internal error")


def _answered(message: ipb.IngestBatch, errors: list[RecordError], text: str) -> Future[Ack]:
    future: Future[Ack] = Future()
    future.set_result(Ack(f"{message.source}/{message.sequence}", "rejected", 0,
                          errors=tuple(errors), message=text))
    return future
