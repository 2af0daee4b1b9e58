"""tracegraph.v1.Quality: device history records and what a quality record affects, over the
served graph and the store's quality records (an adapter: unpack, call qms / engine, map
errors, return)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc

from domain.errors import InvalidInput, TraceError, Unavailable
from index.file_ingest import events_of_nodes
from index.master import MasterData, finished_products
from index.quality_records import QualityRecords
from qms.alerts import Alert, Alerts
from qms.dhr import device_history
from qms.kpi import kpis
from recall.cases import Cases
from server.alert_watch import AlertWatch
from server.auth import require
from server.calls import CallGuard
from server.convert.queries import impact_to_proto
from server.convert.rows import timestamp
from server.rpc import quality_pb2 as qpb
from server.rpc import quality_pb2_grpc as qpb_grpc
from server.seeds import resolve_seed
from server.status import abort_for

__all__ = ["QualityService", "record_to_proto"]

T = TypeVar("T")
_FRAME = ("record_id", "record_type", "status", "title", "keys", "version", "recorded_at",
          "recorded_by", "source")


def record_to_proto(record: dict[str, Any]) -> qpb.QualityRecord:
    return qpb.QualityRecord(
        record_id=record["record_id"], record_type=record["record_type"],
        status=record["status"], title=record.get("title", ""), keys=record.get("keys", []),
        version=int(record.get("version", 0)), recorded_at=record.get("recorded_at", ""),
        recorded_by=record.get("recorded_by", ""),
        fields_json=json.dumps({k: v for k, v in record.items() if k not in _FRAME},
                               sort_keys=True))


class QualityService(qpb_grpc.QualityServicer):  # type: ignore[misc]
    def __init__(self, graph: Callable[[], Any], records: Callable[[], Any],
                 live: Callable[[], Any] = lambda: None,
                 watch: Callable[[], AlertWatch | None] = lambda: None,
                 calls: CallGuard | None = None, data_dir: Path | None = None) -> None:
        """`graph()`, `records()`: the served engine.Graph and the store's records (None
        while loading); `live()`: the writer (None when read-only); `watch()`: the alert
        loop (None when it does not run); `calls`: the stream slots WatchAlerts takes;
        `data_dir`: where kept EPCIS events are (the DHR shows them)."""
        self.graph = graph
        self.records = records
        self.live = live
        self.watch = watch
        self.calls = calls or CallGuard()
        self.data_dir = data_dir

    def _call(self, context: grpc.ServicerContext,
              work: Callable[[Any, QualityRecords, MasterData], T]) -> T:
        require(context)
        try:
            graph, records = self.graph(), self.records()
            if graph is None or records is None:
                raise Unavailable("the server is still loading")
            return work(graph, QualityRecords(records), MasterData(records))
        except TraceError as error:
            abort_for(context, error)
            raise

    def GetDhr(self, request: qpb.DhrRequest,  # noqa: N802 - gRPC method name
               context: grpc.ServicerContext) -> qpb.DeviceHistory:
        def work(graph: Any, records: QualityRecords, master: MasterData) -> qpb.DeviceHistory:
            if not request.key.strip():
                raise InvalidInput("give the unit's key or a scanned barcode")
            events = (None if self.data_dir is None else
                      functools.partial(events_of_nodes, self.data_dir))
            dhr = device_history(graph, records, resolve_seed(graph, request.key), master,
                                 events)
            return qpb.DeviceHistory(
                identity={k: str(v) for k, v in dhr.identity.items()
                          if v is not None and not isinstance(v, dict)},
                built_at=dhr.built_at or "", upstream_nodes=dhr.upstream_nodes,
                own=[record_to_proto(r) for r in dhr.own],
                upstream=[qpb.InheritedRecord(node=r.node, kind=r.kind, depth=r.depth,
                                              path=r.path, record=record_to_proto(r.record))
                          for r in dhr.upstream],
                change_orders_in_effect=[record_to_proto(r)
                                         for r in dhr.change_orders_in_effect],
                change_orders_after=[record_to_proto(r) for r in dhr.change_orders_after],
                events=[qpb.KeptEvent(event_id=e.event_id, type=e.type, time=e.time or "",
                                      nodes=e.nodes, sensors=e.sensors, document=e.document)
                        for e in dhr.events])
        return self._call(context, work)

    def AffectedBy(self, request: qpb.AffectedByRequest,  # noqa: N802
                   context: grpc.ServicerContext) -> Any:
        def work(graph: Any, records: QualityRecords, master: MasterData) -> Any:
            record = records.get(request.record_id)
            if record is None:
                raise InvalidInput(f"no quality record {request.record_id}")
            return impact_to_proto(graph.impact(record["keys"], rows=False,
                                                unit_products=finished_products(master)))
        return self._call(context, work)

    def GetRecord(self, request: qpb.GetRecordRequest,  # noqa: N802
                  context: grpc.ServicerContext) -> qpb.RecordHistory:
        def work(graph: Any, records: QualityRecords, master: MasterData) -> qpb.RecordHistory:
            versions = records.history(request.record_id)
            if not versions:
                raise InvalidInput(f"no quality record {request.record_id}")
            return qpb.RecordHistory(versions=[record_to_proto(v) for v in versions])
        return self._call(context, work)

    def Kpi(self, request: qpb.KpiRequest,  # noqa: N802
            context: grpc.ServicerContext) -> qpb.KpiResponse:
        def work(graph: Any, records: QualityRecords, master: MasterData) -> qpb.KpiResponse:
            table = kpis(records, Cases(records.records).all(), request.period or "month")
            return qpb.KpiResponse(rows=[kpi_row(row) for row in table.to_dicts()])
        return self._call(context, work)


    def ListAlerts(self, request: qpb.ListAlertsRequest,  # noqa: N802
                   context: grpc.ServicerContext) -> Iterator[qpb.Alert]:
        state = request.state or "active"

        def work(graph: Any, records: QualityRecords, master: MasterData) -> list[qpb.Alert]:
            if state not in ALERT_STATES:
                raise InvalidInput(f"state {state!r} is not one of {', '.join(ALERT_STATES)}")
            return [alert_to_proto(a) for a in Alerts(records.records).all()
                    if state in ("all", a.state) or (state == "active" and a.state != "cleared")]
        yield from self._call(context, work)

    def AcknowledgeAlert(self, request: qpb.AcknowledgeAlertRequest,  # noqa: N802
                         context: grpc.ServicerContext) -> qpb.Alert:
        by = require(context)

        def work(graph: Any, records: QualityRecords, master: MasterData) -> qpb.Alert:
            live = self.live()
            if live is None:
                raise Unavailable("alerts are acknowledged on the server that owns the data "
                                  "directory (this one is read-only)")
            acked = Alerts(live).acknowledge(request.id, by, request.reason)
            if (watch := self.watch()) is not None:
                watch.publish([acked])
            return alert_to_proto(acked)
        return self._call(context, work)

    def WatchAlerts(self, request: qpb.WatchAlertsRequest,  # noqa: N802
                    context: grpc.ServicerContext) -> Iterator[qpb.AlertBatch]:
        require(context)
        try:
            with self.calls.stream(context, "WatchAlerts") as call:
                watch, records = self.watch(), self.records()
                if records is None:
                    raise Unavailable("the server is still loading")
                seq = 0 if watch is None else watch.seq
                yield _batch(a for a in Alerts(records).all() if a.state != "cleared")
                call.progress()
                while context.is_active():
                    if watch is None:  # read-only: nothing changes here; keep the watch alive
                        time.sleep(HEARTBEAT)
                        changes: list[Alert] | None = []
                    else:
                        seq, changes = watch.wait(seq, HEARTBEAT)
                    if changes is None:  # fell behind the feed: where things stand now
                        changes = [a for a in Alerts(records).all() if a.state != "cleared"]
                    yield _batch(changes)
                    call.progress()
        except TraceError as error:
            abort_for(context, error)


HEARTBEAT = 10.0
"""Seconds between WatchAlerts messages when nothing changes (an empty batch)."""
ALERT_STATES = ("active", "open", "acknowledged", "cleared", "all")


def alert_to_proto(alert: Alert) -> qpb.Alert:
    """An alert's record as the wire message (absent text fields empty)."""
    fields: dict[str, Any] = {k: ("" if v is None else v) for k, v in asdict(alert).items()
                              if k != "history"}
    return qpb.Alert(**fields)


def _batch(alerts: Iterable[Alert]) -> qpb.AlertBatch:
    return qpb.AlertBatch(alerts=[alert_to_proto(a) for a in alerts],
                          at=timestamp(datetime.now(UTC)))


def kpi_row(row: dict[str, Any]) -> qpb.KpiRow:
    """One period of qms.kpi as the wire row (nulls stay unset)."""
    message = qpb.KpiRow(period=timestamp(row["period"]))
    for name, value in row.items():
        if name != "period" and value is not None:
            setattr(message, name, value)
    return message
