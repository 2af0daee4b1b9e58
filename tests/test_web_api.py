"""The web app's HTTP side against a real server on loopback: sign-in and its cookie, CSRF and
origin checks, the role rules of the gRPC server applied to every call, answers equal to the
engine's, readable refusals of bad parameters, and the security headers."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from server.web.gateway import ROUTES
from tests.web_support import Browserless, Running, copy_data, start, web_data
from trust.audit import decode


@pytest.fixture(scope="module")
def data(small_source: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return web_data(small_source, tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def web(data: Path) -> Iterator[Running]:
    running = start(data)
    yield running
    running.server.stop(0)


def _lot(web: Running) -> str:
    return next(k for k in web.graph.snapshot.node_keys.to_pylist() if "lgtin" in k)


def _q(**params: str) -> str:
    return urllib.parse.urlencode(params)


def test_sign_in_sets_a_strict_http_only_cookie_and_never_shows_the_token(web: Running) -> None:
    client = Browserless(web.url)
    status, body, headers = client.call("POST", "/api/login",
                                        {"user": "ivy", "password": "ivy-investigates-1"})
    assert status == 200
    assert "token" not in body
    assert body["identity"]["user"] == "ivy"
    assert body["identity"]["role"] == "investigator"
    assert len(body["csrf"]) == 64
    cookie = headers["set-cookie"]
    assert cookie.startswith("tracegraph_session=tgs1.")
    for flag in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP on loopback: a Secure cookie is never sent
    status, who = client.get("/api/whoami")
    assert status == 200
    assert (who["user"], who["signed_in"], who["csrf"]) == ("ivy", True, body["csrf"])


def test_a_wrong_password_is_refused_the_same_way_and_audited(web: Running) -> None:
    client = Browserless(web.url)
    for user in ("ivy", "nobody"):
        status, body = client.post("/api/login", {"user": user, "password": "wrong-password"},
                                   csrf=False)
        assert status == 401
        assert body["code"] == "UNAUTHENTICATED"
        assert "sign-in failed" in body["error"]
    assert client.get("/api/whoami")[1]["signed_in"] is False
    assert web.server.live is not None
    actions = [decode(record) for _, record in web.server.live.store.audit_records()]
    failed = {(a["keys"][0], a["details"].get("why")) for a in actions
              if a["action"] == "auth.login_failed"}
    assert {("ivy", "wrong password"), ("nobody", "no such user")} <= failed


def test_without_a_session_every_call_is_refused(web: Running) -> None:
    client = Browserless(web.url)
    lot = _lot(web)
    for path in (f"/api/find?{_q(q=lot)}", f"/api/draw?{_q(key=lot)}",
                 f"/api/trace?{_q(key=lot)}", f"/api/impact?{_q(keys=lot)}",
                 f"/api/dhr?{_q(key=lot)}", f"/api/node?{_q(key=lot)}",
                 f"/api/path?{_q(source=lot, target=lot)}"):
        status, body = client.get(path)
        assert status == 401, path
        assert body["code"] == "UNAUTHENTICATED"
    # A made-up cookie is no session either.
    client.jar.set_cookie(_cookie("tgs1.made-up"))
    assert client.get(f"/api/find?{_q(q=lot)}")[0] == 401


def _cookie(value: str) -> object:
    import http.cookiejar
    return http.cookiejar.Cookie(0, "tracegraph_session", value, None, False, "127.0.0.1",
                                 False, False, "/", True, False, None, False, None, None, {})


def test_answers_are_the_engines(web: Running) -> None:
    client = Browserless(web.url)
    client.login("vic")  # a viewer reads everything here
    graph = web.graph
    lot = _lot(web)
    status, found = client.get(f"/api/find?{_q(q=lot)}")
    assert status == 200
    assert found["candidates"][0]["key"] == lot
    status, drawn = client.get(f"/api/draw?{_q(key=lot, hide='serial,logistic_unit')}")
    assert status == 200
    expected = graph.drawing(lot, hide_kinds=["serial", "logistic_unit"])
    assert [n["key"] or None for n in drawn["nodes"]] == expected.nodes.column("key").to_pylist()
    assert int(drawn["reached"]) == expected.reached
    status, impact = client.get(f"/api/impact?{_q(keys=lot)}")
    assert status == 200
    engine_impact = graph.impact([lot])
    assert int(impact["summary"]["affected"]) == engine_impact.affected
    assert {c["customer"] for c in impact["summary"]["by_customer"]} == set(
        engine_impact.by_customer.column("customer").to_pylist())
    status, rows = client.get(f"/api/trace?{_q(key=lot, depth='1')}")
    assert status == 200
    assert sorted(rows["keys"]) == sorted(graph.trace(lot, max_depth=1).column("key").to_pylist())
    unit = graph.trace(lot, node_kinds=["serial"]).column("key")[0].as_py()
    status, path = client.get(f"/api/path?{_q(source=lot, target=unit)}")
    assert status == 200
    assert [s["key"] for s in path["steps"]] == graph.path(lot, unit).column("key").to_pylist()


def test_the_dhr_shows_the_nonconformance_upstream(web: Running) -> None:
    client = Browserless(web.url)
    client.login("ivy")
    records = web.server.records
    from index.quality_records import QualityRecords
    nc = QualityRecords(records).get("NC-WEB")
    assert nc is not None
    unit = web.graph.trace(nc["keys"][0], node_kinds=["serial"]).column("key")[0].as_py()
    status, dhr = client.get(f"/api/dhr?{_q(key=unit)}")
    assert status == 200
    assert dhr["identity"]["key"] == unit
    inherited = {(r["node"], r["record"]["record_id"]) for r in dhr["upstream"]}
    assert (nc["keys"][0], "NC-WEB") in inherited


def test_the_role_rules_of_the_grpc_server_apply(web: Running) -> None:
    writer = Browserless(web.url)
    writer.login("wes")  # an ERP service role: it writes, it does not read genealogy
    lot = _lot(web)
    for path in (f"/api/draw?{_q(key=lot)}", f"/api/find?{_q(q=lot)}",
                 f"/api/dhr?{_q(key=lot)}", f"/api/impact?{_q(keys=lot)}"):
        status, body = writer.get(path)
        assert status == 403, path
        assert body["code"] == "PERMISSION_DENIED"
        assert "wes (writer) may not call" in body["error"]
    assert writer.get("/api/whoami")[0] == 200  # everyone may ask who they are


def test_changes_need_json_from_this_origin_with_the_csrf_token(web: Running) -> None:
    client = Browserless(web.url)
    client.login("ivy")
    csrf = client.csrf
    assert client.post("/api/logout", {}, csrf=False)[0] == 403
    status, body, _ = client.call("POST", "/api/logout", {},
                                  {"x-csrf-token": "0" * 64})
    assert (status, body["code"]) == (403, "FORBIDDEN")
    status, _, _ = client.call("POST", "/api/logout", {},
                               {"x-csrf-token": csrf, "origin": "https://evil.example"})
    assert status == 403
    status, _, _ = client.call("POST", "/api/logout", b"a=1",
                               {"x-csrf-token": csrf,
                                "content-type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert client.get("/api/whoami")[1]["signed_in"] is True  # none of those signed out
    token = next(c.value for c in client.jar if c.name == "tracegraph_session")
    status, _, headers = client.call("POST", "/api/logout", {}, {"x-csrf-token": csrf})
    assert status == 200
    assert "tracegraph_session=\"\"" in headers["set-cookie"] or "Max-Age=0" in headers[
        "set-cookie"]
    # The session is over on the server too: the old token no longer works.
    replay = Browserless(web.url)
    replay.jar.set_cookie(_cookie(token))  # type: ignore[arg-type]
    assert replay.get(f"/api/find?{_q(q='x')}")[0] == 401


def test_bad_parameters_get_one_readable_line(web: Running) -> None:
    client = Browserless(web.url)
    client.login("ivy")
    lot = _lot(web)
    cases = {
        f"/api/draw?{_q(key=lot, depth='abc')}": (400, "'depth' must be a whole number"),
        f"/api/draw?{_q(key=lot, direction='sideways')}": (400, "direction must be"),
        f"/api/draw?{_q(key=lot, hide='gizmo')}": (400, "unknown node kind(s) to hide: gizmo"),
        f"/api/draw?{_q(key=lot + 'X')}": (404, "did you mean"),
        "/api/draw": (400, "missing parameter 'key'"),
        f"/api/draw?{_q(key='x' * 5000)}": (400, "longer than 4,096"),
        "/api/impact?keys=,,": (400, "missing parameter 'keys'"),
        "/api/nosuch": (404, "no such call"),
        "/api/login": (405, "login takes POST"),
    }
    for path, (status, words) in cases.items():
        got, body = client.get(path)
        assert got == status, (path, body)
        assert words in body["error"], (path, body)
    status, body = client.post("/api/find", {"q": lot})
    assert (status, body["error"]) == (405, "find takes GET")
    status, body, _ = client.call("POST", "/api/login", b"{not json")
    assert (status, body["code"]) == (400, "INVALID_ARGUMENT")


def test_an_idle_session_ends_and_clears_its_cookie(web: Running) -> None:
    client = Browserless(web.url)
    client.login("ivy")
    sessions = web.server.gate.sessions
    idle = sessions.idle
    sessions.idle = timedelta(0)
    try:
        status, body, headers = client.call("GET", f"/api/find?{_q(q='x')}")
    finally:
        sessions.idle = idle
    assert status == 401
    assert "the session has ended" in body["error"]
    assert "tracegraph_session" in headers["set-cookie"]
    assert client.get("/api/whoami")[1]["signed_in"] is False


def test_pages_and_answers_carry_the_security_headers(web: Running) -> None:
    client = Browserless(web.url)
    for path in ("/", "/trace?key=x", "/static/app.js", "/api/whoami"):
        status, _, headers = client.call("GET", path)
        assert status == 200, path
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert (headers.get("cache-control") == "no-store") == path.startswith("/api/")
    status, shell, headers = client.call("GET", "/dhr")
    assert headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in shell


def test_every_route_names_a_method_with_a_role_rule() -> None:
    from trust.roles import PUBLIC_METHODS, RPC_RULES
    for route in ROUTES.values():
        assert route.rpc in RPC_RULES or route.rpc in PUBLIC_METHODS, route.name


def test_no_auth_serves_the_local_administrator_without_a_cookie(data: Path,
                                                                 tmp_path: Path) -> None:
    running = start(copy_data(data, tmp_path / "data"), no_auth=True)
    try:
        client = Browserless(running.url)
        who = client.get("/api/whoami")[1]
        assert (who["signed_in"], who["no_auth"], who["role"]) == (True, True, "admin")
        lot = _lot(running)
        assert client.get(f"/api/draw?{_q(key=lot)}")[0] == 200
        assert client.post("/api/logout", {})[0] == 200  # with the no-auth CSRF token
    finally:
        running.server.stop(0)


def test_the_web_command_serves_a_data_directory_until_sigterm(data: Path,
                                                               tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    copy = copy_data(data, tmp_path / "data")
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "web", "--data", str(copy), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            if "web app: " in line:
                url = line.split("web app: ", 1)[1].strip()
                break
        assert url is not None
        assert url.startswith("http://127.0.0.1:"), url
        client = Browserless(url)
        client.login("ada")
        assert client.get("/api/whoami")[1]["role"] == "admin"
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        assert "stopped" in out
    finally:
        if process.poll() is None:
            process.kill()


def test_a_recall_case_through_the_web(web: Running) -> None:
    """Open (investigator), read (viewer), consignee list, export download, close with a
    re-entered password; the viewer may not open or close; each step is audited."""
    from recall.cases import Cases
    from recall.consignees import consignee_list

    lot = _lot(web)
    viewer = Browserless(web.url)
    viewer.login("vic")
    status, body = viewer.post("/api/recall_open", {"title": "t", "seeds": lot})
    assert (status, body["code"]) == (403, "PERMISSION_DENIED")
    ivy = Browserless(web.url)
    ivy.login("ivy")
    status, opened = ivy.post("/api/recall_open", {"title": "Resin lot", "seeds": lot,
                                                   "reason": "supplier notice", "drill": True})
    assert status == 200, opened
    case_id = opened["id"]
    assert opened["drill"] is True
    status, case = viewer.get(f"/api/recall?id={case_id}")
    assert status == 200
    assert case["result_hash"] == opened["result_hash"]
    assert any(c["id"] == case_id for c in viewer.get("/api/recalls")[1]["items"])
    assert web.server.live is not None
    cases = Cases(web.server.live)
    expected = consignee_list(cases.pinned(cases.get(case_id), web.graph.shipped_rows).rows, None)
    status, listed = ivy.get(f"/api/consignees?id={case_id}")
    assert status == 200
    assert len(listed["items"]) == expected.rows.height
    assert {r["customer"] for r in listed["items"]} == set(expected.rows["customer"].to_list())
    status, text, headers = ivy.call("GET", f"/api/download/recall?id={case_id}&format=csv")
    assert status == 200
    assert headers["content-type"].startswith("text/csv")
    assert headers["content-disposition"] == (
        f'attachment; filename="recall-{case_id}-consignees.csv"')
    assert isinstance(text, str)
    assert len(text.strip().splitlines()) == expected.rows.height + 1  # and the header
    status, refused = ivy.get(f"/api/download/recall?id={case_id}&format=docx")
    assert (status, refused["code"]) == (400, "INVALID_ARGUMENT")
    assert "format must be one of" in refused["error"]
    status, diff = ivy.get(f"/api/recall_diff?id={case_id}")
    assert status == 200
    assert (diff["rows_added"], diff["rows_removed"]) == ("0", "0")
    # A wrong password is a refused signature, not an ended session.
    status, body = ivy.post("/api/recall_close", {"id": case_id, "reason": "done",
                                                  "password": "wrong"})
    assert (status, body["code"]) == (403, "SIGNATURE_REFUSED")
    assert ivy.get("/api/whoami")[1]["signed_in"] is True
    status, body = viewer.post("/api/recall_close", {"id": case_id, "reason": "done",
                                                     "password": "vic-views-only-1"})
    assert status == 403
    status, closed = ivy.post("/api/recall_close", {"id": case_id, "reason": "notified all",
                                                    "password": "ivy-investigates-1"})
    assert status == 200, closed
    assert closed["state"] == "closed"
    actions = [decode(r) for _, r in web.server.live.store.audit_records()]
    mine = [a["action"] for a in actions if f"recall:{case_id}" in a.get("keys", [])]
    assert mine[0] == "recall.open"
    assert mine.count("recall.export") == 2  # the list on the page, and the CSV file
    assert mine[-1] == "recall.close"


def test_the_audit_view_pages_and_refuses_bad_times(web: Running) -> None:
    from server.web.gateway import AUDIT_ROWS

    qa = Browserless(web.url)
    qa.login("quinn")
    status, everything = qa.get("/api/audit")
    assert status == 200
    assert web.server.live is not None
    total = sum(1 for _ in web.server.live.store.audit_records())
    assert total > AUDIT_ROWS  # the synthetic quality import alone wrote thousands
    assert len(everything["items"]) == AUDIT_ROWS
    assert everything["truncated"] is True
    status, logins = qa.get(f"/api/audit?{_q(action='auth.login', user='quinn')}")
    assert status == 200
    assert logins["truncated"] is False
    assert logins["items"]
    assert all('"action":"auth.login"' in r["json"] for r in logins["items"])
    status, body = qa.get(f"/api/audit?{_q(since='last tuesday')}")
    assert status == 400
    assert "'since'" in body["error"]
    viewer = Browserless(web.url)
    viewer.login("vic")
    assert viewer.get("/api/audit")[0] == 403
    assert viewer.get("/api/audit_verify")[0] == 403


def test_kpis_over_the_web_are_qms_kpi(web: Running) -> None:
    from index.quality_records import QualityRecords
    from qms.kpi import kpis
    from recall.cases import Cases

    client = Browserless(web.url)
    client.login("vic")
    status, body = client.get("/api/kpi?period=month")
    assert status == 200
    expected = kpis(QualityRecords(web.server.records), Cases(web.server.records).all(),
                    "month").to_dicts()
    assert [r["period"][:10] for r in body["rows"]] == [
        e["period"].strftime("%Y-%m-%d") for e in expected]
    assert [int(r["inspections"]) for r in body["rows"]] == [e["inspections"] for e in expected]
    assert [r.get("first_pass_yield") for r in body["rows"]] == [
        e["first_pass_yield"] for e in expected]
    status, body = client.get("/api/kpi?period=fortnight")
    assert status == 400
    assert "period 'fortnight' is not one of day, week, month" in body["error"]
