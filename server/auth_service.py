"""tracegraph.v1.Auth (sign in, sign out, who am I) and tracegraph.v1.Audit (read and verify
the audit trail) over the server's user directory and store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import grpc

from domain.errors import Conflict, TraceError, Unavailable
from index.store import Store
from server.auth import Gate, bearer, require
from server.convert.rows import from_timestamp, timestamp
from server.rpc import auth_pb2 as apb
from server.rpc import auth_pb2_grpc as apb_grpc
from server.status import abort_for
from server.users_service import change_password
from trust.audit import decode, matches
from trust.corrections import Correction, Corrections
from trust.identity import Principal
from trust.verify import verify_store

__all__ = ["AuditService", "AuthService", "CorrectionsService"]

StoreAccess = Callable[[], AbstractContextManager[Store]]


def _identity(principal: Principal) -> apb.Identity:
    return apb.Identity(user_id=principal.user_id, user=principal.name,
                        full_name=principal.full_name, role=principal.role, via=principal.via)


class AuthService(apb_grpc.AuthServicer):  # type: ignore[misc]
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def Login(self, request: apb.LoginRequest,  # noqa: N802 - gRPC method name
              context: grpc.ServicerContext) -> apb.LoginResponse:
        try:
            if self.gate.no_auth is not None:
                raise Unavailable("this server runs with --no-auth: there is nothing to sign "
                                  "in to")
            if self.gate.directory is None:
                raise Unavailable("sign-in needs the writer (this server is read-only); use "
                                  "an API token here")
            principal = self.gate.directory.login(request.user, request.password,
                                                  via="session")
            token, expires = self.gate.sessions.open(principal)
        except TraceError as error:
            abort_for(context, error)
            raise
        return apb.LoginResponse(token=token, expires_at=timestamp(expires),
                                 identity=_identity(principal))

    def Logout(self, request: apb.LogoutRequest,  # noqa: N802
               context: grpc.ServicerContext) -> apb.LogoutResponse:
        require(context)
        token = bearer(context.invocation_metadata())
        if token is not None:
            self.gate.sessions.close(token)
        return apb.LogoutResponse()

    def WhoAmI(self, request: apb.WhoAmIRequest,  # noqa: N802
               context: grpc.ServicerContext) -> apb.Identity:
        return _identity(require(context))

    def ChangePassword(self, request: apb.ChangePasswordRequest,  # noqa: N802
                       context: grpc.ServicerContext) -> apb.ChangePasswordResponse:
        return change_password(self.gate, request, context)


class AuditService(apb_grpc.AuditServicer):  # type: ignore[misc]
    """Reads the store the server writes (or, read-only, a fresh read-only open of it)."""

    def __init__(self, store: StoreAccess) -> None:
        self.store = store

    def Log(self, request: apb.AuditLogRequest,  # noqa: N802
            context: grpc.ServicerContext) -> Iterator[apb.AuditRecord]:
        require(context)
        try:
            since = from_timestamp(request.since, request.HasField("since"), "since")
            until = from_timestamp(request.until, request.HasField("until"), "until")
            with self.store() as store:
                for seq, data in store.audit_records():
                    if matches(decode(data), since=since, until=until, user=request.user,
                               key=request.key, action=request.action):
                        yield apb.AuditRecord(seq=seq, json=data.decode("utf-8"))
        except TraceError as error:
            abort_for(context, error)

    def Verify(self, request: apb.AuditVerifyRequest,  # noqa: N802
               context: grpc.ServicerContext) -> apb.AuditVerifyResponse:
        require(context)
        try:
            with self.store() as store:
                report = verify_store(store)
        except TraceError as error:
            abort_for(context, error)
            raise
        return apb.AuditVerifyResponse(intact=report.ok, records=report.records,
                                       first_bad=report.first_bad or 0,
                                       problems=report.problems, root=report.root)


class CorrectionsService(apb_grpc.CorrectionsServicer):  # type: ignore[misc]
    """tracegraph.v1.Corrections over the live store (read-only servers refuse changes)."""

    def __init__(self, gate: Gate, live: Callable[[], Any],
                 signing_key: Callable[[], Any] = lambda: None) -> None:
        """`signing_key()`: the server's Ed25519 key that also signs approvals (or None)."""
        self.gate = gate
        self.live = live
        self.signing_key = signing_key

    def _corrections(self, context: grpc.ServicerContext) -> Corrections:
        live = self.live()
        if live is None:
            abort_for(context, Unavailable("corrections are made on the server that owns the "
                                           "data directory (this one is read-only)"))
        return Corrections(live, signing_key=self.signing_key())

    def Propose(self, request: apb.ProposeRequest,  # noqa: N802
                context: grpc.ServicerContext) -> apb.CorrectionRecord:
        principal = require(context)
        try:
            corrections = self._corrections(context)
            if request.rollback_of:
                proposal = corrections.rollback(request.rollback_of, principal, request.reason)
            else:
                proposal = corrections.propose(_change_of(request), principal,
                                               request.reason)
        except TraceError as error:
            abort_for(context, error)
            raise
        return _record(proposal)

    def Approve(self, request: apb.DecideRequest,  # noqa: N802
                context: grpc.ServicerContext) -> apb.CorrectionRecord:
        principal = require(context)
        try:
            corrections = self._corrections(context)
            corrections.get(request.id)  # an unknown id is INVALID_ARGUMENT, before any sign-in
            directory = self.gate.directory
            if directory is None:
                raise Unavailable("no user directory")
            # The signature: the approver proves again who they are.
            signer = directory.login(principal.name, request.password, via="signature")
            batch = corrections.approval(request.id, signer, request.reason or None)
            ack = self.live().ingest(batch)
            if ack.outcome != "applied":
                raise Conflict(f"correction {request.id} was not signed: {ack.message}")
            return _record(corrections.get(request.id))
        except TraceError as error:
            abort_for(context, error)
            raise

    def Reject(self, request: apb.DecideRequest,  # noqa: N802
               context: grpc.ServicerContext) -> apb.CorrectionRecord:
        principal = require(context)
        try:
            return _record(self._corrections(context).reject(request.id, principal,
                                                             request.reason))
        except TraceError as error:
            abort_for(context, error)
            raise

    def Get(self, request: apb.GetCorrectionRequest,  # noqa: N802
            context: grpc.ServicerContext) -> apb.CorrectionRecord:
        require(context)
        try:
            return _record(self._corrections(context).get(request.id))
        except TraceError as error:
            abort_for(context, error)
            raise

    def List(self, request: apb.ListCorrectionsRequest,  # noqa: N802
             context: grpc.ServicerContext) -> Iterator[apb.CorrectionRecord]:
        require(context)
        try:
            for correction in self._corrections(context).all():
                yield _record(correction)
        except TraceError as error:
            abort_for(context, error)


def _change_of(request: apb.ProposeRequest) -> dict[str, Any]:
    """The change a ProposeRequest names (trust.changes checks it)."""
    if request.type == "approval-policy":
        return {"type": request.type, "policy": request.policy_toml}
    if request.type == "set-attribute":
        return {"type": request.type, "key": request.key, "field": request.field,
                "value": request.value}
    if request.type == "move-serial":
        return {"type": request.type, "serial": request.dst, "from": request.src,
                "to": request.move_to, "kind": request.kind}
    when = from_timestamp(request.event_time, request.HasField("event_time"), "event_time")
    return {"type": request.type, "src": request.src, "dst": request.dst,
            "kind": request.kind, "event_time": when, "event_id": request.event_id or None}


def _record(correction: Correction) -> apb.CorrectionRecord:
    return apb.CorrectionRecord(id=correction.id, state=correction.state,
                                json=correction.encode().decode("utf-8"))
