"""Every page of the web app in real Chromium (Debian's /usr/bin/chromium, driven by
pytest-playwright) against a real server: it loads, shows the engine's answer, logs no
console error, survives bad input and an ended session with a readable message, and works
from the keyboard. Each page's screenshot (1366x768) goes to docs/screenshots/."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from index.quality_records import QualityRecords
from tests.web_support import PASSWORDS, Running, start, web_data

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
# Flags for a closed network (no background fetches) and a root user in a container.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium package "
                           "(`apt-get install chromium`; .ci/run does it)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1366, "height": 768}}


@pytest.fixture(scope="module")
def web(small_source: tuple[Path, Path],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(web_data(small_source, tmp_path_factory.mktemp("web-pages")))
    yield running
    running.server.stop(0)


class Console:
    """What the page logged: console errors and uncaught exceptions."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def script_errors(self) -> list[str]:
        """Errors other than the browser's own line for a refused request (a 4xx answer
        is how bad input is reported; the page shows it)."""
        return [e for e in self.errors if not e.startswith("Failed to load resource")]


def _signed_in(browser: Browser, web: Running, user: str = "ivy") -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(web.url + "login")
    page.fill("#user", user)
    page.fill("#password", PASSWORDS[user])
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r"/find$"))
    return context, page


def _open(page: Page, web: Running, path: str) -> None:
    page.goto(web.url + path.lstrip("/"))
    page.wait_for_selector("main[data-ready=true]", timeout=20_000)


def _lot(web: Running) -> str:
    """The lot whose downstream fans out widest (a page with a count node)."""
    lots = [k for k in web.graph.snapshot.node_keys.to_pylist() if ":lgtin:" in k][:40]
    return max(lots, key=web.graph.count)


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_sign_in_page_refuses_a_wrong_password_then_returns_to_the_page_asked_for(
        browser: Browser, web: Running) -> None:
    context = browser.new_context()
    page = context.new_page()
    console = Console(page)
    lot = _lot(web)
    wanted = f"/trace?{urllib.parse.urlencode({'key': lot})}"
    page.goto(web.url + wanted.lstrip("/"))
    page.wait_for_url(re.compile(r"/login\?next="))
    _shot(page, "login")
    page.fill("#user", "ivy")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    expect(page.locator("#password")).to_have_value("")
    page.fill("#password", PASSWORDS["ivy"])
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r"/trace\?key="))
    page.wait_for_selector("main[data-ready=true]")
    expect(page.get_by_test_id("summary")).to_contain_text("nodes reached")
    assert console.script_errors() == []
    context.close()


def test_find_page_resolves_what_is_typed_or_scanned(browser: Browser, web: Running) -> None:
    context, page = _signed_in(browser, web)
    console = Console(page)
    lot = _lot(web)
    prefix = lot.rsplit(".", 1)[0]
    page.locator("#q").fill(prefix)  # the box has focus; a scanner types and sends Enter
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/find\?q="))
    page.wait_for_selector("main[data-ready=true]")
    from recall.find import find
    expected = [c.key for c in find(web.graph.view(), prefix, 50)]
    shown = page.get_by_test_id("candidates").locator("tbody tr td:first-child").all_inner_texts()
    assert shown == expected
    _shot(page, "find")
    page.get_by_role("link", name=lot, exact=True).click()
    page.wait_for_url(re.compile(r"/trace\?key="))
    assert console.script_errors() == []
    context.close()


def test_trace_page_draws_the_engines_drawing_and_explains_a_node(browser: Browser,
                                                                  web: Running) -> None:
    context, page = _signed_in(browser, web)
    console = Console(page)
    lot = _lot(web)
    _open(page, web, f"/trace?{urllib.parse.urlencode({'key': lot})}")
    drawing = web.graph.drawing(lot)
    expect(page.get_by_test_id("summary")).to_contain_text(
        f"{drawing.reached:,} nodes reached")
    assert page.locator("canvas").count() > 0  # cytoscape painted
    rows = page.get_by_test_id("trace-table").locator("tbody tr")
    expect(rows).to_have_count(min(drawing.nodes.num_rows, 100))
    _shot(page, "trace")
    # A count node opens in place: the URL gains `expand` and its members are drawn.
    count_node = page.get_by_role("button", name=re.compile(r"serials.*\(open\)"))
    count_node.first.click()
    page.wait_for_url(re.compile(r"expand="))
    page.wait_for_selector("main[data-ready=true]")
    opened = web.graph.drawing(lot, expand=[lot])
    drawn = opened.nodes.num_rows - opened.nodes.column("key").null_count
    assert drawn > drawing.nodes.num_rows - drawing.nodes.column("key").null_count
    expect(page.get_by_test_id("summary")).to_contain_text(f"; {drawn:,} drawn")
    # Hiding serials (one click on the summary's button) and logistic units brings
    # shipments and customers up.
    page.get_by_role("button", name="Hide serial").click()
    page.wait_for_url(re.compile(r"hide=serial"))
    page.wait_for_selector("main[data-ready=true]")
    page.get_by_label("logistic_unit").uncheck()
    page.wait_for_url(re.compile(r"hide=serial%2Clogistic_unit|hide=serial,logistic_unit"))
    page.wait_for_selector("main[data-ready=true]")
    customer = page.get_by_test_id("trace-table").get_by_role(
        "button", name=re.compile(r"sgln")).first
    key = customer.inner_text()
    customer.focus()
    page.keyboard.press("Enter")  # the table is the keyboard's way into the graph
    details = page.get_by_test_id("details")
    expect(details.get_by_role("heading", name="Why is it here?")).to_be_visible()
    steps = details.locator("ol.path li code").all_inner_texts()
    assert steps == web.graph.path(lot, key).column("key").to_pylist()
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "trace-customers")
    assert console.script_errors() == []
    context.close()


def test_impact_page_lists_customers_and_shipments_with_quantities(browser: Browser,
                                                                   web: Running) -> None:
    context, page = _signed_in(browser, web)
    console = Console(page)
    lots = [k for k in web.graph.snapshot.node_keys.to_pylist() if ":lgtin:" in k][:3]
    _open(page, web, f"/impact?{urllib.parse.urlencode({'keys': ','.join(lots)})}")
    impact = web.graph.impact(lots)
    expect(page.get_by_test_id("impact-summary")).to_contain_text(
        f"reach {impact.affected:,} nodes")
    customers = impact.by_customer.to_pylist()
    table = page.get_by_test_id("by-customer")
    expect(table.locator("tbody tr")).to_have_count(min(len(customers), 100))
    # Sorting from the keyboard: the Quantity header, then Enter: most first.
    table.get_by_role("button", name="Quantity", exact=True).focus()
    page.keyboard.press("Enter")
    first = table.locator("tbody tr").first.locator("td").nth(1).inner_text()
    assert float(first.replace(",", "")) == max(c["quantity"] for c in customers)
    _shot(page, "impact")
    assert console.script_errors() == []
    context.close()


def test_dhr_page_shows_identity_and_the_nonconformance_upstream(browser: Browser,
                                                                 web: Running) -> None:
    context, page = _signed_in(browser, web)
    console = Console(page)
    nc = QualityRecords(web.server.records).get("NC-WEB")
    assert nc is not None
    unit = web.graph.trace(nc["keys"][0], node_kinds=["serial"]).column("key")[0].as_py()
    _open(page, web, f"/dhr?{urllib.parse.urlencode({'key': unit})}")
    expect(page.get_by_test_id("identity")).to_contain_text(unit)
    upstream = page.get_by_test_id("upstream")
    expect(upstream).to_contain_text("NC-WEB")
    expect(upstream).to_contain_text("Resin specks in supplier lot")
    _shot(page, "dhr")
    # A unit with EPCIS events kept: its events and their sensor readings.
    from loaders.epcis import read_document
    from tests.web_support import SENSOR_DOCUMENT

    [event, *_] = read_document(SENSOR_DOCUMENT)[0]
    sensed = next(iter(event.nodes))
    _open(page, web, f"/dhr?{urllib.parse.urlencode({'key': sensed})}")
    events = page.get_by_test_id("events")
    expect(events).to_contain_text(event.event_id)
    expect(events).to_contain_text("Temperature 26.0 CEL; AbsoluteHumidity 12.1 A93")
    assert console.script_errors() == []
    context.close()


@pytest.mark.parametrize(("path", "words"), [
    ("/trace?key=urn:no:such:lot", "unknown node key 'urn:no:such:lot'"),
    ("/trace?key={lot}&depth=abc", "'depth' must be a whole number"),
    ("/trace?key={lot}&hide=gizmo", "unknown node kind(s) to hide: gizmo"),
    ("/impact?keys=%ZZ%", "unknown node key '%ZZ%'"),
    ("/dhr?key=%20%20", "give a unit's key"),
    ("/nowhere", "no page at /nowhere"),
], ids=["unknown-key", "bad-depth", "bad-kind", "malformed-escape", "blank-key", "no-page"])
def test_bad_input_gets_a_readable_message(browser: Browser, web: Running, path: str,
                                           words: str) -> None:
    context, page = _signed_in(browser, web)
    console = Console(page)
    page.goto(web.url + path.format(lot=urllib.parse.quote(_lot(web))).lstrip("/"))
    page.wait_for_selector("main[data-ready=true]")
    expect(page.locator("main")).to_contain_text(words)
    assert console.script_errors() == []
    context.close()


def test_an_ended_session_sends_the_person_to_sign_in_and_back(browser: Browser,
                                                                web: Running) -> None:
    context, page = _signed_in(browser, web)
    lot = _lot(web)
    sessions = web.server.gate.sessions
    idle = sessions.idle
    sessions.idle = timedelta(0)
    try:
        page.goto(web.url + f"impact?{urllib.parse.urlencode({'keys': lot})}")
        page.wait_for_url(re.compile(r"/login\?next=%2Fimpact"))
    finally:
        sessions.idle = idle
    page.fill("#user", "ivy")
    page.fill("#password", PASSWORDS["ivy"])
    page.press("#password", "Enter")
    page.wait_for_url(re.compile(r"/impact\?keys="))
    page.wait_for_selector("main[data-ready=true]")
    expect(page.get_by_test_id("impact-summary")).to_be_visible()
    context.close()


def test_a_writer_sees_the_refusal_not_the_data(browser: Browser, web: Running) -> None:
    context, page = _signed_in(browser, web, "wes")
    _open(page, web, f"/trace?{urllib.parse.urlencode({'key': _lot(web)})}")
    expect(page.get_by_role("alert")).to_contain_text("wes (writer) may not call Draw")
    assert page.locator("canvas").count() == 0
    context.close()


def test_recall_case_from_impact_to_signed_close(browser: Browser, web: Running,
                                                 tmp_path: Path) -> None:
    """Impact page -> open a case -> its consignee list (as the engine pins it) -> the CSV
    downloads -> what changed -> close with a re-entered password (a wrong one is refused
    on the page) -> the signature shows."""
    from recall.cases import Cases
    from recall.consignees import consignee_list

    context, page = _signed_in(browser, web)
    console = Console(page)
    lot = [k for k in web.graph.snapshot.node_keys.to_pylist() if ":lgtin:" in k][5]
    _open(page, web, f"/impact?{urllib.parse.urlencode({'keys': lot})}")
    form = page.get_by_test_id("open-case")
    form.get_by_label("Title").fill("Resin lot out of specification")
    form.get_by_label("Reason").fill("supplier notice 2026-11")
    form.get_by_role("button", name="Open the case").click()
    page.wait_for_url(re.compile(r"/recall/\d+$"))
    page.wait_for_selector("main[data-ready=true]")
    case_id = int(page.url.rsplit("/", 1)[1])
    assert web.server.live is not None
    cases = Cases(web.server.live)
    expected = consignee_list(cases.pinned(cases.get(case_id), web.graph.shipped_rows).rows, None)
    expect(page.get_by_test_id("consignees").locator("caption")).to_have_text(
        f"{expected.rows.height:,} row(s)")
    with page.expect_download() as download:
        page.get_by_test_id("exports").get_by_role("link", name="CSV", exact=True).click()
    saved = tmp_path / "list.csv"
    download.value.save_as(saved)
    assert len(saved.read_text().strip().splitlines()) == expected.rows.height + 1
    page.get_by_role("button", name="What changed since the pin?").click()
    expect(page.get_by_test_id("diff")).to_contain_text("0 row(s) added, 0 removed")
    _shot(page, "recall")
    close = page.get_by_test_id("close-case")
    close.get_by_label("What was done").fill("All consignees notified")
    close.get_by_label("Your password (signature)").fill("wrong-password")
    close.get_by_role("button", name="Sign and close").click()
    expect(close.get_by_role("alert")).to_contain_text("signature refused")
    close.get_by_label("Your password (signature)").fill(PASSWORDS["ivy"])
    close.get_by_role("button", name="Sign and close").click()
    expect(page.get_by_test_id("case")).to_contain_text("closed")
    expect(page.get_by_test_id("case")).to_contain_text("responsibility")
    expect(page.get_by_test_id("close-case")).to_have_count(0)
    _open(page, web, "/recall")
    expect(page.get_by_test_id("cases")).to_contain_text("Resin lot out of specification")
    assert console.script_errors() == []
    context.close()


def test_a_viewer_is_not_offered_what_the_role_may_not_do(browser: Browser,
                                                           web: Running) -> None:
    context, page = _signed_in(browser, web, "vic")
    lot = _lot(web)
    _open(page, web, f"/impact?{urllib.parse.urlencode({'keys': lot})}")
    expect(page.get_by_test_id("impact-summary")).to_be_visible()
    expect(page.get_by_test_id("open-case")).to_have_count(0)
    context.close()


def test_corrections_inbox_approves_with_a_signature(browser: Browser, web: Running) -> None:
    """An investigator's proposal waits in the inbox; qa approves it with a re-entered
    password (a wrong one refused on the page), and the engine's answer changes."""
    from trust.corrections import Corrections
    from trust.identity import Principal

    assert web.server.live is not None
    lot = [k for k in web.graph.snapshot.node_keys.to_pylist() if ":lgtin:" in k][7]
    before = web.graph.node(lot)["quantity"]
    ivy = Principal(2, "ivy", "Ivy", "investigator", "password")
    proposal = Corrections(web.server.live).propose(
        {"type": "set-attribute", "key": lot, "field": "quantity", "value": "123"}, ivy,
        "recount at the warehouse")
    context, page = _signed_in(browser, web, "quinn")
    console = Console(page)
    _open(page, web, "/corrections")
    card = page.get_by_test_id(f"correction-{proposal.id}")
    expect(card).to_contain_text(f"set {lot} quantity")
    expect(card).to_contain_text("recount at the warehouse")
    _shot(page, "corrections")
    card.get_by_label("Your password (signature)").fill("not-quinns")
    card.get_by_role("button", name="Approve and sign").click()
    expect(card.get_by_role("alert")).to_contain_text("signature refused")
    assert web.graph.node(lot)["quantity"] == before
    card.get_by_label("Your password (signature)").fill(PASSWORDS["quinn"])
    card.get_by_role("button", name="Approve and sign").click()
    page.wait_for_selector("main[data-ready=true]")
    expect(page.get_by_test_id("decided")).to_contain_text(f"#{proposal.id} applied")
    assert web.graph.node(lot)["quantity"] == 123.0
    assert console.script_errors() == []
    context.close()


def test_audit_view_is_for_qa_and_admin(browser: Browser, web: Running) -> None:
    context, page = _signed_in(browser, web, "ada")
    console = Console(page)
    _open(page, web, "/audit?action=auth.login&user=")
    table = page.get_by_test_id("audit")
    expect(table).to_contain_text("auth.login")
    page.get_by_role("button", name="Verify the whole trail").click()
    expect(page.get_by_test_id("verify")).to_contain_text("intact")
    _shot(page, "audit")
    assert console.script_errors() == []
    context.close()
    context, page = _signed_in(browser, web, "ivy")
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)  # not offered
    _open(page, web, "/audit")
    expect(page.get_by_role("alert")).to_contain_text("may not call Log")  # and refused
    context.close()


def test_kpi_dashboard_charts_the_engines_figures(browser: Browser, web: Running) -> None:
    from qms.alerts import Alerts
    from qms.kpi import kpis
    from recall.cases import Cases
    from tests.web_support import OWNER

    # A rule the data breaches (NC-WEB is open): the dashboard shows its alert.
    assert web.server.live is not None
    assert web.server.alert_watch is not None
    alerts = Alerts(web.server.live)
    alerts.set_rules('[[rule]]\nid = "open-ncs"\ntitle = "Any open nonconformance"\n'
                     'metric = "open_ncs"\nabove = 0\n', OWNER, "test")
    [alert] = web.server.alert_watch.run_once()

    records = QualityRecords(web.server.records)
    expected = kpis(records, Cases(web.server.records).all(), "week")
    context, page = _signed_in(browser, web, "vic")
    console = Console(page)
    _open(page, web, "/kpi?period=week")
    table = page.get_by_test_id("kpi")
    expect(table.locator("tbody tr")).to_have_count(min(expected.height, 100))
    newest = expected.row(expected.height - 1, named=True)
    first = table.locator("tbody tr").first.locator("td")
    assert first.nth(0).inner_text() == newest["period"].strftime("%Y-%m-%d")
    assert int(first.nth(2).inner_text().replace(",", "")) == newest["inspections"]
    for key in ("first_pass_yield", "ncs_opened", "open_ncs", "open_capas"):
        expect(page.get_by_test_id(f"chart-{key}").locator("canvas")).to_have_count(1)
    shown = page.get_by_test_id(f"alert-{alert.id}")
    expect(shown).to_contain_text("OPEN")
    expect(shown).to_contain_text("Any open nonconformance")
    expect(shown.get_by_role("button", name="Acknowledge")).to_have_count(0)  # a viewer
    _shot(page, "kpi")
    page.get_by_role("link", name="month").click()
    page.wait_for_url(re.compile(r"period=month"))
    page.wait_for_selector("main[data-ready=true]")
    expect(page.get_by_test_id("kpi").locator("tbody tr")).to_have_count(
        kpis(records, Cases(web.server.records).all(), "month").height)
    assert console.script_errors() == []
    context.close()
    # qa acknowledges it from the dashboard.
    context, page = _signed_in(browser, web, "quinn")
    _open(page, web, "/kpi")
    shown = page.get_by_test_id(f"alert-{alert.id}")
    shown.get_by_label("What is being done").fill("NC-WEB under investigation")
    shown.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector("main[data-ready=true]")
    expect(page.get_by_test_id(f"alert-{alert.id}")).to_contain_text(
        "acknowledged by Quinn (quinn): “NC-WEB under investigation”")
    assert alerts.get(alert.id).state == "acknowledged"
    alerts.set_rules("", OWNER, "test")  # the other tests see no alert
    web.server.alert_watch.run_once()
    context.close()


def test_hourglass_explains_nodes_on_both_sides(browser: Browser, web: Running) -> None:
    unit = web.graph.trace(_lot(web), node_kinds=["serial"]).column("key")[-1].as_py()
    expected = web.graph.drawing(unit, "hourglass")
    context, page = _signed_in(browser, web)
    console = Console(page)
    _open(page, web, f"/trace?{urllib.parse.urlencode({'key': unit, 'direction': 'hourglass'})}")
    expect(page.get_by_test_id("summary")).to_contain_text(f"{expected.reached:,} nodes reached")
    nodes = expected.nodes.to_pylist()
    above = next(n for n in nodes if n["upstream"] and n["key"] and n["kind"] == "lot")
    below = next(n for n in nodes if not n["upstream"] and n["key"] and n["depth"] > 0)
    table = page.get_by_test_id("trace-table")
    details = page.get_by_test_id("details")
    for node, chain in ((above, web.graph.path(above["key"], unit)),
                        (below, web.graph.path(unit, below["key"]))):
        table.get_by_role("button", name=node["key"], exact=True).click()
        expect(details.locator("ol.path li")).to_have_count(chain.num_rows)
        assert details.locator("ol.path li code").all_inner_texts() == chain.column(
            "key").to_pylist()
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "hourglass")
    assert console.script_errors() == []
    context.close()
