"""Size an Arrow IPC stream from a client before decoding it.

Arrow IPC bodies may be compressed (LZ4 or ZSTD per buffer): a 7 KiB payload can expand to
hundreds of megabytes the moment pyarrow decodes it. So each record batch's metadata (a
FlatBuffer, format `Message.fbs`) is read first: its row count, and its buffers' sizes; for a
compressed body each buffer starts with its uncompressed length (int64, little-endian; -1 when
that buffer was left uncompressed). A stream over the row or byte cap is refused before a
single buffer is decompressed, and the error never echoes the input.
"""

from __future__ import annotations

import struct

import flatbuffers
import pyarrow as pa
from flatbuffers import number_types as types
from flatbuffers.table import Table

from domain.knobs import MAX_ARROW_BYTES

__all__ = ["MAX_ARROW_BYTES", "ArrowTooLarge", "check_arrow_payload"]


_RECORD_BATCH, _DICTIONARY_BATCH = 3, 2  # MessageHeader union tags
_INT64 = struct.Struct("<q")


class ArrowTooLarge(ValueError):
    """An Arrow payload over the row or byte cap (found before decoding)."""


def _field(table: Table, index: int) -> int:
    """The offset of field `index` of a FlatBuffer table (0 when absent)."""
    return int(table.Offset(4 + 2 * index))


def _record_batch(metadata: bytes) -> tuple[Table, bool] | None:
    """The RecordBatch table of a message and whether it is a dictionary batch's data, else
    None (a schema)."""
    root = Table(metadata, flatbuffers.encode.Get(flatbuffers.packer.uoffset, metadata, 0))
    tag_at = _field(root, 1)
    header_at = _field(root, 2)
    if not tag_at or not header_at:
        return None
    tag = root.Get(types.Uint8Flags, tag_at + root.Pos)
    header = Table(metadata, root.Indirect(header_at + root.Pos))
    if tag == _RECORD_BATCH:
        return header, False
    if tag == _DICTIONARY_BATCH:
        data_at = _field(header, 1)
        return (Table(metadata, header.Indirect(data_at + header.Pos)), True) if data_at \
            else None
    return None


def _decoded_bytes(batch: Table, body: memoryview) -> tuple[int, int]:
    """(rows, bytes once decoded) of one record batch."""
    rows_at = _field(batch, 0)
    rows = int(batch.Get(types.Int64Flags, rows_at + batch.Pos)) if rows_at else 0
    buffers_at = _field(batch, 2)
    compressed = _field(batch, 3) != 0
    total = 0
    if buffers_at:
        start, count = batch.Vector(buffers_at), batch.VectorLen(buffers_at)
        for i in range(count):
            offset = int(batch.Get(types.Int64Flags, start + 16 * i))
            length = int(batch.Get(types.Int64Flags, start + 16 * i + 8))
            if not compressed or length < 8:
                total += max(length, 0)
                continue
            if offset < 0 or offset + 8 > len(body):
                raise ValueError("a buffer lies outside the message body")
            (decoded,) = _INT64.unpack_from(body, offset)
            total += length - 8 if decoded < 0 else decoded
    return rows, total


def check_arrow_payload(payload: bytes, *, max_rows: int, max_bytes: int) -> None:
    """Raise ArrowTooLarge when the stream holds more than `max_rows` records or decodes to
    more than `max_bytes`; pyarrow's own errors (not Arrow at all) pass through."""
    rows = decoded = 0
    for message in pa.ipc.MessageReader.open_stream(pa.py_buffer(payload)):
        found = _record_batch(bytes(message.metadata))
        if found is None:
            continue
        batch, dictionary = found
        body = memoryview(message.body) if message.body is not None else memoryview(b"")
        more_rows, more_bytes = _decoded_bytes(batch, body)
        rows, decoded = rows + (0 if dictionary else more_rows), decoded + more_bytes
        if rows > max_rows:
            raise ArrowTooLarge(f"more than {max_rows:,} records in one table (split the "
                                "batch)")
        if decoded > max_bytes:
            raise ArrowTooLarge(f"the table decodes to more than {max_bytes // 2**20} MiB "
                                f"(from a payload of {len(payload):,} bytes); split the batch")
