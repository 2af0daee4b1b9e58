"""The audit trail: one record per change, hash-chained, in the store's `audit` column family,
written in the same synced write as the data it describes.

A record is a dict (trust.canonical): seq (1, 2, ...), time (UTC, milliseconds, explicit
offset), user_id and user (printed name), action, keys (the objects touched), reason (required
for every change of existing data), old and new (where a value changes), details, and prev:
the hex SHA-256 of the previous record's canonical bytes (64 zeros for the first). Changing,
removing, inserting or reordering any record breaks the chain at that record; the chain head
and length are also kept in the store's meta, and signed checkpoints (trust.checkpoint) commit
the Merkle root of the records to a key the store never holds.

If the clock runs backwards, records keep their sequence order and a `clock.backwards` record
says so (with both times) before the next one.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trust.canonical import canonical_bytes

__all__ = ["GENESIS", "AuditEvent", "chain_puts", "decode", "iso_ms", "matches", "record_hash"]

GENESIS = "0" * 64
_U64 = struct.Struct(">Q")
Put = tuple[str, bytes, bytes]


@dataclass(frozen=True)
class AuditEvent:
    """A change to record: who, what, which objects, why, and the values before and after."""

    action: str
    user_id: int
    user: str
    keys: Sequence[str] = ()
    reason: str | None = None
    old: Any = None
    new: Any = None
    details: dict[str, Any] = field(default_factory=dict)


def iso_ms(when: datetime) -> str:
    """UTC with milliseconds and an explicit offset: 2026-03-01T08:00:00.000+00:00."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def record_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode(data: bytes) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(data)
    return record


def chain_puts(events: Sequence[AuditEvent], now: datetime, last_seq: int, head: str,
               last_time: str | None) -> tuple[list[Put], list[dict[str, Any]]]:
    """The puts that append `events` after record `last_seq` (chain head `head`, written at
    `last_time`): the records in the `audit` family and the new head, length and time in
    `meta`. Returns (puts, records). Nothing is written here: the caller adds the puts to the
    write that carries the data."""
    records: list[dict[str, Any]] = []
    stamp = iso_ms(now)
    if last_time is not None and stamp < last_time:
        events = [AuditEvent("clock.backwards", 0, "system",
                             details={"previous": last_time, "now": stamp}), *events]
    puts: list[Put] = []
    seq = last_seq
    for event in events:
        seq += 1
        record = {"seq": seq, "time": stamp, "user_id": event.user_id, "user": event.user,
                  "action": event.action, "keys": list(event.keys), "reason": event.reason,
                  "old": event.old, "new": event.new, "details": dict(event.details),
                  "prev": head}
        data = canonical_bytes(record)
        head = record_hash(data)
        puts.append(("audit", _U64.pack(seq), data))
        records.append(record)
    if records:
        puts += [("meta", b"audit_last", _U64.pack(seq)), ("meta", b"audit_head", head.encode()),
                 ("meta", b"audit_time", max(stamp, last_time or stamp).encode())]
    return puts, records


def matches(record: dict[str, Any], *, since: datetime | None = None,
            until: datetime | None = None, user: str | None = None, key: str | None = None,
            action: str | None = None) -> bool:
    """Whether an audit record passes the filters of `audit log` and Audit.Log: its time
    within [since, until], its user named `user` (the login in parentheses, or the whole
    printed name), `key` among its keys, and its action `action`; an empty filter passes."""
    when = datetime.fromisoformat(record["time"])
    if (since is not None and when < since) or (until is not None and when > until):
        return False
    if user and f"({user})" not in str(record["user"]) and record["user"] != user:
        return False
    if key and key not in record["keys"]:
        return False
    return not action or record["action"] == action
