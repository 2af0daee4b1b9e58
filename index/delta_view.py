"""`DeltaView`: the live delta at one log sequence number, as queries read it (immutable; the
writer's `index.delta.Delta` makes a new one after each write)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.time import from_micros
from index.key_table import fill_misses
from index.live_arrays import LiveArrays
from index.snapshot import Snapshot

__all__ = ["DeltaView"]

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class DeltaView:
    """The delta at one log sequence number. Arrays may hold more than the view covers; read
    only nodes < n_nodes and edges < n_edges."""

    snapshot: Snapshot
    seq: int
    n_nodes: int
    n_edges: int
    node_kind: Array
    node_kinds: tuple[str, ...]
    edge_kinds: tuple[str, ...]
    key_offsets: Array
    key_data: Array
    down: LiveArrays
    up: LiveArrays
    retracted_edges: int
    store_rejects: int  # records the store's rejects log holds (ingest and loaders)
    edge_quantity: Array = field(repr=False)
    edge_ended: Array = field(repr=False)
    ended_pos: Array = field(repr=False)
    ended_at: Array = field(repr=False)
    key_slots: Array = field(repr=False)
    _node_chunks: tuple[tuple[int, pa.Table], ...] = field(repr=False)
    attributes: Mapping[int, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    """Node attribute changes since the snapshot: stable id -> field -> log value."""

    @property
    def n_snap(self) -> int:
        return int(self.snapshot.node_count)

    @property
    def changed(self) -> bool:
        """True when queries must read the delta (new nodes or edges, or any retraction): the
        snapshot-only kernel would index past its arrays or follow retracted edges."""
        return self.n_edges > 0 or self.retracted_edges > 0 or self.n_nodes > self.n_snap

    def resolve_new(self, keys: pa.Array, out: Array) -> None:
        """Fill the negative entries of `out` with local ids of nodes the delta added (at this
        view's sequence; -1 where none)."""
        missing = out < 0
        new = np.where(missing, -1, 0)
        fill_misses(self.key_offsets, self.key_data, self.key_slots, keys, new)
        # A key added after this view was taken is not there yet.
        visible = missing & (new >= 0) & (new < self.n_nodes - self.n_snap)
        out[visible] = self.n_snap + new[visible]

    def new_node_quantities(self) -> Array:
        """Quantity of every node the delta added, in id order (NaN where none)."""
        parts = [chunk.column("quantity").to_numpy(zero_copy_only=False).astype(np.float64)
                 for start, chunk in self._node_chunks if start < self.n_nodes]
        values = np.concatenate(parts) if parts else np.zeros(0)
        return values[: self.n_nodes - self.n_snap]

    def new_node_table(self) -> pa.Table:
        """The log rows of the nodes the delta added (at this view), in id order: row i is
        node n_snap + i."""
        chunks = [chunk for start, chunk in self._node_chunks if start < self.n_nodes]
        if not chunks:
            return pa.table({"sid": pa.array([], pa.int32())})
        return pa.concat_tables(chunks).slice(0, self.n_nodes - self.n_snap)

    def new_node(self, local: int) -> dict[str, Any]:
        """Attributes of a node the delta added: key, kind, product, quantity, uom,
        created_at."""
        starts = [start for start, _ in self._node_chunks]
        i = bisect.bisect_right(starts, local) - 1
        start, chunk = self._node_chunks[i]
        row: dict[str, Any] = chunk.slice(local - start, 1).to_pylist()[0]
        created = row.pop("created_at")
        row.pop("sid", None)
        row["created_at"] = _time_or_none(created)
        return row


def _time_or_none(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    return from_micros(micros)
