import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FindRequest(_message.Message):
    __slots__ = ("text", "limit")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    text: str
    limit: int
    def __init__(self, text: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class FindResponse(_message.Message):
    __slots__ = ("candidates",)
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("key", "kind", "product", "why")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    key: str
    kind: str
    product: str
    why: str
    def __init__(self, key: _Optional[str] = ..., kind: _Optional[str] = ..., product: _Optional[str] = ..., why: _Optional[str] = ...) -> None: ...

class CommonCauseRequest(_message.Message):
    __slots__ = ("units", "min_shared", "limit")
    UNITS_FIELD_NUMBER: _ClassVar[int]
    MIN_SHARED_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    units: _containers.RepeatedScalarFieldContainer[str]
    min_shared: int
    limit: int
    def __init__(self, units: _Optional[_Iterable[str]] = ..., min_shared: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class CommonCauseResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[CauseRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[CauseRow, _Mapping]]] = ...) -> None: ...

class CauseRow(_message.Message):
    __slots__ = ("key", "kind", "product", "shared", "complaints", "downstream_population", "population", "lift", "p_value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    DOWNSTREAM_POPULATION_FIELD_NUMBER: _ClassVar[int]
    POPULATION_FIELD_NUMBER: _ClassVar[int]
    LIFT_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    kind: str
    product: str
    shared: int
    complaints: int
    downstream_population: int
    population: int
    lift: float
    p_value: float
    def __init__(self, key: _Optional[str] = ..., kind: _Optional[str] = ..., product: _Optional[str] = ..., shared: _Optional[int] = ..., complaints: _Optional[int] = ..., downstream_population: _Optional[int] = ..., population: _Optional[int] = ..., lift: _Optional[float] = ..., p_value: _Optional[float] = ...) -> None: ...

class ContainmentRequest(_message.Message):
    __slots__ = ("suspect", "since", "until", "unit_kinds", "include_units")
    SUSPECT_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    UNIT_KINDS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_UNITS_FIELD_NUMBER: _ClassVar[int]
    suspect: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    unit_kinds: _containers.RepeatedScalarFieldContainer[str]
    include_units: bool
    def __init__(self, suspect: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unit_kinds: _Optional[_Iterable[str]] = ..., include_units: _Optional[bool] = ...) -> None: ...

class ContainmentResponse(_message.Message):
    __slots__ = ("curve", "units", "unit_keys")
    CURVE_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    UNIT_KEYS_FIELD_NUMBER: _ClassVar[int]
    curve: _containers.RepeatedCompositeFieldContainer[WindowStep]
    units: int
    unit_keys: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, curve: _Optional[_Iterable[_Union[WindowStep, _Mapping]]] = ..., units: _Optional[int] = ..., unit_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class WindowStep(_message.Message):
    __slots__ = ("event_time", "edges", "units_added", "units_total")
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    UNITS_ADDED_FIELD_NUMBER: _ClassVar[int]
    UNITS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    event_time: _timestamp_pb2.Timestamp
    edges: int
    units_added: int
    units_total: int
    def __init__(self, event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., edges: _Optional[int] = ..., units_added: _Optional[int] = ..., units_total: _Optional[int] = ...) -> None: ...

class OpenRecallRequest(_message.Message):
    __slots__ = ("title", "seeds", "reason", "drill", "max_depth", "edge_kinds", "since", "until")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DRILL_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    EDGE_KINDS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    title: str
    seeds: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    drill: bool
    max_depth: int
    edge_kinds: _containers.RepeatedScalarFieldContainer[str]
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, title: _Optional[str] = ..., seeds: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., drill: _Optional[bool] = ..., max_depth: _Optional[int] = ..., edge_kinds: _Optional[_Iterable[str]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetRecallRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class ListRecallsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RefreshRecallRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class RecallDiffRequest(_message.Message):
    __slots__ = ("id", "before", "after")
    ID_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    id: int
    before: _timestamp_pb2.Timestamp
    after: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConsigneesRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class ExportRecallRequest(_message.Message):
    __slots__ = ("id", "format", "template")
    ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    id: int
    format: str
    template: str
    def __init__(self, id: _Optional[int] = ..., format: _Optional[str] = ..., template: _Optional[str] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("filename", "media_type", "rows", "data")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    filename: str
    media_type: str
    rows: int
    data: bytes
    def __init__(self, filename: _Optional[str] = ..., media_type: _Optional[str] = ..., rows: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class CloseRecallRequest(_message.Message):
    __slots__ = ("id", "reason", "password")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    id: int
    reason: str
    password: str
    def __init__(self, id: _Optional[int] = ..., reason: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class RecallCase(_message.Message):
    __slots__ = ("id", "title", "state", "drill", "as_of", "log_sequence", "result_hash", "customers", "shipments", "rows", "units", "json")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DRILL_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RESULT_HASH_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    title: str
    state: str
    drill: bool
    as_of: _timestamp_pb2.Timestamp
    log_sequence: int
    result_hash: str
    customers: int
    shipments: int
    rows: int
    units: float
    json: str
    def __init__(self, id: _Optional[int] = ..., title: _Optional[str] = ..., state: _Optional[str] = ..., drill: _Optional[bool] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., log_sequence: _Optional[int] = ..., result_hash: _Optional[str] = ..., customers: _Optional[int] = ..., shipments: _Optional[int] = ..., rows: _Optional[int] = ..., units: _Optional[float] = ..., json: _Optional[str] = ...) -> None: ...

class RecallDiff(_message.Message):
    __slots__ = ("before", "after", "rows_added", "rows_removed", "units_change", "customers")
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    ROWS_ADDED_FIELD_NUMBER: _ClassVar[int]
    ROWS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    UNITS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    before: _timestamp_pb2.Timestamp
    after: _timestamp_pb2.Timestamp
    rows_added: int
    rows_removed: int
    units_change: float
    customers: _containers.RepeatedCompositeFieldContainer[CustomerChange]
    def __init__(self, before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rows_added: _Optional[int] = ..., rows_removed: _Optional[int] = ..., units_change: _Optional[float] = ..., customers: _Optional[_Iterable[_Union[CustomerChange, _Mapping]]] = ...) -> None: ...

class CustomerChange(_message.Message):
    __slots__ = ("customer", "units_before", "units_after")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    UNITS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    UNITS_AFTER_FIELD_NUMBER: _ClassVar[int]
    customer: str
    units_before: float
    units_after: float
    def __init__(self, customer: _Optional[str] = ..., units_before: _Optional[float] = ..., units_after: _Optional[float] = ...) -> None: ...

class ConsigneeRow(_message.Message):
    __slots__ = ("customer", "customer_name", "street", "postal_code", "city", "region", "country", "contact", "phone", "email", "shipment", "ship_date", "product", "gtin", "description", "item", "item_kind", "lot", "serial", "quantity", "uom", "expiry")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_NAME_FIELD_NUMBER: _ClassVar[int]
    STREET_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    SHIP_DATE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    GTIN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    ITEM_KIND_FIELD_NUMBER: _ClassVar[int]
    LOT_FIELD_NUMBER: _ClassVar[int]
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UOM_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    customer: str
    customer_name: str
    street: str
    postal_code: str
    city: str
    region: str
    country: str
    contact: str
    phone: str
    email: str
    shipment: str
    ship_date: _timestamp_pb2.Timestamp
    product: str
    gtin: str
    description: str
    item: str
    item_kind: str
    lot: str
    serial: str
    quantity: float
    uom: str
    expiry: str
    def __init__(self, customer: _Optional[str] = ..., customer_name: _Optional[str] = ..., street: _Optional[str] = ..., postal_code: _Optional[str] = ..., city: _Optional[str] = ..., region: _Optional[str] = ..., country: _Optional[str] = ..., contact: _Optional[str] = ..., phone: _Optional[str] = ..., email: _Optional[str] = ..., shipment: _Optional[str] = ..., ship_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., product: _Optional[str] = ..., gtin: _Optional[str] = ..., description: _Optional[str] = ..., item: _Optional[str] = ..., item_kind: _Optional[str] = ..., lot: _Optional[str] = ..., serial: _Optional[str] = ..., quantity: _Optional[float] = ..., uom: _Optional[str] = ..., expiry: _Optional[str] = ...) -> None: ...
