"""Quality records (ISO 13485 7.5.8-7.5.9, 8.3, 8.5): inspections, nonconformances, CAPAs,
change orders, deviations and certificates, each attached to node keys of the genealogy.

A file (CSV or Parquet) has one row per (record version, node key):

    record_id, record_type, key, status, opened_at, title            required
    closed_at, result, disposition, capa_id, effective_from,         optional
    products, inspector, measurements

Rows with the same record_id and status are one version attached to every key they name
(the other fields must agree); a later status of the same record in the same file is a new
version. What a record type allows:

    type            statuses, in the order they move             also
    inspection      planned, done                                 result pass|fail when done
    nonconformance  open, investigating, dispositioned, closed    disposition when dispositioned
                                                                  or closed
    capa            open, investigating, implementing, verifying,
                    closed                                        capa_id: the NCs it answers
    change_order    draft, approved, effective, closed            effective_from, products
    deviation       open, approved, closed
    certificate     received, accepted | rejected                 (supplier CoA/CoC)

A status only moves forward (a step back is a correction: the two-person path, later); times
are ISO 8601 (naive: UTC), never in the future; `products` is ';'-separated; `measurements`
is JSON or text. Every problem is a reject naming file, row, field and reason, with the row.
Node keys are checked by the store (index.quality_records), which knows the genealogy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl

from domain.errors import InvalidInput

__all__ = ["DISPOSITIONS", "OPTIONAL", "REQUIRED", "STATUSES", "TYPES", "RecordVersion",
           "check_row", "read_quality_files", "read_quality_frames", "status_rank"]

STATUSES: Final[dict[str, tuple[str | tuple[str, ...], ...]]] = {
    "inspection": ("planned", "done"),
    "nonconformance": ("open", "investigating", "dispositioned", "closed"),
    "capa": ("open", "investigating", "implementing", "verifying", "closed"),
    "change_order": ("draft", "approved", "effective", "closed"),
    "deviation": ("open", "approved", "closed"),
    "certificate": ("received", ("accepted", "rejected")),
}
"""Each record type's statuses in the order a record moves through them (a tuple: one
step, several possible outcomes)."""
TYPES: Final = tuple(STATUSES)
DISPOSITIONS: Final = ("use-as-is", "rework", "scrap", "return")
RESULTS: Final = ("pass", "fail")
REQUIRED: Final = ("record_id", "record_type", "key", "status", "opened_at", "title")
OPTIONAL: Final = ("closed_at", "result", "disposition", "capa_id", "effective_from",
                   "products", "inspector", "measurements")
TIMES: Final = ("opened_at", "closed_at", "effective_from")
FUTURE_SLACK: Final = timedelta(minutes=5)


def status_rank(record_type: str, status: str) -> int:
    """The step of `status` in its type's order; -1 when the type does not have it."""
    for rank, step in enumerate(STATUSES.get(record_type, ())):
        if status == step or (isinstance(step, tuple) and status in step):
            return rank
    return -1


def _all_statuses(record_type: str) -> list[str]:
    out: list[str] = []
    for step in STATUSES[record_type]:
        out += list(step) if isinstance(step, tuple) else [step]
    return out


@dataclass(frozen=True)
class RecordVersion:
    """One version of a quality record as read: its fields (times as ISO 8601 UTC text) and
    the node keys it attaches to; where it came from (file, first row)."""

    record_id: str
    record_type: str
    status: str
    fields: dict[str, Any]
    keys: tuple[str, ...]
    file: str
    row: int
    rows: tuple[int, ...] = field(default=())

    def content(self) -> dict[str, Any]:
        """What the store keeps and compares: every field and the sorted keys."""
        return {"record_id": self.record_id, "record_type": self.record_type,
                "status": self.status, **self.fields, "keys": sorted(self.keys)}


def _time(value: str, now: datetime) -> tuple[str | None, str | None]:
    """(ISO 8601 UTC text, problem)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None, f"{value!r} is not an ISO 8601 time"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if parsed > now + FUTURE_SLACK:
        return None, f"{value} is in the future"
    return parsed.isoformat().replace("+00:00", "Z"), None


def check_row(row: dict[str, str], now: datetime) -> tuple[dict[str, Any], str, str]:
    """(fields, problem field, problem) of one row; the problem is "" when there is none."""
    for name in REQUIRED:
        if not row.get(name, "").strip():
            return {}, name, f"{name} is empty"
    record_type = row["record_type"].strip()
    if record_type not in STATUSES:
        return {}, "record_type", (f"{record_type!r} is not a record type: one of "
                                   f"{', '.join(TYPES)}")
    status = row["status"].strip()
    if status_rank(record_type, status) < 0:
        return {}, "status", (f"{status!r} is not a status of a {record_type}: one of "
                              f"{', '.join(_all_statuses(record_type))}")
    fields: dict[str, Any] = {"title": row["title"].strip()}
    for name in TIMES:
        text = row.get(name, "").strip()
        if text:
            value, problem = _time(text, now)
            if problem:
                return {}, name, problem
            fields[name] = value
    for name in ("result", "disposition", "capa_id", "inspector"):
        text = row.get(name, "").strip()
        if text:
            fields[name] = text
    if "result" in fields and fields["result"] not in RESULTS:
        return {}, "result", f"{fields['result']!r} is not pass or fail"
    if record_type == "inspection" and status == "done" and "result" not in fields:
        return {}, "result", "a done inspection needs a result (pass or fail)"
    if "disposition" in fields and fields["disposition"] not in DISPOSITIONS:
        return {}, "disposition", (f"{fields['disposition']!r} is not a disposition: one of "
                                   f"{', '.join(DISPOSITIONS)}")
    if (record_type == "nonconformance" and status in ("dispositioned", "closed")
            and "disposition" not in fields):
        return {}, "disposition", f"a {status} nonconformance needs a disposition"
    if record_type == "change_order" and status in ("effective", "closed") and (
            "effective_from" not in fields):
        return {}, "effective_from", f"an {status} change order needs effective_from"
    products = [p.strip() for p in row.get("products", "").split(";") if p.strip()]
    if products:
        fields["products"] = sorted(set(products))
    text = row.get("measurements", "").strip()
    if text:
        try:
            fields["measurements"] = json.loads(text)
        except ValueError:
            fields["measurements"] = text
    if "closed_at" in fields and fields["closed_at"] < fields["opened_at"]:
        return {}, "closed_at", "closed_at is before opened_at"
    return fields, "", ""


def _read(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path)
            return frame.select(pl.all().cast(pl.String))
        return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InvalidInput(f"{path}: not a readable CSV or Parquet file ({e})") from None


def read_quality_files(paths: Sequence[Path], now: datetime | None = None,
                       ) -> tuple[list[RecordVersion], list[dict[str, Any]]]:
    """The record versions of `paths`, in file order, and the rejected rows (dicts with
    file, row, table, field, reason and the row as JSON). A file whose columns lack a
    required one is an error naming them."""
    return read_quality_frames([(str(path), _read(path)) for path in paths], now)


def read_quality_frames(frames: Sequence[tuple[str, pl.DataFrame]],
                        now: datetime | None = None,
                        ) -> tuple[list[RecordVersion], list[dict[str, Any]]]:
    """read_quality_files over tables already read: (name, frame) each, the frame in the
    file format; a frame with source_file and source_row columns (a QMS export through a
    mapping, loaders.erp) names those in its rejects."""
    now = now or datetime.now(UTC)
    versions: dict[tuple[str, str], RecordVersion] = {}
    rejects: list[dict[str, Any]] = []
    for name, given in frames:
        missing = [c for c in REQUIRED if c not in given.columns]
        if missing:
            raise InvalidInput(f"{name}: needs column(s) {', '.join(missing)} (a quality "
                               f"record file has {', '.join(REQUIRED)} and may have "
                               f"{', '.join(OPTIONAL)})")
        origin = {"source_file", "source_row"} <= set(given.columns)
        files = given["source_file"].to_list() if origin else [name] * given.height
        numbers = (given["source_row"].to_list() if origin
                   else list(range(2, given.height + 2)))  # row 1: the header
        frame = given.drop("source_file", "source_row") if origin else given
        for path, number, raw in zip(files, numbers, frame.iter_rows(named=True),
                                     strict=True):
            row = {k: "" if v is None else str(v) for k, v in raw.items()}
            fields, where, problem = check_row(row, now)
            record = json.dumps(raw, ensure_ascii=False)
            if problem:
                rejects.append({"file": str(path), "row": number, "table": "quality",
                                "field": where, "reason": problem, "record": record})
                continue
            rid, key, status = row["record_id"].strip(), row["key"].strip(), row["status"].strip()
            kind = row["record_type"].strip()
            seen = versions.get((rid, status))
            if seen is None:
                versions[(rid, status)] = RecordVersion(rid, kind, status, fields, (key,),
                                                        str(path), number, (number,))
            elif seen.fields != fields or seen.record_type != kind:
                rejects.append({"file": str(path), "row": number, "table": "quality",
                                "field": "record_id",
                                "reason": f"record {rid} ({status}) was given other content "
                                          f"in {seen.file} row {seen.row}",
                                "record": record})
            else:
                versions[(rid, status)] = RecordVersion(
                    rid, seen.record_type, status, fields, (*seen.keys, key), seen.file,
                    seen.row, (*seen.rows, number))
    ordered = sorted(versions.values(), key=lambda v: (v.record_id,
                                                       status_rank(v.record_type, v.status)))
    return ordered, rejects

