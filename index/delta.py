"""The live delta: nodes, edges and retractions acknowledged since the snapshot was built.

Queries read a snapshot and a `DeltaView` together. The delta is append-only and has one writer
(the store's writer thread); readers take `Delta.view()`, an immutable picture at one log
sequence number, and never block the writer.

Ids: a node the snapshot holds keeps its snapshot id; a new node gets the next id after the
snapshot's, which equals its stable id (sid), because a snapshot at sequence S holds exactly the
sids 0..n-1 assigned up to S. So `local == sid` for every node the delta adds.

Delta edges are linked into per-node lists newest-first (index.live_arrays); queries read
them through `DeltaView` (index.delta_view).

Retractions are copy-on-write (they are rare): a view holds the retraction arrays of its own
moment, so an older view still follows an edge retracted after it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from domain.errors import InvalidInput
from domain.time import NEVER, NO_TIME
from index.attributes import AttributeChanges
from index.delta_view import DeltaView
from index.key_table import GrowingKeyTable, fill_misses
from index.live_arrays import LiveArrays, chain, grow, publish_heads
from index.log import NODE_LOG_SCHEMA
from index.repeats import DeltaEdgeIndex, snapshot_repeats
from index.snapshot import Snapshot

__all__ = ["NEVER", "Delta", "DeltaView", "LiveArrays", "Match"]

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Match:
    """The edges one retraction or end names, found once and used by both the ingest check
    (is there anything to retract?) and the apply: delta edge indices and snapshot downstream
    CSR positions. Valid until the delta's next write."""

    src: int
    dst: int
    delta: Array
    snapshot: Array

    def __len__(self) -> int:
        return len(self.delta) + len(self.snapshot)


_EMPTY_POS = np.zeros(0, dtype=np.int64)
_NO_MATCH = Match(-1, -1, _EMPTY_POS, _EMPTY_POS)


@dataclass(frozen=True)
class _Retracted:
    """Retracted snapshot edges of one direction (copy-on-write)."""

    flag: Array  # uint8 per snapshot node
    pos: Array  # sorted int64 CSR positions
    time: Array  # int64 retraction record times


class Delta:
    """The writer's side of the delta over one snapshot. Not thread-safe: one writer."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        n = snapshot.node_count
        self.n_snap = n
        self.seq = snapshot.log_sequence
        self.node_kinds = list(snapshot.node_kinds)
        self.edge_kinds = list(snapshot.edge_kinds)
        self._node_kind_code = {name: i for i, name in enumerate(self.node_kinds)}
        self._edge_kind_code = {name: i for i, name in enumerate(self.edge_kinds)}
        self.n_nodes = n
        # Per-node arrays, all of one capacity (they grow together).
        capacity = n + 1024
        self._node_kind = np.empty(capacity, dtype=np.int8)
        self._node_kind[:n] = snapshot.node_kind
        self._keys = GrowingKeyTable()  # keys of new nodes; id i is local n_snap + i
        self._node_chunks: list[tuple[int, pa.Table]] = []  # (first local id, log node rows)
        self._head = {d: np.full(capacity, -1, dtype=np.int32) for d in ("down", "up")}
        self._last = np.empty(capacity, dtype=np.int32)
        self._seen = np.zeros(capacity, dtype=np.uint32)
        self._epoch = 0
        self.n_edges = 0
        cap = 1024
        self._src = np.empty(cap, dtype=np.int32)
        self._dst = np.empty(cap, dtype=np.int32)
        self._kind = np.empty(cap, dtype=np.uint8)
        self._time = np.empty(cap, dtype=np.int64)
        self._rec = np.empty(cap, dtype=np.int64)
        self._ret = np.full(cap, NEVER, dtype=np.int64)
        self._end = np.full(cap, NEVER, dtype=np.int64)  # when a delta edge ended (unpacked)
        self._next = {d: np.full(cap, -1, dtype=np.int32) for d in ("down", "up")}
        self._qty = np.empty(cap, dtype=np.float64)
        # Provenance, per applied batch: (batch id, event_id column, edge count).
        self._provenance: list[tuple[str, pa.Array, int]] = []
        self._provenance_starts: list[int] = []  # first delta edge of each provenance entry
        self._retracted = {
            "down": self._snapshot_retractions(snapshot.retracted_down),
            "up": self._snapshot_retractions(snapshot.retracted_up, by_up=True),
        }
        self.retracted_edges = len(snapshot.retracted_at)
        # Ended snapshot edges (by downstream CSR position), copy-on-write like retractions.
        self._ended_pos = np.asarray(snapshot.ended_down, dtype=np.int64)
        self._ended_at = np.asarray(snapshot.ended_at, dtype=np.int64)
        self.store_rejects = 0
        self.attributes = AttributeChanges()  # set by corrections since the snapshot
        self._index = DeltaEdgeIndex()  # delta edges by (src, dst, kind, time): repeats
        self._view: DeltaView | None = None

    def _snapshot_retractions(self, positions: Array, *, by_up: bool = False) -> _Retracted:
        snap = self.snapshot
        flag = np.zeros(self.n_snap, dtype=np.uint8)
        times = snap.retracted_at
        if by_up:
            order = np.argsort(positions)
            positions, times = positions[order], times[order]
        if len(positions):
            indptr = (snap.up if by_up else snap.down).indptr
            owners = np.searchsorted(indptr, positions, side="right") - 1
            flag[owners] = 1
        return _Retracted(flag, np.ascontiguousarray(positions, dtype=np.int64),
                          np.ascontiguousarray(times, dtype=np.int64))

    # -- ids ----------------------------------------------------------------------------------

    def local_of_sid(self, sids: Array) -> Array:
        """Local ids of stable ids (snapshot nodes are renumbered; delta nodes are not)."""
        sids = np.asarray(sids, dtype=np.int32)
        out = sids.copy()
        old = sids < self.n_snap
        out[old] = self.snapshot.local_of_sid[sids[old]]
        return out

    def sid_of_local(self, local: Array) -> Array:
        local = np.asarray(local, dtype=np.int32)
        out = local.copy()
        old = local < self.n_snap
        out[old] = self.snapshot.sid[local[old]]
        return out

    def lookup(self, keys: Sequence[str]) -> Array:
        """Local ids of keys (-1 where unknown), snapshot first, then the delta's new nodes."""
        return self.resolve(pa.array(list(keys), pa.large_string()))

    def resolve(self, keys: pa.Array) -> Array:
        """`lookup` for an Arrow string column without nulls, all in numba hash probes."""
        if keys.type != pa.large_string():
            keys = keys.cast(pa.large_string())
        out = np.full(len(keys), -1, dtype=np.int64)
        if self.n_snap:
            table = self.snapshot.keys.table
            fill_misses(table.offsets, table.data, table.slots, keys, out)
        if self._keys.count and (out < 0).any():
            offsets, data, slots = self._keys.arrays()
            new = np.where(out < 0, -1, 0)
            fill_misses(offsets, data, slots, keys, new)
            out = np.where((out < 0) & (new >= 0), self.n_snap + new, out)
        return out

    def node_kind_code(self, name: str) -> int:
        code = self._node_kind_code.get(name)
        if code is None:
            if len(self.node_kinds) >= 127:
                raise InvalidInput("more than 127 distinct node kinds")
            code = self._node_kind_code[name] = len(self.node_kinds)
            self.node_kinds.append(name)
        return code

    def edge_kind_code(self, name: str) -> int:
        code = self._edge_kind_code.get(name)
        if code is None:
            if len(self.edge_kinds) >= 255:
                raise InvalidInput("more than 255 distinct edge kinds")
            code = self._edge_kind_code[name] = len(self.edge_kinds)
            self.edge_kinds.append(name)
        return code

    # -- writes (the writer thread only) ------------------------------------------------------

    def add_nodes(self, nodes: pa.Table) -> None:
        """Append new nodes (log rows: sid, key, kind, product, quantity, uom, created_at);
        their sids must continue the sequence (n_nodes, n_nodes + 1, ...)."""
        count = nodes.num_rows
        if count == 0:
            return
        sids = nodes.column("sid").to_numpy()
        if int(sids[0]) != self.n_nodes or int(sids[-1]) != self.n_nodes + count - 1:
            raise AssertionError(f"internal: new sids {sids[0]}.. do not follow {self.n_nodes}")
        total = self.n_nodes + count
        if total > len(self._head["down"]):
            self._node_kind = grow(self._node_kind, total)
            self._head = {d: grow(h, total, -1) for d, h in self._head.items()}
            self._last = grow(self._last, total)
            self._seen = grow(self._seen, total, 0)
        kinds = nodes.column("kind").combine_chunks().dictionary_encode()
        codes = np.array([self.node_kind_code(k) for k in kinds.dictionary.to_pylist()],
                         dtype=np.int8)
        self._node_kind[self.n_nodes: total] = codes[kinds.indices.to_numpy()]
        self._keys.add(nodes.column("key").combine_chunks())
        self._node_chunks.append((self.n_nodes, nodes))
        self.n_nodes = total
        self._view = None

    def add_edges(self, src: Array, dst: Array, kinds: pa.Array, event_time: Array,
                  recorded_at: Array, quantity: Array, event_id: pa.Array, source: str) -> None:
        """Append edges between local ids (every id < n_nodes). `kinds` are names."""
        count = len(src)
        if count == 0:
            return
        start, total = self.n_edges, self.n_edges + count
        if total > len(self._src):
            self._src, self._dst = grow(self._src, total), grow(self._dst, total)
            self._kind, self._time = grow(self._kind, total), grow(self._time, total)
            self._rec, self._qty = grow(self._rec, total), grow(self._qty, total)
            self._ret = grow(self._ret, total, NEVER)
            self._end = grow(self._end, total, NEVER)
            self._next = {d: grow(a, total, -1) for d, a in self._next.items()}
        encoded = kinds.dictionary_encode()
        codes = np.array([self.edge_kind_code(k) for k in encoded.dictionary.to_pylist()],
                         dtype=np.uint8)
        self._src[start:total] = src
        self._dst[start:total] = dst
        self._kind[start:total] = codes[encoded.indices.to_numpy()]
        self._time[start:total] = event_time
        self._rec[start:total] = recorded_at
        self._qty[start:total] = quantity
        self._provenance.append((source, event_id, count))
        self._provenance_starts.append(start)
        self._index.add(self._src, self._dst, self._kind, self._time, start, count)
        for direction, ends in (("down", self._src), ("up", self._dst)):
            self._epoch += 1
            chain(self._head[direction], self._next[direction], ends, start, count,
                  self._last, self._seen, self._epoch)
            publish_heads(self._head[direction], ends, start, count, self._last)
        self.n_edges = total
        self._view = None

    def match_retraction(self, src: int, dst: int, kind: str, event_time: int | None, *,
                         event_id: str | None = None) -> Match:
        """The live edges src -> dst of `kind` (and `event_time`, if given) a retraction names.
        Without `event_id` that is the link (every live assertion of it); with one, only the
        assertions of that event, so a link another event asserted stays. Changes nothing:
        the ingest check counts it, `retract` applies it."""
        code = self._edge_kind_code.get(kind, -1)
        if code < 0:
            return _NO_MATCH
        hits = self._delta_matches(src, dst, code, event_time, event_id)
        positions = _EMPTY_POS
        if src < self.n_snap and dst < self.n_snap:
            positions = self._snapshot_matches(self.snapshot.down, src, dst, code, event_time,
                                               event_id)
        return Match(src, dst, hits, positions)

    def assertions(self, match: Match) -> list[tuple[int | None, str | None, float | None]]:
        """(event_time in µs or None, event_id, quantity) of each matched edge: what a
        correction names exactly, so an approver signs and a rollback restores just these."""
        out: list[tuple[int | None, str | None, float | None]] = []
        for edge in match.delta.tolist():
            when, qty = int(self._time[edge]), float(self._qty[edge])
            out.append((None if when == NO_TIME else when, self._event_id_of(edge),
                        None if np.isnan(qty) else qty))
        if len(match.snapshot):
            rows = pa.array(match.snapshot)
            times = self.snapshot.down.event_time[match.snapshot].tolist()
            ids = self.snapshot.edges.column("event_id").take(rows).to_pylist()
            qtys = self.snapshot.edges.column("quantity").take(rows).to_pylist()
            out += [(None if t == NO_TIME else int(t), i, q)
                    for t, i, q in zip(times, ids, qtys, strict=True)]
        return out

    def retract(self, match: Match, at: int) -> int:
        """Retract the matched edges as of record time `at`; returns how many. They stay,
        visible to `as_of` before `at`."""
        if len(match.delta):
            ret = self._ret.copy()
            ret[match.delta] = at
            self._ret = ret
        if len(match.snapshot):
            up_pos = np.array([self._up_position(match.src, match.dst, int(p))
                               for p in match.snapshot])
            self._retracted["down"] = self._with(self._retracted["down"], match.src,
                                                 match.snapshot, at)
            self._retracted["up"] = self._with(self._retracted["up"], match.dst, up_pos, at)
        if len(match):
            self.retracted_edges += len(match)
            self._view = None
        return len(match)

    def match_end(self, src: int, dst: int, kind: str, event_time: int | None) -> Match:
        """The open, live edges src -> dst of `kind` (and `event_time`, if given; every source
        when `src` < 0) an end names. Changes nothing (see `end`)."""
        code = self._edge_kind_code.get(kind, -1)
        if code < 0:
            return _NO_MATCH
        if src < 0:  # every source: a DELETE that names only the parent
            n = self.n_edges
            hit = ((self._dst[:n] == dst) & (self._kind[:n] == code)
                   & (self._ret[:n] == NEVER))
            if event_time is not None:
                hit &= self._time[:n] == event_time
            hits = np.flatnonzero(hit)
        else:
            hits = self._delta_matches(src, dst, code, event_time)
        hits = hits[self._end[hits] == NEVER]
        positions = _EMPTY_POS
        if dst < self.n_snap and src < self.n_snap:
            if src < 0:
                up = self.snapshot.up
                start, stop = int(up.indptr[dst]), int(up.indptr[dst + 1])
                rows = up.edge[start:stop]  # downstream positions: where attributes are
                pick = up.kind[rows] == code
                if event_time is not None:
                    pick &= up.event_time[rows] == event_time
                positions = np.asarray(rows[pick], dtype=np.int64)
                gone = self._retracted["down"].pos
                if len(gone):
                    positions = positions[~np.isin(positions, gone)]
            else:
                positions = self._snapshot_matches(self.snapshot.down, src, dst, code,
                                                   event_time)
            positions = positions[~np.isin(positions, self._ended_pos)]
        return Match(src, dst, hits, positions)

    def end(self, match: Match, at: int) -> int:
        """End the matched edges at event time `at`; returns how many. Traversal still
        follows them (a recall over-includes rather than misses); the end time tells how long
        they held."""
        if len(match.delta):
            ended = self._end.copy()
            ended[match.delta] = at
            self._end = ended
        if len(match.snapshot):
            pos = np.concatenate([self._ended_pos, match.snapshot])
            times = np.concatenate([self._ended_at,
                                    np.full(len(match.snapshot), at, np.int64)])
            order = np.argsort(pos, kind="stable")
            self._ended_pos, self._ended_at = pos[order], times[order]
        if len(match):
            self._view = None
        return len(match)

    def ended(self) -> tuple[Array, Array, Array]:
        """(snapshot down positions, their end times, end time of each delta edge)."""
        return self._ended_pos, self._ended_at, self._end[: self.n_edges]

    def repeats(self, src: Array, dst: Array, kinds: pa.Array, times: Array,
                event_ids: pa.Array) -> Array:
        """True for each edge (local ids, kind names, times, event ids) that repeats a live
        edge exactly: the same assertion again, not to be appended (index.repeats)."""
        count = len(src)
        found = np.zeros(count, dtype=np.bool_)
        if count == 0:
            return found
        encoded = kinds.dictionary_encode()
        codes = np.array([self._edge_kind_code.get(k, -1) for k in
                          encoded.dictionary.to_pylist()] or [-1], dtype=np.int64)
        kind = codes[encoded.indices.to_numpy(zero_copy_only=False)]
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        ids = event_ids.to_pylist()
        known = kind >= 0
        down = self.snapshot.down
        if self.n_snap and known.any():
            positions = np.empty(count, dtype=np.int64)
            snapshot_repeats(down.indptr, down.neighbor, down.kind, down.event_time, src, dst,
                             kind, times, positions)
            hits = np.flatnonzero(positions >= 0)
            gone = self._retracted["down"].pos
            if len(hits):
                live = ~np.isin(positions[hits], gone) if len(gone) else np.ones(len(hits),
                                                                                 np.bool_)
                stored = self.snapshot.edges.column("event_id").take(
                    pa.array(positions[hits])).to_pylist()
                for j, i in enumerate(hits.tolist()):
                    found[i] = bool(live[j]) and stored[j] == ids[i]
        if self.n_edges:
            rest = np.flatnonzero(~found & known)
            at = self._index.find(self._src, self._dst, self._kind,
                                  self._time, self._ret, self.n_edges, src[rest], dst[rest],
                                  kind[rest], times[rest])
            for i, e in zip(rest.tolist(), at.tolist(), strict=True):
                if e >= 0 and self._event_id_of(e) == ids[i]:
                    found[i] = True
        return found

    def _delta_matches(self, src: int, dst: int, code: int, event_time: int | None,
                       event_id: str | None = None) -> Array:
        n = self.n_edges
        hit = ((self._src[:n] == src) & (self._dst[:n] == dst) & (self._kind[:n] == code)
               & (self._ret[:n] == NEVER))
        if event_time is not None:
            hit &= self._time[:n] == event_time
        hits = np.flatnonzero(hit)
        if event_id is not None and len(hits):
            hits = hits[np.array([self._event_id_of(int(e)) == event_id for e in hits],
                                 dtype=np.bool_)]
        return hits

    def _event_id_of(self, edge: int) -> str | None:
        """The event_id that asserted delta edge `edge` (its provenance)."""
        i = bisect.bisect_right(self._provenance_starts, edge) - 1
        _, ids, _ = self._provenance[i]
        value = ids[edge - self._provenance_starts[i]].as_py()
        return None if value is None else str(value)

    def _snapshot_matches(self, adj: Any, src: int, dst: int, code: int,
                          event_time: int | None, event_id: str | None = None) -> Array:
        start, end = int(adj.indptr[src]), int(adj.indptr[src + 1])
        rows = np.arange(start, end)
        hit = (adj.neighbor[start:end] == dst) & (adj.kind[start:end] == code)
        if event_time is not None:
            hit &= adj.event_time[start:end] == event_time
        candidates = rows[hit]
        current = self._retracted["down"]
        if len(current.pos):
            candidates = candidates[~np.isin(candidates, current.pos)]
        if event_id is not None and len(candidates):
            ids = self.snapshot.edges.column("event_id").take(pa.array(candidates)).to_pylist()
            candidates = candidates[np.array([i == event_id for i in ids], dtype=np.bool_)]
        return np.asarray(candidates)

    def _up_position(self, src: int, dst: int, down_pos: int) -> int:
        """The upstream CSR position of the edge at downstream position `down_pos`."""
        up = self.snapshot.up
        start, end = int(up.indptr[dst]), int(up.indptr[dst + 1])
        edge_of_up = self.snapshot.up_edge[start:end]
        matches = np.flatnonzero(edge_of_up == down_pos)
        if len(matches) != 1:
            raise AssertionError(f"internal: edge {src}->{dst} has no single upstream twin")
        return start + int(matches[0])

    def _with(self, current: _Retracted, owner: int, positions: Array, at: int) -> _Retracted:
        flag = current.flag.copy()
        flag[owner] = 1
        pos = np.concatenate([current.pos, positions.astype(np.int64)])
        time = np.concatenate([current.time, np.full(len(positions), at, dtype=np.int64)])
        order = np.argsort(pos, kind="stable")
        return _Retracted(flag, pos[order], time[order])

    # -- reading ------------------------------------------------------------------------------

    def view(self) -> DeltaView:
        """The delta as it stands now (cached until the next write)."""
        if self._view is None:
            def arrays(direction: str, neighbor: Array) -> LiveArrays:
                r = self._retracted[direction]
                return LiveArrays(self._head[direction], self._next[direction], neighbor,
                                  self._kind, self._time, self._rec, self._ret, self.n_edges,
                                  r.flag, r.pos, r.time)

            self._view = DeltaView(
                snapshot=self.snapshot, seq=self.seq, n_nodes=self.n_nodes,
                n_edges=self.n_edges, node_kind=self._node_kind,
                node_kinds=tuple(self.node_kinds), edge_kinds=tuple(self.edge_kinds),
                key_offsets=self._keys.offsets, key_data=self._keys.data,
                key_slots=self._keys.slots,
                down=arrays("down", self._dst), up=arrays("up", self._src),
                retracted_edges=self.retracted_edges, store_rejects=self.store_rejects,
                edge_quantity=self._qty,
                edge_ended=self._end, ended_pos=self._ended_pos, ended_at=self._ended_at,
                _node_chunks=tuple(self._node_chunks), attributes=self.attributes.current,
            )
        return self._view

    def set_store_rejects(self, count: int) -> None:
        """How many rejected records the store holds (`stats` adds them to the build's)."""
        self.store_rejects = count
        self._view = None

    def set_seq(self, seq: int) -> None:
        self.seq = seq
        self._view = None

    def edge_columns(self) -> dict[str, Array]:
        """The delta's edges as arrays of local ids, for compaction."""
        n = self.n_edges
        return {"src": self._src[:n].copy(), "dst": self._dst[:n].copy(),
                "kind": self._kind[:n].copy(), "event_time": self._time[:n].copy(),
                "recorded_at": self._rec[:n].copy(), "retracted_at": self._ret[:n].copy(),
                "ended_at": self._end[:n].copy(),
                "quantity": self._qty[:n].copy()}

    def snapshot_retractions(self) -> tuple[Array, Array]:
        """(downstream CSR positions, retraction times) of retracted snapshot edges."""
        r = self._retracted["down"]
        return r.pos.copy(), r.time.copy()

    def new_nodes(self) -> pa.Table:
        """The nodes the delta added, as log rows (sid, key, kind, product, quantity, uom,
        created_at in microseconds), in id order."""
        if not self._node_chunks:
            return NODE_LOG_SCHEMA.empty_table()
        return pa.concat_tables([chunk for _, chunk in self._node_chunks])

    def provenance(self) -> tuple[pa.Array, pa.Array, Array]:
        """Per delta edge: event_id, source (batch id) and row within its batch."""
        if not self._provenance:
            return (pa.array([], pa.string()), pa.array([], pa.string()),
                    np.zeros(0, dtype=np.int64))
        event_ids = pa.concat_arrays([ids.cast(pa.string()) for _, ids, _ in self._provenance])
        sources = pa.DictionaryArray.from_arrays(
            pa.array(np.repeat(np.arange(len(self._provenance), dtype=np.int32),
                               [n for _, _, n in self._provenance])),
            pa.array([name for name, _, _ in self._provenance], pa.string()))
        rows = np.concatenate([np.arange(n, dtype=np.int64) for _, _, n in self._provenance])
        return event_ids, sources.cast(pa.string()), rows
