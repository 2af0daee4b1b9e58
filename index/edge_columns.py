"""Edge columns of a build: resolved batches gathered into arrays in input order
(`EdgeColumns`), the finished `EdgeArrays` that `index.build.assemble_snapshot` takes, and the
column helpers that code strings as ints so sorting and folding never touch a string per row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from domain.errors import InvalidInput
from index.edge_batch import ResolvedEdges

__all__ = ["EdgeArrays", "EdgeColumns", "encoded_take", "kind_codes", "other_event",
           "sorted_codes", "take_parts"]

Array = npt.NDArray[Any]


class EdgeColumns:
    """Resolved edge batches accumulated as arrays, in input order (the strings are gone)."""

    def __init__(self, expected_rows: int | None) -> None:
        capacity = expected_rows or 1 << 20
        self.src = Column(np.int32, capacity)
        self.dst = Column(np.int32, capacity)
        self.kind = Column(np.uint8, capacity)
        self.event_time = Column(np.int64, capacity)
        self.recorded_at = Column(np.int64, capacity)
        # An all-null batch column is kept as its length only (8-16 bytes/edge saved at scale).
        self.quantity: list[pa.Array | int] = []
        self.event_id: list[pa.Array | int] = []
        self.source = Column(np.uint16, capacity)
        wide = expected_rows is None or expected_rows >= 2**31
        self.source_row = Column(np.int64 if wide else np.int32, capacity)
        self.kinds: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        self.rejects: list[pl.DataFrame] = []
        self.ignored: dict[str, list[str]] = {}
        self.rows = 0

    def add(self, batch: ResolvedEdges) -> None:
        self.ignored.update(batch.ignored)
        self.rejects.append(batch.rejects)
        self.rows += batch.read_rows
        if len(batch.src) == 0:
            return
        # Batch kind codes -> build codes, registering the kinds the batch's rows use.
        used = np.bincount(batch.kind, minlength=len(batch.kind_names)) > 0
        remap = np.zeros(max(len(batch.kind_names), 1), dtype=np.uint8)
        for code, name in enumerate(batch.kind_names):
            if not used[code]:
                continue
            if name not in self.kinds:
                if len(self.kinds) == 255:
                    raise InvalidInput("more than 255 distinct edge kinds")
                self.kinds[name] = len(self.kinds)
            remap[code] = self.kinds[name]
        source = self.sources.setdefault(batch.path, len(self.sources))
        self.src.append(batch.src)
        self.dst.append(batch.dst)
        self.kind.append(remap[batch.kind])
        self.event_time.append(batch.event_time)
        self.recorded_at.append(batch.recorded_at)
        self.quantity.append(batch.quantity)
        self.event_id.append(batch.event_id)
        self.source.fill(source, len(batch.src))
        self.source_row.append(batch.rows)


class Column:
    """A column appended to batch by batch, in one array sized for the expected rows (grown
    by half when they were more): no concatenation at the end, which at tens of millions of
    edges would cost a second copy of every column."""

    def __init__(self, dtype: npt.DTypeLike, capacity: int) -> None:
        self.data = np.empty(capacity, dtype=dtype)
        self.size = 0

    def append(self, values: Array) -> None:
        self._reserve(len(values))
        self.data[self.size: self.size + len(values)] = values
        self.size += len(values)

    def _reserve(self, count: int) -> None:
        end = self.size + count
        if end > len(self.data):
            grown = np.empty(max(end, len(self.data) * 3 // 2), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown

    def fill(self, value: int, count: int) -> None:
        self._reserve(count)
        self.data[self.size: self.size + count] = value
        self.size += count

    def array(self) -> Array:
        return self.data[: self.size]


def distinct(column: pa.ChunkedArray) -> tuple[pa.Array, Array]:
    """(distinct string values, int32 code per row into them, -1 where null). A dictionary
    column is coded from its indices (no string per row); its dictionary may repeat values
    (one per row group or file), which get one code."""
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if not pa.types.is_dictionary(array.type):
        array = array.cast(pa.string()).dictionary_encode()
    entries = array.dictionary.cast(pa.string()).dictionary_encode()
    entry_code = np.append(entries.indices.fill_null(-1).to_numpy(zero_copy_only=False), -1)
    rows = array.indices.cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
    return entries.dictionary, entry_code[rows].astype(np.int32)  # -1 reads the appended -1


def kind_codes(column: pa.ChunkedArray) -> tuple[list[str], Array]:
    """Node kind names in sorted order and each row's int8 code into them."""
    values, codes = distinct(column)
    used = np.unique(codes[codes >= 0])
    names = sorted(values.take(pa.array(used)).to_pylist())
    if len(names) > 127:
        raise InvalidInput(f"too many distinct node kinds ({len(names)}); at most 127")
    remap = np.zeros(max(len(values), 1), dtype=np.int8)
    remap[used] = [names.index(name) for name in values.take(pa.array(used)).to_pylist()]
    return names, remap[codes]


def encoded_take(column: pa.ChunkedArray, order: Array) -> pa.DictionaryArray:
    """column.take(order), dictionary-encoded with values in order of first appearance (as
    Arrow's dictionary_encode gives), computed on int codes instead of strings."""
    values, codes = distinct(column)
    taken = codes[order]
    present = taken >= 0
    used, first = np.unique(taken[present], return_index=True)
    by_first = used[np.argsort(first, kind="stable")]
    remap = np.full(max(len(values), 1), -1, dtype=np.int32)
    remap[by_first] = np.arange(len(by_first), dtype=np.int32)
    indices = np.where(present, remap[taken], 0).astype(np.int32)
    indices = pa.array(indices, mask=None if present.all() else ~present)
    return pa.DictionaryArray.from_arrays(indices, values.take(pa.array(by_first)))


def sorted_codes(values: list[str], codes: Array) -> tuple[list[str], Array]:
    """Renumber codes so names are in sorted order (stable manifests across batch orders)."""
    names = sorted(values)
    remap = np.zeros(max(len(values), 1), dtype=np.uint8)
    for old, name in enumerate(values):
        remap[old] = names.index(name)
    return names, remap[codes] if len(codes) else codes


@dataclass
class EdgeArrays:
    """Edges resolved to node rows (row i of the node table), ready for `assemble_snapshot`.

    `quantity` and `event_id` are per-part columns (an int is an all-null part of that length),
    `source` codes index `source_names`. `retracted_at` (int64, `NEVER` = not retracted) is
    given for edges that carry a retraction history (compaction); a build from files has none.
    """

    src: Array
    dst: Array
    kind: Array
    kind_names: list[str]
    event_time: Array
    recorded_at: Array
    quantity: list[pa.Array | int]
    event_id: list[pa.Array | int]
    source: Array
    source_names: list[str]
    source_row: Array
    retracted_at: Array | None = None
    ended_at: Array | None = None

    def release(self) -> tuple[Array, Array, Array, Array, Array]:
        """Hand over (src, dst, kind, event_time, recorded_at) and drop them from here, so a
        consumer can free each once used (at 10M units they are gigabytes)."""
        taken = (self.src, self.dst, self.kind, self.event_time, self.recorded_at)
        empty = np.zeros(0, dtype=np.int64)
        self.src = self.dst = self.kind = self.event_time = self.recorded_at = empty
        return taken


def take_parts(parts: list[pa.Array | int], dtype: pa.DataType, order: pa.Array) -> pa.Array:
    """Concatenate per-batch columns and reorder; an all-null column stays a cheap null run."""
    if all(isinstance(p, int) for p in parts):
        return pa.nulls(len(order), dtype)
    arrays = [pa.nulls(p, dtype) if isinstance(p, int) else p.cast(dtype) for p in parts]
    return pa.concat_arrays(arrays).take(order)


def other_event(parts: list[pa.Array | int], repeats: Array, targets: Array) -> Array:
    """True where the edge at input position repeats[i] came from another event_id than the
    edge at targets[i] (null equals null)."""
    if all(isinstance(p, int) for p in parts):
        return np.zeros(len(repeats), dtype=np.bool_)
    ids = pa.concat_arrays([pa.nulls(p, pa.string()) if isinstance(p, int)
                            else p.cast(pa.string()) for p in parts])
    mine, theirs = ids.take(pa.array(repeats)), ids.take(pa.array(targets))
    same = pc.fill_null(pc.equal(mine, theirs), False)
    both_null = pc.and_(pc.is_null(mine), pc.is_null(theirs))
    return ~np.asarray(pc.or_(same, both_null).to_numpy(zero_copy_only=False), dtype=np.bool_)
