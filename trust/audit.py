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
import itertools
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from trust.canonical import canonical_bytes

__all__ = ["GENESIS", "AuditEvent", "EncodedEvent", "chain_puts", "decode", "encode",
           "encode_events", "iso_ms", "matches", "record_hash"]

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


EncodedEvent = tuple[bytes, bytes, bytes]
"""An audit event in canonical form but for what its write decides (prev, seq, time):
(front, reason, back). The keys of a record sort as action, details, keys, new, old | prev |
reason | seq, time | user, user_id, so its canonical bytes are front + prev, reason, seq and
time + back: front runs from "{" through old's value, reason is the reason's JSON, back runs
from "user" to the closing "}". A plain tuple: a million are made in a blink."""


def encode(event: AuditEvent) -> EncodedEvent:
    """`event` in the pieces chain_puts assembles into its canonical record."""
    body = canonical_bytes({"action": event.action, "details": dict(event.details),
                            "keys": list(event.keys), "new": event.new, "old": event.old})
    return (body[:-1], canonical_bytes(event.reason),
            canonical_bytes({"user": event.user, "user_id": event.user_id})[1:])


def encode_events(frame: pl.DataFrame, user_id: int, user: str) -> list[EncodedEvent]:
    """The events of `frame` (columns action, details: a struct, keys: a list, new, old and
    reason; no floats) by one user, encoded as columns: the same bytes as `encode` of each
    (the tests hold them to it), for a million events in about a second where `encode` of
    each would take half a minute."""
    floats = [name for name, dtype in frame.schema.items() if "Float" in str(dtype)]
    if floats:
        raise ValueError(f"audit events cannot hold floats (column {', '.join(floats)})")
    details = pl.col("details")
    shape = frame.schema["details"]
    if not isinstance(shape, pl.Struct):
        raise ValueError("details must be a struct column")
    names = sorted(f.name for f in shape.fields)
    body = pl.struct(
        "action", pl.struct(*(details.struct.field(n) for n in names)).alias("details"),
        "keys", "new", "old").struct.json_encode()
    encoded = frame.select(front=body.str.strip_suffix("}"),
                           reason=pl.struct("reason").struct.json_encode()
                           .str.strip_prefix('{"reason":').str.strip_suffix("}"))
    back = canonical_bytes({"user": user, "user_id": user_id})[1:]
    fronts, reasons = (encoded[name].cast(pl.Binary).to_list() for name in encoded.columns)
    return list(zip(fronts, reasons, itertools.repeat(back, len(fronts)), strict=True))


def chain_puts(events: Sequence[AuditEvent | EncodedEvent], now: datetime, last_seq: int,
               head: str, last_time: str | None) -> list[Put]:
    """The puts that append `events` after record `last_seq` (chain head `head`, written at
    `last_time`): the records in the `audit` family and the new head, length and time in
    `meta`. Nothing is written here: the caller adds the puts to the write that carries the
    data."""
    stamp = iso_ms(now)
    if last_time is not None and stamp < last_time:
        events = [AuditEvent("clock.backwards", 0, "system",
                             details={"previous": last_time, "now": stamp}), *events]
    puts: list[Put] = []
    seq, digest = last_seq, head.encode()
    when = b',"time":' + canonical_bytes(stamp) + b","
    pack, sha256 = _U64.pack, hashlib.sha256
    for event in events:
        seq += 1
        front, reason, back = encode(event) if isinstance(event, AuditEvent) else event
        data = b"".join((front, b',"prev":"', digest, b'","reason":', reason, b',"seq":',
                         str(seq).encode(), when, back))
        digest = sha256(data).hexdigest().encode()  # record_hash, in the loop's own terms
        puts.append(("audit", pack(seq), data))
    if puts:
        puts += [("meta", b"audit_last", pack(seq)), ("meta", b"audit_head", digest),
                 ("meta", b"audit_time", max(stamp, last_time or stamp).encode())]
    return puts


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
