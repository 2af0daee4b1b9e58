"""Early warnings: the alert rules (loaders.alert_rules) measured over the quality records, and
the alerts they raise, kept in the store (column family `alerts`) like any record.

`measure` computes each rule's value now, over every record or per product / supplier (polars
over QualityRecords.frame; the genealogy only maps keys to products and suppliers). `Alerts`
keeps one alert per rule and group while it is breached: a breach with no active alert raises
one (state `open`); a person acknowledges it (`acknowledged`, with a reason: investigator or
qa); when the value is back within the threshold it is `cleared`. A later breach raises a new
alert. Every state change is a new version of the alert's record and an audit record; a
rule's value while the alert stays active is not rewritten (nothing changes state).

The rules live in the store too (meta `alert_rules`, TOML text), set with an audit record
(`tracegraph alerts rules FILE`).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import polars as pl

from domain.errors import InvalidInput, PermissionDenied
from index.quality_records import QualityRecords
from loaders.alert_rules import AlertRule, parse_rules
from trust.audit import AuditEvent, iso_ms
from trust.canonical import canonical_bytes
from trust.clock import Clock, SystemClock
from trust.identity import Principal

__all__ = ["ACKNOWLEDGERS", "Alert", "Alerts", "Reading", "check", "grouper", "measure"]

ACKNOWLEDGERS = frozenset({"investigator", "qa"})
RULES_KEY = b"alert_rules"
_U32 = struct.Struct(">I")
_FIELDS = ("record_id", "record_type", "status", "title", "result", "keys", "opened_at")
NO_GROUP = "(none recorded)"

Grouper = Callable[[list[str], str], list[str | None]]
"""(keys, "product" | "supplier") -> each key's product or supplier (engine.Graph's
products_of / parents_of_kind)."""


@dataclass(frozen=True)
class Reading:
    """A rule's value for one group now: over `count` records (inspections for a rate)."""

    rule: AlertRule
    group: str
    value: float
    count: int

    @property
    def breached(self) -> bool:
        return self.count >= self.rule.min_count and self.rule.breached(self.value)


def grouper(graph: Any) -> Grouper:
    """The Grouper of an engine.Graph: products from node attributes, suppliers from the
    supplier node directly upstream."""

    def groups_of(keys: list[str], per: str) -> list[str | None]:
        found: list[str | None] = (graph.products_of(keys) if per == "product"
                                   else graph.parents_of_kind(keys, "supplier"))
        return found

    return groups_of


def measure(rules: Sequence[AlertRule], records: QualityRecords, groups_of: Grouper,
            now: datetime) -> list[Reading]:
    """Each rule's readings now (a group with no records has none, except a count over all
    records, which reads 0)."""
    if not rules:
        return []
    frame = records.frame(_FIELDS).with_columns(records.time("opened_at"))
    out: list[Reading] = []
    for rule in rules:
        rows = _subset(frame, rule, now).explode("keys").rename({"keys": "key"})
        if rule.per == "all":
            rows = rows.with_columns(pl.lit("all").alias("group"))
        else:
            keys = rows["key"].unique().to_list()
            mapped = groups_of(keys, rule.per)
            table = pl.DataFrame({"key": keys, "group": [g or NO_GROUP for g in mapped]},
                                 schema={"key": pl.String, "group": pl.String})
            rows = rows.join(table, on="key", how="left")
        if rule.metric == "first_pass_yield":
            values = rows.group_by("group").agg((pl.col("result") == "pass").mean()
                                                .alias("value"), pl.len().alias("count"))
        else:  # a count of records (an NC on two lots of one supplier counts once for it)
            values = rows.unique(["record_id", "group"]).group_by("group").agg(
                pl.len().cast(pl.Float64).alias("value"), pl.len().alias("count"))
        if rule.per == "all" and values.height == 0 and rule.metric != "first_pass_yield":
            values = pl.DataFrame({"group": ["all"], "value": [0.0], "count": [0]})
        for group, value, count in values.sort("group").iter_rows():
            out.append(Reading(rule, group, float(value), int(count)))
    return out


def _subset(frame: pl.DataFrame, rule: AlertRule, now: datetime) -> pl.DataFrame:
    since = now - rule.window
    recent = (pl.col("opened_at") >= since) & (pl.col("opened_at") <= now)
    if rule.metric in ("first_pass_yield", "failed_inspections"):
        done = frame.filter((pl.col("record_type") == "inspection")
                            & (pl.col("status") == "done") & recent)
        if rule.metric == "failed_inspections":
            return done.filter(pl.col("result") == "fail")
        # A unit's first inspection of a title only: a re-test after rework is no first pass.
        return (done.sort("opened_at").explode("keys")
                .unique(["keys", "title"], keep="first", maintain_order=True)
                .with_columns(pl.concat_list("keys").alias("keys")))
    ncs = frame.filter(pl.col("record_type") == "nonconformance")
    if rule.metric == "ncs_opened":
        return ncs.filter(recent)
    return ncs.filter(pl.col("status") != "closed")  # open_ncs: now, whatever the window


@dataclass(frozen=True)
class Alert:
    id: int
    rule: str
    title: str
    metric: str
    group: str
    value: str  # numbers as text: canonical records hold no floats (trust.canonical)
    count: int
    threshold: str
    window: str  # "168h"
    raised_at: str
    state: str = "open"  # open, acknowledged, cleared
    acknowledged_at: str | None = None
    acknowledged_by: str | None = None
    ack_reason: str | None = None
    cleared_at: str | None = None
    cleared_value: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def encode(self) -> bytes:
        return canonical_bytes(asdict(self))


class Alerts:
    """Alerts over `records` (the live store's writer, or a read-only store)."""

    def __init__(self, records: Any, clock: Clock | None = None) -> None:
        self.records = records
        self.clock = clock or SystemClock()

    def rules_text(self) -> str:
        value = self.records.read("meta", RULES_KEY)
        return "" if value is None else bytes(value).decode("utf-8")

    def rules(self) -> list[AlertRule]:
        return parse_rules(self.rules_text(), "stored alert rules")

    def set_rules(self, text: str, by: Principal, source: str) -> list[AlertRule]:
        """Replace the rules (checked first: nothing changes when one is wrong)."""
        rules = parse_rules(text, source)
        old = self.rules_text()
        self.records.write([("meta", RULES_KEY, text.encode("utf-8"))], [AuditEvent(
            "alerts.rules", by.user_id, by.printed, keys=["alert_rules"],
            old={"sha256": hashlib.sha256(old.encode()).hexdigest()} if old else None,
            new={"sha256": hashlib.sha256(text.encode()).hexdigest(),
                 "rules": [r.id for r in rules]}, details={"source": source, "toml": text})])
        return rules

    def get(self, number: int) -> Alert:
        value = self.records.read("alerts", _U32.pack(number))
        if value is None:
            raise InvalidInput(f"no alert {number}")
        return Alert(**json.loads(value))

    def all(self) -> list[Alert]:
        return [Alert(**json.loads(v)) for _, v in self.records.scan("alerts")]

    def active(self) -> dict[tuple[str, str], Alert]:
        """(rule, group) -> its open or acknowledged alert."""
        return {(a.rule, a.group): a for a in self.all() if a.state != "cleared"}

    def sync(self, readings: Sequence[Reading], rules: Sequence[AlertRule],
             by: Principal) -> list[Alert]:
        """Raise, keep or clear alerts for `readings` (of every rule in `rules`); returns the
        alerts whose state changed, in one synced write with their audit records."""
        now = iso_ms(self.clock.now())
        active = self.active()
        last = self.records.read("meta", b"next_alert")
        number = 1 if last is None else int(struct.unpack(">Q", last)[0])
        changed: list[Alert] = []
        events: list[AuditEvent] = []
        breached = {(r.rule.id, r.group): r for r in readings if r.breached}
        for key, reading in breached.items():
            if key in active:
                continue
            rule = reading.rule
            alert = Alert(number, rule.id, rule.title, rule.metric, reading.group,
                          _number(reading.value), reading.count, rule.threshold,
                          f"{rule.window.total_seconds() / 3600:g}h", now)
            number += 1
            changed.append(alert)
            events.append(_event(alert, "alert.raise", by, new=_brief(alert)))
        values = {(r.rule.id, r.group): _number(r.value) for r in readings}
        ruled = {r.id for r in rules}
        for key, alert in active.items():
            if key in breached:
                continue
            gone = alert.rule not in ruled
            cleared = replace(alert, state="cleared", cleared_at=now,
                              cleared_value=values.get(key),
                              history=[*alert.history, _step(alert, now)])
            changed.append(cleared)
            events.append(_event(cleared, "alert.clear", by, old=alert.state, new="cleared",
                                 reason="rule removed" if gone else None,
                                 details={"value": values.get(key)}))
        if changed:
            self.records.write(
                [("meta", b"next_alert", struct.pack(">Q", number)),
                 *[("alerts", _U32.pack(a.id), a.encode()) for a in changed]], events)
        return changed

    def acknowledge(self, number: int, by: Principal, reason: str) -> Alert:
        """A person has seen the alert and says what is being done (investigator or qa)."""
        if by.role not in ACKNOWLEDGERS and by.via != "no-auth":
            raise PermissionDenied(f"{by.name} ({by.role}) may not acknowledge alerts "
                                   "(investigator or qa)")
        if not reason or not reason.strip():
            raise InvalidInput("acknowledging an alert needs a reason (what is being done)")
        alert = self.get(number)
        if alert.state != "open":
            raise InvalidInput(f"alert {number} is {alert.state}")
        now = iso_ms(self.clock.now())
        acked = replace(alert, state="acknowledged", acknowledged_at=now,
                        acknowledged_by=by.printed, ack_reason=reason.strip(),
                        history=[*alert.history, _step(alert, now)])
        key = _U32.pack(number)
        self.records.write([("alerts", key, acked.encode())],
                           [_event(acked, "alert.acknowledge", by, old="open",
                                   new="acknowledged", reason=reason.strip())],
                           expect=[("alerts", key, alert.encode())])
        return acked


def _number(value: float) -> str:
    return f"{value:.6g}"


def _brief(alert: Alert) -> dict[str, Any]:
    return {"rule": alert.rule, "group": alert.group, "value": alert.value,
            "count": alert.count, "threshold": alert.threshold}


def _step(alert: Alert, now: str) -> dict[str, Any]:
    return {"state": alert.state, "until": now}


def _event(alert: Alert, action: str, by: Principal, *, old: Any = None, new: Any = None,
           reason: str | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent(action, by.user_id, by.printed, keys=[f"alert:{alert.id}", alert.rule],
                      reason=reason, old=old, new=new, details=details or {})


def check(records: Any, graph: Any, by: Principal, now: datetime | None = None) -> list[Alert]:
    """Measure the stored rules now and raise or clear alerts (`graph`: an engine.Graph over
    the same store). Returns the alerts whose state changed."""
    alerts = Alerts(records)
    rules = alerts.rules()
    if not rules and not alerts.active():
        return []
    readings = measure(rules, QualityRecords(records), grouper(graph),
                       now or alerts.clock.now())
    return alerts.sync(readings, rules, by)
