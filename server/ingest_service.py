"""The Ingest servicer: protobuf batches in, acknowledgements out, in order, over a LiveStore.

A reader thread per stream turns each IngestBatch into an `index.ingest.IngestBatch` and submits
it at once, so many batches are in flight and the writer commits them together (group commit);
the response iterator yields each acknowledgement when its batch is durable and visible.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import grpc
import polars as pl
import pyarrow as pa

from index.ingest import Ack, IngestBatch, RecordError, RetractionRequest
from index.live import LiveStore
from loaders.errors import TraceError
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc

__all__ = ["IngestService", "batch_from_proto"]

log = logging.getLogger(__name__)
IN_FLIGHT = 64  # batches read ahead of their acknowledgements, per stream
_OUTCOME = {"applied": ipb.APPLIED, "duplicate": ipb.DUPLICATE, "rejected": ipb.REJECTED}
_POLICY = {ipb.BATCH_POLICY_UNSPECIFIED: "all", ipb.ALL_OR_NOTHING: "all",
           ipb.APPLY_VALID: "valid"}
_UTC_US = pl.Datetime("us", "UTC")


def _micros(message: Any, name: str) -> int | None:
    if not message.HasField(name):
        return None
    stamp = getattr(message, name)
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1000


def _time(message: Any, name: str) -> datetime | None:
    micros = _micros(message, name)
    if micros is None:
        return None
    return datetime.fromtimestamp(micros / 1e6, UTC)


class _BadArrow(Exception):
    """An Arrow payload that cannot be read; becomes a REJECTED acknowledgement."""


def _arrow(payload: bytes, name: str) -> pl.DataFrame:
    try:
        frame = pl.from_arrow(pa.ipc.open_stream(payload).read_all())
    except (pa.ArrowException, OSError, ValueError) as e:
        raise _BadArrow(f"{name}: not a readable Arrow IPC stream: {e}") from e
    if not isinstance(frame, pl.DataFrame):
        raise _BadArrow(f"{name}: not a table")
    return frame


def batch_from_proto(message: ipb.IngestBatch, writer: str) -> IngestBatch:
    """The engine's batch for a protobuf one (empty strings are absent values). Raises
    _BadArrow for an unreadable or doubly given table."""
    nodes = edges = None
    for records, payload, name in ((message.nodes, message.nodes_arrow, "nodes_arrow"),
                                   (message.edges, message.edges_arrow, "edges_arrow")):
        if records and payload:
            raise _BadArrow(f"{name}: a batch sends a table either as records or as Arrow, "
                            "not both")
    if message.nodes:
        node_rows = message.nodes
        nodes = pl.DataFrame({
            "key": [n.key for n in node_rows],
            "kind": [n.kind for n in node_rows],
            "product": [n.product or None for n in node_rows],
            "quantity": [n.quantity if n.HasField("quantity") else None for n in node_rows],
            "uom": [n.uom or None for n in node_rows],
            "created_at": pl.Series([_micros(n, "created_at") for n in node_rows],
                                    dtype=pl.Int64).cast(_UTC_US),
        })
    if message.edges:
        rows = message.edges
        edges = pl.DataFrame({
            "src": [e.src for e in rows],
            "dst": [e.dst for e in rows],
            "kind": [e.kind for e in rows],
            "event_time": pl.Series([_micros(e, "event_time") for e in rows],
                                    dtype=pl.Int64).cast(_UTC_US),
            "quantity": pl.Series([e.quantity if e.HasField("quantity") else None
                                   for e in rows], dtype=pl.Float64),
            "event_id": pl.Series([e.event_id or None for e in rows], dtype=pl.String),
        })
    if message.nodes_arrow:
        nodes = _arrow(message.nodes_arrow, "nodes_arrow")
    if message.edges_arrow:
        edges = _arrow(message.edges_arrow, "edges_arrow")
    retractions = [RetractionRequest(r.src, r.dst, r.kind, r.reason, _time(r, "event_time"),
                                     event_id=r.event_id or None)
                   for r in message.retractions]
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

    def __init__(self, live: LiveStore | None) -> None:
        self.live = live

    def Ingest(self, requests: Iterator[ipb.IngestBatch],  # noqa: N802 - gRPC method name
               context: grpc.ServicerContext) -> Iterator[ipb.IngestAck]:
        live = self.live
        if live is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "this server is read-only (started with --read-only); send batches to "
                          "the server that owns the data directory")
            return
        writer = _writer(context)
        pending: queue.Queue[tuple[str, int, Future[Ack]] | BaseException | None] = queue.Queue(
            IN_FLIGHT)

        def put(item: tuple[str, int, Future[Ack]] | BaseException | None) -> None:
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
                    try:
                        future = live.submit(batch_from_proto(message, writer))
                    except _BadArrow as e:
                        future = Future()
                        future.set_result(Ack(f"{message.source}/{message.sequence}",
                                              "rejected", 0, errors=(RecordError(
                                                  "batch", 0, "arrow", str(e)),),
                                              message=f"batch rejected, nothing applied: {e}"))
                    put((message.source, message.sequence, future))
                put(None)
            except BaseException as e:  # a broken stream or a store that stopped writing
                put(e)

        reader = threading.Thread(target=read, name="tracegraph-ingest-reader", daemon=True)
        reader.start()
        while True:
            item = pending.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                if isinstance(item, TraceError):
                    context.abort(grpc.StatusCode.UNAVAILABLE, str(item))
                if context.is_active():
                    log.warning("ingest stream ended: %s", item)
                return
            source, sequence, future = item
            try:
                ack = future.result()
            except TraceError as e:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(e))
                return
            yield ack_to_proto(ack, source, sequence)
