"""Issue 16 for the courier, through the installed CLI against the MeaSoft and RetailCRM
emulators on 127.0.0.1: what was sent stays recorded, every reply is read as the real
services write it. Each test is named for the issue's point."""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
import time
import xml.etree.ElementTree as ET
from contextlib import closing
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from courier import sync
from courier.emulator import serve_retailcrm
from courier.measoft import MeasoftClient
from courier.retailcrm import HistoryPage, RetailcrmClient
from maorders.emulation import Response
from maorders.errors import MaordersError, TransientError
from maorders.http import Budget, Remote
from test_courier_e2e import answer_next, new_order, ok, run


def outbox(cli, kind: str) -> list[tuple[str, int]]:
    with closing(sqlite3.connect(f"file:{cli.journal}?mode=ro", uri=True)) as db:
        return db.execute("SELECT state, attempts FROM outbox WHERE kind = ? ORDER BY id", (kind,)).fetchall()


def shipment_states(cli) -> list[str]:
    with closing(sqlite3.connect(f"file:{cli.journal}?mode=ro", uri=True)) as db:
        return [r[0] for r in db.execute("SELECT state FROM courier_shipments ORDER BY id")]


class SlowReplies:
    """A real HTTP proxy on 127.0.0.1 in front of an emulator: the replies to requests that
    `slow(path, body)` picks are sent byte by byte, each byte well within the client's read
    timeout, the last one `seconds` after the request came: a slow reply the remote has
    already acted on (its effect is applied before the first byte)."""

    def __init__(self, target: str, slow: Callable[[str, bytes], bool], seconds: float):
        self.target, self.slow, self.seconds, self.slowed = urlsplit(target), slow, seconds, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.forward(self)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.target.path}"

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        came = time.monotonic()
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request(handler.command, handler.path, body=body, headers=headers)
        reply = upstream.getresponse()
        content = reply.read()
        handler.send_response(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        if not self.slow(handler.path, body):
            handler.wfile.write(content)
            return
        self.slowed += 1
        for index in range(len(content)):  # the last byte `seconds` after the request came
            time.sleep(max(0.0, came + self.seconds * (index + 1) / len(content) - time.monotonic()))
            handler.wfile.write(content[index:index + 1])
            handler.wfile.flush()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------- point 1
BUDGET = 4.0  # MAORDERS_PASS_BUDGET (s) of the pass whose reply is slow: spent before the reply ends


def test_point1_a_neworder_measoft_took_past_the_budget_is_recorded_and_not_sent_again(courier_cli,
                                                                                         courier_emulators):
    """MeaSoft creates the orders, then its reply trickles past the pass's budget: the call is
    cut at the budget (issue 15 point 5: a total deadline), the outcome is unknown (75). The
    next pass sends the same batch, MeaSoft answers «order exists» (error 17) for each, and
    that is recorded as sent: created once, recorded once, nothing lost."""
    emu = courier_emulators
    orders = [new_order(emu), new_order(emu)]
    proxy = SlowReplies(emu.measoft_server.url, lambda path, body: b"<neworder" in body, BUDGET + 1.0)
    try:
        code, result = run(courier_cli, "pull-orders", MEASOFT_URL=proxy.url,
                           MAORDERS_PASS_BUDGET=str(BUDGET))
    finally:
        proxy.stop()
    assert code == 75, result
    assert proxy.slowed == 1 and emu.measoft.counters["order_created"] == 2
    ok(courier_cli, "pull-orders")
    assert emu.measoft.counters["order_created"] == 2  # read back as «order exists», never created twice
    assert [state for state, _ in outbox(courier_cli, "neworder")] == ["sent", "sent"]
    assert shipment_states(courier_cli) == ["sent", "sent"]
    before = emu.measoft.counters["requests"]
    assert ok(courier_cli, "pull-orders")["counts"].get("shipments_sent", 0) == 0
    assert emu.measoft.counters["requests"] == before  # recorded: a third pass sends nothing
    assert set(emu.measoft.orders) == {o["number"] for o in orders}


def test_point1_a_crm_status_edit_taken_past_the_budget_is_recorded_and_not_sent_again(courier_cli,
                                                                                        courier_emulators):
    """The CRM applies a status edit whose reply trickles past the budget: cut, 75; the next
    pass sets the same status again (an edit to a status the order already has changes
    nothing) and records it; the poll is committed once and a third pass sends nothing."""
    emu = courier_emulators
    order = new_order(emu)
    ok(courier_cli, "pull-orders")
    emu.measoft.set_status(order["number"], "DELIVERY")  # mapped to the CRM's «delivering»
    edit = f"/api/v5/orders/{order['id']}/edit"
    proxy = SlowReplies(emu.crm_server.url, lambda path, body: path.startswith(edit), BUDGET + 1.0)
    try:
        code, result = run(courier_cli, "push-statuses", RETAILCRM_URL=proxy.url, MAORDERS_PASS_BUDGET=str(BUDGET))
    finally:
        proxy.stop()
    assert code == 75, result
    assert proxy.slowed == 1 and emu.crm.orders[order["id"]]["status"] == "delivering"
    assert ok(courier_cli, "push-statuses")["counts"]["polls_committed"] == 1
    assert [state for state, _ in outbox(courier_cli, "crm-status")] == ["sent"]
    assert emu.crm.orders[order["id"]]["status"] == "delivering"
    edits = emu.crm.counters["order_edited"]
    ok(courier_cli, "push-statuses")
    assert emu.crm.counters["order_edited"] == edits  # recorded: not sent again


# ---------------------------------------------------------------------- point 4
def test_point4_measoft_404_is_the_url_not_the_orders_both_sent_once_when_fixed(courier_cli, courier_emulators):
    emu = courier_emulators
    orders = [new_order(emu), new_order(emu)]
    wrong = emu.measoft_server.url.replace("/api/", "/wrong/")  # a wrong path: 404 for every request
    code, result = run(courier_cli, "pull-orders", MEASOFT_URL=wrong)
    assert code == 78 and any("MEASOFT_URL" in e for e in result["errors"]), result
    assert emu.measoft.counters["order_created"] == 0
    assert "rejected" not in shipment_states(courier_cli)
    assert [state for state, _ in outbox(courier_cli, "neworder")] == ["retry", "retry"]
    result = ok(courier_cli, "pull-orders")  # MEASOFT_URL fixed
    assert result["counts"]["shipments_sent"] == 2
    assert emu.measoft.counters["order_created"] == 2 and set(emu.measoft.orders) == {o["number"] for o in orders}
    assert shipment_states(courier_cli) == ["sent", "sent"]
    assert ok(courier_cli, "pull-orders")["counts"].get("shipments_sent", 0) == 0


def test_point4_a_proxys_4xx_is_temporary_and_the_orders_stay_queued(courier_cli, courier_emulators):
    emu = courier_emulators
    orders = [new_order(emu), new_order(emu)]
    emu.measoft.proxy_answers(413, times=100)  # every try of this pass
    code, result = run(courier_cli, "pull-orders", MAORDERS_HTTP_RETRIES="1")
    assert code == 75 and any("413" in e for e in result["errors"]), result
    assert emu.measoft.counters["order_created"] == 0 and "rejected" not in shipment_states(courier_cli)
    emu.measoft.proxy_answers(413, times=0)
    assert ok(courier_cli, "pull-orders")["counts"]["shipments_sent"] == 2
    assert emu.measoft.counters["order_created"] == 2 and set(emu.measoft.orders) == {o["number"] for o in orders}


def test_point4_only_a_per_order_error_in_a_200_reply_rejects_an_order(courier_cli, courier_emulators):
    emu = courier_emulators
    order = new_order(emu)
    emu.measoft.fail_next("neworder", 5, level="item")  # MeaSoft's own words in a 200: town not found
    result = ok(courier_cli, "pull-orders")
    assert result["counts"]["shipments_refused"] == 1 and any("error 5" in e for e in result["errors"])
    assert order["number"] not in emu.measoft.orders and shipment_states(courier_cli) == ["rejected"]


# ---------------------------------------------------------------------- point 3
def test_point3_a_history_reply_without_history_is_retried_then_75_never_1(courier_cli, courier_emulators):
    emu = courier_emulators
    order = new_order(emu)
    hollow = Response.json(200, {"success": True, "pagination": {"currentPage": 1, "totalPageCount": 1}})
    answer_next(emu.crm, "/orders/history", hollow, times=1)
    assert ok(courier_cli, "pull-orders")["counts"]["shipments_sent"] == 1  # retried within the pass
    assert order["number"] in emu.measoft.orders
    answer_next(emu.crm, "/orders/history", hollow, times=50)
    code, result = run(courier_cli, "pull-orders")
    assert code == 75 and any("'history' is not a list" in e for e in result["errors"]), result


def test_point3_an_orders_reply_of_the_wrong_shape_is_retried_then_75(courier_cli, courier_emulators):
    emu = courier_emulators
    new_order(emu)
    original = emu.crm.route
    emu.crm.route = lambda request: (Response.json(200, {"success": True, "orders": {"1": {}}})
                                     if request.path == "/api/v5/orders" else original(request))
    code, result = run(courier_cli, "pull-orders")
    assert code == 75 and any("'orders' is not a list" in e for e in result["errors"]), result


# ---------------------------------------------------------------------- point 9
@pytest.mark.parametrize("answer", ["json", "html", "redirect"])
def test_point9_unknown_account_on_get_is_one_refusal_naming_retailcrm_url(courier_cli, courier_emulators, answer):
    emu = courier_emulators
    new_order(emu)
    emu.crm.account_exists, emu.crm.missing_account_get = False, answer
    done = courier_cli.run("--json", "pull-orders")
    assert done.returncode == 69 and "RETAILCRM_URL" in done.stdout, done.stdout
    assert emu.crm.counters["requests"] == (2 if answer == "redirect" else 1)  # refused once, not retried
    assert emu.measoft.counters["requests"] == 0


# ---------------------------------------------------------------------- point 2b
def test_point2b_a_deeply_nested_crm_reply_is_75_never_1(courier_cli, courier_emulators):
    emu = courier_emulators
    new_order(emu)
    answer_next(emu.crm, "/orders/history", Response(200, b"[" * 200_000, {"Content-Type": "application/json"}),
                times=50)
    code, result = run(courier_cli, "pull-orders", MAORDERS_HTTP_RETRIES="1")
    assert code == 75 and any("malformed" in e for e in result["errors"]), result
    assert emu.measoft.counters["requests"] == 0


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**80, max_value=2**80),
                    st.floats(allow_nan=False), st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=10)
KEYS = st.sampled_from(["success", "history", "pagination", "orders", "order", "id", "errorMsg", "errors"])
NESTED = st.integers(min_value=1, max_value=100_000)
CRM_BODIES = st.one_of(
    VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(KEYS, VALUES, max_size=5).map(lambda v: json.dumps({"success": True, **v}).encode()),
    st.dictionaries(KEYS, VALUES, max_size=5).map(lambda v: json.dumps(v).encode()),
    NESTED.map(lambda depth: b"[" * depth + b"]" * depth),
    NESTED.map(lambda depth: b'{"success": true, "history": ' + b"[" * depth + b"]" * depth + b"}"),
    st.sampled_from([b'{"success": true, "history": [], "pagination": NaN}', b"Infinity", b"<html>x</html>",
                     b'{"success": true, "id": 1e400}', b'{"success": false, "errorMsg": "Account does not exist."}']),
    st.binary(max_size=200),
)


def crm_call(client: RetailcrmClient, call: str) -> object:
    return {"history": lambda: client.history(0), "orders": lambda: client.orders([1, 2]),
            "order": lambda: client.order(1), "create": lambda: client.create_payment(1, {"externalId": "x"}),
            "edit": lambda: client.edit_payment("x", "externalId", {"status": "paid"})}[call]()


@pytest.fixture
def crm_server():
    server, app = serve_retailcrm()
    app.rate_limit_rps = 100_000
    yield server, app
    server.stop()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=CRM_BODIES, status=st.sampled_from([200, 200, 201, 400, 404, 405, 409, 422]),
       call=st.sampled_from(["history", "orders", "order", "create", "edit"]))
def test_point2b_any_retailcrm_reply_is_read_or_an_error_with_its_code(crm_server, body, status, call):
    server, app = crm_server
    app.route = lambda request: Response(status, body, {"Content-Type": "application/json"})
    remote = Remote("retailcrm", server.url, 5, 0, Budget(30), url_setting="RETAILCRM_URL")
    try:
        value = crm_call(RetailcrmClient(remote, "crm-key", "shop"), call)
    except MaordersError as exc:
        assert exc.exit_code in (0, 69, 75, 78) and "\n" not in str(exc)
        assert status < 400 or exc.exit_code != 75 or isinstance(exc, TransientError)
    else:
        assert status < 400
        assert value is None or isinstance(value, (dict, int, HistoryPage))
    finally:
        remote.close()


XML_TAGS = st.sampled_from(["neworder", "statusreq", "commitlaststatus", "cancelorder", "editorder", "createorder",
                            "order", "status", "error", "items", "item", "statushistory", "receiver", "phone", "x"])
XML_ATTRS = st.dictionaries(st.sampled_from(["orderno", "error", "errormsg", "errormsgru", "code", "extcode",
                                             "ordercode", "eventtime", "returns", "awb"]),
                            st.one_of(st.text(max_size=8), st.integers(-5, 60).map(str)), max_size=4)
XML_LEAF = st.builds(lambda tag, attrs, text: (tag, attrs, text, []), XML_TAGS, XML_ATTRS, st.text(max_size=6))
XML_TREES = st.recursive(XML_LEAF, lambda inner: st.builds(lambda tag, attrs, kids: (tag, attrs, "", kids),
                                                           XML_TAGS, XML_ATTRS, st.lists(inner, max_size=4)),
                         max_leaves=15)


def xml_of(tree: tuple) -> ET.Element:
    tag, attrs, text, kids = tree
    element = ET.Element(tag, attrs)
    element.text = text or None
    element.extend(xml_of(kid) for kid in kids)
    return element


MEASOFT_BODIES = st.one_of(
    XML_TREES.map(lambda tree: ET.tostring(xml_of(tree), encoding="utf-8")),
    NESTED.map(lambda depth: b"<neworder>" + b"<a>" * depth + b"</a>" * depth + b"</neworder>"),
    st.sampled_from([b'<!DOCTYPE x [<!ENTITY a "aaaa">]><statusreq>&a;</statusreq>', b"<statusreq",
                     b'<statusreq><order orderno="1"><status eventtime="x">COMPLETE</status>'
                     b'<price>1e400</price></order></statusreq>', b"<error>boom</error>"]),
    st.binary(max_size=200),
)
MEASOFT_CALLS = {
    "neworder": lambda client: client.create_orders([{"orderno": "1", "receiver": {}}, {"orderno": "2", "receiver": {}}]),
    "statusreq": lambda client: client.changed(), "lookup": lambda client: client.lookup("1"),
    "commit": lambda client: client.commit(), "cancel": lambda client: client.cancel_order("1"),
    "edit": lambda client: client.edit_order({"orderno": "1", "receiver": {}}, {}),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=MEASOFT_BODIES, status=st.sampled_from([200, 200, 200, 400, 404, 413]),
       call=st.sampled_from(sorted(MEASOFT_CALLS)))
def test_point2b_any_measoft_reply_is_read_or_an_error_with_its_code(courier_emulators, body, status, call):
    emu = courier_emulators
    emu.measoft.fair_usage = []  # hundreds of examples a minute: the property is about replies, not the limit
    emu.measoft.route = lambda request: Response(status, body, {"Content-Type": "text/xml"})
    remote = Remote("measoft", emu.measoft_server.url, 5, 0, Budget(30), url_setting="MEASOFT_URL")
    try:
        value = MEASOFT_CALLS[call](MeasoftClient(remote, "test", "testm", "8"))
    except MaordersError as exc:
        assert exc.exit_code in (0, 69, 75, 78) and "\n" not in str(exc)
        if status != 200:  # never a refusal of the orders: the service failing (75) or the URL (78)
            assert exc.exit_code == (78 if status == 404 else 75)
    else:
        assert status == 200
        if call == "neworder":
            assert set(value) == {"1", "2"}


ORDER_KEYS = st.sampled_from(["status", "delivery", "items", "payments", "phone", "additionalPhone", "customer",
                              "firstName", "lastName", "totalSumm", "prepaySum", "weight", "company", "contragent",
                              "customerComment", "number", "site"])


@settings(max_examples=300, deadline=None)
@given(order=st.dictionaries(ORDER_KEYS, VALUES, max_size=10), status=SCALARS, price=st.text(max_size=12))
def test_point2b_any_crm_order_is_a_decision_and_any_payment_a_plan(order, status, price):
    rules = sync.Rules(send_statuses=("new",), delivery_types=("courier",), sync_payments=True, payment_status="paid")
    order = {**order, "status": "new", "delivery": order.get("delivery") if isinstance(order.get("delivery"), dict)
             else {"code": "courier"}}
    decision = sync.decide(None, order, set(), rules, "1")
    assert decision.action in ("send", "reject", "none")
    assert decision.action != "reject" or decision.message.startswith("field [")
    sane = sync.sane_measoft_number(price)
    plan = sync.payment_plan("COMPLETE", str(status), sane if sane is not None else Decimal(0),
                             sync.payments_of(order), rules, "1")
    assert isinstance(plan, sync.PaymentPlan)


# ---------------------------------------------------------------------- point 10
def test_point10_doctor_warns_when_statuses_are_polled_on_the_shared_default_stream(courier_cli, courier_emulators):
    code, summary, _ = courier_cli.json("doctor")
    stream = next(c for c in summary["checks"] if c["check"] == "measoft stream")
    assert code == 0 and not stream["ok"] and stream["warning"] and "MEASOFT_STREAM_ID" in stream["detail"]
    table = courier_cli.run("doctor")
    assert table.returncode == 0 and "WARN" in table.stdout + table.stderr
    code, summary, _ = courier_cli.json("doctor", MEASOFT_STREAM_ID="321")
    stream = next(c for c in summary["checks"] if c["check"] == "measoft stream")
    assert code == 0 and stream["ok"] and "321" in stream["detail"]

# the house (no import cycle, courier's included): tests/test_import_cycles.py, over the whole product
