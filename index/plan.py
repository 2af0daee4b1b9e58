"""Planning a group of ingest batches against the store: the checks and resolution that turn
each batch into a log entry or errors, with no threads and no storage (the writer in
`index.live` commits what this plans).

Per batch, in order: its shape (`shape_problem`), its nodes (keys resolved to stable ids,
existing keys folded or rejected by kind), its edges (ends resolved, unknown kinds and
self-loops rejected, repeats of live edges dropped: index.repeats), its ends and retractions
(matched against the delta: a retraction names one assertion or the link). All per-record work
is vectorised; Python runs per error. `reject_record` is the JSON kept for each reject.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from domain.errors import InvalidInput
from index.attributes import log_value
from index.delta import Delta
from index.ingest import IngestBatch, RecordError, epoch_micros, to_micros
from index.key_table import KeyTable, fill_misses
from index.log import EDGE_LOG_SCHEMA, NODE_LOG_SCHEMA, End, Retraction

__all__ = ["NewNodes", "Plan", "links", "reject_record", "shape_problem"]

Array = npt.NDArray[Any]


def shape_problem(batch: IngestBatch) -> RecordError | None:
    """Frames that cannot be node or edge tables at all (missing required columns)."""
    for table, frame, required in (("nodes", batch.nodes, ("key", "kind")),
                                   ("edges", batch.edges, ("src", "dst", "kind"))):
        if frame is None or frame.height == 0:
            continue
        missing = [c for c in required if c not in frame.columns]
        if missing:
            return RecordError(table, 0, missing[0], f"{table} lack required column(s) "
                               f"{', '.join(missing)} (have: {', '.join(frame.columns)})")
    return None


def reject_record(batch: IngestBatch, error: RecordError) -> str:
    """The rejected record as JSON (text values), so nothing is lost."""
    if error.row <= 0:
        return json.dumps({"batch": batch.batch_id, "records": batch.records})
    if error.table == "ends":
        e = batch.ends[error.row - 1]
        return json.dumps({"src": e.src, "dst": e.dst, "kind": e.kind, "at": str(e.at),
                           "event_time": None if e.event_time is None else str(e.event_time)})
    if error.table == "retractions":
        r = batch.retractions[error.row - 1]
        return json.dumps({"src": r.src, "dst": r.dst, "kind": r.kind, "reason": r.reason,
                           "event_time": None if r.event_time is None else str(r.event_time),
                           "event_id": r.event_id})
    frame = batch.nodes if error.table == "nodes" else batch.edges
    assert frame is not None
    row = frame.row(error.row - 1, named=True)
    return json.dumps({k: None if v is None else str(v) for k, v in row.items()})


class NewNodes:
    """Nodes created by one accepted batch of a group: a hash table of their keys, their sids
    and kinds, so later records of the group resolve them without the delta."""

    def __init__(self, keys: pa.Array, sids: Array, kinds: pa.Array) -> None:
        self.table = KeyTable(keys)
        self.sids = sids
        self.kinds = kinds

    def fill(self, keys: pa.Array, sids: Array, kinds: Array | None = None) -> None:
        """Fill sids (and kind names) of `keys` still unresolved (-1) in `sids`."""
        found = np.full(len(keys), -1, dtype=np.int64)
        fill_misses(self.table.offsets, self.table.data, self.table.slots, keys, found)
        hit = (sids < 0) & (found >= 0)
        sids[hit] = self.sids[found[hit]]
        if kinds is not None and hit.any():
            kinds[hit] = np.asarray(self.kinds.take(pa.array(found[hit])).to_pylist(),
                                    dtype=object)


class Plan:
    """Resolves one batch against the store, the delta and earlier batches of its group. All
    per-record work is vectorised (numba hash probes, numpy masks); Python runs per error."""

    def __init__(self, delta: Delta, group_new: list[NewNodes], next_sid: int,
                 known_nodes: set[str], known_edges: set[str],
                 group_edges: list[pa.Table] | None = None,
                 group_links: set[int] | None = None) -> None:
        self.delta = delta
        self.group_new = group_new
        self.next_sid = next_sid
        self.known_nodes = known_nodes
        self.known_edges = known_edges
        self.new: NewNodes | None = None
        self.group_edges = group_edges if group_edges is not None else []
        # (src << 32 | dst) of those edges (`links`): a cheap first test before the exact one
        self.group_links = group_links if group_links is not None else set()

    def _resolve(self, keys: pa.Array, kinds: Array | None = None) -> Array:
        """Stable ids of keys (-1 where unknown): the store (snapshot + delta), this batch's
        new nodes, then the group's. With `kinds`, also each found node's kind name."""
        local = self.delta.resolve(keys)
        sids = np.where(local >= 0, self.delta.sid_of_local(np.maximum(local, 0)), -1)
        if kinds is not None and (local >= 0).any():
            view = self.delta.view()
            names = np.asarray(view.node_kinds, dtype=object)
            kinds[local >= 0] = names[view.node_kind[local[local >= 0]]]
        for new in ([self.new] if self.new else []) + self.group_new[::-1]:
            if (sids < 0).any():
                new.fill(keys, sids, kinds)
        return sids

    def nodes(self, frame: pl.DataFrame, errors: list[RecordError]) -> pa.Table:
        if frame.height == 0:
            return NODE_LOG_SCHEMA.empty_table()
        keys = _strings(frame["key"])
        kinds = frame["kind"].to_numpy().astype(object)
        before = np.full(frame.height, None, dtype=object)
        existing = self._resolve(keys, before) >= 0
        unknown = _unknown_mask(frame["kind"], self.known_nodes)
        clash = existing & ~unknown & (before != kinds)
        first = frame["key"].is_first_distinct().to_numpy()
        # A key repeated in the batch folds into its first row; with another kind it is an error.
        first_kind = frame.select(pl.col("kind").first().over("key"))["kind"].to_numpy()
        repeat_clash = ~first & ~existing & ~unknown & (first_kind != kinds)
        for i in np.flatnonzero(unknown | clash | repeat_clash).tolist():
            number = int(frame["__row"][i])
            if unknown[i]:
                errors.append(RecordError("nodes", number, "kind", _unknown(
                    "node kind", kinds[i], self.known_nodes)))
            else:
                was = before[i] if clash[i] else first_kind[i]
                errors.append(RecordError("nodes", number, "key", f"node {keys[i].as_py()!r} "
                                          f"already exists as a {was}, not a {kinds[i]}"))
        create = first & ~existing & ~unknown
        picked = frame.filter(pl.Series(create)) if not create.all() else frame
        sids = np.arange(self.next_sid, self.next_sid + picked.height, dtype=np.int32)
        self.next_sid += picked.height
        table = pa.table({
            "sid": pa.array(sids, pa.int32()),
            "key": _strings(picked["key"]).cast(pa.string()),
            "kind": picked["kind"].to_arrow().cast(pa.string()),
            "product": picked["product"].to_arrow().cast(pa.string()),
            "quantity": picked["quantity"].to_arrow().cast(pa.float64()),
            "uom": picked["uom"].to_arrow().cast(pa.string()),
            "created_at": epoch_micros(picked["created_at"], nulls=True),
        }, schema=NODE_LOG_SCHEMA)
        if picked.height:
            self.new = NewNodes(_strings(picked["key"]), sids.astype(np.int64),
                                 table.column("kind").combine_chunks())
        return table

    def edges(self, frame: pl.DataFrame, errors: list[RecordError], now_us: int) -> pa.Table:
        if frame.height == 0:
            return EDGE_LOG_SCHEMA.empty_table()
        src, dst = self._resolve(_strings(frame["src"])), self._resolve(_strings(frame["dst"]))
        bad_src = src < 0
        bad_dst = (dst < 0) & ~bad_src
        loop = (src == dst) & ~bad_src & ~bad_dst
        bad_kind = _unknown_mask(frame["kind"], self.known_edges) & ~(bad_src | bad_dst | loop)
        keep = ~(bad_src | bad_dst | loop | bad_kind)
        for i in np.flatnonzero(~keep).tolist():
            row = frame.row(i, named=True)
            if bad_src[i]:
                problem = ("src", f"unknown node {row['src']!r}: not in the store and not "
                           "created by this batch")
            elif bad_dst[i]:
                problem = ("dst", f"unknown node {row['dst']!r}: not in the store and not "
                           "created by this batch")
            elif loop[i]:
                problem = ("dst", "self-loop: source and destination are the same node")
            else:
                problem = ("kind", _unknown("edge kind", row["kind"], self.known_edges))
            errors.append(RecordError("edges", row["__row"], *problem))
        picked = frame if keep.all() else frame.filter(pl.Series(keep))
        src, dst = src[keep], dst[keep]
        kinds = picked["kind"].to_arrow().cast(pa.string())
        times = epoch_micros(picked["event_time"])
        event_ids = picked["event_id"].to_arrow().cast(pa.string())
        # An edge the store already holds live (same link, time and event id) is the same
        # assertion again: not appended, so re-ingesting rows under another file name or batch
        # size adds nothing. Repeats within the batch fold into their first copy too.
        delta = self.delta
        repeat = delta.repeats(delta.local_of_sid(src), delta.local_of_sid(dst),
                               _plain_arrow(kinds), times.to_numpy(zero_copy_only=False),
                               _plain_arrow(event_ids))
        repeat |= _repeated_in_batch(src, dst, kinds, times, event_ids)
        if self.group_links:  # earlier batches of the group: not applied, the delta cannot see
            links = ((src.astype(np.int64) << 32) | dst.astype(np.int64)).tolist()
            maybe = np.fromiter((link in self.group_links for link in links), np.bool_,
                                len(links))
            if maybe.any():  # rare: only then the exact comparison
                rows = np.flatnonzero(maybe)
                pick = pa.array(rows)
                exact = _in_group(src[rows], dst[rows], kinds.take(pick), times.take(pick),
                                  event_ids.take(pick), self.group_edges)
                repeat[rows[exact]] = True
        if repeat.any():
            fresh = ~repeat
            src, dst, picked = src[fresh], dst[fresh], picked.filter(pl.Series(fresh))
            kinds, times = kinds.filter(pa.array(fresh)), times.filter(pa.array(fresh))
        return pa.table({
            "src": pa.array(src.astype(np.int32), pa.int32()),
            "dst": pa.array(dst.astype(np.int32), pa.int32()),
            "kind": kinds,
            "event_time": times,
            # The record time is this commit's, always: a client's own recorded_at would let
            # it back-date history, and `as_of` answers about the past would change afterwards.
            "recorded_at": pa.array(np.full(picked.height, now_us, dtype=np.int64)),
            "quantity": picked["quantity"].to_arrow().cast(pa.float64()),
            "event_id": picked["event_id"].to_arrow().cast(pa.string()),
        }, schema=EDGE_LOG_SCHEMA)

    def ends(self, batch: IngestBatch, errors: list[RecordError]) -> list[End]:
        """Ends of open edges (unpacking), checked like retractions."""
        return _ends(self, batch, errors)

    def attributes(self, batch: IngestBatch,
                   errors: list[RecordError]) -> list[dict[str, Any]]:
        """Node attribute changes as the log holds them ({sid, field, value}); the node must
        exist already (a correction changes recorded data)."""
        out: list[dict[str, Any]] = []
        for number, a in enumerate(batch.attributes, start=1):
            local = int(self.delta.lookup([a.key])[0])
            if local < 0:
                errors.append(RecordError("attributes", number, "key",
                                          f"unknown node {a.key!r}"))
                continue
            try:
                value = log_value(a.field, a.value)
            except InvalidInput as e:
                errors.append(RecordError("attributes", number, "field", str(e)))
                continue
            sid = int(self.delta.sid_of_local(np.array([local]))[0])
            out.append({"sid": sid, "field": a.field, "value": value})
        return out

    def retractions(self, batch: IngestBatch,
                    errors: list[RecordError]) -> tuple[list[Retraction], int]:
        out: list[Retraction] = []
        matched = 0
        for number, r in enumerate(batch.retractions, start=1):
            if not isinstance(r.reason, str) or not r.reason.strip():
                errors.append(RecordError("retractions", number, "reason",
                                          "a retraction needs a reason"))
                continue
            local = self.delta.lookup([r.src, r.dst])
            if local[0] < 0 or local[1] < 0:
                end, key = ("src", r.src) if local[0] < 0 else ("dst", r.dst)
                errors.append(RecordError("retractions", number, end,
                                          f"unknown node {key!r}"))
                continue
            when = to_micros(r.event_time)
            count = len(self.delta.match_retraction(int(local[0]), int(local[1]), r.kind, when,
                                                    event_id=r.event_id))
            if count == 0:
                errors.append(RecordError(
                    "retractions", number, "kind",
                    f"no live {r.kind!r} edge {r.src!r} -> {r.dst!r}"
                    + ("" if when is None else " at that event_time")
                    + ("" if r.event_id is None else f" asserted by event {r.event_id!r}")))
                continue
            sids = self.delta.sid_of_local(local)
            out.append(Retraction(int(sids[0]), int(sids[1]), r.kind, when, r.reason.strip(),
                                  r.event_id))
            matched += count
        return out, matched


def _plain_arrow(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _repeated_in_batch(src: Array, dst: Array, kinds: pa.Array, times: pa.Array,
                       event_ids: pa.Array) -> Array:
    """True for an edge equal to an earlier one of the same batch (the first copy stays)."""
    if len(src) < 2:
        return np.zeros(len(src), dtype=np.bool_)
    frame = pl.DataFrame({"s": src, "d": dst, "k": pl.Series(_plain_arrow(kinds)),
                          "t": pl.Series(_plain_arrow(times)),
                          "e": pl.Series(_plain_arrow(event_ids))})
    first = frame.select(pl.struct(pl.all()).is_first_distinct()).to_series().to_numpy()
    return np.asarray(~first, dtype=np.bool_)


_LINK = ["src", "dst", "kind", "event_time", "event_id"]


def links(table: pa.Table) -> list[int]:
    """(src << 32 | dst) of each edge of a planned edge table (sids)."""
    src = table.column("src").to_numpy().astype(np.int64)
    dst = table.column("dst").to_numpy().astype(np.int64)
    keys: list[int] = ((src << 32) | dst).tolist()
    return keys


def _in_group(src: Array, dst: Array, kinds: pa.Array, times: pa.Array, event_ids: pa.Array,
              earlier: list[pa.Table]) -> Array:
    """True for an edge an earlier batch of the same group already planned (sids, kind,
    time, event id): the second copy is a repeat too."""
    mine = pl.DataFrame({"src": src.astype(np.int64), "dst": dst.astype(np.int64),
                         "kind": pl.Series(_plain_arrow(kinds)),
                         "event_time": pl.Series(_plain_arrow(times)),
                         "event_id": pl.Series(_plain_arrow(event_ids), dtype=pl.String)})
    seen = pl.concat([
        pl.from_arrow(table.select(_LINK)).with_columns(  # type: ignore[union-attr]
            pl.col("src").cast(pl.Int64), pl.col("dst").cast(pl.Int64),
            pl.col("event_id").cast(pl.String)) for table in earlier]).unique()
    found = mine.with_row_index("__i").join(seen, on=_LINK, how="semi", nulls_equal=True)
    out = np.zeros(len(src), dtype=np.bool_)
    out[found["__i"].to_numpy()] = True
    return out


def _unknown_mask(kinds: pl.Series, known: set[str]) -> Array:
    """True where a kind is not in `known`, checking each distinct kind once."""
    encoded = pc.dictionary_encode(kinds.to_arrow())
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    bad = np.array([name not in known for name in encoded.dictionary.to_pylist()] or [False])
    if not bad.any():
        return np.zeros(len(kinds), dtype=bool)
    mask: Array = bad[encoded.indices.to_numpy(zero_copy_only=False)]
    return mask


def _ends(plan: Plan, batch: IngestBatch, errors: list[RecordError]) -> list[End]:
    out: list[End] = []
    for number, e in enumerate(batch.ends, start=1):
        local = plan.delta.lookup([e.src or e.dst, e.dst])
        if e.src is None:
            local[0] = -1  # every source into dst
        elif local[0] < 0:
            errors.append(RecordError("ends", number, "src", f"unknown node {e.src!r}"))
            continue
        if local[1] < 0:
            errors.append(RecordError("ends", number, "dst", f"unknown node {e.dst!r}"))
            continue
        when, at = to_micros(e.event_time), to_micros(e.at)
        assert at is not None
        if not plan.delta.match_end(int(local[0]), int(local[1]), e.kind, when):
            errors.append(RecordError("ends", number, "kind", f"no open {e.kind!r} edge "
                                      f"{e.src or 'from anything'!r} -> {e.dst!r} to end"))
            continue
        dst_sid = int(plan.delta.sid_of_local(local[1:])[0])
        src_sid = -1 if e.src is None else int(plan.delta.sid_of_local(local[:1])[0])
        out.append(End(src_sid, dst_sid, e.kind, when, at))
    return out


def _strings(column: pl.Series) -> pa.Array:
    """A validated (null-free) string column as one large_string Arrow array."""
    array = column.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


def _unknown(what: str, value: str, known: set[str]) -> str:
    return f"unknown {what} {value!r}; known: {', '.join(sorted(known))}"
