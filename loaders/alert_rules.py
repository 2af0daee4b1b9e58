"""Alert rules (TOML): early warnings over the quality records, evaluated after every quality
import and by the server every minute (qms.alerts). A sample:
loaders/mappings/alert_rules_sample.toml.

    [[rule]]
    id = "fpy-low"                        # letters, digits, '-', '_'; unique
    title = "First-pass yield below 97 %"
    metric = "first_pass_yield"           # see METRICS
    window = "7d"                         # the last N days (h: hours) up to now
    below = 0.97                          # fires when the value is below this (or: above = N)
    per = "product"                       # optional: one value per product, or per supplier
    min_count = 20                        # optional: a rate needs this many inspections

An unknown field or metric, a rule without a threshold or with both, a window that is not
"<number>d" or "<number>h", or a duplicate id is an error naming the rule.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from domain.errors import InvalidInput

__all__ = ["METRICS", "PER", "AlertRule", "parse_rules"]

METRICS: Final = {
    "first_pass_yield": "passed / done first inspections opened in the window (0..1)",
    "failed_inspections": "done inspections with result fail opened in the window",
    "ncs_opened": "nonconformances opened in the window",
    "open_ncs": "nonconformances open now (the window is ignored)",
}
PER: Final = ("all", "product", "supplier")
"""A rule's value is over every record, per product of the node a record is on, or per
supplier (the supplier node directly upstream of it: a supplier lot's supplier)."""
_FIELDS = {"id", "title", "metric", "window", "below", "above", "per", "min_count"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_WINDOW = re.compile(r"^(\d{1,4})([dh])$")


@dataclass(frozen=True)
class AlertRule:
    id: str
    title: str
    metric: str
    window: timedelta
    below: float | None = None
    above: float | None = None
    per: str = "all"
    min_count: int = 1

    def breached(self, value: float) -> bool:
        if self.below is not None:
            return value < self.below
        assert self.above is not None
        return value > self.above

    @property
    def threshold(self) -> str:
        return f"< {self.below:g}" if self.below is not None else f"> {self.above:g}"


def parse_rules(text: str, source: str = "alert rules") -> list[AlertRule]:
    """The rules of a TOML document; InvalidInput naming `source` and the rule otherwise."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"{source}: not TOML: {e}") from None
    unknown_top = set(doc) - {"rule"}
    if unknown_top:
        raise InvalidInput(f"{source}: unknown table(s) {', '.join(sorted(unknown_top))}; "
                           "rules are [[rule]] tables")
    rules: list[AlertRule] = []
    for number, item in enumerate(doc.get("rule", []), start=1):
        where = f"{source}: rule {number}" + (f" ({item['id']})" if "id" in item else "")
        rules.append(_rule(item, where))
    ids = [r.id for r in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InvalidInput(f"{source}: rule id(s) used twice: {', '.join(duplicates)}")
    return rules


def _rule(item: dict[str, object], where: str) -> AlertRule:
    unknown = set(item) - _FIELDS
    if unknown:
        raise InvalidInput(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; a rule "
                           f"has {', '.join(sorted(_FIELDS))}")
    rule_id, title, metric = item.get("id"), item.get("title"), item.get("metric")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise InvalidInput(f"{where}: id must be 1-64 letters, digits, '-' or '_'")
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput(f"{where}: a title is needed (what a person reads)")
    if metric not in METRICS:
        raise InvalidInput(f"{where}: metric {metric!r} is not one of {', '.join(METRICS)}")
    window = item.get("window", "7d")
    found = _WINDOW.match(window) if isinstance(window, str) else None
    if found is None:
        raise InvalidInput(f"{where}: window {window!r} must be like '7d' or '12h'")
    span = int(found.group(1))
    length = timedelta(days=span) if found.group(2) == "d" else timedelta(hours=span)
    below, above = item.get("below"), item.get("above")
    if (below is None) == (above is None):
        raise InvalidInput(f"{where}: give exactly one threshold, below = N or above = N")
    limit = below if below is not None else above
    if isinstance(limit, bool) or not isinstance(limit, int | float):
        raise InvalidInput(f"{where}: the threshold must be a number")
    value = float(limit)
    per = item.get("per", "all")
    if per not in PER:
        raise InvalidInput(f"{where}: per {per!r} is not one of {', '.join(PER)}")
    if per == "supplier" and metric in ("first_pass_yield", "failed_inspections"):
        raise InvalidInput(f"{where}: per supplier counts nonconformances (on supplier lots); "
                           f"{metric} is per product or over all")
    min_count = item.get("min_count", 1)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise InvalidInput(f"{where}: min_count must be a whole number >= 1")
    return AlertRule(rule_id, title.strip(), str(metric), length,
                     value if below is not None else None,
                     value if above is not None else None, str(per), min_count)
