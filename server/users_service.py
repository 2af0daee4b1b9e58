"""tracegraph.v1.Users (accounts and API tokens while the server runs, for admins) and
Auth.ChangePassword's directory side. Every change goes through trust.identity.Directory, so it
is an audit record naming the admin, written by the one writer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from domain.errors import InvalidInput, TraceError, Unauthenticated, Unavailable
from server.auth import Gate, require
from server.convert.rows import timestamp
from server.rpc import auth_pb2 as apb
from server.rpc import auth_pb2_grpc as apb_grpc
from server.status import abort_for
from trust.identity import Directory, Token, User

__all__ = ["UsersService", "change_password", "token_record", "user_record"]

T = TypeVar("T")


def _stamp(text: str | None) -> Timestamp | None:
    return None if not text else timestamp(datetime.fromisoformat(text))


def user_record(user: User) -> apb.UserRecord:
    """The user as the wire shows it (never the password hash or failure times)."""
    return apb.UserRecord(id=user.id, name=user.name, full_name=user.full_name, role=user.role,
                          kind=user.kind, active=user.active,
                          created_at=_stamp(user.created_at),
                          password_set_at=_stamp(user.password_set_at),
                          locked_until=_stamp(user.locked_until))


def token_record(token: Token) -> apb.TokenRecord:
    """The token's record (never its secret nor the secret's digest)."""
    return apb.TokenRecord(id=token.id, user_id=token.user_id, issued_at=_stamp(token.issued_at),
                           expires_at=_stamp(token.expires_at),
                           revoked_at=_stamp(token.revoked_at))


def change_password(gate: Gate, request: apb.ChangePasswordRequest,
                    context: grpc.ServicerContext) -> apb.ChangePasswordResponse:
    """Auth.ChangePassword: the caller's current password proves it is them."""
    principal = require(context)
    try:
        directory = _directory(gate)
        try:
            signer = directory.login(principal.name, request.current_password, via="password")
        except Unauthenticated as e:  # the caller is signed in: their argument is wrong
            raise InvalidInput("the current password is not right (counted as a failed "
                               "sign-in; five in 15 minutes lock the account)") from e
        directory.set_password(signer.name, request.new_password, signer)
    except TraceError as error:
        abort_for(context, error)
        raise
    return apb.ChangePasswordResponse()


def _directory(gate: Gate) -> Directory:
    if gate.no_auth is not None:
        raise Unavailable("this server runs with --no-auth: it has no accounts to manage")
    if gate.directory is None:
        raise Unavailable("accounts are managed on the server that owns the data directory "
                          "(this one is read-only)")
    return gate.directory


class UsersService(apb_grpc.UsersServicer):  # type: ignore[misc]
    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def _do(self, context: grpc.ServicerContext, work: Callable[[Directory, Any], T]) -> T:
        principal = require(context)
        try:
            return work(_directory(self.gate), principal)
        except TraceError as error:
            abort_for(context, error)
            raise

    def List(self, request: apb.ListUsersRequest,  # noqa: N802 - gRPC method name
             context: grpc.ServicerContext) -> Iterator[apb.UserRecord]:
        users = self._do(context, lambda d, _: d.users())
        yield from (user_record(u) for u in users)

    def Add(self, request: apb.AddUserRequest,  # noqa: N802
            context: grpc.ServicerContext) -> apb.UserRecord:
        return user_record(self._do(context, lambda d, by: d.add(
            request.name, request.role, by, full_name=request.full_name or None,
            password=request.password or None, kind=request.kind or "person")))

    def SetRole(self, request: apb.SetRoleRequest,  # noqa: N802
                context: grpc.ServicerContext) -> apb.UserRecord:
        return user_record(self._do(context, lambda d, by: d.set_role(
            request.name, request.role, by, request.reason)))

    def Deactivate(self, request: apb.UserChangeRequest,  # noqa: N802
                   context: grpc.ServicerContext) -> apb.UserRecord:
        return user_record(self._do(context, lambda d, by: d.deactivate(
            request.name, by, request.reason)))

    def Unlock(self, request: apb.UserChangeRequest,  # noqa: N802
               context: grpc.ServicerContext) -> apb.UserRecord:
        return user_record(self._do(context, lambda d, by: d.unlock(
            request.name, by, request.reason)))

    def SetPassword(self, request: apb.SetPasswordRequest,  # noqa: N802
                    context: grpc.ServicerContext) -> apb.UserRecord:
        return user_record(self._do(context, lambda d, by: d.set_password(
            request.name, request.password, by)))

    def IssueToken(self, request: apb.IssueTokenRequest,  # noqa: N802
                   context: grpc.ServicerContext) -> apb.IssuedToken:
        expires = timedelta(days=request.expires_days) if request.expires_days else None
        token, text = self._do(context, lambda d, by: d.issue_token(request.name, by, expires))
        return apb.IssuedToken(token=token_record(token), text=text)

    def RevokeToken(self, request: apb.RevokeTokenRequest,  # noqa: N802
                    context: grpc.ServicerContext) -> apb.TokenRecord:
        return token_record(self._do(context, lambda d, by: d.revoke_token(
            request.id, by, request.reason)))

    def ListTokens(self, request: apb.ListTokensRequest,  # noqa: N802
                   context: grpc.ServicerContext) -> Iterator[apb.TokenRecord]:
        tokens = self._do(context, lambda d, _: d.tokens())
        yield from (token_record(t) for t in tokens)
