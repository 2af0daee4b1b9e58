import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from server.rpc import genealogy_pb2 as _genealogy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListAlertsRequest(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: str
    def __init__(self, state: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: int
    reason: str
    def __init__(self, id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Alert(_message.Message):
    __slots__ = ("id", "rule", "title", "metric", "group", "value", "count", "threshold", "window", "state", "raised_at", "acknowledged_at", "acknowledged_by", "ack_reason", "cleared_at", "cleared_value")
    ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    ACK_REASON_FIELD_NUMBER: _ClassVar[int]
    CLEARED_AT_FIELD_NUMBER: _ClassVar[int]
    CLEARED_VALUE_FIELD_NUMBER: _ClassVar[int]
    id: int
    rule: str
    title: str
    metric: str
    group: str
    value: str
    count: int
    threshold: str
    window: str
    state: str
    raised_at: str
    acknowledged_at: str
    acknowledged_by: str
    ack_reason: str
    cleared_at: str
    cleared_value: str
    def __init__(self, id: _Optional[int] = ..., rule: _Optional[str] = ..., title: _Optional[str] = ..., metric: _Optional[str] = ..., group: _Optional[str] = ..., value: _Optional[str] = ..., count: _Optional[int] = ..., threshold: _Optional[str] = ..., window: _Optional[str] = ..., state: _Optional[str] = ..., raised_at: _Optional[str] = ..., acknowledged_at: _Optional[str] = ..., acknowledged_by: _Optional[str] = ..., ack_reason: _Optional[str] = ..., cleared_at: _Optional[str] = ..., cleared_value: _Optional[str] = ...) -> None: ...

class AlertBatch(_message.Message):
    __slots__ = ("alerts", "at")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    at: _timestamp_pb2.Timestamp
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class KpiRequest(_message.Message):
    __slots__ = ("period",)
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    period: str
    def __init__(self, period: _Optional[str] = ...) -> None: ...

class KpiRow(_message.Message):
    __slots__ = ("period", "first_pass_yield", "inspections", "ncs_opened", "open_ncs", "open_nc_age_days", "open_capas", "recalls_opened", "recall_hours")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    FIRST_PASS_YIELD_FIELD_NUMBER: _ClassVar[int]
    INSPECTIONS_FIELD_NUMBER: _ClassVar[int]
    NCS_OPENED_FIELD_NUMBER: _ClassVar[int]
    OPEN_NCS_FIELD_NUMBER: _ClassVar[int]
    OPEN_NC_AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    OPEN_CAPAS_FIELD_NUMBER: _ClassVar[int]
    RECALLS_OPENED_FIELD_NUMBER: _ClassVar[int]
    RECALL_HOURS_FIELD_NUMBER: _ClassVar[int]
    period: _timestamp_pb2.Timestamp
    first_pass_yield: float
    inspections: int
    ncs_opened: int
    open_ncs: int
    open_nc_age_days: float
    open_capas: int
    recalls_opened: int
    recall_hours: float
    def __init__(self, period: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_pass_yield: _Optional[float] = ..., inspections: _Optional[int] = ..., ncs_opened: _Optional[int] = ..., open_ncs: _Optional[int] = ..., open_nc_age_days: _Optional[float] = ..., open_capas: _Optional[int] = ..., recalls_opened: _Optional[int] = ..., recall_hours: _Optional[float] = ...) -> None: ...

class KpiResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[KpiRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[KpiRow, _Mapping]]] = ...) -> None: ...

class DhrRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class QualityRecord(_message.Message):
    __slots__ = ("record_id", "record_type", "status", "title", "keys", "version", "recorded_at", "recorded_by", "fields_json")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_JSON_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    record_type: str
    status: str
    title: str
    keys: _containers.RepeatedScalarFieldContainer[str]
    version: int
    recorded_at: str
    recorded_by: str
    fields_json: str
    def __init__(self, record_id: _Optional[str] = ..., record_type: _Optional[str] = ..., status: _Optional[str] = ..., title: _Optional[str] = ..., keys: _Optional[_Iterable[str]] = ..., version: _Optional[int] = ..., recorded_at: _Optional[str] = ..., recorded_by: _Optional[str] = ..., fields_json: _Optional[str] = ...) -> None: ...

class InheritedRecord(_message.Message):
    __slots__ = ("node", "kind", "depth", "path", "record")
    NODE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    node: str
    kind: str
    depth: int
    path: _containers.RepeatedScalarFieldContainer[str]
    record: QualityRecord
    def __init__(self, node: _Optional[str] = ..., kind: _Optional[str] = ..., depth: _Optional[int] = ..., path: _Optional[_Iterable[str]] = ..., record: _Optional[_Union[QualityRecord, _Mapping]] = ...) -> None: ...

class DeviceHistory(_message.Message):
    __slots__ = ("identity", "built_at", "own", "upstream", "change_orders_in_effect", "change_orders_after", "upstream_nodes", "events")
    class IdentityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    BUILT_AT_FIELD_NUMBER: _ClassVar[int]
    OWN_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    CHANGE_ORDERS_IN_EFFECT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_ORDERS_AFTER_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_NODES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    identity: _containers.ScalarMap[str, str]
    built_at: str
    own: _containers.RepeatedCompositeFieldContainer[QualityRecord]
    upstream: _containers.RepeatedCompositeFieldContainer[InheritedRecord]
    change_orders_in_effect: _containers.RepeatedCompositeFieldContainer[QualityRecord]
    change_orders_after: _containers.RepeatedCompositeFieldContainer[QualityRecord]
    upstream_nodes: int
    events: _containers.RepeatedCompositeFieldContainer[KeptEvent]
    def __init__(self, identity: _Optional[_Mapping[str, str]] = ..., built_at: _Optional[str] = ..., own: _Optional[_Iterable[_Union[QualityRecord, _Mapping]]] = ..., upstream: _Optional[_Iterable[_Union[InheritedRecord, _Mapping]]] = ..., change_orders_in_effect: _Optional[_Iterable[_Union[QualityRecord, _Mapping]]] = ..., change_orders_after: _Optional[_Iterable[_Union[QualityRecord, _Mapping]]] = ..., upstream_nodes: _Optional[int] = ..., events: _Optional[_Iterable[_Union[KeptEvent, _Mapping]]] = ...) -> None: ...

class KeptEvent(_message.Message):
    __slots__ = ("event_id", "type", "time", "nodes", "sensors", "document")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SENSORS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: str
    time: str
    nodes: _containers.RepeatedScalarFieldContainer[str]
    sensors: _containers.RepeatedScalarFieldContainer[str]
    document: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[str] = ..., time: _Optional[str] = ..., nodes: _Optional[_Iterable[str]] = ..., sensors: _Optional[_Iterable[str]] = ..., document: _Optional[str] = ...) -> None: ...

class AffectedByRequest(_message.Message):
    __slots__ = ("record_id",)
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    def __init__(self, record_id: _Optional[str] = ...) -> None: ...

class GetRecordRequest(_message.Message):
    __slots__ = ("record_id",)
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    def __init__(self, record_id: _Optional[str] = ...) -> None: ...

class RecordHistory(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[QualityRecord]
    def __init__(self, versions: _Optional[_Iterable[_Union[QualityRecord, _Mapping]]] = ...) -> None: ...
