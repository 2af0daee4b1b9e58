"""Who is calling and what their role allows, for every RPC, before any work is done.

`AuthInterceptor` reads `authorization: Bearer <token>` from the call's metadata: a session
token (from Auth.Login, kept here in memory: it ends after `idle` without a call and `absolute`
after sign-in) or an API token of a service account (trust.identity). No token, or one that is
not valid: UNAUTHENTICATED. A method the caller's role may not call, or one with no rule in
trust.roles.RPC_RULES: PERMISSION_DENIED. Streaming calls are refused the same way, before the
first message is read. Health (and reflection with --dev) need no token.

The principal of a call is found with `principal_of(context)` by the servicers (Ingest records
it as the writer, Auth answers WhoAmI with it).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection

from domain.errors import PermissionDenied, TraceError, Unauthenticated
from server.status import abort_for
from trust.clock import Clock, SystemClock
from trust.identity import Directory, Principal
from trust.revocation import Revocations
from trust.roles import PUBLIC_METHODS, RPC_RULES

__all__ = ["AuthInterceptor", "ClientCertificate", "Gate", "Sessions", "bearer",
           "principal_of", "require"]

ClientCertificate = tuple[str, bytes]
"""(common name, PEM) of a client certificate TLS verified."""

SESSION_PREFIX = "tgs1."
_REFLECTION = f"/{reflection.SERVICE_NAME}/"


@dataclass
class _Session:
    principal: Principal
    created: datetime
    last_used: datetime


class Sessions:
    """Signed-in people, in memory (a restart signs everyone out). Tokens are kept as their
    SHA-256 only."""

    def __init__(self, clock: Clock | None = None, idle: timedelta = timedelta(minutes=15),
                 absolute: timedelta = timedelta(hours=12)) -> None:
        self.clock = clock or SystemClock()
        self.idle = idle
        self.absolute = absolute
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def open(self, principal: Principal) -> tuple[str, datetime]:
        """A new session: (token, the latest it can last)."""
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        with self._lock:
            self._sessions[_digest(token)] = _Session(principal, now, now)
        return token, now + self.absolute

    def check(self, token: str) -> Principal:
        now = self.clock.now()
        key = _digest(token)
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and (now - session.last_used > self.idle
                                        or now - session.created > self.absolute):
                del self._sessions[key]
                session = None
            if session is None:
                raise Unauthenticated("the session has ended (signed out, idle for too long "
                                      "or too old); sign in again")
            session.last_used = now
            return session.principal

    def close(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(_digest(token), None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(metadata: Any) -> str | None:
    """The token of `authorization: Bearer <token>` (None when absent); a malformed header
    is Unauthenticated."""
    values = [value for key, value in (metadata or ()) if key == "authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise Unauthenticated("more than one authorization header")
    value = values[0]
    if not isinstance(value, str):
        raise Unauthenticated("the authorization header is not text")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 512:
        raise Unauthenticated("the authorization header must be 'Bearer <token>'")
    return token.strip()


class Gate:
    """Resolves and authorizes callers. `directory` holds users and API tokens (None on a
    server without a store); `no_auth` is the principal everyone is on a --no-auth server."""

    def __init__(self, directory: Directory | None, sessions: Sessions,
                 no_auth: Principal | None = None,
                 revocations: Revocations | None = None) -> None:
        """`revocations`: the client CA's CRL (mTLS), checked for every certificate."""
        self.directory = directory
        self.sessions = sessions
        self.no_auth = no_auth
        self.revocations = revocations

    def principal(self, metadata: Any,
                  certificate: Callable[[], ClientCertificate | None] = lambda: None
                  ) -> Principal:
        """The caller: a bearer token first; else the verified client certificate (mTLS,
        asked for only then): not revoked, its common name an active service account."""
        if self.no_auth is not None:
            return self.no_auth
        token = bearer(metadata)
        presented = certificate() if token is None else None
        if presented is not None:
            return self._certificate(*presented)
        if token is None:
            raise Unauthenticated("no credentials: send 'authorization: Bearer <token>' "
                                  "(Auth.Login, or an API token)")
        if token.startswith(SESSION_PREFIX):
            return self.sessions.check(token)
        if self.directory is None:
            raise Unauthenticated("this server has no user directory")
        return self.directory.check_token(token)

    def _certificate(self, name: str, pem: bytes) -> Principal:
        if self.revocations is not None:
            self.revocations.check(pem)
        user = None if self.directory is None else self.directory.find(name)
        if user is None or not user.active or user.kind != "service":
            raise Unauthenticated(f"the client certificate {name!r} names no active service "
                                  "account")
        return Principal(user.id, user.name, user.full_name, user.role, "certificate")

    def authorize(self, method: str, metadata: Any,
                  certificate: Callable[[], ClientCertificate | None] = lambda: None
                  ) -> Principal:
        principal = self.principal(metadata, certificate)
        rule = RPC_RULES.get(method)
        if rule is not None and self.no_auth is not None:
            return principal  # --no-auth: the local administrator may call every method
        if rule is None or principal.role not in rule:
            raise PermissionDenied(f"{principal.name} ({principal.role}) may not call "
                                   f"{method.rsplit('/', 1)[-1]}")
        return principal


# Keyed by the call's context object itself, weakly: an entry lives exactly as long as its
# call's context. (Keyed by id(context), a finished call's clean-up could remove the entry of
# a new call whose context got the same address: seen once in the soak test as UNKNOWN.)
_PRINCIPALS: weakref.WeakKeyDictionary[Any, Principal] = weakref.WeakKeyDictionary()
_PRINCIPALS_LOCK = threading.Lock()


def principal_of(context: grpc.ServicerContext) -> Principal:
    """The principal the interceptor found for this call."""
    with _PRINCIPALS_LOCK:
        principal = _PRINCIPALS.get(context)
    if principal is None:
        raise Unauthenticated("no principal for this call")
    return principal


def _remember(context: grpc.ServicerContext, principal: Principal) -> None:
    with _PRINCIPALS_LOCK:
        _PRINCIPALS[context] = principal


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Deny by default: every method needs a rule and a caller whose role it lists."""

    def __init__(self, gate: Gate, *, dev: bool = False) -> None:
        self.gate = gate
        self.dev = dev

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        method = details.method
        if handler is None or method in PUBLIC_METHODS or (
                self.dev and method.startswith(_REFLECTION)):
            return handler
        return _replace(handler, _guarded(self.gate, method, handler))


def _guarded(gate: Gate, method: str, handler: Any) -> Callable[[Any, grpc.ServicerContext], Any]:
    """The handler's behavior behind the check: who is calling (token, or the verified client
    certificate) and whether their role allows `method`, before the servicer runs or a
    streamed request is read."""
    behavior = (handler.unary_unary or handler.unary_stream or handler.stream_unary
                or handler.stream_stream)

    def run(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            principal = gate.authorize(method, context.invocation_metadata(),
                                       lambda: _client_certificate(context))
        except TraceError as error:
            abort_for(context, error)
        except Exception:  # a malformed header must not become UNKNOWN
            abort_for(context, Unauthenticated("the credentials are malformed"))
        _remember(context, principal)
        return behavior(request, context)

    return run


def _client_certificate(context: grpc.ServicerContext) -> ClientCertificate | None:
    """The common name and PEM of the client certificate TLS verified (mTLS), if any."""
    found = context.auth_context()
    names, pems = found.get("x509_common_name") or [], found.get("x509_pem_cert") or []
    if not names:
        return None
    return names[0].decode("utf-8", "replace"), pems[0] if pems else b""


def _replace(handler: Any, behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Any:
    """`handler` with another behavior, of the same kind (unary or streaming each way)."""
    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(behavior, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


def require(context: grpc.ServicerContext) -> Principal:
    """principal_of, ending the call with UNAUTHENTICATED when there is none."""
    try:
        return principal_of(context)
    except TraceError as error:
        abort_for(context, error)
        raise
