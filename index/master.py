"""Master data records in the store (column family `master`; loaders.master says what they
hold). Each added or changed record is an audit record with its old and new fields, written
in the same synced write; a record sent again unchanged writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidInput
from loaders.master import FIELDS, KINDS, normalized
from trust.audit import AuditEvent
from trust.canonical import canonical_bytes
from trust.identity import Principal, Records

__all__ = ["MasterData", "MasterReport", "finished_products"]

BATCH = 5_000  # records per synced write: big imports neither stall the writer nor grow a batch


@dataclass
class MasterReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0


def _key(kind: str, key: str) -> bytes:
    return kind.encode() + b"\x00" + key.encode()


class MasterData:
    """Master data over `records` (the store, or the live store's writer)."""

    def __init__(self, records: Records) -> None:
        self.records = records

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        value = self.records.read("master", _key(kind, key))
        return None if value is None else dict(json.loads(value))

    def many(self, kind: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The records of `keys` that exist (one read each; keys repeat in a list: once)."""
        found = {}
        for key in dict.fromkeys(keys):
            if key is not None and (record := self.get(kind, key)) is not None:
                found[key] = record
        return found

    def all(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        prefix = kind.encode() + b"\x00"
        out = []
        for k, v in self.records.scan("master", prefix):
            if not k.startswith(prefix):
                break
            out.append((k[len(prefix):].decode(), dict(json.loads(v))))
        return out

    def put(self, rows: Iterable[tuple[str, str, Mapping[str, Any]]], by: Principal,
            source: str) -> MasterReport:
        """Add or update (kind, key, fields) records; fields not in loaders.master.FIELDS
        are refused, empty ones dropped."""
        report = MasterReport()
        puts: list[tuple[str, bytes, bytes]] = []
        audit: list[AuditEvent] = []
        for kind, key, fields in rows:
            if kind not in KINDS:
                raise InvalidInput(f"master data kind {kind!r} is not one of {', '.join(KINDS)}")
            unknown = set(fields) - set(FIELDS[kind])
            if unknown:
                raise InvalidInput(f"{kind} {key}: no field(s) {', '.join(sorted(unknown))}")
            record = {k: normalized(k, str(v)) for k, v in fields.items()
                      if v not in (None, "") and str(v).strip()}
            old = self.get(kind, key)
            if old == record:
                report.unchanged += 1
                continue
            if old is None:
                report.added += 1
            else:
                report.changed += 1
            puts.append(("master", _key(kind, key), canonical_bytes(record)))
            audit.append(AuditEvent(f"master.{kind}", by.user_id, by.printed, keys=[key],
                                    old=old, new=record, details={"source": source}))
            if len(puts) >= BATCH:
                self.records.write(puts, audit)
                puts, audit = [], []
        if puts:
            self.records.write(puts, audit)
        return report


def finished_products(master: MasterData) -> list[str] | None:
    """The products whose lots and serials are finished units (master data level
    "finished"), what impact counts at shipments and customers; None when no product has a
    level yet (then every shipped lot and serial counts, as before master data)."""
    products = master.all("product")
    if not any(fields.get("level") for _, fields in products):
        return None
    return sorted(key for key, fields in products if fields.get("level") == "finished")
