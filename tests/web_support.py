"""A real server with its web app for the web tests: the small synthetic genealogy built into a
real data directory, its synthetic quality records imported, a GS1 EPCIS document with sensor
data ingested, five people with different roles,
and `serve --web-port 0` started on loopback in this process."""

from __future__ import annotations

import http.cookiejar
import json
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

import engine
from index.build import build_from_files
from index.file_ingest import ingest_epcis
from index.live import LiveStore
from index.quality_records import QualityRecords
from index.store import Store
from loaders.quality_records import read_quality_files
from loaders.synthetic_quality import quality_records
from server.serve import ServerConfig, TraceServer
from tests.conftest import SHARED
from trust.identity import Directory, Principal

OWNER = Principal(0, "os:test", "os:test", "admin", "os")
SENSOR_DOCUMENT = SHARED / "testdata" / "epcis" / "gs1-EPCIS" / "JSON" / "WithSensorData" / \
    "SensorDataExample1.jsonld"
"""An EPCIS document written outside this project: an ObjectEvent with sensor readings."""
PASSWORDS = {"ada": "ada-admin-password", "ivy": "ivy-investigates-1", "vic": "vic-views-only-1",
             "wes": "wes-writes-only-1", "quinn": "quinn-approves-qa-1"}
ROLES = {"ada": "admin", "ivy": "investigator", "vic": "viewer", "wes": "writer", "quinn": "qa"}


def web_data(source: tuple[Path, Path], root: Path) -> Path:
    """A data directory: the genealogy, its quality records, the five users."""
    data = root / "data"
    build_from_files([source[0]], [source[1]], data)
    store = Store(data, writable=True)
    directory = Directory(store)
    for name, role in ROLES.items():
        directory.add(name, role, OWNER, full_name=name.title(), password=PASSWORDS[name])
    store.close()
    records = root / "quality.csv"
    synthetic = quality_records(pq.read_table(source[0]))
    with LiveStore(data) as live:
        graph = engine.Graph(live.view().snapshot, live.view)
        # An open nonconformance on a lot upstream of the first inspected unit (UNIT_NC).
        unit = synthetic["key"][0]
        lot = graph.trace(unit, "upstream", node_kinds=["lot"]).column("key")[0].as_py()
        pl.concat([synthetic, pl.DataFrame({
            "record_id": ["NC-WEB"], "record_type": ["nonconformance"], "key": [lot],
            "status": ["open"], "opened_at": ["2025-02-01T08:00:00Z"],
            "title": ["Resin specks in supplier lot"]})], how="diagonal_relaxed").write_csv(records)
        versions, rejects = read_quality_files([records])
        assert not rejects
        report = QualityRecords(live).put(versions, OWNER, "test", graph.unknown_keys)
        assert not report.rejects
        ingest_epcis(live, [SENSOR_DOCUMENT])  # a unit with sensor data (EVENT_UNIT)
    return data


@dataclass
class Running:
    server: TraceServer
    url: str  # http://127.0.0.1:PORT/

    @property
    def graph(self) -> engine.Graph:
        assert self.server.graph is not None
        return self.server.graph


def start(data: Path, *, no_auth: bool = False) -> Running:
    server = TraceServer(data, ServerConfig(port=0, web_port=0, compact_edges=0,
                                            scrub_hours=0, no_auth=no_auth))
    server.load()
    assert server.web is not None
    return Running(server, server.web.url)


def copy_data(data: Path, target: Path) -> Path:
    shutil.copytree(data, target)
    return target


class Browserless:
    """HTTP as a browser would send it (cookies kept), for the API tests."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else (body if isinstance(body, bytes)
                                          else json.dumps(body).encode())
        sent = {"content-type": "application/json"} if body is not None else {}
        sent.update(headers or {})
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=sent)
        try:
            with self.opener.open(request, timeout=30) as response:
                raw, status, got = response.read(), response.status, dict(response.headers)
        except urllib.error.HTTPError as e:
            raw, status, got = e.read(), e.code, dict(e.headers)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        if isinstance(parsed, dict) and isinstance(parsed.get("csrf"), str):
            self.csrf = parsed["csrf"]
        return status, parsed, {k.lower(): v for k, v in got.items()}

    def get(self, path: str) -> tuple[int, Any]:
        status, body, _ = self.call("GET", path)
        return status, body

    def post(self, path: str, body: Any, csrf: bool = True) -> tuple[int, Any]:
        status, body, _ = self.call("POST", path, body,
                                    {"x-csrf-token": self.csrf} if csrf else None)
        return status, body

    def login(self, user: str) -> None:
        status, body = self.post("/api/login", {"user": user, "password": PASSWORDS[user]},
                                 csrf=False)
        assert status == 200, body
