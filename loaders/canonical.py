"""Read canonical node and edge tables from Parquet or CSV and validate them row by row.

Validation never drops a row silently: a row that fails a check goes to the rejects table
(`REJECTS_SCHEMA`) with its file, 1-based data row (the CSV header is not counted), the field at
fault, the reason and the row itself as JSON. A file that lacks a required column, or cannot be
read at all, is an `InvalidInput` for the whole file.

Times: timestamps in Parquet are taken as they are (naive ones as UTC); text times are ISO 8601
(`2025-03-01T08:15:00Z`, with an offset, with a space instead of `T`, or a bare date), naive ones
as UTC. `recorded_at` defaults to the load time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from domain.errors import InvalidInput
from domain.knobs import MAX_KEY_BYTES
from domain.schemas import EDGES_SCHEMA, NODES_SCHEMA, REJECTS_SCHEMA

__all__ = [
    "FUTURE_SLACK",
    "KIND_PATTERN",
    "MAX_KEY_BYTES",
    "NODE_ATTRIBUTES",
    "Loaded",
    "fold_repeated_keys",
    "load_nodes",
    "no_rejects",
    "read_frame",
    "validate_edges",
    "validate_nodes",
]

_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d",
)
KIND_PATTERN = r"^[a-z][a-z0-9_]*$"
"""Node and edge kinds: lower-case letters, digits and '_' (polars regex)."""
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
"""How far past the load time an event or record time may be (a clock a little ahead)."""
_ROW = "__row"
_FILE = "__file"
_FIELD = "__field"
_REASON = "__reason"


@dataclass
class Loaded:
    """Validated rows of one table kind plus everything that was rejected or folded."""

    table: pl.DataFrame
    rejects: pl.DataFrame
    folded: int = 0
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)


def read_frame(path: Path) -> pl.DataFrame:
    """Read a Parquet or CSV file; CSV columns arrive as text so that validation sees raw values."""
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pl.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".txt")):
            return pl.read_csv(path, infer_schema=False, null_values=[""])
    except FileNotFoundError as e:
        raise InvalidInput(f"{path}: no such file") from e
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InvalidInput(f"{path}: cannot read: {e}") from e
    raise InvalidInput(f"{path}: unknown file type (expected .parquet or .csv)")


def no_rejects() -> pl.DataFrame:
    """An empty rejects table (REJECTS_SCHEMA), to concatenate others onto."""
    empty = pl.from_arrow(REJECTS_SCHEMA.empty_table())
    assert isinstance(empty, pl.DataFrame)
    return empty


def _rejects_frame(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    raw_columns = [c for c in frame.columns if not c.startswith("__")]
    record = pl.struct([pl.col(c).cast(pl.String) for c in raw_columns]).struct.json_encode()
    return frame.select(
        pl.lit(table).alias("table"),
        pl.col(_FILE).alias("file"),
        pl.col(_ROW).cast(pl.Int64).alias("row"),
        pl.col(_FIELD).alias("field"),
        pl.col(_REASON).alias("reason"),
        record.alias("record"),
    )


def _parse_time(column: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.cast_time_unit("us").dt.replace_time_zone("UTC")
        return col.dt.cast_time_unit("us").dt.convert_time_zone("UTC")
    if isinstance(dtype, pl.Date):
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype == pl.String:
        text = col.str.strip_chars()
        return pl.coalesce(
            [text.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC")
             for f in _TIME_FORMATS]
        )
    return pl.lit(None, dtype=pl.Datetime("us", "UTC"))  # any other type cannot be a time


def _checks(frame: pl.DataFrame, checks: Sequence[tuple[str, pl.Expr, str]]) -> pl.DataFrame:
    """Attach the first failing (field, reason) per row; rows with none pass."""
    failed_any = pl.any_horizontal([failed for _, failed, _ in checks]).fill_null(False).any()
    if not frame.select(failed_any).item():
        # The common case, a clean batch: one pass over the checks instead of a chain of
        # conditionals per check and column. (A null check counts as passed, as in `when`.)
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias(_FIELD),
                                  pl.lit(None, dtype=pl.String).alias(_REASON))
    field_expr: pl.Expr = pl.lit(None, dtype=pl.String)
    reason_expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for name, failed, reason in reversed(checks):
        field_expr = pl.when(failed).then(pl.lit(name)).otherwise(field_expr)
        reason_expr = pl.when(failed).then(pl.lit(reason)).otherwise(reason_expr)
    return frame.with_columns(field_expr.alias(_FIELD), reason_expr.alias(_REASON))


def _partition(checked: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows that passed, rows that failed) of a `_checks` result; a clean batch is not
    copied."""
    if checked[_REASON].null_count() == checked.height:
        return checked, checked.head(0)
    return (checked.filter(pl.col(_REASON).is_null()),
            checked.filter(pl.col(_REASON).is_not_null()))


def _require(frame: pl.DataFrame, path: str, required: Iterable[str], table: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{path}: {table} file lacks required column(s) {', '.join(missing)} "
            f"(it has: {', '.join(frame.columns) or 'none'})"
        )


def _key_checks(name: str, label: str) -> list[tuple[str, pl.Expr, str]]:
    text = pl.col(name)
    return [
        (name, text.is_null() | (text.str.len_chars() == 0), f"missing {label}"),
        (name, text.str.len_bytes() > MAX_KEY_BYTES,
         f"{label} is longer than {MAX_KEY_BYTES} bytes"),
        (name, text.str.contains(r"\s|[\x00-\x1f\x7f]"), f"{label} contains whitespace or a "
         "control character"),
    ]


def _finite(column: str) -> tuple[str, pl.Expr, str]:
    return (column, pl.col(f"__{column}").is_nan() | pl.col(f"__{column}").is_infinite(),
            f"{column} is not a finite number")


def _text_columns(frame: pl.DataFrame, path: str, columns: Sequence[str]) -> None:
    """Keys, kinds and ids must arrive as text (or whole numbers, which read as their digits):
    a float, struct or list column would be stored as "1.0" or "{1}" (a key nobody can find),
    so the whole table is refused, naming the column."""
    for name in columns:
        dtype = frame.schema.get(name)
        if dtype is not None and not (dtype in (pl.String, pl.Categorical, pl.Null)
                                      or isinstance(dtype, pl.Enum) or dtype.is_integer()):
            raise InvalidInput(f"{path}: column {name} is {dtype}; it must be text (utf8) "
                               "or whole numbers")


def _optional_columns(
    frame: pl.DataFrame, schema: pa.Schema, path: str, first_row: int = 1
) -> tuple[pl.DataFrame, list[str]]:
    known = set(schema.names) | {_ROW, _FILE}
    ignored = [c for c in frame.columns if c not in known]
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in schema.names
               if c not in frame.columns]
    frame = frame.drop(ignored).with_columns(missing) if missing or ignored else frame
    if _ROW in frame.columns and _FILE in frame.columns:
        return frame, ignored  # already numbered by the caller (ingest batches of a group)
    return frame.with_columns(
        pl.int_range(first_row, pl.len() + first_row, dtype=pl.Int64).alias(_ROW),
        pl.lit(path).alias(_FILE)
    ), ignored


def validate_nodes(frame: pl.DataFrame, path: str) -> Loaded:
    """Validate one node file's rows; duplicates are folded or rejected across the frame."""
    _require(frame, path, ("key", "kind"), "nodes")
    _text_columns(frame, path, ("key", "kind", "product", "uom"))
    frame, ignored = _optional_columns(frame, NODES_SCHEMA, path)
    frame = frame.with_columns(
        pl.col("key").cast(pl.String), pl.col("kind").cast(pl.String),
        pl.col("product").cast(pl.String), pl.col("uom").cast(pl.String),
    )
    dtypes = frame.schema
    parsed = frame.with_columns(
        pl.col("quantity").cast(pl.Float64, strict=False).alias("__quantity"),
        _parse_time("created_at", dtypes["created_at"]).alias("__created_at"),
    )
    checks = [
        *_key_checks("key", "key"),
        ("kind", pl.col("kind").is_null(), "missing kind"),
        ("kind", ~pl.col("kind").str.contains(KIND_PATTERN),
         "kind must be lower-case letters, digits and '_' (for example 'lot')"),
        ("quantity", pl.col("quantity").is_not_null() & pl.col("__quantity").is_null(),
         "quantity is not a number"),
        _finite("quantity"),
        ("quantity", pl.col("__quantity") < 0, "quantity is negative"),
        ("created_at", pl.col("created_at").is_not_null() & pl.col("__created_at").is_null(),
         "created_at is not a timestamp (ISO 8601 expected)"),
        ("created_at", pl.col("__created_at") < _EARLIEST, "created_at is before 1970"),
        ("created_at", pl.col("__created_at") > datetime.now(UTC) + FUTURE_SLACK,
         "created_at is in the future"),
    ]
    checked = _checks(parsed, checks)
    good, bad = _partition(checked)
    good = good.select(
        "key", "kind", "product", pl.col("__quantity").alias("quantity"), "uom",
        pl.col("__created_at").alias("created_at"), _ROW, _FILE,
    )
    return Loaded(good, _rejects_frame(bad, "nodes"), 0, {path: ignored} if ignored else {})


def validate_edges(frame: pl.DataFrame, path: str, loaded_at: datetime,
                   first_row: int = 1) -> Loaded:
    """Validate a batch of one edge file's rows (numbered from `first_row`). Checks that need
    the node table (unknown keys, self-loops) happen at resolve time: see `index.build`."""
    _require(frame, path, ("src", "dst", "kind"), "edges")
    _text_columns(frame, path, ("src", "dst", "kind", "event_id"))
    frame, ignored = _optional_columns(frame, EDGES_SCHEMA, path, first_row)
    frame = frame.with_columns(
        pl.col("src").cast(pl.String), pl.col("dst").cast(pl.String),
        pl.col("kind").cast(pl.String), pl.col("event_id").cast(pl.String),
    )
    dtypes = frame.schema
    latest = loaded_at + FUTURE_SLACK
    parsed = frame.with_columns(
        _parse_time("event_time", dtypes["event_time"]).alias("__event_time"),
        _parse_time("recorded_at", dtypes["recorded_at"]).alias("__recorded_at"),
        pl.col("quantity").cast(pl.Float64, strict=False).alias("__quantity"),
    )
    checks = [
        ("src", pl.col("src").is_null() | (pl.col("src").str.len_bytes() == 0),
         "missing source key"),
        ("dst", pl.col("dst").is_null() | (pl.col("dst").str.len_bytes() == 0),
         "missing destination key"),
        ("src", pl.col("src").str.len_bytes() > MAX_KEY_BYTES,
         f"source key is longer than {MAX_KEY_BYTES} bytes"),
        ("dst", pl.col("dst").str.len_bytes() > MAX_KEY_BYTES,
         f"destination key is longer than {MAX_KEY_BYTES} bytes"),
        ("event_id", pl.col("event_id").str.len_bytes() > MAX_KEY_BYTES,
         f"event_id is longer than {MAX_KEY_BYTES} bytes"),
        ("kind", pl.col("kind").is_null(), "missing kind"),
        ("kind", ~pl.col("kind").str.contains(KIND_PATTERN),
         "kind must be lower-case letters, digits and '_' (for example 'consumed')"),
        ("event_time", pl.col("event_time").is_not_null() & pl.col("__event_time").is_null(),
         "event_time is not a timestamp (ISO 8601 expected)"),
        ("event_time", pl.col("__event_time") < _EARLIEST, "event_time is before 1970"),
        ("event_time", pl.col("__event_time") > latest, "event_time is in the future"),
        ("recorded_at", pl.col("recorded_at").is_not_null() & pl.col("__recorded_at").is_null(),
         "recorded_at is not a timestamp (ISO 8601 expected)"),
        ("recorded_at", pl.col("__recorded_at") > latest, "recorded_at is in the future"),
        ("quantity", pl.col("quantity").is_not_null() & pl.col("__quantity").is_null(),
         "quantity is not a number"),
        _finite("quantity"),
        # A negative edge quantity is a reversal or a return (SAP 102/262/602 against
        # 101/261/601): it is kept, and nets against the posting it reverses.
    ]
    checked = _checks(parsed, checks)
    good, bad = _partition(checked)
    good = good.select(
        "src", "dst", "kind", pl.col("__event_time").alias("event_time"),
        pl.col("__recorded_at").fill_null(pl.lit(loaded_at).dt.cast_time_unit("us"))
        .dt.convert_time_zone("UTC").alias("recorded_at"),
        pl.col("__quantity").alias("quantity"), "event_id", _ROW, _FILE,
    )
    return Loaded(good, _rejects_frame(bad, "edges"), 0, {path: ignored} if ignored else {})


def _concat(parts: list[Loaded]) -> Loaded:
    ignored: dict[str, list[str]] = {}
    for part in parts:
        ignored.update(part.ignored_columns)
    return Loaded(
        pl.concat([p.table for p in parts], how="vertical"),
        pl.concat([p.rejects for p in parts], how="vertical"),
        sum(p.folded for p in parts),
        ignored,
    )


def load_nodes(paths: Sequence[Path]) -> Loaded:
    """Read and validate node files. A key defined twice with identical attributes is folded;
    with different attributes the later row is rejected, naming the first definition."""
    if not paths:
        raise InvalidInput("no node file given")
    loaded = _concat([validate_nodes(read_frame(p), str(p)) for p in paths])
    table = loaded.table
    # Equal keys have equal hashes: when no two hashes are equal, no key repeats and the exact
    # (and at millions of keys, ten times slower) search for repeats below can be skipped.
    hashes = np.sort(table["key"].hash().to_numpy())
    if not (hashes[1:] == hashes[:-1]).any():
        return loaded
    kept, rejects, folded = fold_repeated_keys(
        table.with_columns(pl.int_range(pl.len()).alias(_POS)))
    return Loaded(kept.drop(_POS), pl.concat([loaded.rejects, rejects], how="vertical"),
                  folded, loaded.ignored_columns)


_POS = "__pos"
NODE_ATTRIBUTES = ("key", "kind", "product", "quantity", "uom", "created_at")


def fold_repeated_keys(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """(kept rows, rejects, rows folded) of validated node rows (NODE_ATTRIBUTES, `__row`,
    `__file`, and `__pos` giving their order). The first row of a key is kept; a later row
    with the same attributes is folded, one with different attributes rejected, naming the
    first definition. Rejects come in `__pos` order."""
    first = frame.with_columns(pl.col(_POS).min().over("key").alias("__first"))
    repeats = first.filter(pl.col(_POS) != pl.col("__first"))
    kept = first.filter(pl.col(_POS) == pl.col("__first")).drop("__first")
    if repeats.height == 0:
        return kept, no_rejects(), 0
    joined = repeats.join(kept, on="key", suffix="__orig").sort(_POS)
    same = pl.all_horizontal(
        [pl.col(c).eq_missing(pl.col(f"{c}__orig")) for c in NODE_ATTRIBUTES if c != "key"]
    )
    conflicting = joined.filter(~same)
    reason = pl.format(
        "duplicate key with different attributes; first defined in {} row {}",
        pl.col(f"{_FILE}__orig"), pl.col(f"{_ROW}__orig"),
    )
    rejects = conflicting.select(
        pl.lit("nodes").alias("table"), pl.col(_FILE).alias("file"), pl.col(_ROW).alias("row"),
        pl.lit("key").alias("field"), reason.alias("reason"),
        pl.struct([pl.col(c).cast(pl.String) for c in NODE_ATTRIBUTES]).struct.json_encode()
        .alias("record"),
    )
    return kept, rejects, joined.height - conflicting.height
