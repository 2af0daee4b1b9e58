"""Running the gRPC server: explicit limits, health, reflection in development, warm-up before
SERVING, and a graceful stop on SIGTERM/SIGINT.

Order of start-up: bind the port with health NOT_SERVING, open the snapshot, warm every kernel,
then flip health to SERVING. Order of shutdown: health NOT_SERVING, stop accepting calls, let
in-flight calls finish within the grace period.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import engine
from domain.errors import InvalidInput, SnapshotError, TraceError
from engine import Graph
from index.live import LiveStore
from index.master import MasterData
from index.store import Store
from index.verified import verify_files
from server.alert_watch import AlertWatch
from server.auth import AuthInterceptor, Gate, Sessions
from server.auth_service import AuditService, AuthService, CorrectionsService
from server.calls import CallGuard, CallLimits
from server.checkpoints import Checkpointer
from server.ingest_service import IngestService
from server.investigation_service import InvestigationService
from server.quality_service import QualityService
from server.read_only import ReadOnlyRecords
from server.recall_service import RecallsService
from server.rpc import auth_pb2 as apb
from server.rpc import auth_pb2_grpc as apb_grpc
from server.rpc import genealogy_pb2 as pb
from server.rpc import ingest_pb2 as ipb
from server.rpc import ingest_pb2_grpc as ipb_grpc
from server.rpc import quality_pb2 as qpb
from server.rpc import quality_pb2_grpc as qpb_grpc
from server.rpc import recall_pb2 as rpb
from server.rpc import recall_pb2_grpc as rpb_grpc
from server.service import GenealogyService, Limits, add_service
from server.users_service import UsersService
from server.web.app import create_app
from server.web.gateway import Gateway
from server.web.runner import WebServer
from trust.audit import AuditEvent
from trust.identity import Directory, Principal
from trust.revocation import Revocations

__all__ = ["SERVICE_NAME", "ServerConfig", "TraceServer", "serve"]

log = logging.getLogger(__name__)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Genealogy"].full_name
INGEST_SERVICE_NAME = ipb.DESCRIPTOR.services_by_name["Ingest"].full_name
AUTH_SERVICE_NAME = apb.DESCRIPTOR.services_by_name["Auth"].full_name
AUDIT_SERVICE_NAME = apb.DESCRIPTOR.services_by_name["Audit"].full_name
CORRECTIONS_SERVICE_NAME = apb.DESCRIPTOR.services_by_name["Corrections"].full_name
USERS_SERVICE_NAME = apb.DESCRIPTOR.services_by_name["Users"].full_name
RECALLS_SERVICE_NAME = rpb.DESCRIPTOR.services_by_name["Recalls"].full_name
INVESTIGATION_SERVICE_NAME = rpb.DESCRIPTOR.services_by_name["Investigation"].full_name
QUALITY_SERVICE_NAME = qpb.DESCRIPTOR.services_by_name["Quality"].full_name
MiB = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """Every knob the server has, with the value it uses; nothing is a library default."""

    host: str = "127.0.0.1"
    port: int = 50051
    workers: int = 16
    max_concurrent_rpcs: int = 256
    max_receive_bytes: int = 16 * MiB
    max_send_bytes: int = 64 * MiB
    keepalive_time_ms: int = 30_000
    keepalive_timeout_ms: int = 10_000
    max_connection_idle_ms: int = 30 * 60_000
    grace_seconds: float = 10.0
    dev: bool = False
    switch_interval: float = 0.0002
    # Serve queries only: no Ingest, no store lock (for replicas and snapshot-only use).
    read_only: bool = False
    # Compact in the background once the delta holds this many edges (0: never).
    compact_edges: int = 1_000_000
    limits: Limits = field(default_factory=Limits)
    calls: CallLimits = field(default_factory=CallLimits)
    # Re-hash the served snapshot's files this often, in the background (0: never).
    scrub_hours: float = 6.0
    # No sign-in: every caller is the local administrator. Loopback only, loudly logged and
    # audited; for development and single-user tools, never for a shared server.
    no_auth: bool = False
    # A signed-in session ends after this long without a call, and this long after sign-in.
    session_idle_minutes: float = 15.0
    session_hours: float = 12.0
    # A password older than this many days no longer signs in (0: no aging).
    password_max_days: int = 0
    # Open a store whose audit trail is missing or broken, recording this reason (index.live).
    audit_recovery: str | None = None
    # Sign a checkpoint of the audit trail with this Ed25519 key (kept outside the data
    # directory) into `checkpoints` every `checkpoint_records` new records or
    # `checkpoint_minutes`, whichever comes first (and once at start and stop).
    audit_key: Path | None = None
    checkpoints: Path | None = None
    checkpoint_records: int = 10_000
    checkpoint_minutes: float = 15.0
    # TLS: the server's certificate chain and key (PEM). With `client_ca`, every client must
    # present a certificate that CA issued (mTLS); its common name names a service account.
    # Without TLS only a loopback address is served.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    # The client CA's CRL (trust.revocation): a revoked certificate is refused at every call.
    client_crl: Path | None = None
    # Serve the web app (server.web) on this port of `host` too (0: any free port; None:
    # no web app); over TLS with tls_cert/tls_key, as the gRPC port (not with client_ca).
    web_port: int | None = None
    # Measure the alert rules (qms.alerts) this often, in seconds (0: never). The writer
    # only: a read-only server lists alerts but raises none.
    alert_seconds: float = 60.0

    def options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.max_receive_message_length", self.max_receive_bytes),
            ("grpc.max_send_message_length", self.max_send_bytes),
            ("grpc.keepalive_time_ms", self.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", self.keepalive_timeout_ms),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.max_connection_idle_ms", self.max_connection_idle_ms),
            ("grpc.so_reuseport", 0),
        ]


def _check_bindable(host: str, port: int, *, tls: bool) -> None:
    """Say what is wrong with --host / --port in one line, before gRPC tries (and logs its own
    multi-line complaint): an address this machine does not have, or a port in use."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise InvalidInput(f"--host {host!r} is not an address of this machine ({e})") from e
    family, kind, proto, _name, address = infos[0]
    if not tls and not ipaddress.ip_address(address[0]).is_loopback:
        # Tokens and passwords must not cross a network in clear.
        raise InvalidInput(f"--host {host} is not a loopback address: serving it without TLS "
                           "would send tokens and passwords in clear; give --tls-cert and "
                           "--tls-key")
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as e:
            what = ("is in use (another server?)" if e.errno == errno.EADDRINUSE
                    else f"cannot be used: {e.strerror}")
            raise InvalidInput(f"port {port} on {host} {what}") from e


def _tls_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None and config.tls_key is None:
        if config.client_ca is not None:
            raise InvalidInput("--client-ca needs --tls-cert and --tls-key")
        return None
    if config.tls_cert is None or config.tls_key is None:
        raise InvalidInput("--tls-cert and --tls-key go together")
    try:
        chain, key = config.tls_cert.read_bytes(), config.tls_key.read_bytes()
        ca = None if config.client_ca is None else config.client_ca.read_bytes()
    except OSError as e:
        raise InvalidInput(f"{e.filename}: {e.strerror}") from None
    return grpc.ssl_server_credentials([(key, chain)], root_certificates=ca,
                                       require_client_auth=ca is not None)


class TraceServer:
    """A started gRPC server over one data directory. `port` is the bound port."""

    def __init__(self, data_dir: Path, config: ServerConfig) -> None:
        self.config = config
        self.health = health.HealthServicer()
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        no_auth = (Principal(0, "no-auth", "no-auth (local administrator)", "admin", "no-auth")
                   if config.no_auth else None)
        if config.client_crl is not None and config.client_ca is None:
            raise InvalidInput("--client-crl needs --client-ca (the CA that signs it)")
        revocations = (None if config.client_crl is None or config.client_ca is None
                       else Revocations(config.client_crl, config.client_ca))
        self.gate = Gate(None, Sessions(
            idle=timedelta(minutes=config.session_idle_minutes),
            absolute=timedelta(hours=config.session_hours)), no_auth, revocations)
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.workers,
                                       thread_name_prefix="tracegraph-rpc"),
            options=config.options(),
            maximum_concurrent_rpcs=config.max_concurrent_rpcs,
            interceptors=[AuthInterceptor(self.gate, dev=config.dev)],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.calls = CallGuard(config.calls)
        self.service = GenealogyService(None, config.limits, self.calls)
        add_service(self.service, self.server)
        self.ingest = IngestService(None, self.calls)
        ipb_grpc.add_IngestServicer_to_server(self.ingest, self.server)
        apb_grpc.add_AuthServicer_to_server(AuthService(self.gate), self.server)
        apb_grpc.add_UsersServicer_to_server(UsersService(self.gate), self.server)
        apb_grpc.add_AuditServicer_to_server(AuditService(self._audit_store), self.server)
        apb_grpc.add_CorrectionsServicer_to_server(
            CorrectionsService(self.gate, lambda: self.live,
                               lambda: None if self.checkpointer is None
                               else self.checkpointer.key), self.server)
        rpb_grpc.add_RecallsServicer_to_server(
            RecallsService(self.gate, lambda: self.live, lambda: self.graph,
                           self._audit_store), self.server)
        rpb_grpc.add_InvestigationServicer_to_server(
            InvestigationService(lambda: self.graph), self.server)
        self.alert_watch: AlertWatch | None = None
        qpb_grpc.add_QualityServicer_to_server(
            QualityService(lambda: self.graph, lambda: self.records, lambda: self.live,
                           lambda: self.alert_watch, self.calls, data_dir), self.server)
        if config.dev:
            reflection.enable_server_reflection(
                (SERVICE_NAME, INGEST_SERVICE_NAME, AUTH_SERVICE_NAME, AUDIT_SERVICE_NAME,
                 CORRECTIONS_SERVICE_NAME, USERS_SERVICE_NAME, RECALLS_SERVICE_NAME,
                 INVESTIGATION_SERVICE_NAME, QUALITY_SERVICE_NAME,
                 health.SERVICE_NAME,
                 reflection.SERVICE_NAME),
                self.server)
        tls = _tls_credentials(config)
        if config.no_auth and not ipaddress.ip_address(
                socket.getaddrinfo(config.host, None)[0][4][0]).is_loopback:
            raise InvalidInput("--no-auth serves loopback only")
        _check_bindable(config.host, config.port, tls=tls is not None)
        address = f"{config.host}:{config.port}"
        self.port = (self.server.add_insecure_port(address) if tls is None
                     else self.server.add_secure_port(address, tls))
        if self.port == 0:
            raise InvalidInput(f"cannot listen on {config.host}:{config.port}")
        self.web: WebServer | None = None
        self.gateway_target = f"{config.host}:{self.port}"
        if config.web_port is not None:
            if config.client_ca is not None:
                raise InvalidInput("the web app presents no client certificate: serve it "
                                   "from a server without --client-ca")
            _check_bindable(config.host, config.web_port, tls=tls is not None)
            if tls is not None:
                # The web app's calls to this server stay on this host: a listener on
                # loopback only (tokens still required), so the gateway needs no CA.
                inner = self.server.add_insecure_port("127.0.0.1:0")
                if inner == 0:
                    raise InvalidInput("cannot listen on 127.0.0.1 for the web app's calls")
                self.gateway_target = f"127.0.0.1:{inner}"
        self.server.start()
        self.calls.start()
        self.data_dir = data_dir
        self.graph: engine.Graph | None = None
        self.scrub_failed: str | None = None
        self.live: LiveStore | None = None
        self.records: Any = None  # the live store, or a read-only view of it, once loaded
        self.checkpointer: Checkpointer | None = None
        self._stopped = threading.Event()
        self._alerts_stopped = threading.Event()  # set first on stop: before the store closes
        if (config.audit_key is None) != (config.checkpoints is None):
            raise InvalidInput("--audit-key and --checkpoints go together")
        for path in (config.audit_key, config.checkpoints):
            if path is not None and path.resolve().is_relative_to(data_dir.resolve()):
                raise InvalidInput(f"{path} is inside the data directory: keep the signing key "
                                   "and the checkpoints where the store cannot reach them")

    def _set_health(self, status: int) -> None:
        self.health.set("", status)
        self.health.set(SERVICE_NAME, status)
        self.health.set(INGEST_SERVICE_NAME, status)

    def load(self) -> None:
        """Open the data directory (as its writer, unless read-only: the store's lock, the
        newest snapshot, the log replayed), warm the kernels, report SERVING."""
        if self.config.read_only:
            graph = engine.open(self.data_dir, warm=False)
            records: Any = ReadOnlyRecords(self.data_dir)
        else:
            self.live = LiveStore(self.data_dir, compact_edges=self.config.compact_edges,
                                  progress=log.info, audit_recovery=self.config.audit_recovery)
            graph = Graph(self.live.view().snapshot, self.live.view)
            records = self.live
        directory = Directory(records, password_max_age=timedelta(
            days=self.config.password_max_days) if self.config.password_max_days > 0 else None)
        if not self.config.no_auth and not directory.has_users():
            raise InvalidInput(
                f"{self.data_dir} has no users, so nobody could sign in: create the first "
                f"admin with `tracegraph users add NAME --role admin --data {self.data_dir} "
                "--password-stdin`, or serve with --no-auth (loopback only, for development)")
        self.gate.directory = directory
        self._audit_server("server.start")
        if (self.config.audit_key is not None and self.config.checkpoints is not None
                and self.live is not None):
            self.checkpointer = Checkpointer(
                self.live.store, self.config.audit_key, self.config.checkpoints,
                every_records=self.config.checkpoint_records,
                every_minutes=self.config.checkpoint_minutes, stopped=self._stopped)
            self.checkpointer.start()
        if not engine.kernels_compiled():
            log.info("compiling query kernels, once per install (a few seconds)")
        graph.warm()
        self.graph = graph
        self.service.graph = graph
        self.service.master_data = lambda: MasterData(records)
        self.records = records
        self.ingest.live = self.live
        self._set_health(health_pb2.HealthCheckResponse.SERVING)
        if self.live is not None and self.config.alert_seconds > 0:
            self.alert_watch = AlertWatch(self.live, lambda: self.graph,
                                          self.config.alert_seconds, self._alerts_stopped)
            self.alert_watch.start()
        if self.config.web_port is not None:
            self.gateway = Gateway(self.gateway_target)
            secure = self.config.tls_cert is not None
            self.web = WebServer(create_app(self.gateway, no_auth=self.config.no_auth,
                                            secure=secure),
                                 self.config.host, self.config.web_port,
                                 self.config.tls_cert if secure else None,
                                 self.config.tls_key if secure else None)
            self.web.start()
        if self.config.scrub_hours > 0:
            threading.Thread(target=self._scrub_forever, name="tracegraph-scrub",
                             daemon=True).start()

    def scrub(self) -> str | None:
        """Re-hash every file of the snapshot being served against its manifest (what an open
        cannot see: a change that kept size, mtime and inode). On a mismatch health turns
        NOT_SERVING, the error is logged, and returned; None when every file checks out."""
        graph = self.graph
        if graph is None:
            return None
        snapshot = graph.snapshot
        try:
            verify_files(snapshot.path, snapshot.manifest, full=True)
        except SnapshotError as e:
            self.scrub_failed = str(e)
            log.error("scrub: %s; serving stopped (NOT_SERVING): restart to fall back to an "
                      "intact snapshot, or rebuild", e)
            self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
            return self.scrub_failed
        return None

    def _scrub_forever(self) -> None:
        while not self._stopped.wait(self.config.scrub_hours * 3600):
            if self.scrub() is not None:
                return

    def _audit_server(self, action: str) -> None:
        """Server start and stop are audit records (a --no-auth start says so); a read-only
        server has no store to write them to, so it logs them."""
        details = {"host": self.config.host, "port": self.port, "no_auth": self.config.no_auth,
                   "read_only": self.config.read_only, "pid": os.getpid()}
        if self.config.no_auth and action == "server.start":
            log.warning("serving WITHOUT SIGN-IN (--no-auth): every caller on %s is the local "
                        "administrator; recorded in the audit trail", self.config.host)
        if self.live is None:
            log.info("%s (read-only: not in the audit trail) %s", action, details)
            return
        self.live.write([], [AuditEvent(action, 0, "server", details=details)])

    def _audit_store(self) -> AbstractContextManager[Store]:
        """The store the Audit service reads: the writer's, or a read-only open of it."""
        if self.live is not None:
            return contextlib.nullcontext(self.live.store)
        return contextlib.closing(Store(self.data_dir, writable=False))

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first, then stop; in-flight calls get the grace period to finish; then
        the store finishes queued batches and lets go of its lock."""
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self._alerts_stopped.set()
        if self.web is not None:
            self.web.stop()
            self.gateway.close()
        self.server.stop(self.config.grace_seconds if grace is None else grace).wait()
        self.calls.stop()
        if self.live is not None:
            if self.graph is not None:
                with contextlib.suppress(TraceError):
                    self._audit_server("server.stop")
            if self.checkpointer is not None:
                self.checkpointer.sign()
            self.live.close()
        self._stopped.set()

    def wait(self) -> None:
        self._stopped.wait()


def serve(data_dir: Path, config: ServerConfig,
          announce: Callable[[str], None] = print) -> None:
    """Run until SIGTERM or SIGINT. Announces the bound address once SERVING."""
    # Kernels and Arrow release the GIL for microseconds at a time; with the default 5 ms
    # switch interval a thread that let go can wait that long to get it back while another
    # RPC thread runs Python. A short interval keeps small calls from queueing behind each other.
    sys.setswitchinterval(config.switch_interval)
    server = TraceServer(data_dir, config)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            announce(f"received {signal.Signals(signum).name}; stopping "
                     f"(grace {config.grace_seconds:g} s)")
            threading.Thread(target=server.stop, name="tracegraph-stop").start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.load()
    except BaseException:
        server.stop(0)
        raise
    assert server.graph is not None
    announce(f"serving {server.graph.snapshot.path} ({server.graph.node_count:,} nodes, "
             f"{server.graph.edge_count:,} edges) on {config.host}:{server.port}")
    if server.web is not None:
        announce(f"web app: {server.web.url}")
    server.wait()
    announce("stopped")
    # Whatever a handler thread is still blocked on (grpc's pool threads are joined at
    # interpreter exit), the process ends now: the store is closed, the calls are over.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
