"""Recall cases: a bad lot (or any seeds) pinned to the answer it gave, kept in the store
(column family `recalls`), every change a new version of the record and an audit record.

A case holds its title, reason, seeds and filters, and the pinned answer: its time (`as_of`:
the record time of the newest log entry the answer saw), the log sequence and snapshot
version, the SHA-256 of the shipped rows (recall.consignees.result_hash) and their counts.
`as_of` reproduces that answer bit for bit later, after more ingest, corrections and
compaction alike (every edge keeps its record time and a retraction its own). `refresh` pins
the answer of now and keeps the earlier pin in the case's history; `diff` compares two
answers (consignees and units added or removed).

A **drill** (mock recall) is a case like any other, flagged: the time of each step is kept,
so `drill_report` says how long scoping, the consignee list and a notification-ready export
took ("recall response time", measured before a real recall needs it).

Closing a case is an e-signature with the meaning "responsibility" (printed name, id, UTC
time, and the SHA-256 of the case record it closes); the signer re-enters their password.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from domain.errors import InvalidInput, PermissionDenied
from domain.time import from_micros, parse_time
from engine.shipped import ShippedRows, changed_rows, customer_totals, customer_totals_by_key
from index.log import LogEntry, seq_key
from recall.consignees import result_hash
from trust.audit import AuditEvent, iso_ms, record_hash
from trust.canonical import canonical_bytes
from trust.clock import Clock, SystemClock
from trust.identity import Principal

__all__ = ["Answer", "Cases", "Diff", "RecallCase", "drill_report"]

OPENERS = frozenset({"investigator", "qa"})
FILTERS = ("max_depth", "edge_kinds", "since", "until")
_U32 = struct.Struct(">I")

Shipped = Callable[..., ShippedRows]
"""engine.Graph.shipped_rows (seeds, max_depth=, edge_kinds=, since=, until=, as_of=)."""


@dataclass(frozen=True)
class Answer:
    """One computed answer: when, at which log sequence, its rows by dense id, and (made when
    first asked for) its keyed rows and their hash: pinning and checking a pin need those,
    a diff of two answers of one view does not."""

    as_of: str
    log_sequence: int
    snapshot_version: int
    found: ShippedRows

    @cached_property
    def rows(self) -> pa.Table:
        return self.found.table

    @cached_property
    def result_hash(self) -> str:
        return result_hash(self.rows)

    def counts(self) -> dict[str, Any]:
        frame = pl.from_arrow(self.rows)
        assert isinstance(frame, pl.DataFrame)
        return {"customers": int(frame["customer"].drop_nulls().n_unique()),
                "shipments": int(frame["shipment"].drop_nulls().n_unique()),
                "rows": frame.height,
                "units": _number(frame["quantity"].sum() or 0),
                "unknown_quantity_rows": int(frame["quantity"].null_count())}


@dataclass(frozen=True)
class RecallCase:
    id: int
    title: str
    reason: str
    seeds: list[str]
    filters: dict[str, Any]
    drill: bool
    opened_at: str
    opened_by: str
    opened_by_id: int
    as_of: str
    log_sequence: int
    snapshot_version: int
    result_hash: str
    counts: dict[str, Any]
    state: str = "open"  # open, closed
    steps: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    closed_at: str | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    signatures: list[dict[str, Any]] = field(default_factory=list)

    def encode(self) -> bytes:
        return canonical_bytes(asdict(self))

    def unsigned(self) -> RecallCase:
        """The record a closing signature covers (the case as it stood, closed)."""
        return replace(self, signatures=[])


@dataclass(frozen=True)
class Diff:
    """What changed between two answers of a case, by (customer, shipment, item): the rows
    each lacks against the other (keyed only when asked for), and per customer the known
    quantity before and after where it changed."""

    before: str
    after: str
    old: ShippedRows = field(repr=False)
    new: ShippedRows = field(repr=False)
    removed_rows: npt.NDArray[np.int64] = field(repr=False)
    added_rows: npt.NDArray[np.int64] = field(repr=False)
    by_customer: pl.DataFrame  # customer, units_before, units_after, change

    @cached_property
    def added(self) -> pl.DataFrame:
        """The rows of the later answer that the earlier one lacks (SHIPPED_SCHEMA)."""
        return _frame(self.new.take(self.added_rows))

    @cached_property
    def removed(self) -> pl.DataFrame:
        """The rows of the earlier answer that the later one lacks."""
        return _frame(self.old.take(self.removed_rows))

    def summary(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after,
                "rows_added": len(self.added_rows), "rows_removed": len(self.removed_rows),
                "customers_added": int((self.by_customer["units_before"] == 0).sum()),
                "customers_removed": int((self.by_customer["units_after"] == 0).sum()),
                "units_change": _number(self.by_customer["change"].sum() or 0)}


class Cases:
    """Recall cases over `records` (the live store's writer, or a read-only store)."""

    def __init__(self, records: Any, clock: Clock | None = None) -> None:
        self.records = records
        self.clock = clock or SystemClock()

    def get(self, number: int) -> RecallCase:
        value = self.records.read("recalls", _U32.pack(number))
        if value is None:
            raise InvalidInput(f"no recall case {number}")
        return RecallCase(**json.loads(value))

    def all(self) -> list[RecallCase]:
        return [RecallCase(**json.loads(v)) for _, v in self.records.scan("recalls")]

    def answer(self, shipped: Shipped, seeds: Sequence[str], filters: dict[str, Any],
               as_of: datetime | None, log_sequence: int, snapshot_version: int) -> Answer:
        """The shipped rows of `seeds` under `filters` as of `as_of`; when None, as of the
        record time of the newest log entry the view holds (`log_sequence`), so `as_of`
        later gives exactly this answer even if a batch was being committed meanwhile (its
        record time would be before `now`, yet it was not in the view)."""
        when = as_of or self._view_time(log_sequence) or self.clock.now()
        found = shipped(list(seeds), as_of=when, **filters)
        return Answer(when.isoformat(), log_sequence, snapshot_version, found)

    def _view_time(self, log_sequence: int) -> datetime | None:
        """The record time of log entry `log_sequence` (None: no such entry, as in a directory
        made by `build` alone, whose edges carry their own record times)."""
        value = self.records.read("log", seq_key(log_sequence)) if log_sequence > 0 else None
        return None if value is None else from_micros(LogEntry.decode(value).recorded_at)

    def open(self, title: str, seeds: Sequence[str], filters: dict[str, Any], reason: str,
             by: Principal, shipped: Shipped, log_sequence: int, snapshot_version: int,
             *, drill: bool = False) -> tuple[RecallCase, Answer]:
        """A new case, its answer pinned now."""
        _may_act(by)
        if not title or not title.strip():
            raise InvalidInput("a recall case needs a title")
        if not seeds:
            raise InvalidInput("a recall case needs at least one seed (the bad lot, unit or "
                               "part)")
        filters = _checked_filters(filters)
        started = self.clock.now()
        found = self.answer(shipped, seeds, filters, None, log_sequence, snapshot_version)
        scoped = self.clock.now()
        last = self.records.read("meta", b"next_recall")
        number = 1 if last is None else int(struct.unpack(">Q", last)[0])
        case = RecallCase(
            number, title.strip(), (reason or "").strip(), list(seeds), filters, drill,
            iso_ms(started), by.printed, by.user_id, found.as_of, found.log_sequence,
            found.snapshot_version, found.result_hash, found.counts(),
            steps=[_step("opened", started, by), _step("scoped", scoped, by)])
        self.records.write(
            [("meta", b"next_recall", struct.pack(">Q", number + 1)),
             ("recalls", _U32.pack(number), case.encode())],
            [AuditEvent("recall.open", by.user_id, by.printed,
                        keys=[f"recall:{number}", *case.seeds], reason=case.reason or None,
                        new={"title": case.title, "drill": drill, "filters": filters,
                             "as_of": case.as_of, "result_hash": case.result_hash,
                             **case.counts})])
        return case, found

    def refresh(self, number: int, by: Principal, shipped: Shipped, log_sequence: int,
                snapshot_version: int) -> tuple[RecallCase, Diff]:
        """Pin the answer of now (the earlier pin goes to the history); returns the diff."""
        _may_act(by)
        case = self._open_case(number)
        before = self.pinned(case, shipped)
        now = self.answer(shipped, case.seeds, case.filters, None, log_sequence,
                          snapshot_version)
        changed = replace(case, as_of=now.as_of, log_sequence=now.log_sequence,
                          snapshot_version=now.snapshot_version, result_hash=now.result_hash,
                          counts=now.counts(),
                          history=[*case.history, {"as_of": case.as_of,
                                                   "log_sequence": case.log_sequence,
                                                   "result_hash": case.result_hash,
                                                   "counts": case.counts}],
                          steps=[*case.steps, _step("refreshed", self.clock.now(), by)])
        self._write(case, changed, AuditEvent(
            "recall.refresh", by.user_id, by.printed, keys=[f"recall:{number}"],
            old={"as_of": case.as_of, "result_hash": case.result_hash, **case.counts},
            new={"as_of": changed.as_of, "result_hash": changed.result_hash,
                 **changed.counts}))
        return changed, compare(before, now)

    def pinned(self, case: RecallCase, shipped: Shipped) -> Answer:
        """The case's pinned answer, recomputed (as_of): its hash is the case's, bit for
        bit; a different one means the recorded history itself changed."""
        found = self.answer(shipped, case.seeds, case.filters, parse_time(case.as_of),
                            case.log_sequence, case.snapshot_version)
        if found.result_hash != case.result_hash:
            raise InvalidInput(f"recall case {case.id}: its pinned answer no longer "
                               f"reproduces (SHA-256 {found.result_hash[:12]}..., pinned "
                               f"{case.result_hash[:12]}...): run `tracegraph audit verify`")
        return found

    def record_export(self, number: int, by: Principal, fmt: str, template: str, target: str,
                      rows: int) -> RecallCase:
        """An export of the case's consignee list: a step and an audit record."""
        case = self.get(number)
        changed = replace(case, steps=[*case.steps, _step("exported", self.clock.now(), by,
                                                          format=fmt, template=template,
                                                          rows=rows)])
        self._write(case, changed, AuditEvent(
            "recall.export", by.user_id, by.printed, keys=[f"recall:{number}"],
            details={"format": fmt, "template": template, "target": target, "rows": rows,
                     "result_hash": case.result_hash}))
        return changed

    def close(self, number: int, by: Principal, reason: str) -> RecallCase:
        """Close the case with `by`'s "responsibility" signature (`by` has just re-entered
        their password: Directory.login)."""
        _may_act(by)
        if not reason or not reason.strip():
            raise InvalidInput("closing a recall case needs a reason (what was done)")
        case = self._open_case(number)
        now = self.clock.now()
        closed = replace(case, state="closed", closed_at=iso_ms(now), closed_by=by.printed,
                         close_reason=reason.strip(),
                         steps=[*case.steps, _step("closed", now, by)])
        signature = {"record_hash": record_hash(closed.unsigned().encode()),
                     "signer_id": by.user_id, "signer": by.printed,
                     "meaning": "responsibility", "time": iso_ms(now)}
        signed = replace(closed, signatures=[signature])
        self._write(case, signed, AuditEvent(
            "recall.close", by.user_id, by.printed, keys=[f"recall:{number}"],
            reason=reason.strip(), old="open", new="closed",
            details={"signature": signature, "result_hash": case.result_hash}))
        return signed

    @staticmethod
    def signature_problems(case: RecallCase) -> list[str]:
        """A signature whose hash is not the case's as closed (copied, or the record changed
        after signing)."""
        expected = record_hash(case.unsigned().encode())
        return [f"recall case {case.id}: signature of {s.get('signer')} is not linked to this "
                "record" for s in case.signatures if s.get("record_hash") != expected]

    def _open_case(self, number: int) -> RecallCase:
        case = self.get(number)
        if case.state != "open":
            raise InvalidInput(f"recall case {number} is {case.state}")
        return case

    def _write(self, old: RecallCase, new: RecallCase, event: AuditEvent) -> None:
        key = _U32.pack(old.id)
        self.records.write([("recalls", key, new.encode())], [event],
                           expect=[("recalls", key, old.encode())])


def compare(before: Answer, after: Answer) -> Diff:
    """What changed from `before` to `after`, by (customer, shipment, item). Two answers of
    one view compare by dense id, keys made only for the customers (and, when asked for, the
    rows) that changed; answers of different views (a compaction between them) by key."""
    old, new = before.found, after.found
    if old.view is new.view:
        removed, added = changed_rows(old, new)
        totals = customer_totals(old, new)
    else:
        removed, added = _changed_by_key(before.rows, after.rows)
        totals = customer_totals_by_key(before.rows, after.rows)
    frame = pl.from_arrow(totals)
    assert isinstance(frame, pl.DataFrame)
    units = (frame.with_columns((pl.col("units_after") - pl.col("units_before")).alias("change"))
             .filter(pl.col("change") != 0).sort("customer", nulls_last=True))
    return Diff(before.as_of, after.as_of, old, new, removed, added, units)


_ROW_KEY = ["customer", "shipment", "item"]


def _changed_by_key(old: pa.Table, new: pa.Table) -> tuple[npt.NDArray[np.int64],
                                                           npt.NDArray[np.int64]]:
    a, b = (_frame(t.select(_ROW_KEY)).with_row_index() for t in (old, new))
    lacking = [x.join(y.drop("index"), on=_ROW_KEY, how="anti", nulls_equal=True)["index"]
               .to_numpy().astype(np.int64) for x, y in ((a, b), (b, a))]
    return lacking[0], lacking[1]


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def drill_report(case: RecallCase) -> dict[str, Any]:
    """Seconds from opening to each step a recall coordinator is measured by."""
    opened = parse_time(case.opened_at)
    assert opened is not None

    def first(step: str) -> float | None:
        for s in case.steps:
            if s["step"] == step:
                when = parse_time(s["at"])
                assert when is not None
                return round((when - opened).total_seconds(), 3)
        return None

    exports = [s for s in case.steps if s["step"] == "exported"]
    notified = next((s for s in exports if s.get("format") in ("csv", "xlsx", "pdf")), None)
    return {"drill": case.drill, "seconds_to_scope": first("scoped"),
            "seconds_to_consignee_list": first("exported"),
            "seconds_to_notification_ready_export": (
                None if notified is None else round(
                    (_time(notified["at"]) - opened).total_seconds(), 3)),
            "exports": len(exports)}


def _time(text: str) -> datetime:
    when = parse_time(text)
    assert when is not None
    return when


def _step(name: str, when: datetime, by: Principal, **details: Any) -> dict[str, Any]:
    return {"step": name, "at": iso_ms(when), "by": by.printed, **details}


def _may_act(by: Principal) -> None:
    if by.role not in OPENERS:
        raise PermissionDenied(f"{by.name} ({by.role}) may not open, refresh or close recall "
                               "cases (investigator or qa)")


def _checked_filters(filters: dict[str, Any]) -> dict[str, Any]:
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise InvalidInput(f"unknown recall filter(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name in FILTERS:
        value = filters.get(name)
        if value in (None, [], ()):
            continue
        if name in ("since", "until"):
            when = parse_time(value, name)
            assert when is not None
            out[name] = when.isoformat()
        elif name == "edge_kinds":
            out[name] = sorted(str(k) for k in value)
        else:
            out[name] = int(value)
    return out


def _number(value: Any) -> int | str:
    """A count for a canonical record (no floats there): an int when whole, else text."""
    number = float(value)
    return int(number) if number.is_integer() else repr(number)
