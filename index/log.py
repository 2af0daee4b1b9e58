"""One ingest log entry: what one acknowledged client batch changed, self-describing bytes.

Layout of the value stored under the entry's sequence number (8-byte big-endian key):

    u32 header length | header (JSON) | u32 nodes length | nodes (Arrow IPC stream) | edges (IPC)

The header holds seq, batch id, writer, recorded_at and the retractions; nodes are the nodes
the batch created (sid, key, kind, product, quantity, uom, created_at); edges are by stable id
(src, dst, kind, event_time, recorded_at, quantity, event_id). Edge kinds are names, not
codes, so an entry means the same thing whatever snapshot it is replayed onto.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

__all__ = ["EDGE_LOG_SCHEMA", "NODE_LOG_SCHEMA", "End", "LogEntry", "Retraction", "seq_key"]

NODE_LOG_SCHEMA = pa.schema([
    ("sid", pa.int32()), ("key", pa.string()), ("kind", pa.string()), ("product", pa.string()),
    ("quantity", pa.float64()), ("uom", pa.string()), ("created_at", pa.int64()),
])
EDGE_LOG_SCHEMA = pa.schema([
    ("src", pa.int32()), ("dst", pa.int32()), ("kind", pa.string()),
    ("event_time", pa.int64()), ("recorded_at", pa.int64()), ("quantity", pa.float64()),
    ("event_id", pa.string()),
])
_U32 = struct.Struct(">I")


def seq_key(seq: int) -> bytes:
    """Log keys sort by sequence number."""
    return seq.to_bytes(8, "big")


@dataclass(frozen=True)
class Retraction:
    """Retract the live edges src -> dst of `kind` (only the one at `event_time`, if given):
    every assertion of that link, or with `event_id` only the edges that event asserted."""

    src: int
    dst: int
    kind: str
    event_time: int | None
    reason: str
    event_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"src": self.src, "dst": self.dst, "kind": self.kind,
                               "event_time": self.event_time, "reason": self.reason}
        if self.event_id is not None:  # entries written before assertions existed stay as
            out["event_id"] = self.event_id  # they were, byte for byte
        return out


@dataclass(frozen=True)
class End:
    """End the open edges src -> dst of `kind` (only the one at `event_time`, if given) at
    event time `at`: the packing was undone then (EPCIS AggregationEvent DELETE). The edge
    stays in the genealogy; its end time says how long it held."""

    src: int
    dst: int
    kind: str
    event_time: int | None
    at: int

    def to_json(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "kind": self.kind,
                "event_time": self.event_time, "at": self.at}


@dataclass(frozen=True)
class LogEntry:
    """An applied batch. `nodes` and `edges` follow NODE_LOG_SCHEMA and EDGE_LOG_SCHEMA."""

    seq: int
    batch: str
    writer: str
    recorded_at: int
    nodes: pa.Table
    edges: pa.Table
    retractions: tuple[Retraction, ...] = ()
    digest: str = ""
    ends: tuple[End, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        header = json.dumps({
            "seq": self.seq, "batch": self.batch, "writer": self.writer,
            "recorded_at": self.recorded_at, "digest": self.digest,
            "retractions": [r.to_json() for r in self.retractions],
            "ends": [e.to_json() for e in self.ends], **self.extra,
        }, separators=(",", ":")).encode()
        nodes = _ipc(self.nodes)
        edges = _ipc(self.edges)
        return b"".join((_U32.pack(len(header)), header, _U32.pack(len(nodes)), nodes, edges))

    @classmethod
    def decode(cls, value: bytes) -> LogEntry:
        (size,) = _U32.unpack_from(value, 0)
        header = json.loads(value[4: 4 + size])
        at = 4 + size
        (nodes_size,) = _U32.unpack_from(value, at)
        at += 4
        nodes = pa.ipc.open_stream(value[at: at + nodes_size]).read_all()
        edges = pa.ipc.open_stream(value[at + nodes_size:]).read_all()
        extra = {k: v for k, v in header.items()
                 if k not in ("seq", "batch", "writer", "recorded_at", "digest", "retractions",
                              "ends")}
        return cls(
            seq=header["seq"], batch=header["batch"], writer=header["writer"],
            recorded_at=header["recorded_at"], nodes=nodes, edges=edges,
            retractions=tuple(Retraction(**r) for r in header["retractions"]),
            digest=header.get("digest", ""), extra=extra,
            ends=tuple(End(**e) for e in header.get("ends", [])),
        )


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
