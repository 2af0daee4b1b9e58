"""The row checks of `validate_edges` and `validate_nodes`, applied straight to typed Arrow.

A Parquet file written with the canonical types (string keys and kinds, microsecond
timestamps, float64 quantities) needs no parsing: every check is then a comparison on the
stored values. Done here on the Arrow buffers, it costs a few numpy passes instead of a polars
frame, a row of conditionals per check and the conversions back (half the build time of a
large file went there). The result marks the rows to look at: for edges exactly the rows
`validate_edges` rejects, for nodes a superset (a key with a non-ASCII byte might hold Unicode
whitespace). It does not say why: the caller runs those few rows through the validator for the
verdict and the reasons. Any other column type (CSV text, other units, integer quantities, ...)
gets None here and the caller validates the whole batch the usual way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from domain import kernel_cache  # noqa: F401 - before any kernel: the cache directory
from domain.schemas import EDGES_SCHEMA, NODES_SCHEMA
from loaders.canonical import FUTURE_SLACK, KIND_PATTERN, MAX_KEY_BYTES

__all__ = ["TypedEdges", "TypedNodes", "typed_edges", "typed_nodes"]

Array = npt.NDArray[Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class TypedEdges:
    """One batch's columns, converted; `failed` marks the rows a check rejects.

    `kind` holds codes into `kind_names` (-1 for a null kind); `event_time` and `recorded_at`
    are UTC microseconds, a missing event time is `missing_time` and a missing record time the
    load time (as `validate_edges` fills it)."""

    src: pa.Array
    dst: pa.Array
    kind: Array
    kind_names: list[str | None]
    event_time: Array
    recorded_at: Array
    quantity: pa.Array
    event_id: pa.Array
    failed: Array
    ignored: list[str]


def typed_edges(table: pa.Table, loaded_at: datetime, missing_time: int) -> TypedEdges | None:
    """The batch's columns and the rows `validate_edges` rejects, or None when a column's type
    is one this does not cover exactly (the caller then runs `validate_edges`)."""
    names = table.column_names
    if any(name.startswith("__") for name in names) or not {"src", "dst", "kind"} <= set(names):
        return None  # reserved names and missing columns: `validate_edges` says what is wrong
    columns = {name: _one_chunk(table.column(name)) for name in EDGES_SCHEMA.names
               if name in names}
    n = table.num_rows
    if not all(_is_text(columns[name].type) for name in ("src", "dst", "kind")):
        return None
    latest = _microseconds(loaded_at + FUTURE_SLACK)
    failed = np.zeros(n, dtype=np.bool_)

    kind_names, kind = _kind_codes(columns["kind"])
    failed |= _bad_kinds(kind_names, kind)

    event_time = _times(columns.get("event_time"), n, missing_time)
    recorded_at = _times(columns.get("recorded_at"), n, _microseconds(loaded_at))
    quantity = columns.get("quantity", pa.nulls(n, pa.float64()))
    event_id = columns.get("event_id", pa.nulls(n, pa.string()))
    if (event_time is None or recorded_at is None
            or quantity.type not in (pa.float64(), pa.null())
            or not (_is_plain_text(event_id.type) or event_id.type == pa.null())):
        return None
    event_values, event_known = event_time
    failed |= event_known & ((event_values < 0) | (event_values > latest))
    recorded_values, recorded_known = recorded_at
    failed |= recorded_known & (recorded_values > latest)
    if quantity.type == pa.float64() and quantity.null_count < n:
        failed |= _bad_quantities(quantity, negative_ok=True)
    for text in (columns["src"], columns["dst"], event_id):
        if text.type != pa.null():
            failed |= _too_long(text)

    return TypedEdges(
        src=columns["src"], dst=columns["dst"], kind=kind, kind_names=kind_names,
        event_time=event_values, recorded_at=recorded_values,
        quantity=quantity, event_id=event_id, failed=failed,
        ignored=[name for name in names if name not in EDGES_SCHEMA.names],
    )


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array; zero-copy when it is one chunk already (combine_chunks would
    copy it: gigabytes for the keys of tens of millions of nodes)."""
    if column.num_chunks == 1:
        return column.chunk(0)
    return column.combine_chunks()


def _is_plain_text(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_string(dtype) or pa.types.is_large_string(dtype))


def _is_text(dtype: pa.DataType) -> bool:
    return _is_plain_text(dtype) or (pa.types.is_dictionary(dtype)
                                     and _is_plain_text(dtype.value_type))


def _microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _kind_codes(column: pa.Array) -> tuple[list[str | None], Array]:
    """(distinct names, per-row int32 code into them, -1 where null)."""
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    codes = encoded.indices.cast(pa.int32()).fill_null(-1).to_numpy(zero_copy_only=False)
    return encoded.dictionary.to_pylist(), codes


def _times(column: pa.Array | None, n: int, fill: int) -> tuple[Array, Array] | None:
    """(UTC microseconds with nulls as `fill`, which rows had a value), or None for a type
    other than a microsecond timestamp. A zone-naive timestamp is UTC, as in
    `validate_edges`; Arrow stores zoned ones as UTC already."""
    if column is None or column.type == pa.null():
        return np.full(n, fill, dtype=np.int64), np.zeros(n, dtype=np.bool_)
    if not (pa.types.is_timestamp(column.type) and column.type.unit == "us"):
        return None
    values = column.cast(pa.int64())
    if values.null_count == 0:
        return values.to_numpy(), np.ones(n, dtype=np.bool_)
    known = values.is_valid().to_numpy(zero_copy_only=False)
    return values.fill_null(fill).to_numpy(), known


def _bad_kinds(names: list[str | None], codes: Array) -> Array:
    """Rows whose kind is null or breaks the kind pattern, checked once per distinct kind with
    the validators' own regex engine."""
    allowed = np.append(pl.Series(names, dtype=pl.String).str.contains(KIND_PATTERN)
                        .fill_null(False).to_numpy(), False)
    return ~allowed[codes]  # code -1 (null) reads the trailing False


@dataclass
class TypedNodes:
    """One node file's columns as stored (key as one large_string chunk, kind/product/uom
    plain or dictionary strings, quantity float64, created_at UTC microseconds) and the rows
    to look at (`suspect`): every row `validate_nodes` rejects is among them."""

    table: pa.Table
    suspect: Array
    ignored: list[str]


def typed_nodes(table: pa.Table) -> TypedNodes | None:
    """The node table in the canonical column order and the suspect rows, or None when a
    column's type is not covered (the caller then runs `validate_nodes` on the whole file)."""
    names = table.column_names
    if any(name.startswith("__") for name in names) or not {"key", "kind"} <= set(names):
        return None
    n = table.num_rows
    columns = {name: _one_chunk(table.column(name)) for name in NODES_SCHEMA.names
               if name in names}
    key = columns["key"]
    if not (_is_plain_text(key.type) and _is_text(columns["kind"].type)):
        return None
    for name in ("product", "uom"):
        if name in columns and not (_is_text(columns[name].type)
                                    or columns[name].type == pa.null()):
            return None
    quantity = columns.get("quantity", pa.nulls(n, pa.float64()))
    created = columns.get("created_at", pa.nulls(n, pa.timestamp("us", tz="UTC")))
    if quantity.type not in (pa.float64(), pa.null()) or not (
            created.type == pa.null() or (pa.types.is_timestamp(created.type)
                                          and created.type.unit == "us")):
        return None
    key = key.cast(pa.large_string())
    suspect = _suspect_keys(key)
    kind_names, kind = _kind_codes(columns["kind"])
    suspect |= _bad_kinds(kind_names, kind)
    if quantity.type == pa.float64() and quantity.null_count < n:
        suspect |= _bad_quantities(quantity)
    if created.type != pa.null() and created.null_count < n:
        micros = pc.fill_null(created.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        latest = _microseconds(datetime.now(UTC) + FUTURE_SLACK)
        suspect |= (micros < 0) | (micros > latest)
    ts = pa.timestamp("us", tz="UTC")
    out = pa.table({
        "key": key,
        "kind": _as_dictionary(columns["kind"]),
        "product": _as_dictionary(columns.get("product", pa.nulls(n, pa.string()))),
        "quantity": quantity.cast(pa.float64()),
        "uom": _as_dictionary(columns.get("uom", pa.nulls(n, pa.string()))),
        # A zone-naive timestamp is UTC, as in `validate_nodes` (the stored values are kept).
        "created_at": created.cast(pa.int64()).view(ts) if created.type != pa.null()
        else created.cast(ts),
    })
    return TypedNodes(out, suspect, [name for name in names if name not in NODES_SCHEMA.names])


def _bad_quantities(quantity: pa.Array, *, negative_ok: bool = False) -> Array:
    """NaN or infinite quantities, and negative ones unless `negative_ok` (an edge's: a
    reversal); nulls are fine."""
    bad = pc.invert(pc.is_finite(quantity))
    if not negative_ok:
        bad = pc.or_(pc.less(quantity, 0.0), bad)
    return np.asarray(pc.fill_null(bad, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _too_long(text: pa.Array) -> Array:
    """Values longer than MAX_KEY_BYTES (dictionary columns: by their dictionary)."""
    lengths = pc.binary_length(text.dictionary_decode() if pa.types.is_dictionary(text.type)
                               else text)
    return np.asarray(pc.fill_null(pc.greater(lengths, MAX_KEY_BYTES), False)
                      .to_numpy(zero_copy_only=False), dtype=np.bool_)


def _as_dictionary(column: pa.Array) -> pa.DictionaryArray:
    """A text column as dictionary<int32, string>, one type whatever the file stored."""
    if not pa.types.is_dictionary(column.type):
        column = column.cast(pa.string()).dictionary_encode()
    return pa.DictionaryArray.from_arrays(column.indices.cast(pa.int32()),
                                          column.dictionary.cast(pa.string()))


def _suspect_keys(keys: pa.Array) -> Array:
    """Rows whose key is null, empty or has a byte that is ASCII whitespace/control or not
    ASCII at all (a Unicode space is several non-ASCII bytes): a superset of the keys
    `validate_nodes` rejects, which is left to judge them."""
    _validity, offsets, data = keys.buffers()
    offsets_view = np.frombuffer(offsets, dtype=np.int64, count=len(keys) + 1,
                                 offset=keys.offset * 8)
    data_view = (np.frombuffer(data, dtype=np.uint8) if data is not None
                 else np.zeros(0, dtype=np.uint8))
    suspect = _key_scan(offsets_view, data_view, MAX_KEY_BYTES)
    if keys.null_count:
        suspect |= ~keys.is_valid().to_numpy(zero_copy_only=False)
    return suspect


@njit(nogil=True, cache=True)
def _key_scan(offsets: Array, data: Array, longest: int) -> Array:  # pragma: no cover - numba
    n = len(offsets) - 1
    out = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        start, end = offsets[i], offsets[i + 1]
        if start == end or end - start > longest:
            out[i] = True
            continue
        for j in range(start, end):
            b = data[j]
            if b <= 0x20 or b >= 0x7F:
                out[i] = True
                break
    return out
