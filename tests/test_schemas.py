"""Every query answers in its schema from domain.schemas, empty answers included, and the
client's reassembled tables have the same schemas."""

from __future__ import annotations

import engine
from domain.schemas import (
    BY_CUSTOMER_SCHEMA,
    BY_KIND_SCHEMA,
    BY_SHIPMENT_SCHEMA,
    HOURGLASS_SCHEMA,
    NODE_FIELDS,
    PATH_SCHEMA,
    TRACE_SCHEMA,
    TRACE_VIA_SCHEMA,
)
from server.convert.rows import rows_from_chunks, table_chunks
from server.rpc import genealogy_pb2 as pb


def _unit(graph: engine.Graph) -> str:
    return next(k for k in graph.snapshot.node_keys.to_pylist()
                if k.startswith("urn:epc:id:sgtin:4012345.11"))


def test_engine_results_have_the_domain_schemas(small_graph: engine.Graph) -> None:
    unit = _unit(small_graph)
    lot = small_graph.trace(unit, "upstream", node_kinds=["lot"]).column("key")[0].as_py()
    assert small_graph.trace(lot).schema == TRACE_SCHEMA
    assert small_graph.trace(unit, "upstream", via=True).schema == TRACE_VIA_SCHEMA
    assert small_graph.trace(unit, node_kinds=["supplier"]).schema == TRACE_SCHEMA  # empty
    assert small_graph.hourglass(unit).schema == HOURGLASS_SCHEMA
    empty = small_graph.hourglass(unit, max_depth=0)
    assert (empty.num_rows, empty.schema) == (0, HOURGLASS_SCHEMA)
    assert small_graph.path(lot, unit).schema == PATH_SCHEMA
    assert small_graph.path(unit, unit).schema == PATH_SCHEMA
    impact = small_graph.impact([lot])
    assert impact.by_kind.schema == BY_KIND_SCHEMA
    assert impact.by_shipment.schema == BY_SHIPMENT_SCHEMA
    assert impact.by_customer.schema == BY_CUSTOMER_SCHEMA
    assert impact.rows is not None
    assert impact.rows.schema == TRACE_SCHEMA
    assert tuple(small_graph.node(unit)) == NODE_FIELDS


def test_the_client_rebuilds_the_same_schemas(small_graph: engine.Graph) -> None:
    unit = _unit(small_graph)
    names = list(small_graph.node_kinds)
    for table, schema in ((small_graph.hourglass(unit), HOURGLASS_SCHEMA),
                          (small_graph.hourglass(unit, max_depth=0), HOURGLASS_SCHEMA),
                          (small_graph.trace(unit, "upstream", via=True), TRACE_VIA_SCHEMA),
                          (small_graph.trace(unit, node_kinds=["supplier"]), TRACE_SCHEMA)):
        for arrow in (False, True):
            chunks = [pb.RowChunk.FromString(c)
                      for c in table_chunks(table, names, 100, arrow=arrow)]
            back = rows_from_chunks(chunks, schema)
            assert back.schema == schema
            assert back.to_pylist() == table.to_pylist()
