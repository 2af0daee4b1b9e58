"""The canonical tables: the one interchange format every loader produces and the index consumes.

Nodes are traceable things (lots, serials, work orders, ...), edges point the way material flows
(upstream -> downstream). Keys are strings; dense integer ids are assigned later by `index`.
Times are UTC microseconds.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

__all__ = [
    "EDGES_SCHEMA",
    "EDGE_KINDS",
    "NODES_SCHEMA",
    "NODE_KINDS",
    "REJECTS_SCHEMA",
    "TIMESTAMP",
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
