"""One batch of edge rows, validated and resolved to node rows: the build's unit of work.

`resolve_batch` runs on the build's reader threads. A typed Parquet batch is checked on its
Arrow columns (`loaders.typed_edges`) and only the rows that fail a check or do not resolve
go through polars, for the reasons; any other batch is validated whole by `validate_edges`.
Both ways give the same rows, ids and rejects (tests/test_edge_batch.py compares them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from domain.errors import InvalidInput
from domain.time import NO_TIME
from loaders.canonical import no_rejects, validate_edges
from loaders.edge_files import RawEdges, validate_raw_edges
from loaders.typed import typed_edges

__all__ = ["NO_TIME", "KeyResolver", "ResolvedEdges", "resolve_batch"]

Array = npt.NDArray[Any]

"""Kernel sentinel for an edge with no event time (Arrow null in edges.arrow)."""



class KeyResolver(Protocol):
    """Maps node keys to node rows, e.g. `index.key_table.KeyTable`."""

    def resolve(self, column: pa.ChunkedArray | pa.Array) -> Array:
        """int32 node rows of the keys in `column`, -1 where null or unknown."""
        ...


@dataclass
class ResolvedEdges:
    """The valid rows of one batch as arrays, in input order, plus the batch's rejects.

    `src`/`dst` are node rows (int32), `kind` codes into `kind_names` (the batch's own
    names; some may be unused), times UTC microseconds (`NO_TIME` for no event time),
    `quantity`/`event_id` an Arrow column or, when all null, its length. `rows` are 1-based
    data rows of `path`; `read_rows` counts every row read, rejected ones included."""

    src: Array
    dst: Array
    kind: Array
    kind_names: list[str]
    event_time: Array
    recorded_at: Array
    quantity: pa.Array | int
    event_id: pa.Array | int
    path: str
    rows: Array
    read_rows: int
    rejects: pl.DataFrame
    ignored: dict[str, list[str]] = field(default_factory=dict)


def resolve_batch(raw: RawEdges, loaded_at: datetime, keys: KeyResolver) -> ResolvedEdges:
    """Validate one batch as read and resolve its keys with `keys.resolve`; rows that fail a
    check, name an unknown node or loop on one node are rejected with the reason."""
    if isinstance(raw.table, pa.Table):
        fast = _from_typed(raw, raw.table, loaded_at, keys)
        if fast is not None:
            return fast
    return _from_validated(raw, loaded_at, keys)


def _from_typed(raw: RawEdges, table: pa.Table, loaded_at: datetime,
                keys: KeyResolver) -> ResolvedEdges | None:
    typed = typed_edges(table, loaded_at, NO_TIME)
    if typed is None:
        return None
    src, dst = keys.resolve(typed.src), keys.resolve(typed.dst)
    bad = typed.failed | (src < 0) | (dst < 0) | (src == dst)
    rejects = no_rejects()
    any_bad = bool(bad.any())
    if any_bad:
        # The few bad rows go through validate_edges for their reasons; each must fail there
        # or on its keys. One that passes both means the typed checks and validate_edges
        # disagree: validate the whole batch instead (never expected; safe if it happens).
        positions = np.flatnonzero(bad)
        frame = pl.from_arrow(table.take(pa.array(positions)))
        assert isinstance(frame, pl.DataFrame)
        frame = frame.with_columns(
            pl.Series("__row", positions + raw.first_row, dtype=pl.Int64),
            pl.lit(raw.path).alias("__file"))
        checked = validate_edges(frame, raw.path, loaded_at)
        passed = checked.table["__row"].to_numpy() - raw.first_row
        s, d = src[passed], dst[passed]
        if ((s >= 0) & (d >= 0) & (s != d)).any():
            return None
        rejects = pl.concat([checked.rejects, _resolve_rejects(checked.table, s >= 0, d >= 0)],
                            how="vertical_relaxed")
    keep = ~bad if any_bad else None
    mask = None if keep is None else pa.array(keep)

    def kept(values: Array) -> Array:
        return values if keep is None else values[keep]

    def kept_arrow(values: pa.Array) -> pa.Array | int:
        values = values if mask is None else values.filter(mask)
        return len(values) if values.null_count == len(values) else values

    rows = np.arange(raw.first_row, raw.first_row + table.num_rows, dtype=np.int64)
    return ResolvedEdges(
        src=kept(src), dst=kept(dst), kind=kept(typed.kind),
        kind_names=[name or "" for name in typed.kind_names],  # a null name has no rows left
        event_time=kept(typed.event_time), recorded_at=kept(typed.recorded_at),
        quantity=kept_arrow(typed.quantity), event_id=kept_arrow(typed.event_id),
        path=raw.path, rows=kept(rows), read_rows=table.num_rows, rejects=rejects,
        ignored={raw.path: typed.ignored} if typed.ignored else {},
    )


def _from_validated(raw: RawEdges, loaded_at: datetime, keys: KeyResolver) -> ResolvedEdges:
    loaded = validate_raw_edges(raw, loaded_at)
    frame = loaded.table
    if isinstance(raw.table, pa.Table):
        # Resolve from Arrow as read (dictionary key columns resolve once per key), then
        # pick the valid rows.
        rows = (frame["__row"].to_numpy() - raw.first_row).astype(np.int64)
        src, dst = keys.resolve(raw.table["src"])[rows], keys.resolve(raw.table["dst"])[rows]
    else:
        src, dst = keys.resolve(frame["src"].to_arrow()), keys.resolve(frame["dst"].to_arrow())
    rejects = [loaded.rejects]
    bad = (src < 0) | (dst < 0) | (src == dst)
    if bad.any():
        rejects.append(_resolve_rejects(frame.filter(pl.Series(bad)), src[bad] >= 0,
                                        dst[bad] >= 0))
        keep = ~bad
        frame, src, dst = frame.filter(pl.Series(keep)), src[keep], dst[keep]
    kind_names = frame["kind"].unique().to_list()
    if len(kind_names) > 255:
        raise InvalidInput("more than 255 distinct edge kinds")
    times = frame.select(_epoch_us("event_time"), _epoch_us("recorded_at"))
    return ResolvedEdges(
        src=src, dst=dst,
        kind=frame["kind"].replace_strict({name: i for i, name in enumerate(kind_names)},
                                          return_dtype=pl.UInt8).to_numpy(),
        kind_names=kind_names,
        event_time=times["event_time"].to_numpy(), recorded_at=times["recorded_at"].to_numpy(),
        quantity=_compact(frame["quantity"]), event_id=_compact(frame["event_id"]),
        path=raw.path, rows=frame["__row"].to_numpy(), read_rows=len(raw.table),
        rejects=pl.concat(rejects, how="vertical_relaxed"),
        ignored=loaded.ignored_columns,
    )


def _epoch_us(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("us").fill_null(NO_TIME)


def _compact(column: pl.Series) -> pa.Array | int:
    return len(column) if column.null_count() == len(column) else column.to_arrow()


def _resolve_rejects(frame: pl.DataFrame, src_known: Array, dst_known: Array) -> pl.DataFrame:
    """Rejects for validated rows whose keys did not resolve (or that loop on one node),
    saying which end and why."""
    spaced = r"\s|[\x00-\x1f]"

    def why(end: str, label: str) -> pl.Expr:
        return (pl.when(pl.col(end).str.contains(spaced))
                .then(pl.lit(f"{label} key contains whitespace or a control character"))
                .otherwise(pl.format(f"unknown node {{}}: {label} key is not in the node table",
                                     pl.col(end))))

    frame = frame.with_columns(pl.Series("__src_known", src_known),
                               pl.Series("__dst_known", dst_known))
    field = (pl.when(~pl.col("__src_known")).then(pl.lit("src"))
             .when(~pl.col("__dst_known")).then(pl.lit("dst")).otherwise(pl.lit("dst")))
    reason = (pl.when(~pl.col("__src_known")).then(why("src", "source"))
              .when(~pl.col("__dst_known")).then(why("dst", "destination"))
              .otherwise(pl.lit("self-loop: source and destination are the same node")))
    record_columns = ["src", "dst", "kind", "event_time", "recorded_at", "quantity", "event_id"]
    return frame.select(
        pl.lit("edges").alias("table"),
        pl.col("__file").alias("file"),
        pl.col("__row").alias("row"),
        field.alias("field"),
        reason.alias("reason"),
        pl.struct([pl.col(c).cast(pl.String) for c in record_columns]).struct.json_encode()
        .alias("record"),
    )
