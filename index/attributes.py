"""Node attribute changes: a correction may set a node's product, quantity, unit of measure or
creation time after the node was recorded. The change is a log entry (header `attributes`:
[{sid, field, value}]), replayed into the delta and baked into the next snapshot's node table
by compaction; until then reads overlay it (engine.graph.Graph.node).

Values as the log holds them: product and uom text, quantity a number >= 0, created_at
microseconds since the epoch; None clears the attribute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa

from domain.errors import InvalidInput
from domain.time import from_micros, parse_time, to_micros

__all__ = ["FIELDS", "AttributeChanges", "AttributeRequest", "apply_to_nodes", "log_value",
           "overlay"]

FIELDS: Final = ("product", "quantity", "uom", "created_at")


@dataclass(frozen=True)
class AttributeRequest:
    """Set `field` of node `key` to `value` (text as a person gives it; None clears it).
    `previous` is the value it replaces, for the audit record."""

    key: str
    field: str
    value: str | None
    previous: str | None = None


class AttributeChanges:
    """The attribute changes the live delta holds since its snapshot: `current` (stable id ->
    field -> log value) is replaced, never changed in place, so a view taken before keeps what
    it saw; `log` lists them in order (compaction bakes them in)."""

    def __init__(self) -> None:
        self.current: dict[int, dict[str, Any]] = {}
        self.log: list[tuple[int, str, Any]] = []

    def set(self, sid: int, name: str, value: Any) -> None:
        changed = dict(self.current)
        changed[sid] = {**changed.get(sid, {}), name: value}
        self.current = changed
        self.log.append((sid, name, value))


def log_value(field: str, text: str | None) -> Any:
    """`text` as the log holds `field`'s value; InvalidInput naming what is wrong."""
    if field not in FIELDS:
        raise InvalidInput(f"attribute {field!r} cannot be set (settable: {', '.join(FIELDS)})")
    if text is None or text == "":
        return None
    if field == "quantity":
        try:
            amount = float(text)
        except ValueError:
            amount = math.nan
        if not math.isfinite(amount) or amount < 0:
            raise InvalidInput(f"quantity must be a number >= 0, got {text!r}")
        return amount
    if field == "created_at":
        return to_micros(parse_time(text, "created_at"))
    if text != text.strip() or len(text) > 200:
        raise InvalidInput(f"{field} must be trimmed text of at most 200 characters")
    return text


def overlay(row: dict[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A node's attributes (as Graph.node returns them) with its changes applied."""
    if not changes:
        return row
    out = dict(row)
    for name, value in changes.items():
        out[name] = (from_micros(value) if name == "created_at" and value is not None
                     else value)
    return out


def apply_to_nodes(nodes: pa.Table, changes: Sequence[tuple[int, str, Any]]) -> pa.Table:
    """The node table (row = stable id) with `changes` (sid, field, log value) applied in
    order (a later change of the same field wins)."""
    if not changes:
        return nodes
    for name in FIELDS:
        mine = [(sid, value) for sid, field, value in changes if field == name]
        if not mine:
            continue
        column = nodes.column(name).combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        values = column.to_pylist()
        for sid, value in mine:
            values[sid] = (None if value is None else
                           from_micros(value) if name == "created_at" else value)
        index = nodes.schema.get_field_index(name)
        nodes = nodes.set_column(index, name, pa.array(values, column.type))
    return nodes
