import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BatchPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_POLICY_UNSPECIFIED: _ClassVar[BatchPolicy]
    ALL_OR_NOTHING: _ClassVar[BatchPolicy]
    APPLY_VALID: _ClassVar[BatchPolicy]

class IngestOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_OUTCOME_UNSPECIFIED: _ClassVar[IngestOutcome]
    APPLIED: _ClassVar[IngestOutcome]
    DUPLICATE: _ClassVar[IngestOutcome]
    REJECTED: _ClassVar[IngestOutcome]
BATCH_POLICY_UNSPECIFIED: BatchPolicy
ALL_OR_NOTHING: BatchPolicy
APPLY_VALID: BatchPolicy
INGEST_OUTCOME_UNSPECIFIED: IngestOutcome
APPLIED: IngestOutcome
DUPLICATE: IngestOutcome
REJECTED: IngestOutcome

class NodeRecord(_message.Message):
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

class EdgeRecord(_message.Message):
    __slots__ = ("src", "dst", "kind", "event_time", "quantity", "event_id")
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    src: str
    dst: str
    kind: str
    event_time: _timestamp_pb2.Timestamp
    quantity: float
    event_id: str
    def __init__(self, src: _Optional[str] = ..., dst: _Optional[str] = ..., kind: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quantity: _Optional[float] = ..., event_id: _Optional[str] = ...) -> None: ...

class RetractionRecord(_message.Message):
    __slots__ = ("src", "dst", "kind", "event_time", "reason", "event_id")
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    src: str
    dst: str
    kind: str
    event_time: _timestamp_pb2.Timestamp
    reason: str
    event_id: str
    def __init__(self, src: _Optional[str] = ..., dst: _Optional[str] = ..., kind: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., event_id: _Optional[str] = ...) -> None: ...

class IngestBatch(_message.Message):
    __slots__ = ("source", "sequence", "nodes", "edges", "retractions", "policy", "nodes_arrow", "edges_arrow", "quality")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    RETRACTIONS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    NODES_ARROW_FIELD_NUMBER: _ClassVar[int]
    EDGES_ARROW_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    source: str
    sequence: int
    nodes: _containers.RepeatedCompositeFieldContainer[NodeRecord]
    edges: _containers.RepeatedCompositeFieldContainer[EdgeRecord]
    retractions: _containers.RepeatedCompositeFieldContainer[RetractionRecord]
    policy: BatchPolicy
    nodes_arrow: bytes
    edges_arrow: bytes
    quality: _containers.RepeatedCompositeFieldContainer[QualityRecordIn]
    def __init__(self, source: _Optional[str] = ..., sequence: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[NodeRecord, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[EdgeRecord, _Mapping]]] = ..., retractions: _Optional[_Iterable[_Union[RetractionRecord, _Mapping]]] = ..., policy: _Optional[_Union[BatchPolicy, str]] = ..., nodes_arrow: _Optional[bytes] = ..., edges_arrow: _Optional[bytes] = ..., quality: _Optional[_Iterable[_Union[QualityRecordIn, _Mapping]]] = ...) -> None: ...

class QualityRecordIn(_message.Message):
    __slots__ = ("record_id", "record_type", "key", "status", "opened_at", "title", "closed_at", "result", "disposition", "capa_id", "effective_from", "products", "inspector", "measurements")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_TYPE_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    CAPA_ID_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    INSPECTOR_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    record_type: str
    key: str
    status: str
    opened_at: _timestamp_pb2.Timestamp
    title: str
    closed_at: _timestamp_pb2.Timestamp
    result: str
    disposition: str
    capa_id: str
    effective_from: _timestamp_pb2.Timestamp
    products: _containers.RepeatedScalarFieldContainer[str]
    inspector: str
    measurements: str
    def __init__(self, record_id: _Optional[str] = ..., record_type: _Optional[str] = ..., key: _Optional[str] = ..., status: _Optional[str] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., title: _Optional[str] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., result: _Optional[str] = ..., disposition: _Optional[str] = ..., capa_id: _Optional[str] = ..., effective_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., products: _Optional[_Iterable[str]] = ..., inspector: _Optional[str] = ..., measurements: _Optional[str] = ...) -> None: ...

class RecordError(_message.Message):
    __slots__ = ("table", "index", "field", "reason")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    table: str
    index: int
    field: str
    reason: str
    def __init__(self, table: _Optional[str] = ..., index: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class IngestAck(_message.Message):
    __slots__ = ("source", "sequence", "outcome", "log_sequence", "nodes_added", "edges_added", "edges_retracted", "errors", "message", "quality_versions")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    NODES_ADDED_FIELD_NUMBER: _ClassVar[int]
    EDGES_ADDED_FIELD_NUMBER: _ClassVar[int]
    EDGES_RETRACTED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    source: str
    sequence: int
    outcome: IngestOutcome
    log_sequence: int
    nodes_added: int
    edges_added: int
    edges_retracted: int
    errors: _containers.RepeatedCompositeFieldContainer[RecordError]
    message: str
    quality_versions: int
    def __init__(self, source: _Optional[str] = ..., sequence: _Optional[int] = ..., outcome: _Optional[_Union[IngestOutcome, str]] = ..., log_sequence: _Optional[int] = ..., nodes_added: _Optional[int] = ..., edges_added: _Optional[int] = ..., edges_retracted: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[RecordError, _Mapping]]] = ..., message: _Optional[str] = ..., quality_versions: _Optional[int] = ...) -> None: ...
