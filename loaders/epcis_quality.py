"""What EPCIS events say about quality: the readings of a sensorElementList as text, and the
events of CBV bizStep `inspecting` as inspection records in the quality record file format
(loaders.quality_records). The events themselves are read by loaders.epcis."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

import polars as pl

from loaders.epcis import EpcisEvent

__all__ = ["MAX_READINGS", "inspection_records", "sensor_readings"]

MAX_READINGS = 24
"""Readings sensor_readings lists before "... N more"."""
_INSPECTING = "inspecting"
_VERDICTS = {"conformant": "pass", "non_conformant": "fail"}
_COLUMNS = ("record_id", "record_type", "key", "status", "opened_at", "title", "result",
            "inspector", "measurements")


def sensor_readings(event: Mapping[str, Any] | str) -> list[str]:
    """The readings of an EPCIS 2.0 event's sensorElementList (the event, or its JSON text)
    as text ("Temperature 26.0 CEL"), in order, at most MAX_READINGS (then "... N more");
    [] for text that is not JSON."""
    if isinstance(event, str):
        try:
            parsed: Mapping[str, Any] = json.loads(event)
        except ValueError:
            return []
    else:
        parsed = event
    out: list[str] = []
    for element in parsed.get("sensorElementList") or []:
        for report in (element or {}).get("sensorReport") or []:
            kind = str(report.get("type", "reading")).rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            value = report.get("value", report.get("stringValue", report.get("booleanValue")))
            out.append(" ".join(str(p) for p in (kind, value, report.get("uom"))
                                if p is not None))
    if len(out) > MAX_READINGS:
        return [*out[:MAX_READINGS], f"... {len(out) - MAX_READINGS} more"]
    return out


def _cbv_word(value: Any) -> str:
    """A CBV value's own word, from any of its spellings: "inspecting",
    "urn:epcglobal:cbv:bizstep:inspecting", "https://ref.gs1.org/cbv/BizStep-inspecting"."""
    text = str(value or "")
    return text.rsplit(":", 1)[-1].rsplit("/", 1)[-1].removeprefix("BizStep-").removeprefix(
        "Disp-")


def inspection_records(events: Sequence[EpcisEvent]) -> pl.DataFrame:
    """The inspections among `events` (CBV bizStep `inspecting`) as quality records in the
    record file format, one row per node the event names: record `epcis:<eventID>`, done
    with result pass or fail when the disposition is conformant or non_conformant, planned
    otherwise; the event time; the read point as inspector; the sensor readings as
    measurements."""
    rows: list[dict[str, Any]] = []
    for event in events:
        raw = event.raw
        if _cbv_word(raw.get("bizStep")) != _INSPECTING or not event.nodes:
            continue
        result = _VERDICTS.get(_cbv_word(raw.get("disposition")))
        place = raw.get("readPoint")
        point = place.get("id") if isinstance(place, dict) else None
        readings = sensor_readings(raw)
        for key in sorted(event.nodes):
            rows.append({
                "record_id": f"epcis:{event.event_id}", "record_type": "inspection",
                "key": key, "status": "done" if result else "planned",
                "opened_at": event.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "title": "EPCIS inspection" + (f" at {point}" if point else ""),
                "result": result, "inspector": point,
                "measurements": json.dumps(readings) if readings else None})
    return pl.DataFrame(rows, schema=dict.fromkeys(_COLUMNS, pl.String))
