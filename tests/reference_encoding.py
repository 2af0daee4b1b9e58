"""The reference RowChunk encoding, built through protobuf objects field by field: what
server.convert.wire must produce byte for byte (tests/test_wire.py)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from server.rpc import genealogy_pb2 as pb

_DIRECTION_CODES = {"downstream": pb.DOWNSTREAM, "upstream": pb.UPSTREAM}


def _kind_codes(table: pa.Table, kind_names: list[str]) -> npt.NDArray[np.int64]:
    text = table.column("kind").cast(pa.string()).to_pylist()
    lookup = {name: i for i, name in enumerate(kind_names)}
    return np.array([lookup[k] for k in text], dtype=np.int64)


def message_chunks(table: pa.Table, kind_names: list[str],
                   chunk_rows: int) -> Iterator[pb.RowChunk]:
    """RowChunk messages of a result table; the first carries total_rows and kind_names."""
    total = table.num_rows
    has_via = "via" in table.column_names
    has_direction = "direction" in table.column_names
    for start in range(0, max(total, 1), chunk_rows):
        part = table.slice(start, chunk_rows)
        chunk = pb.RowChunk()
        if start == 0:
            chunk.total_rows = total
            chunk.kind_names.extend(kind_names)
        chunk.keys.extend(part.column("key").to_pylist())
        chunk.kind_codes.extend(_kind_codes(part, kind_names).tolist())
        chunk.depths.extend(part.column("depth").to_numpy().tolist())
        if has_via:
            chunk.via.extend(part.column("via").to_pylist())
        if has_direction:
            names = part.column("direction").cast(pa.string()).to_pylist()
            chunk.directions.extend(_DIRECTION_CODES[name] for name in names)
        yield chunk
