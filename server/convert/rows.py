"""Result tables <-> RowChunk streams (and protobuf Timestamps), for servicer and client.

Rows travel as columns (RowChunk.keys, kind_codes, depths, ...): one `extend` per column per
chunk instead of one message per row, which keeps a 600k-row answer in the low hundreds of ms.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf.timestamp_pb2 import Timestamp

from domain.errors import InvalidInput
from domain.knobs import DEFAULT_CHUNK_ROWS, MAX_CHUNK_ROWS
from domain.schemas import TRACE_COLUMN_TYPES, TRACE_SCHEMA
from server.convert.wire import encode_row_chunks
from server.rpc import genealogy_pb2 as pb

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "MAX_CHUNK_ROWS",
    "from_timestamp",
    "rows_from_chunks",
    "table_chunks",
    "timestamp",
    "to_timestamp",
]

_KIND = pa.dictionary(pa.int8(), pa.string())
_DIRECTION_NAMES: dict[int, str] = {pb.DOWNSTREAM: "downstream", pb.UPSTREAM: "upstream"}


def to_timestamp(value: datetime | None) -> Timestamp | None:
    return None if value is None else timestamp(value)


def timestamp(value: datetime) -> Timestamp:
    """A protobuf Timestamp; naive datetimes are UTC."""
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC))
    return stamp


# google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)


def from_timestamp(stamp: Timestamp, present: bool, name: str = "time") -> datetime | None:
    """A request's Timestamp as a datetime; one outside Timestamp's range or with nanos
    outside 0..999,999,999 is InvalidInput naming the field (never an INTERNAL overflow)."""
    if not present:
        return None
    low, high = TIMESTAMP_SECONDS
    if not (low <= stamp.seconds <= high and 0 <= stamp.nanos < 10**9):
        raise InvalidInput(f"{name} is not a valid Timestamp (seconds {stamp.seconds}, nanos "
                           f"{stamp.nanos}): seconds must lie in {low}..{high}, nanos in "
                           "0..999,999,999")
    value: datetime = stamp.ToDatetime(tzinfo=UTC)
    return value


def table_chunks(table: pa.Table, kind_names: list[str], chunk_rows: int, *,
                 arrow: bool) -> Iterator[bytes]:
    """Split a result table into serialized RowChunk messages; the first carries total_rows
    and kind_names. An empty result is one chunk with total_rows 0. Rows are encoded straight
    from the Arrow buffers (`server.convert.wire`); Arrow IPC chunks go through protobuf."""
    if not arrow:
        extra = [name for name in table.column_names if name in TRACE_COLUMN_TYPES]
        chunks = encode_row_chunks(table.drop_columns(extra), kind_names, chunk_rows)
        if not extra:
            yield from chunks
            return
        # Attribute columns are few and asked for: protobuf writes them, appended to the
        # wire-encoded rows (a message's fields may come in any order and parts concatenate).
        for start, part in zip(range(0, max(table.num_rows, 1), chunk_rows), chunks,
                               strict=True):
            rows = table.slice(start, chunk_rows)
            columns = pb.RowChunk(columns=[_attribute_column(name, rows.column(name))
                                           for name in extra])
            yield part + columns.SerializeToString()
        return
    total = table.num_rows
    for start in range(0, max(total, 1), chunk_rows):
        part = table if total <= chunk_rows else table.slice(start, chunk_rows)
        chunk = pb.RowChunk(arrow_ipc=_ipc_bytes(part))
        if start == 0:
            chunk.total_rows = total
            chunk.kind_names.extend(kind_names)
        yield chunk.SerializeToString()


def _attribute_column(name: str, column: pa.ChunkedArray) -> pb.AttributeColumn:
    """Row values as text: numbers in decimal, times RFC 3339 in UTC; present says which."""
    if pa.types.is_timestamp(column.type):
        text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")  # %S has the micros
    else:
        text = column.cast(pa.string())
    present = pc.is_valid(column).to_pylist()
    return pb.AttributeColumn(name=name, values=[v or "" for v in text.to_pylist()],
                              present=present)


def _ipc_bytes(part: pa.Table) -> bytes:
    columns = {name: part.column(name) for name in part.column_names}
    if "direction" in columns:
        columns["direction"] = columns["direction"].cast(pa.string())
    table = pa.table(columns).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def rows_from_chunks(chunks: Iterable[pb.RowChunk], schema: pa.Schema = TRACE_SCHEMA) -> pa.Table:
    """Reassemble a streamed result into the table the engine would have returned: `schema`
    is the query's result schema (domain.schemas: TRACE_SCHEMA, TRACE_VIA_SCHEMA or
    HOURGLASS_SCHEMA), so an empty answer has its columns too."""
    arrow_parts: list[pa.Table] = []
    keys: list[str] = []
    codes: list[int] = []
    depths: list[int] = []
    via: list[str] = []
    directions: list[int] = []
    kind_names: list[str] = []
    attributes: dict[str, list[str | None]] = {}
    for chunk in chunks:
        if chunk.kind_names:
            kind_names = list(chunk.kind_names)
        if chunk.arrow_ipc:
            arrow_parts.append(pa.ipc.open_stream(chunk.arrow_ipc).read_all())
            continue
        keys.extend(chunk.keys)
        codes.extend(chunk.kind_codes)
        depths.extend(chunk.depths)
        via.extend(chunk.via)
        directions.extend(chunk.directions)
        for column in chunk.columns:
            attributes.setdefault(column.name, []).extend(
                v if ok else None for v, ok in zip(column.values, column.present, strict=True))
    if arrow_parts:
        table = pa.concat_tables(arrow_parts)
        if "direction" in table.column_names:
            table = table.set_column(table.column_names.index("direction"), "direction",
                                     table.column("direction").dictionary_encode())
        extra = [n for n in table.column_names if n in TRACE_COLUMN_TYPES]
        return table.cast(_with_columns(schema, extra))
    columns: dict[str, pa.Array] = {
        "direction": pa.array([_DIRECTION_NAMES[d] for d in directions],
                              pa.string()).dictionary_encode(),
        "key": pa.array(keys, pa.large_string()),
        "kind": pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()),
                                               pa.array(kind_names, pa.string())),
        "depth": pa.array(depths, pa.int32()),
        "via": pa.array(via, pa.large_string()),
    }
    out = pa.table({name: columns[name] for name in schema.names}, schema=schema)
    for name, values in attributes.items():
        kind = TRACE_COLUMN_TYPES[name]
        out = out.append_column(name, pa.array(values, pa.string()).cast(
            kind if not pa.types.is_timestamp(kind) else pa.timestamp("us", "UTC")))
    return out


def _with_columns(schema: pa.Schema, names: list[str]) -> pa.Schema:
    for name in names:
        schema = schema.append(pa.field(name, TRACE_COLUMN_TYPES[name]))
    return schema
