"""Planning a group commit: what each batch of a group becomes (`plan_group`), with no threads
and no storage, so it can be tested alone. The writer (index.live) writes the plan as one
synced write and applies its entries to the delta; only then does it acknowledge."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from domain.schemas import EDGE_KINDS, NODE_KINDS
from domain.time import to_micros
from index.delta import Delta
from index.ingest import (
    Ack,
    IngestBatch,
    RecordError,
    batch_digest,
    check_batch_id,
    validate_group,
)
from index.log import LogEntry
from index.plan import NewNodes, Plan, links, reject_record, shape_problem
from index.store import BatchRecord
from trust.audit import AuditEvent

__all__ = ["GroupPlan", "keep_rejects", "plan_group"]


@dataclass(frozen=True)
class GroupPlan:
    """A planned group: one ack per batch in order; what to write (entries, batch ids as
    (id, seq, digest), new keys as (keys, sids), rejects); the next free stable id and the
    last log sequence once written."""

    acks: list[Ack]
    entries: list[LogEntry]
    batch_rows: list[tuple[str, int, str]]
    new_keys: list[tuple[list[str], list[int]]]
    rejects: list[dict[str, Any]]
    next_sid: int
    seq: int
    audit: list[AuditEvent]
    """One record per applied batch (with its log sequence), per retraction and end it
    applied, and per rejected batch: written in the same write as the entries."""
    side_puts: list[tuple[str, bytes, bytes]]
    """Records applied batches write along (IngestBatch.side_puts)."""


def plan_group(batches: Sequence[IngestBatch], delta: Delta,
               applied: Callable[[str], BatchRecord | None], next_sid: int, last_seq: int,
               now: datetime,
               read: Callable[[str, bytes], bytes | None] = lambda _f, _k: None) -> GroupPlan:
    """What a group of batches becomes, decided together: per batch an acknowledgement
    (applied at the next log sequence, duplicate, or rejected with every error), the log
    entries and batch ids to write, the new nodes' keys and every reject. Reads the delta
    (never changes it) and `applied` (batch id -> the record of an earlier batch with that
    id); writes nothing. Batches are planned in order, each seeing what the ones before it
    planned. A batch's preconditions (IngestBatch.expect) are checked against `read` and the
    side records of the batches before it in the group."""
    now_us = to_micros(now)
    assert now_us is not None
    acks: list[Ack | None] = [None] * len(batches)
    digests: dict[int, str] = {}
    first_copy: dict[str, int] = {}  # batch id -> index of its first copy in this group
    repeats: list[int] = []  # later copies: answered once the first copy is decided
    rejects: list[dict[str, Any]] = []
    live: list[int] = []
    for i, batch in enumerate(batches):
        problem = check_batch_id(batch) or shape_problem(batch)
        if problem is not None:
            acks[i] = _rejected(batch, [problem], rejects, now)
            continue
        digest = digests[i] = batch_digest(batch)
        if batch.batch_id in first_copy:
            repeats.append(i)
            continue
        record = applied(batch.batch_id)
        if record is not None:
            acks[i] = _duplicate(batch, (record.seq, record.digest), digest, rejects,
                                      now)
            continue
        first_copy[batch.batch_id] = i
        live.append(i)
    checked = validate_group([batches[i] for i in live], now) if live else []
    known_nodes = set(NODE_KINDS) | set(delta.node_kinds)
    known_edges = set(EDGE_KINDS) | set(delta.edge_kinds)
    group_new: list[NewNodes] = []
    group_edges: list[pa.Table] = []  # edges planned by earlier batches of this group
    group_links: set[int] = set()  # and their (src << 32 | dst), for a quick first test
    seq = last_seq
    entries: list[LogEntry] = []
    batch_rows: list[tuple[str, int, str]] = []
    new_keys: list[tuple[list[str], list[int]]] = []
    audit: list[AuditEvent] = []
    side: dict[tuple[str, bytes], bytes] = {}  # side records planned by earlier batches
    side_puts: list[tuple[str, bytes, bytes]] = []
    for i, check in zip(live, checked, strict=True):
        batch = batches[i]
        errors = check.errors
        stale = _stale(batch, read, side)
        if stale is not None:
            acks[i] = _rejected(batch, [stale], rejects, now)
            continue
        plan = Plan(delta, group_new, next_sid, known_nodes, known_edges, group_edges,
                    group_links)
        nodes = plan.nodes(check.nodes, errors)
        edges = plan.edges(check.edges, errors, now_us)
        retractions, retracted = plan.retractions(batch, errors)
        ends = plan.ends(batch, errors)
        attributes = plan.attributes(batch, errors)
        applied_any = (nodes.num_rows + edges.num_rows + len(retractions) + len(ends)
                       + len(attributes)) > 0
        if errors and (batch.policy == "all" or not applied_any):
            acks[i] = _rejected(batch, errors, rejects, now)
            continue
        seq += 1
        next_sid = plan.next_sid
        if plan.new is not None:
            group_new.append(plan.new)
        if edges.num_rows:
            group_edges.append(edges)
            group_links.update(links(edges))
        entries.append(LogEntry(seq=seq, batch=batch.batch_id, writer=batch.writer,
                                recorded_at=now_us, nodes=nodes, edges=edges,
                                retractions=tuple(retractions), digest=digests[i],
                                ends=tuple(ends),
                                extra={"attributes": attributes} if attributes else {}))
        batch_rows.append((batch.batch_id, seq, digests[i]))
        if nodes.num_rows:
            new_keys.append((nodes.column("key").to_pylist(),
                             nodes.column("sid").to_pylist()))
        keep_rejects(batch, errors, rejects, now)
        audit += _applied_events(batch, seq, errors, nodes.num_rows, edges.num_rows,
                                 retracted, len(ends))
        for event in batch.side_audit:
            audit.append(AuditEvent(event.action, event.user_id, event.user, event.keys,
                                    event.reason, event.old, event.new,
                                    {**event.details, "log_seq": seq}))
        for family, key, value in batch.side_puts:
            side[(family, key)] = value
            side_puts.append((family, key, value))
        acks[i] = Ack(batch.batch_id, "applied", seq, nodes.num_rows, edges.num_rows,
                      retracted, tuple(errors),
                      f"applied at log sequence {seq}" + (
                          f"; {len(errors)} record(s) rejected" if errors else ""))
    for i in repeats:  # a batch sent twice in one group: the second copy follows the first
        batch, first = batches[i], acks[first_copy[batches[i].batch_id]]
        assert first is not None
        if first.outcome == "applied":
            acks[i] = _duplicate(batch, (first.seq, digests[first_copy[batch.batch_id]]),
                                      digests[i], rejects, now)
        else:
            acks[i] = _rejected(batch, list(first.errors), rejects, now)
    for i, ack in enumerate(acks):
        if ack is not None and ack.outcome == "rejected":
            audit.append(_batch_event(batches[i], "ingest.rejected", {
                "errors": len(ack.errors), "first": ack.errors[0].reason if ack.errors else ""}))
    return GroupPlan([a for a in acks if a is not None], entries, batch_rows, new_keys,
                     rejects, next_sid, seq, audit, side_puts)


def keep_rejects(batch: IngestBatch, errors: Sequence[RecordError],
                  rejects: list[dict[str, Any]], now: datetime) -> None:
    for error in errors:
        rejects.append({"batch": batch.batch_id, "writer": batch.writer,
                        "at": now.isoformat(), "table": error.table, "row": error.row,
                        "field": error.field, "reason": error.reason,
                        "record": reject_record(batch, error)})

def _rejected(batch: IngestBatch, errors: list[RecordError],
              rejects: list[dict[str, Any]], now: datetime) -> Ack:
    keep_rejects(batch, errors, rejects, now)
    first = errors[0]
    where = (f"{first.table} record {first.row}, " if first.row else "")
    return Ack(str(batch.batch_id), "rejected", 0, errors=tuple(errors),
               message=f"batch rejected, nothing applied: {len(errors)} problem(s); first: "
                       f"{where}{first.field}: {first.reason}")

def _duplicate(batch: IngestBatch, earlier: tuple[int, str], digest: str,
               rejects: list[dict[str, Any]], now: datetime) -> Ack:
    seq, earlier_digest = earlier
    if earlier_digest == digest:
        return Ack(batch.batch_id, "duplicate", max(seq, 0),
                   message=f"duplicate: batch {batch.batch_id} was already applied"
                           + (f" at log sequence {seq}" if seq > 0 else ""))
    error = RecordError("batch", 0, "batch_id", f"batch id {batch.batch_id} was already "
                        "used for a batch with different content"
                        + (f" (log sequence {seq})" if seq > 0 else "")
                        + "; use a new sequence number")
    return _rejected(batch, [error], rejects, now)


def _batch_event(batch: IngestBatch, action: str, details: dict[str, Any]) -> AuditEvent:
    return AuditEvent(action, batch.user_id, batch.writer, keys=[batch.batch_id],
                      details={"source": batch.source, **details})


def _applied_events(batch: IngestBatch, seq: int, errors: Sequence[RecordError], nodes: int,
                    edges: int, retracted: int, ends: int) -> list[AuditEvent]:
    """The audit records of an applied batch: the batch (it covers log entry `seq`), then
    each retraction and end it applied, with its reason."""
    events = [_batch_event(batch, "ingest.batch", {
        "log_seq": seq, "nodes": nodes, "edges": edges, "retracted": retracted, "ends": ends,
        "rejected": len(errors)})]
    failed = {(e.table, e.row) for e in errors}
    for number, r in enumerate(batch.retractions, start=1):
        if ("retractions", number) not in failed:
            events.append(AuditEvent(
                "edge.retract", batch.user_id, batch.writer, keys=[r.src, r.dst],
                reason=r.reason.strip(), old="live", new="retracted",
                details={"kind": r.kind, "event_time": _text(r.event_time),
                         "event_id": r.event_id, "log_seq": seq}))
    for number, a in enumerate(batch.attributes, start=1):
        if ("attributes", number) not in failed:
            events.append(AuditEvent(
                "node.set_attribute", batch.user_id, batch.writer, keys=[a.key],
                old=a.previous, new=a.value, details={"field": a.field, "log_seq": seq}))
    for number, e in enumerate(batch.ends, start=1):
        if ("ends", number) not in failed:
            events.append(AuditEvent(
                "link.end", batch.user_id, batch.writer, keys=[e.src or "*", e.dst],
                old="open", new="ended",
                details={"kind": e.kind, "at": _text(e.at), "log_seq": seq}))
    return events


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _stale(batch: IngestBatch, read: Callable[[str, bytes], bytes | None],
           side: dict[tuple[str, bytes], bytes]) -> RecordError | None:
    """The first precondition of `batch` that no longer holds, as its rejection."""
    for family, key, expected in batch.expect:
        current = side[(family, key)] if (family, key) in side else read(family, key)
        if current != expected:
            return RecordError("batch", 0, "expect", f"{family} record {key.decode()!r} "
                               "changed since this batch was made (someone else decided it "
                               "first)")
    return None
