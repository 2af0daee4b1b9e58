"""Every conversion between tracegraph.v1 protobuf messages and the engine's Python and Arrow
values, in one place for servicer and client alike:

    rows      result tables <-> RowChunk streams, Timestamps
    wire      RowChunk bytes straight from Arrow buffers (field tags from the descriptors)
    queries   filters, enums, impact summary, path, node, stats
    ingest    IngestBatch -> index.ingest.IngestBatch, Ack <-> IngestAck

tests/test_convert.py round-trips every message of both services.
"""
