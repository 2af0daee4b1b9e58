"""The generator's building blocks (loaders.synthetic): node and edge groups kept in id form
as generated, the vectorised helpers that format keys and GTINs, rank and group ids, and the
node table they become. No Python loop runs per unit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from domain.schemas import EDGES_SCHEMA, NODES_SCHEMA

__all__ = ["US_PER_DAY", "US_PER_HOUR", "EdgeGroups", "NodeGroups", "dense", "first_time",
           "format_keys", "group_rank", "gtin_item", "gtins", "nodes_table", "repeat_labels"]

I64 = npt.NDArray[np.int64]
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR


@dataclass
class NodeGroups:
    keys: list[pa.Array] = field(default_factory=list)
    kinds: list[tuple[str, int]] = field(default_factory=list)
    products: list[pa.Array] = field(default_factory=list)
    quantities: list[npt.NDArray[np.float64]] = field(default_factory=list)
    uoms: list[tuple[str, int]] = field(default_factory=list)
    created: list[I64] = field(default_factory=list)
    count: int = 0

    def add(
        self,
        keys: pa.Array,
        kind: str,
        created: I64,
        product: pa.Array | None = None,
        quantity: npt.NDArray[np.float64] | None = None,
        uom: str = "EA",
    ) -> I64:
        """Append a group of nodes; return their ids (contiguous, in generation order)."""
        n = len(keys)
        ids = np.arange(self.count, self.count + n, dtype=np.int64)
        self.keys.append(keys)
        self.kinds.append((kind, n))
        self.products.append(product if product is not None else pa.nulls(n, pa.string()))
        self.quantities.append(quantity if quantity is not None else np.ones(n))
        self.uoms.append((uom, n))
        self.created.append(created.astype(np.int64))
        self.count += n
        return ids


@dataclass
class EdgeGroups:
    """Edge groups in id form (int32 ids: half the memory at 10M units), kept as generated;
    `batches` turns them into tables a slice at a time, so no whole-table copy is ever made."""

    src: list[npt.NDArray[np.int32]] = field(default_factory=list)
    dst: list[npt.NDArray[np.int32]] = field(default_factory=list)
    kinds: list[tuple[str, int]] = field(default_factory=list)
    times: list[I64] = field(default_factory=list)

    def add(self, src: I64, dst: I64, kind: str, time: I64) -> None:
        n = len(src)
        self.src.append(np.asarray(src, dtype=np.int32))
        self.dst.append(np.broadcast_to(np.asarray(dst, dtype=np.int32), (n,)).copy())
        self.kinds.append((kind, n))
        self.times.append(np.broadcast_to(np.asarray(time, dtype=np.int64), (n,)).copy())

    @property
    def count(self) -> int:
        return sum(n for _, n in self.kinds)

    def batches(self, rng: np.random.Generator, rows: int, *,
                release: bool = False) -> Iterator[pa.Table]:
        """Id-form edge tables of at most `rows` rows, in generation order. recorded_at is
        drawn group by group from `rng`, so every consumer sees the same values. With
        `release`, each group is dropped once emitted (bounded memory while writing)."""
        ts = EDGES_SCHEMA.field("event_time").type
        labels = sorted({k for k, _ in self.kinds})
        kind_names = pa.array(labels, pa.string())
        for index in range(len(self.kinds)):
            kind, n = self.kinds[index]
            src, dst, times = self.src[index], self.dst[index], self.times[index]
            # Learned minutes to hours after the fact, as MES and ERP postings are.
            recorded = times + rng.integers(60_000_000, 6 * US_PER_HOUR, n)
            code = np.full(n, labels.index(kind), dtype=np.int32)
            for start in range(0, n, rows):
                part = slice(start, start + rows)
                yield pa.table({
                    "src": pa.array(src[part]),
                    "dst": pa.array(dst[part]),
                    "kind": pa.DictionaryArray.from_arrays(pa.array(code[part]), kind_names),
                    "event_time": pa.array(times[part]).cast(ts),
                    "recorded_at": pa.array(recorded[part]).cast(ts),
                })
            if release:
                self.src[index] = self.dst[index] = _NO_IDS
                self.times[index] = _NO_TIMES


_NO_IDS = np.zeros(0, dtype=np.int32)
_NO_TIMES = np.zeros(0, dtype=np.int64)


def format_keys(template: str, *columns: npt.ArrayLike, widths: tuple[int, ...] = ()) -> pa.Array:
    """Format keys from integer columns, zero-padding column i to widths[i] (0: no padding)."""
    exprs = []
    frame = pl.DataFrame({f"c{i}": np.asarray(c) for i, c in enumerate(columns)})
    for i in range(len(columns)):
        expr = pl.col(f"c{i}").cast(pl.String)
        if i < len(widths) and widths[i]:
            expr = expr.str.zfill(widths[i])
        exprs.append(expr)
    out = frame.select(pl.format(template, *exprs).alias("k"))["k"].to_arrow()
    return pa.array(out).cast(pa.large_string())


def group_rank(group: I64, order_key: I64) -> tuple[I64, I64]:
    """For items in groups, each item's 0-based rank within its group by `order_key`.

    Returns (rank, sort order). Items are ranked stably by (group, order_key).
    """
    order = np.lexsort((order_key, group))
    sorted_group = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - run_start
    return rank, order


def dense(groups: I64) -> tuple[I64, int]:
    """Renumber arbitrary group labels to 0..k-1 in order of first label value."""
    uniq, inverse = np.unique(groups, return_inverse=True)
    return inverse.astype(np.int64), len(uniq)


def first_time(index: I64, times: I64, size: int) -> I64:
    """Earliest time per group (groups 0..size-1); groups with no member get int64 max."""
    out = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, index, times)
    return out


def gtin_item(part: I64) -> I64:
    return 100000 + part  # indicator digit 1 + five-digit item reference


def gtins(company: str, item: I64) -> pa.Array:
    """The GTIN-14 of each EPC item reference (indicator digit + item number) under a 7-digit
    company prefix, with its check digit: the `product` of a node is its key's GTIN."""
    item = np.asarray(item, dtype=np.int64)
    body = (item // 100_000) * 10**12 + int(company) * 100_000 + item % 100_000  # 13 digits
    total = np.zeros(len(body), dtype=np.int64)
    rest = body.copy()
    for position in range(13):  # from the right: weights 3, 1, 3, ...
        total += (rest % 10) * (3 if position % 2 == 0 else 1)
        rest //= 10
    return format_keys("{}{}", body, (10 - total % 10) % 10, widths=(13, 0))


def repeat_labels(runs: list[tuple[str, int]]) -> pa.DictionaryArray:
    """Runs of (label, count) as a dictionary array, without materialising millions of strings."""
    labels = sorted({label for label, _ in runs})
    codes = np.repeat([labels.index(label) for label, _ in runs], [n for _, n in runs])
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(labels))


def nodes_table(nodes: NodeGroups) -> pa.Table:
    kinds = repeat_labels(nodes.kinds)
    uoms = repeat_labels(nodes.uoms)
    created = pa.array(np.concatenate(nodes.created), type=pa.int64()).cast(NODES_SCHEMA.field(
        "created_at").type)
    return pa.Table.from_arrays(
        [
            pa.concat_arrays(nodes.keys),
            kinds.cast(pa.string()),
            pa.concat_arrays([p.cast(pa.string()) for p in nodes.products]),
            pa.array(np.concatenate(nodes.quantities)),
            uoms.cast(pa.string()),
            created,
        ],
        schema=NODES_SCHEMA,
    )
