import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DOWNSTREAM: _ClassVar[Direction]
    UPSTREAM: _ClassVar[Direction]

class ResultFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESULT_FORMAT_UNSPECIFIED: _ClassVar[ResultFormat]
    ROWS: _ClassVar[ResultFormat]
    ARROW_IPC: _ClassVar[ResultFormat]
DIRECTION_UNSPECIFIED: Direction
DOWNSTREAM: Direction
UPSTREAM: Direction
RESULT_FORMAT_UNSPECIFIED: ResultFormat
ROWS: ResultFormat
ARROW_IPC: ResultFormat

class Filters(_message.Message):
    __slots__ = ("max_depth", "edge_kinds", "node_kinds", "since", "until", "as_of")
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    EDGE_KINDS_FIELD_NUMBER: _ClassVar[int]
    NODE_KINDS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    max_depth: int
    edge_kinds: _containers.RepeatedScalarFieldContainer[str]
    node_kinds: _containers.RepeatedScalarFieldContainer[str]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, max_depth: _Optional[int] = ..., edge_kinds: _Optional[_Iterable[str]] = ..., node_kinds: _Optional[_Iterable[str]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TraceRequest(_message.Message):
    __slots__ = ("seeds", "direction", "filters", "limit", "include_via", "format", "chunk_rows", "time_respecting", "products", "columns")
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_VIA_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ROWS_FIELD_NUMBER: _ClassVar[int]
    TIME_RESPECTING_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    seeds: _containers.RepeatedScalarFieldContainer[str]
    direction: Direction
    filters: Filters
    limit: int
    include_via: bool
    format: ResultFormat
    chunk_rows: int
    time_respecting: bool
    products: _containers.RepeatedScalarFieldContainer[str]
    columns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, seeds: _Optional[_Iterable[str]] = ..., direction: _Optional[_Union[Direction, str]] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., limit: _Optional[int] = ..., include_via: _Optional[bool] = ..., format: _Optional[_Union[ResultFormat, str]] = ..., chunk_rows: _Optional[int] = ..., time_respecting: _Optional[bool] = ..., products: _Optional[_Iterable[str]] = ..., columns: _Optional[_Iterable[str]] = ...) -> None: ...

class AttributeColumn(_message.Message):
    __slots__ = ("name", "values", "present")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    values: _containers.RepeatedScalarFieldContainer[str]
    present: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, name: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., present: _Optional[_Iterable[bool]] = ...) -> None: ...

class RowChunk(_message.Message):
    __slots__ = ("total_rows", "kind_names", "keys", "kind_codes", "depths", "via", "directions", "arrow_ipc", "columns")
    TOTAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    KIND_NAMES_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    KIND_CODES_FIELD_NUMBER: _ClassVar[int]
    DEPTHS_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    DIRECTIONS_FIELD_NUMBER: _ClassVar[int]
    ARROW_IPC_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    total_rows: int
    kind_names: _containers.RepeatedScalarFieldContainer[str]
    keys: _containers.RepeatedScalarFieldContainer[str]
    kind_codes: _containers.RepeatedScalarFieldContainer[int]
    depths: _containers.RepeatedScalarFieldContainer[int]
    via: _containers.RepeatedScalarFieldContainer[str]
    directions: _containers.RepeatedScalarFieldContainer[int]
    arrow_ipc: bytes
    columns: _containers.RepeatedCompositeFieldContainer[AttributeColumn]
    def __init__(self, total_rows: _Optional[int] = ..., kind_names: _Optional[_Iterable[str]] = ..., keys: _Optional[_Iterable[str]] = ..., kind_codes: _Optional[_Iterable[int]] = ..., depths: _Optional[_Iterable[int]] = ..., via: _Optional[_Iterable[str]] = ..., directions: _Optional[_Iterable[int]] = ..., arrow_ipc: _Optional[bytes] = ..., columns: _Optional[_Iterable[_Union[AttributeColumn, _Mapping]]] = ...) -> None: ...

class HourglassRequest(_message.Message):
    __slots__ = ("key", "filters", "limit", "format", "chunk_rows")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ROWS_FIELD_NUMBER: _ClassVar[int]
    key: str
    filters: Filters
    limit: int
    format: ResultFormat
    chunk_rows: int
    def __init__(self, key: _Optional[str] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., limit: _Optional[int] = ..., format: _Optional[_Union[ResultFormat, str]] = ..., chunk_rows: _Optional[int] = ...) -> None: ...

class ImpactRequest(_message.Message):
    __slots__ = ("seeds", "filters", "limit", "include_rows", "format", "chunk_rows")
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ROWS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ROWS_FIELD_NUMBER: _ClassVar[int]
    seeds: _containers.RepeatedScalarFieldContainer[str]
    filters: Filters
    limit: int
    include_rows: bool
    format: ResultFormat
    chunk_rows: int
    def __init__(self, seeds: _Optional[_Iterable[str]] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., limit: _Optional[int] = ..., include_rows: _Optional[bool] = ..., format: _Optional[_Union[ResultFormat, str]] = ..., chunk_rows: _Optional[int] = ...) -> None: ...

class KindCount(_message.Message):
    __slots__ = ("kind", "nodes")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    nodes: int
    def __init__(self, kind: _Optional[str] = ..., nodes: _Optional[int] = ...) -> None: ...

class ShipmentImpact(_message.Message):
    __slots__ = ("shipment", "units", "quantity", "unknown_quantity")
    SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    shipment: str
    units: int
    quantity: float
    unknown_quantity: int
    def __init__(self, shipment: _Optional[str] = ..., units: _Optional[int] = ..., quantity: _Optional[float] = ..., unknown_quantity: _Optional[int] = ...) -> None: ...

class CustomerImpact(_message.Message):
    __slots__ = ("customer", "units", "shipments", "quantity", "unknown_quantity")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    customer: str
    units: int
    shipments: int
    quantity: float
    unknown_quantity: int
    def __init__(self, customer: _Optional[str] = ..., units: _Optional[int] = ..., shipments: _Optional[int] = ..., quantity: _Optional[float] = ..., unknown_quantity: _Optional[int] = ...) -> None: ...

class ImpactSummary(_message.Message):
    __slots__ = ("seeds", "affected", "by_kind", "by_shipment", "by_customer")
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_FIELD_NUMBER: _ClassVar[int]
    BY_KIND_FIELD_NUMBER: _ClassVar[int]
    BY_SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    BY_CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    seeds: int
    affected: int
    by_kind: _containers.RepeatedCompositeFieldContainer[KindCount]
    by_shipment: _containers.RepeatedCompositeFieldContainer[ShipmentImpact]
    by_customer: _containers.RepeatedCompositeFieldContainer[CustomerImpact]
    def __init__(self, seeds: _Optional[int] = ..., affected: _Optional[int] = ..., by_kind: _Optional[_Iterable[_Union[KindCount, _Mapping]]] = ..., by_shipment: _Optional[_Iterable[_Union[ShipmentImpact, _Mapping]]] = ..., by_customer: _Optional[_Iterable[_Union[CustomerImpact, _Mapping]]] = ...) -> None: ...

class ImpactChunk(_message.Message):
    __slots__ = ("summary", "rows")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    summary: ImpactSummary
    rows: RowChunk
    def __init__(self, summary: _Optional[_Union[ImpactSummary, _Mapping]] = ..., rows: _Optional[_Union[RowChunk, _Mapping]] = ...) -> None: ...

class PathRequest(_message.Message):
    __slots__ = ("source", "target", "filters")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    source: str
    target: str
    filters: Filters
    def __init__(self, source: _Optional[str] = ..., target: _Optional[str] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ...) -> None: ...

class PathStep(_message.Message):
    __slots__ = ("key", "kind", "edge_kind", "event_time")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EDGE_KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    key: str
    kind: str
    edge_kind: str
    event_time: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., kind: _Optional[str] = ..., edge_kind: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PathResponse(_message.Message):
    __slots__ = ("steps",)
    STEPS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[PathStep]
    def __init__(self, steps: _Optional[_Iterable[_Union[PathStep, _Mapping]]] = ...) -> None: ...

class GetNodeRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("key", "kind", "product", "quantity", "uom", "created_at")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UOM_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    key: str
    kind: str
    product: str
    quantity: float
    uom: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., kind: _Optional[str] = ..., product: _Optional[str] = ..., quantity: _Optional[float] = ..., uom: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DrawRequest(_message.Message):
    __slots__ = ("seeds", "direction", "filters", "hide_kinds", "expand", "max_elements", "hourglass")
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    HIDE_KINDS_FIELD_NUMBER: _ClassVar[int]
    EXPAND_FIELD_NUMBER: _ClassVar[int]
    MAX_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    HOURGLASS_FIELD_NUMBER: _ClassVar[int]
    seeds: _containers.RepeatedScalarFieldContainer[str]
    direction: Direction
    filters: Filters
    hide_kinds: _containers.RepeatedScalarFieldContainer[str]
    expand: _containers.RepeatedScalarFieldContainer[str]
    max_elements: int
    hourglass: bool
    def __init__(self, seeds: _Optional[_Iterable[str]] = ..., direction: _Optional[_Union[Direction, str]] = ..., filters: _Optional[_Union[Filters, _Mapping]] = ..., hide_kinds: _Optional[_Iterable[str]] = ..., expand: _Optional[_Iterable[str]] = ..., max_elements: _Optional[int] = ..., hourglass: _Optional[bool] = ...) -> None: ...

class DrawnNode(_message.Message):
    __slots__ = ("id", "key", "kind", "label", "layer", "x", "y", "count", "parent_key", "depth", "upstream")
    ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LAYER_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PARENT_KEY_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    id: str
    key: str
    kind: str
    label: str
    layer: int
    x: float
    y: float
    count: int
    parent_key: str
    depth: int
    upstream: bool
    def __init__(self, id: _Optional[str] = ..., key: _Optional[str] = ..., kind: _Optional[str] = ..., label: _Optional[str] = ..., layer: _Optional[int] = ..., x: _Optional[float] = ..., y: _Optional[float] = ..., count: _Optional[int] = ..., parent_key: _Optional[str] = ..., depth: _Optional[int] = ..., upstream: _Optional[bool] = ...) -> None: ...

class DrawnEdge(_message.Message):
    __slots__ = ("source", "target", "tree")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TREE_FIELD_NUMBER: _ClassVar[int]
    source: str
    target: str
    tree: bool
    def __init__(self, source: _Optional[str] = ..., target: _Optional[str] = ..., tree: _Optional[bool] = ...) -> None: ...

class Drawing(_message.Message):
    __slots__ = ("nodes", "edges", "reached", "threshold", "links_left_out")
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    REACHED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LINKS_LEFT_OUT_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[DrawnNode]
    edges: _containers.RepeatedCompositeFieldContainer[DrawnEdge]
    reached: int
    threshold: int
    links_left_out: int
    def __init__(self, nodes: _Optional[_Iterable[_Union[DrawnNode, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[DrawnEdge, _Mapping]]] = ..., reached: _Optional[int] = ..., threshold: _Optional[int] = ..., links_left_out: _Optional[int] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("snapshot_version", "snapshot_created_at", "nodes", "edges", "nodes_by_kind", "edges_by_kind", "rejected", "default_limit", "max_limit", "snapshot", "folded_edges", "unary_max_rows", "log_sequence", "delta_edges", "retracted_edges")
    class NodesByKindEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class EdgesByKindEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    NODES_BY_KIND_FIELD_NUMBER: _ClassVar[int]
    EDGES_BY_KIND_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MAX_LIMIT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    FOLDED_EDGES_FIELD_NUMBER: _ClassVar[int]
    UNARY_MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DELTA_EDGES_FIELD_NUMBER: _ClassVar[int]
    RETRACTED_EDGES_FIELD_NUMBER: _ClassVar[int]
    snapshot_version: int
    snapshot_created_at: _timestamp_pb2.Timestamp
    nodes: int
    edges: int
    nodes_by_kind: _containers.ScalarMap[str, int]
    edges_by_kind: _containers.ScalarMap[str, int]
    rejected: int
    default_limit: int
    max_limit: int
    snapshot: str
    folded_edges: int
    unary_max_rows: int
    log_sequence: int
    delta_edges: int
    retracted_edges: int
    def __init__(self, snapshot_version: _Optional[int] = ..., snapshot_created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., nodes: _Optional[int] = ..., edges: _Optional[int] = ..., nodes_by_kind: _Optional[_Mapping[str, int]] = ..., edges_by_kind: _Optional[_Mapping[str, int]] = ..., rejected: _Optional[int] = ..., default_limit: _Optional[int] = ..., max_limit: _Optional[int] = ..., snapshot: _Optional[str] = ..., folded_edges: _Optional[int] = ..., unary_max_rows: _Optional[int] = ..., log_sequence: _Optional[int] = ..., delta_edges: _Optional[int] = ..., retracted_edges: _Optional[int] = ...) -> None: ...
