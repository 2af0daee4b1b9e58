"""The hand-written RowChunk encoder gives the same bytes as protobuf itself."""

from __future__ import annotations

import pyarrow as pa
import pytest

import engine
from server.convert.rows import table_chunks
from server.convert.wire import encode_row_chunks
from server.rpc import genealogy_pb2 as pb
from tests.reference_encoding import message_chunks


def _tables(graph: engine.Graph) -> list[pa.Table]:
    keys = graph.snapshot.node_keys.to_pylist()
    unit = next(k for k in keys if k.startswith("urn:epc:id:sgtin:4012345.11"))
    lot = graph.trace(unit, "upstream", node_kinds=["lot"]).column("key")[0].as_py()
    return [
        graph.trace(lot),
        graph.trace(unit, "upstream", via=True),
        graph.hourglass(unit),
        graph.trace(unit, "upstream", node_kinds=["customer"]),  # empty
    ]


@pytest.mark.parametrize("chunk_rows", [1, 7, 65_536])
def test_encoder_matches_protobuf(small_graph: engine.Graph, chunk_rows: int) -> None:
    names = small_graph.snapshot.node_kinds
    for table in _tables(small_graph):
        ours = list(encode_row_chunks(table, names, chunk_rows))
        reference = [m.SerializeToString()
                     for m in message_chunks(table, names, chunk_rows)]
        assert ours == reference
        parsed = [pb.RowChunk.FromString(b) for b in ours]
        assert [k for c in parsed for k in c.keys] == table.column("key").to_pylist()


def test_arrow_chunks_round_trip(small_graph: engine.Graph) -> None:
    table = _tables(small_graph)[0]
    chunks = [pb.RowChunk.FromString(b) for b in
              table_chunks(table, small_graph.snapshot.node_kinds, 100, arrow=True)]
    back = pa.concat_tables(pa.ipc.open_stream(c.arrow_ipc).read_all() for c in chunks)
    assert back.column("key").to_pylist() == table.column("key").to_pylist()
    assert chunks[0].total_rows == table.num_rows
