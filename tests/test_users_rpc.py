"""Account administration over gRPC while the server runs (the CLI would need the writer
lock): an admin adds, changes, deactivates and unlocks users and issues and revokes tokens;
each change takes effect on the next call and is an audit record naming the admin; anyone
changes their own password with the current one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from index.store import Store
from server.rpc import auth_pb2 as apb
from server.rpc import auth_pb2_grpc as apb_grpc
from server.serve import ServerConfig, TraceServer
from trust.audit import decode
from trust.identity import Directory, Principal

OWNER = Principal(0, "os:test", "os:test", "admin", "os")
ADMIN_PASSWORD = "admin-password-long"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TraceServer]:
    store = Store(tmp_path / "data", writable=True)
    Directory(store).add("ada", "admin", OWNER, full_name="Ada Admin", password=ADMIN_PASSWORD)
    store.close()
    running = TraceServer(tmp_path / "data", ServerConfig(port=0, compact_edges=0))
    running.load()
    yield running
    running.stop(0)


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def _login(channel: grpc.Channel, user: str, password: str) -> str:
    reply = apb_grpc.AuthStub(channel).Login(apb.LoginRequest(user=user, password=password),
                                             timeout=10)
    return str(reply.token)


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code()  # type: ignore[no-any-return]


def test_an_admin_manages_accounts_while_the_server_runs(server: TraceServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        users, auth = apb_grpc.UsersStub(channel), apb_grpc.AuthStub(channel)
        admin = _bearer(_login(channel, "ada", ADMIN_PASSWORD))
        added = users.Add(apb.AddUserRequest(name="quinn", role="viewer", full_name="Quinn QA",
                                             password="quinn-password-long"),
                          metadata=admin, timeout=10)
        assert (added.name, added.role, added.active) == ("quinn", "viewer", True)
        quinn = _bearer(_login(channel, "quinn", "quinn-password-long"))
        assert auth.WhoAmI(apb.WhoAmIRequest(), metadata=quinn, timeout=10).role == "viewer"
        # A viewer may not manage accounts.
        assert _code(lambda: users.List(apb.ListUsersRequest(), metadata=quinn,
                                        timeout=10).next()) == grpc.StatusCode.PERMISSION_DENIED
        assert _code(lambda: users.SetRole(apb.SetRoleRequest(name="quinn", role="qa"),
                                           metadata=admin, timeout=10)
                     ) == grpc.StatusCode.INVALID_ARGUMENT  # a reason is required
        users.SetRole(apb.SetRoleRequest(name="quinn", role="qa", reason="joined QA"),
                      metadata=admin, timeout=10)
        assert {u.name: u.role for u in users.List(apb.ListUsersRequest(), metadata=admin,
                                                   timeout=10)} == {"ada": "admin",
                                                                    "quinn": "qa"}
        # A service account and its token; revoked, the token fails on the next call.
        users.Add(apb.AddUserRequest(name="erp", role="writer", kind="service"),
                  metadata=admin, timeout=10)
        issued = users.IssueToken(apb.IssueTokenRequest(name="erp", expires_days=90),
                                  metadata=admin, timeout=10)
        assert issued.text.startswith(f"tg1.{issued.token.id}.")
        assert issued.token.HasField("expires_at")
        erp = _bearer(issued.text)
        assert auth.WhoAmI(apb.WhoAmIRequest(), metadata=erp, timeout=10).user == "erp"
        assert [t.id for t in users.ListTokens(apb.ListTokensRequest(), metadata=admin,
                                               timeout=10)] == [issued.token.id]
        revoked = users.RevokeToken(apb.RevokeTokenRequest(id=issued.token.id,
                                                           reason="ERP replaced"),
                                    metadata=admin, timeout=10)
        assert revoked.HasField("revoked_at")
        assert _code(lambda: auth.WhoAmI(apb.WhoAmIRequest(), metadata=erp, timeout=10)
                     ) == grpc.StatusCode.UNAUTHENTICATED
        # Deactivated: the password no longer signs in.
        users.Deactivate(apb.UserChangeRequest(name="quinn", reason="left"), metadata=admin,
                         timeout=10)
        assert _code(lambda: _login(channel, "quinn", "quinn-password-long")
                     ) == grpc.StatusCode.UNAUTHENTICATED
    records = server.live.store.audit_records() if server.live else []
    changes = [decode(v) for _, v in records]
    by_admin = [r["action"] for r in changes if r["user"] == "Ada Admin (ada)"
                and r["action"].startswith(("user.", "token."))]
    assert by_admin == ["user.add", "user.set_role", "user.add", "token.issue", "token.revoke",
                        "user.deactivate"]
    assert not any("quinn-password-long" in str(r) or issued.text in str(r) for r in changes)


def test_a_lockout_is_lifted_by_an_admin_and_passwords_change(server: TraceServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        users, auth = apb_grpc.UsersStub(channel), apb_grpc.AuthStub(channel)
        admin = _bearer(_login(channel, "ada", ADMIN_PASSWORD))
        users.Add(apb.AddUserRequest(name="ivy", role="investigator",
                                     password="ivy-password-long"), metadata=admin, timeout=10)
        for _ in range(5):
            assert _code(lambda: _login(channel, "ivy", "wrong")) == \
                grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: _login(channel, "ivy", "ivy-password-long")) == \
            grpc.StatusCode.UNAUTHENTICATED  # locked
        locked = next(u for u in users.List(apb.ListUsersRequest(), metadata=admin, timeout=10)
                      if u.name == "ivy")
        assert locked.HasField("locked_until")
        users.Unlock(apb.UserChangeRequest(name="ivy", reason="called the help desk"),
                     metadata=admin, timeout=10)
        ivy = _bearer(_login(channel, "ivy", "ivy-password-long"))
        assert _code(lambda: auth.ChangePassword(apb.ChangePasswordRequest(
            current_password="not it", new_password="ivy-new-password-long"), metadata=ivy,
            timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
        assert _code(lambda: auth.ChangePassword(apb.ChangePasswordRequest(
            current_password="ivy-password-long", new_password="short"), metadata=ivy,
            timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
        auth.ChangePassword(apb.ChangePasswordRequest(
            current_password="ivy-password-long", new_password="ivy-new-password-long"),
            metadata=ivy, timeout=10)
        assert _code(lambda: _login(channel, "ivy", "ivy-password-long")) == \
            grpc.StatusCode.UNAUTHENTICATED
        _login(channel, "ivy", "ivy-new-password-long")
        users.SetPassword(apb.SetPasswordRequest(name="ivy", password="reset-by-admin-long"),
                          metadata=admin, timeout=10)
        _login(channel, "ivy", "reset-by-admin-long")
