"""`View`: the one immutable thing a query reads (a snapshot plus the live delta at one log
sequence). Queries that walk more than once (hourglass, impact) take one View, so every part of
their answer comes from the same log sequence."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.time import NEVER
from index.delta import DeltaView, LiveArrays
from index.snapshot import Adjacency, Snapshot

__all__ = ["EMPTY_LIVE", "View"]

Array = npt.NDArray[Any]

_EMPTY_I32 = np.zeros(0, dtype=np.int32)
_EMPTY_I64 = np.zeros(0, dtype=np.int64)
EMPTY_LIVE = LiveArrays(
    head=_EMPTY_I32, next_edge=_EMPTY_I32, neighbor=_EMPTY_I32, kind=np.zeros(0, dtype=np.uint8),
    event_time=_EMPTY_I64, recorded_at=_EMPTY_I64, retracted_at=_EMPTY_I64, n_edges=0,
    retracted_flag=np.zeros(0, dtype=np.uint8), retracted_pos=_EMPTY_I64,
    retracted_time=_EMPTY_I64)
"""The live arrays of a snapshot with no delta: the kernels' delta loops then do nothing."""
_EMPTY_KEYS = (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8))


class View:
    """Everything one query reads: a snapshot and the delta at one log sequence number
    (immutable once made: a query that walks twice, like hourglass, reads one View, so both
    walks see the same log sequence). `Graph.view()` gives the current one.

    Dense ids: snapshot nodes are 0 .. snapshot.node_count - 1, nodes the delta added follow."""

    def __init__(self, snapshot: Snapshot, delta: DeltaView | None) -> None:
        self.snapshot = snapshot
        self.delta = delta
        if delta is None:
            self.node_count = int(snapshot.node_count)
            self.edge_count = snapshot.edge_count
            self.node_kind: Array = snapshot.node_kind
            self.node_kinds: tuple[str, ...] = tuple(snapshot.node_kinds)
            self.edge_kinds: tuple[str, ...] = tuple(snapshot.edge_kinds)
            self.down_live, self.up_live = EMPTY_LIVE, EMPTY_LIVE
            self.delta_keys = _EMPTY_KEYS
            self.changed = False
        else:
            self.node_count = delta.n_nodes
            self.edge_count = snapshot.edge_count + delta.n_edges
            self.node_kind = delta.node_kind
            self.node_kinds, self.edge_kinds = delta.node_kinds, delta.edge_kinds
            self.down_live, self.up_live = delta.down, delta.up
            self.delta_keys = (delta.key_offsets, delta.key_data)
            self.changed = delta.changed
        self.node_kind_index = {name: i for i, name in enumerate(self.node_kinds)}
        self.edge_kind_index = {name: i for i, name in enumerate(self.edge_kinds)}
        self.kind_names = pa.array(self.node_kinds, pa.string())
        self.seq = snapshot.log_sequence if delta is None else delta.seq

    @cached_property
    def newest_record_time(self) -> int:
        """The latest record time (microseconds) of any edge or retraction this view holds,
        domain.time.NO_TIME when it holds none. An `as_of` at or after it sees every edge and
        every retraction, so it gives the answer of no `as_of` (engine.filters uses that to
        let such queries take the unfiltered kernels)."""
        times = [self.snapshot.newest_record_time]
        live = self.down_live
        n = live.n_edges
        if n:
            times.append(int(live.recorded_at[:n].max()))
            retracted = live.retracted_at[:n]
            retracted = retracted[retracted != NEVER]
            if len(retracted):
                times.append(int(retracted.max()))
        if len(live.retracted_time):
            times.append(int(live.retracted_time.max()))
        return max(times)

    def kind_code(self, name: str) -> int:
        """The node kind code of `name`, -1 when this view has no such kind."""
        return self.node_kind_index.get(name, -1)

    def adjacency(self, downstream: bool) -> Adjacency:
        return self.snapshot.down if downstream else self.snapshot.up

    def live(self, adj: Adjacency) -> LiveArrays:
        """The delta's arrays in the direction of snapshot adjacency `adj`."""
        return self.down_live if adj is self.snapshot.down else self.up_live

    def lookup(self, keys: Sequence[str]) -> Array:
        """Dense ids of `keys`; a miss is negative (the key index's insertion point, for
        suggestions)."""
        ids = self.snapshot.keys.lookup(keys) if self.snapshot.node_count else np.full(
            len(keys), -1, dtype=np.int32)
        if self.delta is not None and self.delta.n_nodes > self.delta.n_snap:
            # Misses keep their negative insertion point (for suggestions) unless found here.
            self.delta.resolve_new(pa.array(list(keys), pa.large_string()), ids)
        return ids

    def key_of(self, node: int) -> str:
        if node < self.snapshot.node_count:
            return str(self.snapshot.node_keys[node].as_py())
        assert self.delta is not None
        return str(self.delta.new_node(node)["key"])

    def keys(self, ids: Array) -> pa.Array:
        """Keys of node ids as a large_string array (snapshot and delta nodes alike)."""
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        if not self.delta or not (ids >= self.snapshot.node_count).any():
            return self.snapshot.node_keys.take(pa.array(ids)) if len(ids) else pa.array(
                [], pa.large_string())
        return pa.array([self.key_of(int(i)) for i in ids], pa.large_string())
