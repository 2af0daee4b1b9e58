"""`tracegraph audit verify`: recompute the audit chain and its Merkle root from the store,
check the chain head and length the store keeps, that every acknowledged log entry has its
audit record, and (given a public key and a checkpoint) the checkpoint's signature and root.

The answer names the first bad record: the first sequence whose bytes are not canonical, whose
`prev` is not the hash of the record before it, that is missing, or that should not be there.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.errors import StoreCorrupt
from trust.audit import GENESIS, record_hash
from trust.canonical import canonical_bytes
from trust.merkle import leaf_hash, root

__all__ = ["AuditReport", "tail_problem", "verify_store"]

_U64 = struct.Struct(">Q")


@dataclass
class AuditReport:
    """What verification found. `first_bad` is the first audit sequence that fails (0 when
    the problem is not one record's, for example a log entry with no record)."""

    records: int = 0
    root: str = ""
    problems: list[str] = field(default_factory=list)
    first_bad: int | None = None
    checkpoint: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, seq: int, problem: str) -> None:
        if self.first_bad is None:
            self.first_bad = seq
        self.problems.append(problem)


def verify_store(store: Any, public_key: Path | None = None,
                 checkpoint: Path | None = None) -> AuditReport:
    """Verify the audit trail of an open `index.store.Store` (read-only is enough)."""
    report = AuditReport()
    expected, leaves = 1, []
    hashes = _Recent(GENESIS)  # hashes[n]: of record n as stored ([0]: the genesis value)
    prevs = _Recent(GENESIS)  # prevs[n]: record n's prev field
    covered: set[int] = set()
    try:
        for key, data in store.scan("audit"):
            seq = int(_U64.unpack(key)[0]) if len(key) == 8 else -1
            if seq != expected:
                report.fail(min(seq, expected) if seq > 0 else expected,
                            f"audit record {expected} is missing or out of order (found "
                            f"{seq if seq > 0 else repr(key)})")
                break
            try:
                record = json.loads(data)
                canonical = canonical_bytes(record)
            except (ValueError, UnicodeDecodeError) as e:
                report.fail(seq, f"audit record {seq} does not decode: {e}")
                break
            if canonical != data or not isinstance(record, dict) or record.get("seq") != seq:
                report.fail(seq, f"audit record {seq} was altered (its bytes are not the "
                                 "canonical bytes of its content)")
                break
            hashes.append(record_hash(data))
            prevs.append(str(record.get("prev")))
            leaves.append(leaf_hash(data))
            covered.update(_log_sequences(record))
            if _broken_before(seq - 1, hashes, prevs, report):
                break
            expected += 1
    except StoreCorrupt as e:
        report.fail(expected, f"the audit column family is damaged at or after record "
                              f"{expected}: {e}")
    report.records = len(leaves)
    if report.ok:
        _check_links(store, report, hashes, prevs)
    if report.ok:
        last_log = store.last_seq
        missing = [s for s in range(1, last_log + 1) if s not in covered]
        if missing:
            report.fail(0, f"log entry {missing[0]} has no audit record ({len(missing)} log "
                           "entries are not covered)")
    report.root = root(leaves).hex()
    if checkpoint is not None:
        from trust.checkpoint import verify_checkpoint  # noqa: PLC0415 - needs cryptography

        verify_checkpoint(checkpoint, public_key, leaves, report)
    return report


class _Recent:
    """The last few values of a sequence, indexed by their position in the whole sequence:
    the chain checks look back at most two records, so memory stays flat at any length."""

    KEEP = 3

    def __init__(self, first: str) -> None:
        self._values: deque[str] = deque([first], maxlen=self.KEEP)
        self._length = 1

    def append(self, value: str) -> None:
        self._values.append(value)
        self._length += 1

    def __getitem__(self, index: int) -> str:
        offset = index - (self._length - len(self._values))
        if not 0 <= offset < len(self._values):
            raise IndexError(f"position {index} is no longer kept")
        return self._values[offset]


def _broken_before(n: int, hashes: _Recent, prevs: _Recent, report: AuditReport) -> bool:
    """Judge the link into record n once record n + 1 is read: a record whose prev is not
    the hash of the one before it means that one was changed (if the chain goes on from
    record n: n + 1 links to it) or record n itself was (its prev field was edited)."""
    if n < 1 or prevs[n] == hashes[n - 1]:
        return False
    culprit = n - 1 if prevs[n + 1] == hashes[n] and n > 1 else n
    report.fail(culprit, f"audit record {culprit} was changed, removed or inserted: record "
                         f"{n} does not follow record {n - 1} (its prev hash differs)")
    return True


def _check_links(store: Any, report: AuditReport, hashes: _Recent, prevs: _Recent) -> None:
    """The last record's link (no record after it to judge it by: the head the store keeps
    does) and the length and head the store keeps."""
    count = report.records
    last = store.read("meta", b"audit_last")
    stored_last = 0 if last is None else int(_U64.unpack(last)[0])
    stored_head = (store.read("meta", b"audit_head") or GENESIS.encode()).decode()
    if count and prevs[count] != hashes[count - 1]:
        culprit = count - 1 if stored_head == hashes[count] and count > 1 else count
        report.fail(culprit, f"audit record {culprit} was changed, removed or inserted: "
                             f"record {count} does not follow record {count - 1}")
    elif stored_last != count:
        report.fail(min(stored_last, count) + 1,
                    f"the store says {stored_last} audit records were written but {count} "
                    f"are there (records after {min(stored_last, count)} are gone or were "
                    "added)")
    elif stored_head != hashes[count]:
        report.fail(count, f"the chain head the store keeps does not match record {count}")


def _log_sequences(record: dict[str, Any]) -> list[int]:
    details = record.get("details") or {}
    if record.get("action") == "ingest.batch" and isinstance(details.get("log_seq"), int):
        return [details["log_seq"]]
    if record.get("action") == "audit.recovery":
        return list(range(int(details.get("from", 1)), int(details.get("through", 0)) + 1))
    return []


def tail_problem(store: Any) -> str | None:
    """A quick check a writer makes before it starts (full verification reads every record):
    the last audit record is where the store says, decodes, is canonical and is the chain head
    the store keeps, and nothing follows it; a store with log entries has an audit trail.
    Returns what is wrong, or None."""
    count = store.audit_count
    if count == 0:
        if store.last_seq > 0:
            return (f"the store has {store.last_seq:,} log entries but no audit trail (written "
                    "by a version without one, or the trail was removed)")
        return None
    data = store.read("audit", _U64.pack(count))
    if data is None:
        return f"audit record {count}, the last the store recorded, is missing"
    if store.read("audit", _U64.pack(count + 1)) is not None:
        return f"an audit record {count + 1} follows the last one the store recorded ({count})"
    try:
        record = json.loads(data)
        canonical = canonical_bytes(record)
    except (ValueError, UnicodeDecodeError):
        return f"audit record {count} does not decode"
    head = (store.read("meta", b"audit_head") or b"").decode()
    if canonical != data or record.get("seq") != count or record_hash(data) != head:
        return f"audit record {count} is not the chain head the store keeps"
    return None
