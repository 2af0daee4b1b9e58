"""tracegraph.v1.Genealogy messages <-> the engine's arguments and answers: filters,
direction and format enums, the impact summary, path steps, node and stats. Each pair is
`x_to_proto` / `x_from_proto`; tests/test_convert.py round-trips every one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from domain.direction import ALIASES
from domain.errors import InvalidInput
from domain.schemas import (
    BY_CUSTOMER_SCHEMA,
    BY_KIND_SCHEMA,
    BY_SHIPMENT_SCHEMA,
    KIND_TYPE,
    PATH_SCHEMA,
)
from domain.time import TimeLike, parse_time
from engine import Impact
from engine.drawing import Drawing
from server.convert.rows import DEFAULT_CHUNK_ROWS, MAX_CHUNK_ROWS, from_timestamp, timestamp
from server.rpc import genealogy_pb2 as pb

__all__ = [
    "chunk_rows_from_proto",
    "direction_from_proto",
    "direction_to_proto",
    "drawing_to_proto",
    "filters_from_proto",
    "filters_to_proto",
    "format_from_proto",
    "format_to_proto",
    "impact_from_proto",
    "impact_to_proto",
    "node_from_proto",
    "node_to_proto",
    "path_from_proto",
    "path_to_proto",
    "stats_from_proto",
    "stats_to_proto",
]

_DIRECTION_CODES: dict[str, pb.Direction] = {"downstream": pb.DOWNSTREAM,
                                              "upstream": pb.UPSTREAM}
_DIRECTION_NAMES: dict[int, str] = {int(code): name for name, code in _DIRECTION_CODES.items()}


def direction_to_proto(direction: str) -> pb.Direction:
    """A direction or one of its aliases (domain.direction) as the wire enum."""
    if direction not in ALIASES:
        raise InvalidInput(f"direction must be one of {', '.join(sorted(ALIASES))}, "
                           f"got {direction!r}")
    return _DIRECTION_CODES[ALIASES[direction]]


def direction_from_proto(value: int) -> str:
    if value in _DIRECTION_NAMES:
        return _DIRECTION_NAMES[value]
    raise InvalidInput(f"direction must be DOWNSTREAM (1) or UPSTREAM (2), got {value}")


def format_to_proto(arrow: bool) -> pb.ResultFormat:
    return pb.ARROW_IPC if arrow else pb.ROWS


def format_from_proto(value: int) -> bool:
    """True for Arrow IPC (unset means rows)."""
    if value in (pb.RESULT_FORMAT_UNSPECIFIED, pb.ROWS):
        return False
    if value == pb.ARROW_IPC:
        return True
    raise InvalidInput(f"format must be ROWS (1) or ARROW_IPC (2), got {value}")


def chunk_rows_from_proto(value: int) -> int:
    if value == 0:
        return DEFAULT_CHUNK_ROWS
    if value > MAX_CHUNK_ROWS:
        raise InvalidInput(f"chunk_rows {value:,} is above the maximum {MAX_CHUNK_ROWS:,}")
    return value


def filters_to_proto(max_depth: int | None = None, edge_kinds: Iterable[str] | None = None,
                     node_kinds: Iterable[str] | None = None, since: TimeLike = None,
                     until: TimeLike = None, as_of: TimeLike = None) -> pb.Filters:
    f = pb.Filters(edge_kinds=list(edge_kinds or []), node_kinds=list(node_kinds or []))
    if max_depth is not None:
        if max_depth < 0:
            raise InvalidInput(f"max_depth must be a non-negative integer, got {max_depth!r}")
        f.max_depth = max_depth
    for name, value in (("since", since), ("until", until), ("as_of", as_of)):
        when = parse_time(value, name)
        if when is not None:
            getattr(f, name).CopyFrom(timestamp(when))
    return f


def filters_from_proto(f: pb.Filters, *, depth_and_nodes: bool = True) -> dict[str, Any]:
    """Keyword arguments of the engine's queries; an invalid Timestamp is InvalidInput naming
    the field. Without `depth_and_nodes` (path, impact) max_depth and node_kinds are left out."""
    out: dict[str, Any] = {
        "edge_kinds": list(f.edge_kinds) or None,
        "since": from_timestamp(f.since, f.HasField("since"), "filters.since"),
        "until": from_timestamp(f.until, f.HasField("until"), "filters.until"),
        "as_of": from_timestamp(f.as_of, f.HasField("as_of"), "filters.as_of"),
    }
    if depth_and_nodes:
        out["max_depth"] = f.max_depth if f.HasField("max_depth") else None
        out["node_kinds"] = list(f.node_kinds) or None
    return out


def impact_to_proto(result: Impact) -> pb.ImpactSummary:
    """The counts of an impact answer (its rows travel as RowChunks after it)."""
    summary = pb.ImpactSummary(seeds=result.seeds, affected=result.affected)
    for row in result.by_kind.to_pylist():
        summary.by_kind.add(kind=row["kind"], nodes=row["nodes"])
    for row in result.by_shipment.to_pylist():
        summary.by_shipment.add(shipment=row["shipment"], units=row["units"],
                                quantity=row["quantity"],
                                unknown_quantity=row["unknown_quantity"])
    for row in result.by_customer.to_pylist():
        summary.by_customer.add(customer=row["customer"], units=row["units"],
                                shipments=row["shipments"], quantity=row["quantity"],
                                unknown_quantity=row["unknown_quantity"])
    return summary


def impact_from_proto(summary: pb.ImpactSummary, rows: pa.Table | None) -> Impact:
    return Impact(
        seeds=summary.seeds,
        affected=summary.affected,
        by_kind=pa.table({
            "kind": [c.kind for c in summary.by_kind],
            "nodes": [c.nodes for c in summary.by_kind]}, schema=BY_KIND_SCHEMA),
        by_shipment=pa.table({
            "shipment": [s.shipment for s in summary.by_shipment],
            "quantity": [s.quantity for s in summary.by_shipment],
            "unknown_quantity": [s.unknown_quantity for s in summary.by_shipment],
            "units": [s.units for s in summary.by_shipment]}, schema=BY_SHIPMENT_SCHEMA),
        by_customer=pa.table({
            "customer": [c.customer for c in summary.by_customer],
            "quantity": [c.quantity for c in summary.by_customer],
            "unknown_quantity": [c.unknown_quantity for c in summary.by_customer],
            "units": [c.units for c in summary.by_customer],
            "shipments": [c.shipments for c in summary.by_customer]},
            schema=BY_CUSTOMER_SCHEMA),
        rows=rows,
    )


def path_to_proto(chain: pa.Table) -> pb.PathResponse:
    response = pb.PathResponse()
    for row in chain.to_pylist():
        step = response.steps.add(key=row["key"], kind=row["kind"],
                                  edge_kind=row["edge_kind"] or "")
        if row["event_time"] is not None:
            step.event_time.CopyFrom(timestamp(row["event_time"]))
    return response


def path_from_proto(response: pb.PathResponse) -> pa.Table:
    """The table Graph.path returns (key, kind, edge_kind, event_time)."""
    steps = response.steps
    return pa.table({
        "key": [s.key for s in steps],
        "kind": pa.array([s.kind for s in steps], pa.string()).dictionary_encode().cast(
            KIND_TYPE),
        "edge_kind": [s.edge_kind or None for s in steps],
        "event_time": [s.event_time.ToDatetime(tzinfo=UTC) if s.HasField("event_time")
                       else None for s in steps],
    }, schema=PATH_SCHEMA)


def node_to_proto(row: dict[str, Any]) -> pb.Node:
    node = pb.Node(key=row["key"], kind=row["kind"], product=row["product"] or "",
                   uom=row["uom"] or "")
    if row["quantity"] is not None:
        node.quantity = row["quantity"]
    if row["created_at"] is not None:
        node.created_at.CopyFrom(timestamp(row["created_at"]))
    return node


def node_from_proto(node: pb.Node) -> dict[str, Any]:
    """The dict Graph.node returns (absent values None)."""
    return {
        "key": node.key, "kind": node.kind, "product": node.product or None,
        "quantity": node.quantity if node.HasField("quantity") else None,
        "uom": node.uom or None,
        "created_at": (node.created_at.ToDatetime(tzinfo=UTC)
                       if node.HasField("created_at") else None),
    }


def stats_to_proto(stats: dict[str, Any], *, default_limit: int, max_limit: int,
                   unary_max_rows: int) -> pb.StatsResponse:
    """Graph.stats plus the server's row limits."""
    response = pb.StatsResponse(
        snapshot_version=stats["version"], nodes=stats["nodes"], edges=stats["edges"],
        rejected=stats["rejected"], default_limit=default_limit, max_limit=max_limit,
        snapshot=stats["snapshot"], folded_edges=stats["folded_edges"],
        unary_max_rows=unary_max_rows, log_sequence=stats["log_sequence"],
        delta_edges=stats["delta_edges"], retracted_edges=stats["retracted_edges"])
    response.nodes_by_kind.update(stats["nodes_by_kind"])
    response.edges_by_kind.update(stats["edges_by_kind"])
    response.snapshot_created_at.CopyFrom(timestamp(datetime.fromisoformat(stats["created_at"])))
    return response


def stats_from_proto(reply: pb.StatsResponse) -> dict[str, Any]:
    """The dict Graph.stats returns (the limits are on the reply for who wants them)."""
    return {
        "snapshot": reply.snapshot,
        "version": reply.snapshot_version,
        "created_at": reply.snapshot_created_at.ToDatetime(tzinfo=UTC).isoformat(),
        "nodes": reply.nodes,
        "edges": reply.edges,
        "nodes_by_kind": dict(sorted(reply.nodes_by_kind.items())),
        "edges_by_kind": dict(sorted(reply.edges_by_kind.items())),
        "rejected": reply.rejected,
        "folded_edges": reply.folded_edges,
        "log_sequence": reply.log_sequence,
        "delta_edges": reply.delta_edges,
        "retracted_edges": reply.retracted_edges,
    }


def drawing_to_proto(drawing: Drawing) -> pb.Drawing:
    """A drawn genealogy (engine.drawing) as the wire message; empty strings for nulls."""
    return pb.Drawing(
        nodes=[pb.DrawnNode(id=n["id"], key=n["key"] or "", kind=n["kind"], label=n["label"],
                            layer=n["layer"], x=n["x"], y=n["y"], count=n["count"],
                            parent_key=n["parent_key"] or "", depth=n["depth"],
                            upstream=n["upstream"])
               for n in drawing.nodes.to_pylist()],
        edges=[pb.DrawnEdge(**row) for row in drawing.edges.to_pylist()],
        reached=drawing.reached, threshold=drawing.threshold,
        links_left_out=drawing.links_left_out)


def drawing_from_proto(message: pb.Drawing) -> dict[str, Any]:
    """A Drawing message as engine.drawing's rows (nulls for empty keys), for clients."""
    nodes = [{"id": n.id, "key": n.key or None, "kind": n.kind, "label": n.label,
              "layer": n.layer, "x": n.x, "y": n.y, "count": n.count,
              "parent_key": n.parent_key or None, "depth": n.depth,
              "upstream": n.upstream} for n in message.nodes]
    edges = [{"source": e.source, "target": e.target, "tree": e.tree} for e in message.edges]
    return {"nodes": nodes, "edges": edges, "reached": message.reached,
            "threshold": message.threshold, "links_left_out": message.links_left_out}
