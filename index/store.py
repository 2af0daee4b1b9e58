"""The durable store: RocksDB (through rocksdict, raw bytes only) as the source of truth.

Column families (all keys and values are bytes; nothing is pickled):

    meta      b"next_sid" -> u64, b"last_seq" -> u64, b"format" -> u64, b"created_at" -> ISO
    keys      node key (UTF-8) -> u32 stable id, for every node the store created
    nodes     u32 stable id -> node key (the other direction of the dictionary)
    log       u64 sequence -> `index.log.LogEntry` bytes: the append-only ingest log; a node's
              attributes are in the entry that created it, an edge's in the entry that added it
    batches   batch id (source/sequence) -> u64 sequence | SHA-256 of the batch content;
              b"reject:" + SHA-256 of a reject (without its time and writer) -> b"" (kept once)
    rejects   u64 reject number -> JSON (batch, table, row, field, reason, record)
    users     b"u" + u32 user id -> user record; b"n" + name -> u32 id (trust.identity)
    tokens    token id -> token record (the SHA-256 of its secret, never the secret)
    audit     u64 sequence -> canonical bytes of an audit record (trust.audit): hash-chained;
              meta b"audit_last", b"audit_head", b"audit_time" keep its length, head, time
    corrections  u32 proposal id -> its record, every state change a new version of it
              (trust.corrections; each version is also in the audit trail)
    master    kind + NUL + key -> canonical JSON of a master data record (index.master)
    recalls   u32 case id -> its record, every change a new version (recall.cases)
    quality   record id + NUL + u32 version -> a quality record's version; quality_nodes:
              node key + NUL + record id -> b""; quality_columns: the versions of each
              write again as one Arrow IPC table (index.quality_records)
    alerts    u32 alert id -> its record, every state change a new version (qms.alerts);
              meta b"alert_rules" holds the rules (TOML), b"next_alert" the next id

Every group of acknowledged batches is one WriteBatch written with sync=True (`SYNC_WRITE`),
audit records included: a change and its audit record are durable together or not at all.
Nothing in the log or the audit trail is ever deleted or rewritten (the key-value layer,
index.kv, has no delete).

One writer per data directory: `Store(..., writable=True)` takes an exclusive lock on
`DATA/writer.lock` (flock) and fails at once, naming the holder, if another process has it.
Readers open RocksDB read-only and take no lock.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.errors import Conflict, SnapshotError, StoreCorrupt
from index.dirlock import StoreLocked, lock_directory
from index.kv import SYNC_WRITE, KeyValue, MemoryKeyValue, Put, RocksKeyValue
from index.log import LogEntry, seq_key
from trust.audit import GENESIS, AuditEvent, EncodedEvent, chain_puts
from trust.clock import Clock, SystemClock

__all__ = ["STORE_DIR", "SYNC_WRITE", "Store", "StoreCorrupt", "StoreLocked", "has_store",
           "lock_directory"]

STORE_DIR = "store"
STORE_FORMAT = 1
COLUMN_FAMILIES = ("meta", "keys", "nodes", "log", "batches", "rejects", "users", "tokens",
                   "audit", "corrections", "master", "recalls", "quality", "quality_nodes",
                   "alerts", "quality_columns")
_U64 = struct.Struct(">Q")


def has_store(data_dir: Path) -> bool:
    return (data_dir / STORE_DIR / "CURRENT").is_file()


@dataclass(frozen=True)
class BatchRecord:
    """An applied batch id: the log sequence that applied it and the digest of its content."""

    seq: int
    digest: str


class Store:
    """The log, batch ids, node keys and rejects of a data directory, over a `KeyValue`
    (RocksDB in DATA/store; `Store.in_memory()` for its dict twin). Writes happen on one
    thread (the caller's)."""

    def __init__(self, data_dir: Path, *, writable: bool, salvage: bool = False,
                 kv: KeyValue | None = None, clock: Clock | None = None) -> None:
        """`salvage` (read-only only) opens a store whose WAL is damaged, skipping every bad
        record: for `tracegraph repair` to list what survived, never for serving. `kv`
        replaces RocksDB (no directory, no lock). `clock` times audit records."""
        self.data_dir = data_dir
        self.clock = clock or SystemClock()
        self.writable = writable
        self._lock_handle: Any = None
        path = data_dir / STORE_DIR
        if kv is None:
            if writable:
                data_dir.mkdir(parents=True, exist_ok=True)
                self._lock()
            elif not has_store(data_dir):
                raise SnapshotError(f"{data_dir}: no store (nothing was ingested here)")
            try:
                kv = RocksKeyValue(path, COLUMN_FAMILIES, writable=writable, salvage=salvage,
                                   repair_hint=f"; run `tracegraph repair --data {data_dir}` "
                                               "to see what is lost")
            except SnapshotError:
                self._unlock()
                raise
        self.kv = kv
        if writable and self.kv.get("meta", b"format") is None:
            self.kv.write([("meta", b"format", _U64.pack(STORE_FORMAT)),
                           ("meta", b"created_at", datetime.now(UTC).isoformat().encode())])
        stored = self.kv.get("meta", b"format")
        if stored is not None and _U64.unpack(stored)[0] != STORE_FORMAT:
            raise SnapshotError(f"{path}: store format {_U64.unpack(stored)[0]} is not "
                                f"{STORE_FORMAT}")

    @classmethod
    def in_memory(cls, clock: Clock | None = None) -> Store:
        """A writable store in memory (nothing durable): the twin of the RocksDB store."""
        return cls(Path("<memory>"), writable=True, kv=MemoryKeyValue(COLUMN_FAMILIES),
                   clock=clock)

    # -- the single-writer lock ----------------------------------------------------------------

    def _lock(self) -> None:
        self._lock_handle = lock_directory(self.data_dir, "writing")

    def _unlock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()  # closing the descriptor releases the flock
            self._lock_handle = None

    def close(self) -> None:
        kv: KeyValue | None = getattr(self, "kv", None)
        if kv is not None:
            kv.close()
            del self.kv
        self._unlock()

    # -- reads --------------------------------------------------------------------------------

    def meta_int(self, name: str, default: int = 0) -> int:
        value = self.read("meta", name.encode())
        return default if value is None else int(_U64.unpack(value)[0])

    @property
    def last_seq(self) -> int:
        return self.meta_int("last_seq")

    @property
    def next_sid(self) -> int:
        return self.meta_int("next_sid")

    def read(self, family: str, key: bytes) -> bytes | None:
        """One read; a storage error (a failed block checksum) is StoreCorrupt, never None."""
        return self.kv.get(family, key)

    def read_many(self, family: str, keys: Sequence[bytes]) -> list[bytes | None]:
        """read of each key in one multi-get (a million point reads in about a second)."""
        return self.kv.get_many(family, keys)

    def batch(self, batch_id: str) -> BatchRecord | None:
        value = self.read("batches", batch_id.encode())
        return None if value is None else _batch_record(value)

    def scan(self, family: str, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) of a column family from `start`, checksums verified. An error
        that ends the scan early raises StoreCorrupt: a scan that stops at damage must never
        look like the end of the data."""
        return self.kv.scan(family, start)

    def entries(self, after: int = 0) -> Iterator[LogEntry]:
        """Log entries with sequence > `after`, in order; a damaged or missing entry up to the
        last acknowledged sequence raises StoreCorrupt (never a shorter replay)."""
        expected = after + 1
        last = self.last_seq
        for key, value in self.scan("log", seq_key(after + 1)):
            seq = int.from_bytes(key, "big")
            if seq != expected:
                raise StoreCorrupt(f"{self.data_dir / STORE_DIR}: log entries {expected} to "
                                   f"{seq - 1} are missing; run `tracegraph repair --data "
                                   f"{self.data_dir}` to see which batches to re-send")
            try:
                entry = LogEntry.decode(value)
            except Exception as e:
                raise StoreCorrupt(f"{self.data_dir / STORE_DIR}: log entry {seq} does not "
                                   f"decode ({e})") from e
            yield entry
            expected = seq + 1
        if expected <= last:
            raise StoreCorrupt(f"{self.data_dir / STORE_DIR}: the log ends at {expected - 1} "
                               f"but {last} entries were acknowledged; run `tracegraph repair "
                               f"--data {self.data_dir}` to see which batches to re-send")

    def batch_records(self) -> Iterator[tuple[str, BatchRecord]]:
        """Every applied batch id with its record (reject markers skipped), checksums verified."""
        for key, value in self.scan("batches"):
            if not key.startswith(b"reject:"):
                yield key.decode(errors="replace"), _batch_record(value)

    def rejects(self) -> Iterator[dict[str, Any]]:
        for _key, value in self.scan("rejects"):
            yield json.loads(value)

    def verify(self) -> list[str]:
        """Read every record of every column family with checksums verified, and check the
        log is whole (1..last_seq, each entry decodes). Returns the problems (empty: intact)."""
        problems = []
        for family in COLUMN_FAMILIES:
            try:
                if family == "log":
                    for _entry in self.entries():
                        pass
                else:
                    for _record in self.scan(family):
                        pass
            except StoreCorrupt as e:
                problems.append(str(e))
        return problems

    def reject_count(self) -> int:
        return self.meta_int("rejects")

    @property
    def audit_count(self) -> int:
        return self.meta_int("audit_last")

    def audit_records(self, after: int = 0) -> Iterator[tuple[int, bytes]]:
        """(sequence, canonical bytes) of the audit records after `after`, in order."""
        for key, value in self.scan("audit", _U64.pack(after + 1)):
            yield int(_U64.unpack(key)[0]), value

    def _audit_puts(self, audit: Sequence[AuditEvent | EncodedEvent],
                    now: datetime | None) -> list[Put]:
        if not audit:
            return []
        head = self.read("meta", b"audit_head")
        when = self.read("meta", b"audit_time")
        return chain_puts(audit, now or self.clock.now(), self.audit_count,
                          GENESIS if head is None else head.decode(),
                          None if when is None else when.decode())

    def write(self, puts: list[Put], audit: Sequence[AuditEvent | EncodedEvent],
              now: datetime | None = None, *,
              expect: Sequence[tuple[str, bytes, bytes | None]] = ()) -> None:
        """Write `puts` (users, tokens, ...) and their audit records as one synced write;
        `expect`: (family, key, value) that must hold first (None: absent), else Conflict.
        (One thread writes a Store; the live store serializes its writers.)"""
        if not self.writable:
            raise AssertionError("internal: write on a read-only store")
        for family, key, value in expect:
            if self.read(family, key) != value:
                raise Conflict(f"{family} record {key!r} changed meanwhile; read it again")
        self.kv.write([*puts, *self._audit_puts(audit, now)])

    # -- the one write path -------------------------------------------------------------------

    def commit(self, entries: list[LogEntry], batches: list[tuple[str, int, str]],
               new_keys: list[tuple[list[str], list[int]]], rejects: list[dict[str, Any]],
               next_sid: int, audit: Sequence[AuditEvent] = (),
               now: datetime | None = None, side_puts: Sequence[Put] = ()) -> None:
        """Write applied entries, their batch ids, new nodes' keys <-> ids, rejects, records
        that change with them (`side_puts`: a correction's new state) and the audit records of
        all of it as one atomic write (a RocksDB WriteBatch, synced). Returns only when it is
        durable."""
        if not self.writable:
            raise AssertionError("internal: commit on a read-only store")
        puts: list[Put] = [("log", seq_key(entry.seq), entry.encode()) for entry in entries]
        puts += side_puts
        for batch_id, seq, digest in batches:
            puts.append(("batches", batch_id.encode(), _U64.pack(seq) + digest.encode()))
        for keys, sids in new_keys:
            for key, sid in zip(keys, sids, strict=True):
                key_bytes, sid_bytes = key.encode(), sid.to_bytes(4, "big")
                puts.append(("keys", key_bytes, sid_bytes))
                puts.append(("nodes", sid_bytes, key_bytes))
        count = self.reject_count()
        seen: set[bytes] = set()
        for reject in rejects:
            # The same record rejected again for the same reason (a re-run, a retry) is kept
            # once, so every count of rejects (import summary, stats, check) agrees.
            marker = _reject_marker(reject)
            if marker in seen or self.read("batches", marker) is not None:
                continue
            seen.add(marker)
            puts.append(("batches", marker, b""))
            puts.append(("rejects", _U64.pack(count), json.dumps(reject).encode()))
            count += 1
        if entries:
            puts.append(("meta", b"last_seq", _U64.pack(entries[-1].seq)))
        puts.append(("meta", b"next_sid", _U64.pack(next_sid)))
        puts.append(("meta", b"rejects", _U64.pack(count)))
        self.kv.write([*puts, *self._audit_puts(audit, now)])

def _reject_marker(reject: dict[str, Any]) -> bytes:
    """Identity of a reject: what was rejected, where and why (not when, nor by whom)."""
    identity = {k: v for k, v in reject.items() if k not in ("at", "writer")}
    return b"reject:" + hashlib.sha256(
        json.dumps(identity, sort_keys=True, default=str).encode()).digest()


def _batch_record(value: bytes) -> BatchRecord:
    return BatchRecord(int(_U64.unpack_from(value, 0)[0]), value[8:].decode())
