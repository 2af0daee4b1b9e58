"""The device history record of a unit (ISO 13485 7.5.8-7.5.9; "DHR" as the industry says):
its identity, its own quality records, every record on any node upstream of it (lots,
sub-assemblies, work orders, equipment) with the chain of nodes that links it, the EPCIS
events kept for it and for those nodes (with their sensor readings), and the change orders
in effect when it was built (and those after, which it lacks).

The genealogy half is the engine's upstream trace with `via` (a shortest chain to each
upstream node) and the edge times; the records half is index.quality_records. A record
attached to several upstream nodes appears once per node, each with its own chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from index.master import MasterData
from index.quality_records import QualityRecords
from loaders.epcis_quality import sensor_readings

__all__ = [
    "DeviceHistory",
    "InheritedRecord",
    "KeptEvent",
    "device_history",
]

Events = Callable[[Sequence[str]], pl.DataFrame]
"""Kept EPCIS events naming any of some keys (index.file_ingest.events_of_nodes over the
data directory)."""


IN_EFFECT = ("effective", "closed")
"""Change order statuses under which it governs production from effective_from on."""


@dataclass(frozen=True)
class InheritedRecord:
    """A record on `node` (the unit itself, depth 0, or a node upstream of it), with `path`
    the chain of keys from the unit up to that node."""

    node: str
    kind: str
    depth: int
    path: list[str]
    record: dict[str, Any]


@dataclass(frozen=True)
class KeptEvent:
    """An EPCIS event kept for the unit or an upstream node: what happened when, to which of
    those nodes, and the sensor readings it carried ("Temperature 26.0 CEL")."""

    event_id: str
    type: str
    time: str | None
    nodes: list[str]
    sensors: list[str]
    document: str


@dataclass
class DeviceHistory:
    identity: dict[str, Any]
    own: list[dict[str, Any]]
    upstream: list[InheritedRecord]
    built_at: str | None
    change_orders_in_effect: list[dict[str, Any]] = field(default_factory=list)
    change_orders_after: list[dict[str, Any]] = field(default_factory=list)
    upstream_nodes: int = 0
    events: list[KeptEvent] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "built_at": self.built_at,
                "own_records": self.own,
                "upstream_records": [{"node": r.node, "kind": r.kind, "depth": r.depth,
                                      "path": r.path, "record": r.record}
                                     for r in self.upstream],
                "upstream_nodes": self.upstream_nodes,
                "change_orders_in_effect": self.change_orders_in_effect,
                "change_orders_after": self.change_orders_after,
                "events": [vars(e) for e in self.events]}


def device_history(graph: Any, records: QualityRecords, key: str,
                   master: MasterData | None = None, events: Events | None = None
                   ) -> DeviceHistory:
    """The DHR of `key` from `graph` (engine.Graph or a TraceClient) and `records`; with
    `events`, the EPCIS events kept for the unit and its upstream nodes."""
    node = graph.node(key)
    up = graph.trace(key, "upstream", via=True, columns=["product", "event_time"])
    rows = up.to_pylist()
    via = {r["key"]: r["via"] for r in rows}
    # Built: the latest time on an edge into the unit itself (its production).
    made = [r["event_time"] for r in rows if r["depth"] == 1 and r["event_time"] is not None]
    built = max(made).isoformat() if made else (
        node["created_at"].isoformat() if node.get("created_at") else None)
    identity = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in node.items()}
    product = node.get("product")
    # A serial's lot is its production lot: a lot it was made from of its own product (as in
    # the consignee list, engine.shipped.production_lots), never a component lot.
    identity["lot"] = key if node.get("kind") == "lot" else next(
        (r["key"] for r in rows if r["depth"] == 1 and str(r["kind"]) == "lot"
         and product is not None and r["product"] == product), None)
    if master is not None and product:
        identity["product_master"] = master.get("product", product)
    attached = records.for_nodes([key, *via])
    upstream = []
    for r in rows:
        for record in attached.get(r["key"], []):
            upstream.append(InheritedRecord(r["key"], str(r["kind"]), int(r["depth"]),
                                            _chain(key, r["key"], via), record))
    history = DeviceHistory(identity, attached.get(key, []), upstream, built,
                            upstream_nodes=len(rows))
    if events is not None:
        genealogy = {key, *via}
        for e in events(sorted(genealogy)).iter_rows(named=True):
            when = e["event_time"]
            history.events.append(KeptEvent(
                e["event_id"], e["type"], when.isoformat() if when is not None else None,
                [k for k in e["keys"] if k in genealogy], sensor_readings(e["event"]),
                e["document"]))
    for order in records.change_orders():
        if order["status"] not in IN_EFFECT or (
                order.get("products") and product not in order["products"]):
            continue
        start = order.get("effective_from")
        if start is None:  # not in effect yet (the loader asks for it once effective)
            continue
        if built is not None and _when(start) <= _when(built):
            history.change_orders_in_effect.append(order)
        else:
            history.change_orders_after.append(order)
    return history


def _when(iso: str) -> datetime:
    """An ISO 8601 time (records keep 'Z', the engine '+00:00') as an aware datetime: text
    comparison would put '10:00:00.5Z' before '10:00:00Z'."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _chain(unit: str, node: str, via: dict[str, str]) -> list[str]:
    """The keys from `unit` up to `node` along the trace's via pointers."""
    out = [node]
    while out[-1] != unit and out[-1] in via:
        out.append(via[out[-1]])
    return out[::-1]


