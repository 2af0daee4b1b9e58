"""Every table schema, in one place: the canonical tables every loader produces and the index
consumes, the rejects table, and the result tables of the queries (trace, hourglass, path,
impact, node), which the engine builds and the client rebuilds from the wire.

Nodes are traceable things (lots, serials, work orders, ...), edges point the way material flows
(upstream -> downstream). Keys are strings; dense integer ids are assigned later by `index`.
Times are UTC microseconds.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

__all__ = [
    "BY_CUSTOMER_SCHEMA",
    "BY_KIND_SCHEMA",
    "BY_SHIPMENT_SCHEMA",
    "COMMON_CAUSE_SCHEMA",
    "DIRECTION_TYPE",
    "EDGES_SCHEMA",
    "EDGE_KINDS",
    "HOURGLASS_SCHEMA",
    "KIND_TYPE",
    "NODES_SCHEMA",
    "NODE_FIELDS",
    "NODE_KINDS",
    "PATH_SCHEMA",
    "REJECTS_SCHEMA",
    "SHIPPED_SCHEMA",
    "TIMESTAMP",
    "TRACE_COLUMN_TYPES",
    "TRACE_SCHEMA",
    "TRACE_VIA_SCHEMA",
]

TIMESTAMP: Final = pa.timestamp("us", tz="UTC")

NODES_SCHEMA: Final = pa.schema(
    [
        pa.field("key", pa.large_string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("product", pa.string()),
        pa.field("quantity", pa.float64()),
        pa.field("uom", pa.string()),
        pa.field("created_at", TIMESTAMP),
    ]
)
"""Canonical node table: `key` is unique; every other column but `kind` is optional."""

EDGES_SCHEMA: Final = pa.schema(
    [
        pa.field("src", pa.large_string(), nullable=False),
        pa.field("dst", pa.large_string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("event_time", TIMESTAMP),
        pa.field("recorded_at", TIMESTAMP, nullable=False),
        pa.field("quantity", pa.float64()),
        pa.field("event_id", pa.string()),
    ]
)
"""Canonical edge table: material flows `src` -> `dst`. `recorded_at` defaults to load time."""

REJECTS_SCHEMA: Final = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),
        pa.field("file", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("field", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("record", pa.string(), nullable=False),
    ]
)
"""Every rejected input row: which table and file, 1-based data row, the field at fault, why,
and the row itself as JSON, so nothing is silently lost."""

NODE_KINDS: Final = (
    "supplier",
    "lot",
    "serial",
    "work_order",
    "sterilization_load",
    "logistic_unit",
    "shipment",
    "customer",
    "location",
    "equipment",
    "transaction",
)
"""Node kinds the tools know. Other kinds are accepted (the data model is open) and listed by
`stats`; these are the ones the generator and loaders produce."""

EDGE_KINDS: Final = (
    "supplied",
    "consumed",
    "produced",
    "assembled",
    "sterilized",
    "packed",
    "shipped",
    "delivered",
    "split",
    "merged",
    "reworked",
    "received",
    "associated",
)
"""Edge kinds the tools know; like node kinds, the set is open."""

# -- query results ---------------------------------------------------------------------------

KIND_TYPE: Final = pa.dictionary(pa.int8(), pa.string())
"""A node kind in a result: a code into the graph's node kinds (Graph.node_kinds)."""

DIRECTION_TYPE: Final = pa.dictionary(pa.int32(), pa.string())
"""upstream or downstream, in an hourglass row."""

TRACE_SCHEMA: Final = pa.schema([
    pa.field("key", pa.large_string()), pa.field("kind", KIND_TYPE), pa.field("depth", pa.int32()),
])
"""trace: one row per reached node (seeds excluded), in breadth-first order."""

TRACE_VIA_SCHEMA: Final = TRACE_SCHEMA.append(pa.field("via", pa.large_string()))
TRACE_COLUMN_TYPES: Final = {
    "product": pa.string(), "quantity": pa.float64(), "uom": pa.string(),
    "created_at": TIMESTAMP, "lot": pa.large_string(),
    "serial": pa.large_string(), "edge_kind": pa.string(),
    "event_time": TIMESTAMP, "expiry": pa.string(),
}
"""The attribute columns a trace can add (engine.columns; expiry from lot master data,
recall.columns), with their types."""
"""trace with via: also the key of one predecessor on a shortest chain."""

HOURGLASS_SCHEMA: Final = pa.schema([pa.field("direction", DIRECTION_TYPE), *TRACE_SCHEMA])
"""hourglass: upstream rows, then downstream rows."""

PATH_SCHEMA: Final = pa.schema([
    pa.field("key", pa.large_string()), pa.field("kind", KIND_TYPE),
    pa.field("edge_kind", pa.string()), pa.field("event_time", TIMESTAMP),
])
"""path: one row per node from source to target, with the edge that led to it (null first)."""

BY_KIND_SCHEMA: Final = pa.schema([pa.field("kind", pa.string()), pa.field("nodes", pa.int64())])
"""impact: affected nodes per kind."""

BY_SHIPMENT_SCHEMA: Final = pa.schema([
    pa.field("shipment", pa.large_string()), pa.field("quantity", pa.float64()),
    pa.field("unknown_quantity", pa.int64()), pa.field("units", pa.int64()),
])
"""impact per shipment: the net quantity of affected finished units, the finished units with
no quantity recorded, and the affected serials (engine.Impact)."""

BY_CUSTOMER_SCHEMA: Final = pa.schema([
    pa.field("customer", pa.large_string()), pa.field("quantity", pa.float64()),
    pa.field("unknown_quantity", pa.int64()), pa.field("units", pa.int64()),
    pa.field("shipments", pa.int64()),
])
"""impact per customer: as per shipment, and the affected shipments delivered to it."""

SHIPPED_SCHEMA: Final = pa.schema([
    pa.field("customer", pa.large_string()), pa.field("shipment", pa.large_string()),
    pa.field("item", pa.large_string()), pa.field("item_kind", pa.string()),
    pa.field("product", pa.string()), pa.field("lot", pa.large_string()),
    pa.field("serial", pa.large_string()), pa.field("quantity", pa.float64()),
    pa.field("uom", pa.string()), pa.field("ship_time", TIMESTAMP),
])
"""shipped (the consignee list's genealogy half): one row per (customer, shipment, item) an
affected item reached through its packaging; customer null when the shipment reached none,
shipment null when the item reached the customer without one. quantity: the item's own edge
into its packaging (a lot shipped as 40 EA: 40), else 1 for a serial, else null (unknown)."""

COMMON_CAUSE_SCHEMA: Final = pa.schema([
    pa.field("key", pa.large_string()), pa.field("kind", pa.string()),
    pa.field("product", pa.string()), pa.field("shared", pa.int64()),
    pa.field("complaints", pa.int64()), pa.field("downstream_population", pa.int64()),
    pa.field("population", pa.int64()), pa.field("lift", pa.float64()),
    pa.field("p_value", pa.float64()),
])
"""common_cause: upstream nodes shared by complaint units, most significant first
(engine.common_cause)."""

NODE_FIELDS: Final = tuple(NODES_SCHEMA.names)
"""node: the attributes of one node (key, kind, product, quantity, uom, created_at)."""
