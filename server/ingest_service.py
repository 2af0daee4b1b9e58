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
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import grpc
import polars as pl

from domain.errors import InvalidInput, TraceError
from domain.knobs import STREAM_IN_FLIGHT as IN_FLIGHT
from engine import Graph
from index.group import keep_rejects
from index.ingest import Ack, IngestBatch, Outcome, RecordError
from index.live import LiveStore
from index.quality_records import QualityRecords
from loaders.quality_records import read_quality_frames
from server.auth import require
from server.calls import CallGuard, WatchedCall
from server.convert.ingest import (
    Rejected,
    ack_to_proto,
    batch_from_proto,
    quality_from_proto,
)
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc
from server.status import abort_for
from trust.audit import AuditEvent
from trust.changes import checked
from trust.corrections import Corrections
from trust.identity import Principal

__all__ = ["IngestService"]

log = logging.getLogger(__name__)
def _writer(context: grpc.ServicerContext) -> tuple[str, Principal]:
    """Who sends this stream, as the log and the audit trail record it: the signed-in
    principal (server.auth), its printed name and the peer address."""
    principal = require(context)
    return f"{principal.printed} via grpc {context.peer()}", principal


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
        writer, principal = _writer(context)
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
                    put((message.source, message.sequence, _submit(live, message, writer,
                                                                   principal)))
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


def _submit(live: LiveStore, message: ipb.IngestBatch, writer: str,
            principal: Principal) -> Future[Ack]:
    """Submit one batch; one that cannot even be read is answered REJECTED at once, naming
    why, and anything unexpected INTERNAL for that batch alone (logged), never the stream.

    A signed-in account's retractions change recorded data, so each becomes a correction
    proposal (trust.corrections) that a qa user approves; the rest of the batch applies.
    (On a --no-auth server the local administrator's retractions apply at once.)"""
    batch_id = f"{message.source}/{message.sequence}"
    try:
        batch = batch_from_proto(message, writer, principal.user_id)
        if message.quality:
            return _with_quality(live, batch, message, principal)
        if batch.retractions and principal.user_id != 0:
            return _proposing(live, batch, principal)
        return live.submit(batch)
    except Rejected as e:
        return _answered(batch_id, [e.error], f"batch rejected, nothing applied: {e}")
    except TraceError:
        raise
    except Exception as e:
        log.exception("internal error reading batch %s/%s", message.source, message.sequence)
        kind = type(e).__name__
        error = RecordError("batch", 0, "batch",
                            f"internal error reading the batch ({kind}); see the server log")
        return _answered(batch_id, [error], "batch rejected, nothing applied: internal error")


def _proposing(live: LiveStore, batch: IngestBatch, principal: Principal) -> Future[Ack]:
    """Propose each retraction of `batch` as a correction, then apply the rest. A retraction
    that names no live edge is a rejected record: with policy `all` nothing is proposed or
    applied, with `valid` the others go on (it is kept with the rejects either way). The
    batches this stream sent before are committed first (LiveStore.barrier): a stream that
    adds an edge and then retracts it means what it says."""
    live.barrier().result()
    changes, errors = [], []
    for n, r in enumerate(batch.retractions, start=1):
        change = {"type": "retract-edge", "src": r.src, "dst": r.dst, "kind": r.kind,
                  "event_time": r.event_time, "event_id": r.event_id}
        try:
            if not isinstance(r.reason, str) or not r.reason.strip():
                raise InvalidInput("a retraction needs a reason")
            checked(change, live.assertions)
            changes.append((n, change, r.reason))
        except InvalidInput as e:
            errors.append(RecordError("retractions", n, "retraction", str(e)))
    if errors:
        rejects: list[dict[str, Any]] = []
        keep_rejects(batch, errors, rejects, datetime.now(UTC))
        live.keep_rejects(rejects, batch.batch_id)
        if batch.policy == "all" or (not changes and batch.records == len(batch.retractions)):
            return _answered(batch.batch_id, errors, f"batch rejected, nothing applied: "
                                   f"{len(errors)} problem(s); first: retractions record "
                                   f"{errors[0].row}: {errors[0].reason}")
    corrections = Corrections(live)
    numbers = [corrections.propose(change, principal, reason,
                                   origin=f"ingest:{batch.batch_id}#{n}").id
               for n, change, reason in changes]
    # The rest of the batch applies; its audit record lists the proposals (so a batch of
    # retractions only is recorded too, and a resend of it is a duplicate).
    applied = live.submit(replace(batch, retractions=(), side_audit=[AuditEvent(
        "ingest.proposed", principal.user_id, batch.writer, keys=[batch.batch_id],
        details={"corrections": numbers})]))
    told: Future[Ack] = Future()

    def tell(done: Future[Ack]) -> None:
        try:
            ack = done.result()
        except BaseException as e:
            told.set_exception(e)
            return
        listed = ", ".join(str(n) for n in numbers)
        told.set_result(replace(ack, errors=(*errors, *ack.errors),
                                message=f"{ack.message}; {len(numbers)} retraction(s) "
                                f"proposed as correction(s) {listed}: they apply once a qa "
                                "user approves them"
                                + (f"; {len(errors)} retraction(s) rejected" if errors
                                   else "")))

    applied.add_done_callback(tell)
    return told


def _with_quality(live: LiveStore, batch: IngestBatch, message: ipb.IngestBatch,
                  principal: Principal) -> Future[Ack]:
    """A batch with quality records: its nodes and edges first (the records may attach to
    them), then the records, through the checks `import quality` uses. With policy `all`
    any bad record rejects the whole batch before anything applies; with `valid` the good
    records are kept and each bad one is named (and kept with the rejects). Answered once
    both are durable: this batch waits for its own nodes and edges."""
    if batch.retractions:
        return _answered(batch.batch_id, [RecordError(
            "quality", 0, "batch", "send retractions and quality records in separate batches")],
            "batch rejected, nothing applied: retractions and quality records together")
    versions, rejects = read_quality_frames(
        [(batch.batch_id, quality_from_proto(message.quality))])
    own = set() if batch.nodes is None else set(batch.nodes["key"].cast(pl.String).to_list())
    graph = Graph(live.view().snapshot, live.view)

    def unknown(keys: Sequence[str]) -> dict[str, list[str]]:
        return graph.unknown_keys([k for k in keys if k not in own])

    records, source = QualityRecords(live), f"ingest:{batch.batch_id}"
    if batch.policy == "all":
        check = records.put(versions, principal, source, unknown, write=False)
        problems = rejects + check.rejects
        if problems:
            return _answered(batch.batch_id, _quality_errors(problems), (
                f"batch rejected, nothing applied: {len(problems)} quality record problem(s); "
                f"first: record {problems[0]['row']}: {problems[0]['reason']}"))
    ack = None
    if batch.nodes is not None or batch.edges is not None:
        ack = live.submit(batch).result()
        if ack.outcome == "rejected":
            return _done(ack)
    report = records.put(versions, principal, source, unknown)
    problems = rejects + report.rejects
    if problems:
        live.keep_rejects(problems, batch.batch_id)
    kept = report.added + report.changed
    outcome: Outcome = ack.outcome if ack is not None else (
        "applied" if kept else "duplicate" if report.unchanged and not problems
        else "rejected" if problems else "applied")
    text = (f"{kept} quality record version(s) kept, {report.unchanged} unchanged"
            + (f", {len(problems)} rejected" if problems else ""))
    return _done(replace(ack or Ack(batch.batch_id, outcome, 0), outcome=outcome, quality=kept,
                         errors=(*(ack.errors if ack else ()), *_quality_errors(problems)),
                         message=f"{ack.message}; {text}" if ack else text))


def _quality_errors(problems: list[dict[str, Any]]) -> list[RecordError]:
    return [RecordError("quality", int(p.get("row", 0)), str(p.get("field", "")),
                        str(p["reason"])) for p in problems]


def _done(ack: Ack) -> Future[Ack]:
    future: Future[Ack] = Future()
    future.set_result(ack)
    return future


def _answered(batch_id: str, errors: list[RecordError], text: str) -> Future[Ack]:
    return _done(Ack(batch_id, "rejected", 0, errors=tuple(errors), message=text))
