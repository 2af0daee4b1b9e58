"""Sign-in and authority checks on a real server over loopback: every method of every service
against every role, no token, and forged, expired and revoked tokens; lockout and session
expiry with a clock the test moves; hostile authorization headers."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import symbol_database
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain.errors import PermissionDenied, Unauthenticated
from index.store import Store
from server.auth import Sessions
from server.client import TraceClient
from server.rpc import auth_pb2, genealogy_pb2, ingest_pb2, quality_pb2, recall_pb2
from server.serve import ServerConfig, TraceServer
from tests.test_audit import ENV
from trust.audit import decode
from trust.clock import FakeClock
from trust.identity import Directory, Principal
from trust.roles import PUBLIC_METHODS, ROLES, RPC_RULES

OWNER = Principal(0, "os:test", "os:test", "admin", "os")
PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
FILES = (genealogy_pb2, ingest_pb2, auth_pb2, recall_pb2, quality_pb2)


def _methods() -> list[tuple[str, Any]]:
    """(full method name, method descriptor) of every service we serve."""
    return [(f"/{service.full_name}/{method.name}", method)
            for module in FILES for service in module.DESCRIPTOR.services_by_name.values()
            for method in service.methods]


def test_every_method_has_a_rule() -> None:
    methods = {name for name, _ in _methods()}
    assert methods - set(RPC_RULES) == set(), "a method without a rule is denied to everyone"
    assert set(RPC_RULES) - methods == set(), "a rule for a method that does not exist"
    assert "/tracegraph.v1.Ingest/Ingest" in methods
    assert all(rule <= set(ROLES) for rule in RPC_RULES.values())
    decide = [m for m in methods if m.endswith(("Corrections/Approve", "Corrections/Reject"))]
    assert len(decide) == 2
    # An admin or a service account never approves; which of qa and investigator signs
    # which step is the approval policy's (trust.approvals, tested in test_corrections).
    assert all(not RPC_RULES[m] & {"admin", "writer"} for m in decide)


@pytest.fixture(scope="module")
def secured(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TraceServer, dict[str, str]]]:
    """A server with one service account per role, their tokens, and tokens that must fail."""
    data = tmp_path_factory.mktemp("secured") / "data"
    store = Store(data, writable=True)
    directory = Directory(store)
    tokens: dict[str, str] = {}
    for role in ROLES:
        directory.add(f"svc-{role}", role, OWNER, kind="service")
        tokens[role] = directory.issue_token(f"svc-{role}", OWNER)[1]
    directory.add("anna", "qa", OWNER, full_name="Anna Muller", password=PASSWORD)
    revoked, tokens["revoked"] = directory.issue_token("svc-viewer", OWNER)
    directory.revoke_token(revoked.id, OWNER, "left the company")
    directory.clock = FakeClock(T0 - timedelta(days=30))
    tokens["expired"] = directory.issue_token("svc-viewer", OWNER, timedelta(days=1))[1]
    directory.clock = FakeClock(T0)
    directory.add("gone", "viewer", OWNER, kind="service")
    tokens["deactivated"] = directory.issue_token("gone", OWNER)[1]
    directory.deactivate("gone", OWNER, "account closed")
    good = tokens["viewer"]
    tokens["forged"] = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    tokens["unknown"] = "tg1.0123456789abcdef.notarealsecretnotarealsecretnotarealsec"
    tokens["garbage"] = "hello"
    store.close()
    server = TraceServer(data, ServerConfig(port=0, compact_edges=0))
    server.load()
    yield server, tokens
    server.stop(0)


def _request(method: Any) -> Any:
    cls = symbol_database.Default().GetSymbol(method.input_type.full_name)
    if method.input_type.name == "TraceRequest":
        return cls(seeds=["lot:none"], direction=1)
    if method.input_type.name in ("HourglassRequest", "GetNodeRequest"):
        return cls(key="lot:none")
    if method.input_type.name == "ImpactRequest":
        return cls(seeds=["lot:none"])
    if method.input_type.name == "PathRequest":
        return cls(source="a", target="b")
    if method.input_type.name == "IngestBatch":
        return cls(source="probe", sequence=1, nodes=[ingest_pb2.NodeRecord(key="lot:probe",
                                                                           kind="lot")])
    return cls()


def _call(channel: grpc.Channel, name: str, method: Any, token: str | None) -> grpc.StatusCode:
    """Call `name` with `token`; the status it ends with (OK included)."""
    request = _request(method)
    response_cls = symbol_database.Default().GetSymbol(method.output_type.full_name)
    metadata = [] if token is None else [("authorization", f"Bearer {token}")]

    def requests() -> Iterator[Any]:
        yield request

    kind = (method.client_streaming, method.server_streaming)
    serialize, deserialize = type(request).SerializeToString, response_cls.FromString
    try:
        if kind == (False, False):
            channel.unary_unary(name, serialize, deserialize)(request, timeout=10,
                                                               metadata=metadata)
        elif kind == (False, True):
            list(channel.unary_stream(name, serialize, deserialize)(request, timeout=10,
                                                                     metadata=metadata))
        elif kind == (True, True):
            list(channel.stream_stream(name, serialize, deserialize)(requests(), timeout=10,
                                                                      metadata=metadata))
        else:
            channel.stream_unary(name, serialize, deserialize)(requests(), timeout=10,
                                                               metadata=metadata)
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


DENIED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def test_the_role_by_method_matrix(secured: tuple[TraceServer, dict[str, str]]) -> None:
    server, tokens = secured
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        for (name, method), who in itertools.product(_methods(), [None, *tokens]):
            code = _call(channel, name, method, None if who is None else tokens[who])
            if name in PUBLIC_METHODS:  # Login: a wrong password, never a token check
                assert code == grpc.StatusCode.UNAUTHENTICATED, (name, who)
            elif who in ROLES:
                if who in RPC_RULES[name]:
                    assert code not in DENIED, (name, who, code)
                else:
                    assert code == grpc.StatusCode.PERMISSION_DENIED, (name, who, code)
            else:
                assert code == grpc.StatusCode.UNAUTHENTICATED, (name, who, code)
    # Denied streams did no work: of every Ingest call made, only the writer's batch applied.
    assert server.live is not None
    assert [e.writer.split(" via ")[0] for e in server.live.store.entries()] == [
        "svc-writer (svc-writer)"]


def test_health_needs_no_token_and_reflection_is_off(
        secured: tuple[TraceServer, dict[str, str]]) -> None:
    server, _ = secured
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            lambda b: b, lambda b: b)
        with pytest.raises(grpc.RpcError) as info:
            list(reflect(iter([b""]), timeout=5))
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_sign_in_who_am_i_and_sign_out(secured: tuple[TraceServer, dict[str, str]]) -> None:
    server, _ = secured
    with TraceClient(f"127.0.0.1:{server.port}", token="") as client:
        with pytest.raises(Unauthenticated):
            client.stats()
        signed = client.login("anna", PASSWORD)
        assert (signed["user"], signed["role"]) == ("anna", "qa")
        assert client.whoami()["full_name"] == "Anna Muller"
        assert client.stats()["log_sequence"] >= 0  # a qa may read
        client.logout()
        with pytest.raises(Unauthenticated):
            client.stats()
        with pytest.raises(Unauthenticated, match="sign-in failed"):
            client.login("anna", "not the password at all")
        with pytest.raises(Unauthenticated, match="sign-in failed"):
            client.login("nobody", PASSWORD)  # the same answer for an unknown user
    with (TraceClient(f"127.0.0.1:{server.port}", token=secured[1]["writer"]) as writer,
          pytest.raises(PermissionDenied, match="may not call Trace")):
        writer.trace("lot:1")  # a writer account ingests; it does not read
    store_records = server.live.store.audit_records() if server.live else iter(())
    actions = [decode(v)["action"] for _, v in store_records]
    assert actions.count("auth.login") == 1
    assert actions.count("auth.login_failed") >= 2
    assert actions[-1] != "server.stop"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=600))
@example(value="Bearer ")
@example(value="Bearer tg1..")
@example(value="Bearer tgs1.")
@example(value="bearer " + "x" * 513)
@example(value="Basic dXNlcjpwYXNz")
def test_hostile_authorization_headers_are_unauthenticated(
        secured: tuple[TraceServer, dict[str, str]], value: str) -> None:
    server, _ = secured
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stats = channel.unary_unary("/tracegraph.v1.Genealogy/Stats",
                                    genealogy_pb2.StatsRequest.SerializeToString,
                                    genealogy_pb2.StatsResponse.FromString)
        with pytest.raises(grpc.RpcError) as info:
            stats(genealogy_pb2.StatsRequest(), timeout=5,
                  metadata=[("authorization", value)])
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, value


def test_lockout_after_five_failures_and_unlock_later(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = Store(tmp_path / "data", writable=True, clock=clock)
    try:
        directory = Directory(store, clock)
        directory.add("anna", "qa", OWNER, password=PASSWORD)
        for _ in range(5):
            clock.advance(minutes=1)
            with pytest.raises(Unauthenticated):
                directory.login("anna", "wrong password here")
        with pytest.raises(Unauthenticated):
            directory.login("anna", PASSWORD)  # locked: the right password does not help
        clock.advance(minutes=16)
        assert directory.login("anna", PASSWORD).role == "qa"
        actions = [decode(v)["action"] for _, v in store.audit_records()]
        assert actions.count("auth.login_failed") == 6
        assert actions.count("auth.locked") == 1
        assert actions[-1] == "auth.login"
        # Four failures spread over more than 15 minutes do not lock.
        for _ in range(8):
            clock.advance(minutes=5)
            with pytest.raises(Unauthenticated):
                directory.login("anna", "wrong password here")
        user = directory.find("anna")
        assert user is not None
        assert user.locked_until is None
    finally:
        store.close()


def test_sessions_end_when_idle_and_at_the_latest_after_twelve_hours() -> None:
    clock = FakeClock(T0)
    sessions = Sessions(clock)
    token, expires = sessions.open(OWNER)
    assert expires == T0 + timedelta(hours=12)
    clock.advance(minutes=14)
    assert sessions.check(token) == OWNER
    clock.advance(minutes=16)
    with pytest.raises(Unauthenticated):
        sessions.check(token)
    token, _ = sessions.open(OWNER)
    opened = clock.now()
    calls = 0
    while clock.now() - opened <= timedelta(hours=12):  # busy all day: a call every 10 min
        sessions.check(token)
        calls += 1
        clock.advance(minutes=10)
    assert calls == 12 * 6 + 1
    with pytest.raises(Unauthenticated):  # never idle, but 12 hours old
        sessions.check(token)


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", "serve", "--port", "0", *args],
                          capture_output=True, text=True, env=ENV, timeout=120, check=False)


def test_serve_refuses_a_directory_without_users_and_a_public_bind(tmp_path: Path) -> None:
    Store(tmp_path / "data", writable=True).close()
    no_users = _serve("--data", str(tmp_path / "data"))
    assert no_users.returncode == 1
    assert "has no users" in no_users.stderr
    assert "tracegraph users add" in no_users.stderr
    public = _serve("--data", str(tmp_path / "data"), "--host", "0.0.0.0")
    assert public.returncode == 1
    assert "not a loopback address" in public.stderr
    assert "--tls-cert" in public.stderr
    open_door = _serve("--data", str(tmp_path / "data"), "--no-auth", "--host", "0.0.0.0")
    assert open_door.returncode == 1
    assert "--no-auth serves loopback only" in open_door.stderr


def test_login_on_the_command_line_keeps_a_private_session(
        secured: tuple[TraceServer, dict[str, str]], tmp_path: Path) -> None:
    server, _ = secured
    target = f"127.0.0.1:{server.port}"
    env = {**ENV, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("TRACEGRAPH_TOKEN", None)

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=120,
                              check=False)

    before = cli("stats", "--server", target)
    assert before.returncode == 1
    assert "no credentials" in before.stderr
    signed = cli("login", "--server", target, "--user", "anna", "--password-stdin",
                 stdin=PASSWORD + "\n")
    assert signed.returncode == 0, signed.stderr
    assert PASSWORD not in signed.stdout + signed.stderr
    [saved] = (tmp_path / "config" / "tracegraph").iterdir()
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    after = cli("stats", "--server", target, "--format", "json")
    assert after.returncode == 0, after.stderr
    wrong = cli("login", "--server", target, "--user", "anna", "--password-stdin",
                stdin="guess guess guess\n")
    assert wrong.returncode == 1
    assert wrong.stderr.count("\n") == 1
    assert "sign-in failed" in wrong.stderr


def test_a_read_only_server_takes_api_tokens_and_refuses_sign_in(tmp_path: Path) -> None:
    from domain.errors import Unavailable
    from index.live import LiveStore

    data = tmp_path / "data"
    LiveStore(data).close()  # a store and its first snapshot
    store = Store(data, writable=True)
    directory = Directory(store)
    directory.add("reader", "viewer", OWNER, kind="service")
    directory.add("anna", "qa", OWNER, password=PASSWORD)
    _, token = directory.issue_token("reader", OWNER)
    store.close()
    server = TraceServer(data, ServerConfig(port=0, read_only=True))
    server.load()
    try:
        target = f"127.0.0.1:{server.port}"
        with TraceClient(target, token=token) as reader:
            assert reader.whoami()["user"] == "reader"
            assert reader.stats()["nodes"] == 0
        with TraceClient(target, token="") as person:
            with pytest.raises(Unavailable, match="read-only"):
                person.login("anna", PASSWORD)
            with pytest.raises(Unauthenticated):
                person.stats()
    finally:
        server.stop(0)


def test_a_revoked_token_stops_at_once_although_checks_are_cached(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = Store(data, writable=True)
    directory = Directory(store)
    directory.add("reader", "viewer", OWNER, kind="service")
    issued, token = directory.issue_token("reader", OWNER)
    store.close()
    server = TraceServer(data, ServerConfig(port=0, compact_edges=0))
    server.load()
    try:
        with TraceClient(f"127.0.0.1:{server.port}", token=token) as reader:
            for _ in range(3):
                assert reader.whoami()["user"] == "reader"  # checked once, then cached
            assert server.gate.directory is not None
            server.gate.directory.revoke_token(issued.id, OWNER, "laptop stolen")
            with pytest.raises(Unauthenticated):
                reader.whoami()
    finally:
        server.stop(0)


def test_an_aged_password_no_longer_signs_in(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = Store(tmp_path / "data", writable=True, clock=clock)
    try:
        directory = Directory(store, clock, password_max_age=timedelta(days=90))
        directory.add("anna", "qa", OWNER, password=PASSWORD)
        clock.advance(days=89)
        assert directory.login("anna", PASSWORD).name == "anna"
        clock.advance(days=2)
        with pytest.raises(Unauthenticated, match="expired"):
            directory.login("anna", PASSWORD)
        directory.set_password("anna", "a brand new passphrase", OWNER)
        assert directory.login("anna", "a brand new passphrase").name == "anna"
        actions = [decode(v)["action"] for _, v in store.audit_records()]
        assert actions[-3:] == ["auth.login_failed", "user.set_password", "auth.login"]
    finally:
        store.close()
