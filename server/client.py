"""A small typed Python client for tracegraph.v1 that hides the stubs.

It speaks the same language as the in-process `engine.Graph`: the same method names and
arguments, Arrow tables back, and the same `TraceError` classes on failure (mapped from status
codes by `server.status`). Every call has a deadline (30 s unless told otherwise).

    with TraceClient("127.0.0.1:50051") as client:
        rows = client.trace("urn:epc:class:lgtin:0614141.109001.S000001")
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
import pyarrow as pa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from domain.direction import ALIASES
from domain.errors import InvalidInput, SnapshotError
from domain.schemas import HOURGLASS_SCHEMA, TRACE_SCHEMA, TRACE_VIA_SCHEMA
from domain.time import TimeLike
from engine.graph import Impact
from server.convert.queries import (
    direction_to_proto,
    filters_to_proto,
    format_to_proto,
    impact_from_proto,
    node_from_proto,
    path_from_proto,
    stats_from_proto,
)
from server.convert.rows import rows_from_chunks
from server.rpc import auth_pb2 as apb
from server.rpc import auth_pb2_grpc as apb_grpc
from server.rpc import genealogy_pb2 as pb
from server.rpc import genealogy_pb2_grpc as pb_grpc
from server.status import error_from_rpc

__all__ = ["TraceClient", "token_path"]

T = TypeVar("T")
MiB = 1024 * 1024


class _Bearer(grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
              grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
              grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
              grpc.StreamStreamClientInterceptor):  # type: ignore[misc]
    """Adds `authorization: Bearer <token>` to every call (when there is a token)."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    def _details(self, details: Any) -> Any:
        if not self.token:
            return details
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {self.token}")]
        return _CallDetails(details.method, details.timeout, metadata, details.credentials,
                            details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


class _CallDetails(grpc.ClientCallDetails):  # type: ignore[misc]
    def __init__(self, method: str, timeout: float | None, metadata: Any, credentials: Any,
                 wait_for_ready: bool | None, compression: Any) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def token_path(target: str) -> Path:
    """Where `tracegraph login --server TARGET` keeps the session token (mode 0600)."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "tracegraph" / ("token-" + re.sub(r"[^A-Za-z0-9.-]", "_", target))


def _saved_token(target: str) -> str | None:
    path = token_path(target)
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class TraceClient:
    """Client of one tracegraph server (`host:port`). Thread-safe; close it when done.

    Every call carries `token` (a session token from `login`, or an API token); by default the
    TRACEGRAPH_TOKEN environment variable, else the token `tracegraph login` saved for this
    server."""

    def __init__(self, target: str, *, timeout: float = 30.0,
                 max_receive_bytes: int = 64 * MiB, token: str | None = None,
                 tls_ca: Path | None = None, client_cert: Path | None = None,
                 client_key: Path | None = None) -> None:
        """`tls_ca`: connect with TLS, trusting this CA (PEM); `client_cert` and
        `client_key`: present this certificate (mTLS)."""
        self.target = target
        self.timeout = timeout
        options = [("grpc.max_receive_message_length", max_receive_bytes),
                   ("grpc.keepalive_time_ms", 30_000)]
        if tls_ca is None:
            self._raw = grpc.insecure_channel(target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                tls_ca.read_bytes(),
                None if client_key is None else client_key.read_bytes(),
                None if client_cert is None else client_cert.read_bytes())
            self._raw = grpc.secure_channel(target, credentials, options=options)
        self._bearer = _Bearer(token if token is not None
                               else os.environ.get("TRACEGRAPH_TOKEN") or _saved_token(target))
        self.channel = grpc.intercept_channel(self._raw, self._bearer)
        self.stub = pb_grpc.GenealogyStub(self.channel)
        self.auth = apb_grpc.AuthStub(self.channel)

    def login(self, user: str, password: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Sign in; later calls carry the session token. Returns who signed in and the token
        (keep it secret)."""
        reply = self._call(self.auth.Login, apb.LoginRequest(user=user, password=password),
                           timeout)
        self._bearer.token = reply.token
        return {"user": reply.identity.user, "role": reply.identity.role,
                "expires_at": reply.expires_at.ToDatetime(tzinfo=UTC), "token": reply.token}

    def logout(self, *, timeout: float | None = None) -> None:
        self._call(self.auth.Logout, apb.LogoutRequest(), timeout)
        self._bearer.token = None

    def whoami(self, *, timeout: float | None = None) -> dict[str, Any]:
        reply = self._call(self.auth.WhoAmI, apb.WhoAmIRequest(), timeout)
        return {"user_id": reply.user_id, "user": reply.user, "full_name": reply.full_name,
                "role": reply.role, "via": reply.via}

    def __enter__(self) -> TraceClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._raw.close()

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        """Block until the server's health says SERVING (it warms up first)."""
        stub = health_pb2_grpc.HealthStub(self.channel)
        deadline = datetime.now(UTC).timestamp() + timeout
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0,
                                   wait_for_ready=True)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if datetime.now(UTC).timestamp() > deadline:
                raise SnapshotError(f"{self.target} did not report SERVING within {timeout} s")

    def _call(self, call: Any, request: Any, timeout: float | None) -> Any:
        try:
            return call(request, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise error_from_rpc(e) from None

    def _stream(self, stream: Iterator[T]) -> Iterator[T]:
        try:
            yield from stream
        except grpc.RpcError as e:
            raise error_from_rpc(e) from None

    def trace(self, keys: str | Sequence[str], direction: str = "downstream",
              max_depth: int | None = None, edge_kinds: Iterable[str] | None = None,
              node_kinds: Iterable[str] | None = None, since: TimeLike = None,
              until: TimeLike = None, as_of: TimeLike = None, limit: int | None = None,
              via: bool = False, *, arrow: bool = False,
              timeout: float | None = None, time_respecting: bool = False,
              products: Iterable[str] | None = None,
              columns: Sequence[str] = ()) -> pa.Table:
        """As `engine.Graph.trace`, attribute columns typed alike. Rows come in
        one unary call when the answer is small (the fast path for frequent lookups) and are
        streamed when it is not: the server says
        OUT_OF_RANGE after walking at most unary_max_rows nodes, and the client streams.
        `arrow=True` streams Arrow IPC chunks at once (bulk results)."""
        if direction not in ALIASES:
            raise InvalidInput(
                f"direction {direction!r} is not one of downstream (forward, where-used) or "
                "upstream (backward, where-from)")
        schema = TRACE_VIA_SCHEMA if via else TRACE_SCHEMA
        request = pb.TraceRequest(
            seeds=[keys] if isinstance(keys, str) else list(keys),
            direction=direction_to_proto(direction),
            filters=filters_to_proto(max_depth, edge_kinds, node_kinds, since, until, as_of),
            limit=limit or 0, include_via=via, format=format_to_proto(arrow),
            time_respecting=time_respecting, products=list(products or []),
            columns=list(columns))
        if not arrow:
            try:
                return rows_from_chunks([self.stub.TraceUnary(
                    request, timeout=timeout or self.timeout)], schema)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.OUT_OF_RANGE:
                    raise error_from_rpc(e) from None
        stream = self._call(self.stub.Trace, request, timeout)
        return rows_from_chunks(self._stream(stream), schema)

    def hourglass(self, key: str, max_depth: int | None = None,
                  edge_kinds: Iterable[str] | None = None,
                  node_kinds: Iterable[str] | None = None, since: TimeLike = None,
                  until: TimeLike = None, as_of: TimeLike = None, limit: int | None = None,
                  *, arrow: bool = False, timeout: float | None = None) -> pa.Table:
        request = pb.HourglassRequest(
            key=key,
            filters=filters_to_proto(max_depth, edge_kinds, node_kinds, since, until, as_of),
            limit=limit or 0, format=format_to_proto(arrow))
        stream = self._call(self.stub.Hourglass, request, timeout)
        return rows_from_chunks(self._stream(stream), HOURGLASS_SCHEMA)

    def impact(self, keys: Sequence[str], max_depth: int | None = None,
               edge_kinds: Iterable[str] | None = None, since: TimeLike = None,
               until: TimeLike = None, as_of: TimeLike = None, limit: int | None = None,
               rows: bool = True, *, arrow: bool = False,
               timeout: float | None = None) -> Impact:
        request = pb.ImpactRequest(
            seeds=list(keys),
            filters=filters_to_proto(max_depth, edge_kinds, None, since, until, as_of),
            limit=limit or 0, include_rows=rows, format=format_to_proto(arrow))
        chunks = self._stream(self._call(self.stub.Impact, request, timeout))
        summary = next(chunks).summary
        return impact_from_proto(summary, rows_from_chunks(c.rows for c in chunks)
                                 if rows else None)

    def path(self, src_key: str, dst_key: str, edge_kinds: Iterable[str] | None = None,
             since: TimeLike = None, until: TimeLike = None, as_of: TimeLike = None,
             *, timeout: float | None = None) -> pa.Table:
        request = pb.PathRequest(
            source=src_key, target=dst_key,
            filters=filters_to_proto(None, edge_kinds, None, since, until, as_of))
        return path_from_proto(self._call(self.stub.Path, request, timeout))

    def node(self, key: str, *, timeout: float | None = None) -> dict[str, Any]:
        return node_from_proto(self._call(self.stub.GetNode, pb.GetNodeRequest(key=key),
                                          timeout))

    def stats(self, *, timeout: float | None = None) -> dict[str, Any]:
        return stats_from_proto(self._call(self.stub.Stats, pb.StatsRequest(), timeout))
