"""What a damaged store has lost: `tracegraph repair --data DIR`.

It never changes the store and never pretends. It reads every log sequence the store ever
acknowledged (1 .. the larger of the recorded last sequence and the highest entry found), each
entry on its own with checksums verified, and reports each one that is damaged (a checksum
fails or it does not decode) or missing, with the batch id that applied it (from the batches
column family) so the sender can re-send exactly those batches. The other column families are
scanned for damage too. A store whose write-ahead log is damaged in the middle does not open
normally (`index.store` refuses to drop records silently); it is then read in salvage mode,
which skips bad records, and the report says so.

What to do with the report is in README "Guarantees": keep the damaged directory, build a new
one from the sources or a backup, and re-send the listed batches.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.log import LogEntry, seq_key
from index.store import COLUMN_FAMILIES, Store, StoreCorrupt

__all__ = ["DamageReport", "LostEntry", "inspect_store"]


@dataclass(frozen=True)
class LostEntry:
    """One acknowledged log entry the store cannot give back."""

    seq: int
    state: str  # "damaged" (a checksum or decode failure) or "missing"
    batches: tuple[str, ...]  # batch ids acknowledged at that sequence, as far as known
    detail: str


@dataclass
class DamageReport:
    """What `inspect_store` found. `intact` only when nothing at all is wrong."""

    store: Path
    opened: str  # "normally" or "in salvage mode (the write-ahead log is damaged)"
    last_seq: int
    entries_ok: int = 0
    lost: list[LostEntry] = field(default_factory=list)
    families: list[str] = field(default_factory=list)  # damage found in other families

    @property
    def intact(self) -> bool:
        return self.opened == "normally" and not self.lost and not self.families

    def to_dict(self) -> dict[str, Any]:
        return {"store": str(self.store), "opened": self.opened, "intact": self.intact,
                "last_seq": self.last_seq, "entries_ok": self.entries_ok,
                "lost": [vars(e) for e in self.lost], "damaged_families": self.families}


def inspect_store(data_dir: Path) -> DamageReport:
    """Read everything the store holds, read-only; see the module docstring."""
    opened = "normally"
    try:
        store = Store(data_dir, writable=False)
    except StoreCorrupt:
        raise
    except Exception:  # any failure to open is what salvage mode is for
        store = Store(data_dir, writable=False, salvage=True)
        opened = "in salvage mode (the write-ahead log is damaged)"
    try:
        return _inspect(store, opened)
    finally:
        store.close()


def _inspect(store: Store, opened: str) -> DamageReport:
    families: list[str] = []
    by_seq: dict[int, list[str]] = defaultdict(list)
    try:
        for batch_id, record in store.batch_records():
            by_seq[record.seq].append(batch_id)
    except StoreCorrupt as e:
        families.append(str(e))
    highest = 0
    try:
        for key, _value in store.scan("log"):
            highest = max(highest, int.from_bytes(key, "big"))
    except StoreCorrupt as e:
        families.append(str(e))
    try:
        recorded = store.last_seq
    except StoreCorrupt as e:
        families.append(str(e))
        recorded = 0
    last = max(recorded, highest, max(by_seq, default=0))
    report = DamageReport(store.data_dir / "store", opened, last, families=families)
    for seq in range(1, last + 1):
        batches = tuple(by_seq.get(seq, ()))
        try:
            found = store.read("log", seq_key(seq))
        except StoreCorrupt as e:
            report.lost.append(LostEntry(seq, "damaged", batches, str(e)))
            continue
        if found is None:
            report.lost.append(LostEntry(seq, "missing", batches,
                                         "acknowledged, but no entry is stored"))
            continue
        try:
            entry = LogEntry.decode(found)
        except Exception as e:  # any decode failure is damage to report
            report.lost.append(LostEntry(seq, "damaged", batches, f"does not decode: {e}"))
            continue
        if entry.seq != seq:
            report.lost.append(LostEntry(seq, "damaged", batches,
                                         f"holds sequence {entry.seq}"))
            continue
        report.entries_ok += 1
    for family in COLUMN_FAMILIES:
        if family in ("log", "batches"):
            continue
        try:
            for _record in store.scan(family):
                pass
        except StoreCorrupt as e:
            report.families.append(str(e))
    return report
