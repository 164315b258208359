"""Issue 16 for the courier, through the installed CLI against the MeaSoft and RetailCRM
emulators on 127.0.0.1: what was sent stays recorded, every reply is read as the real
services write it. Each test is named for the issue's point."""

from __future__ import annotations

import http.client
import sqlite3
import threading
import time
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

import pytest

from maorders.emulation import Response
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
    emu = courier_emulators
    orders = [new_order(emu), new_order(emu)]
    proxy = SlowReplies(emu.measoft_server.url, lambda path, body: b"<neworder" in body, BUDGET + 1.0)
    try:
        code, result = run(courier_cli, "pull-orders", MEASOFT_URL=proxy.url,
                           MAORDERS_PASS_BUDGET=str(BUDGET))
    finally:
        proxy.stop()
    assert proxy.slowed == 1 and emu.measoft.counters["order_created"] == 2
    assert [state for state, _ in outbox(courier_cli, "neworder")] == ["sent", "sent"], (code, result)
    assert shipment_states(courier_cli) == ["sent", "sent"]
    before = emu.measoft.counters["requests"]
    assert ok(courier_cli, "pull-orders")["counts"].get("shipments_sent", 0) == 0
    assert emu.measoft.counters["requests"] == before  # nothing sent twice, nothing read back
    assert set(emu.measoft.orders) == {o["number"] for o in orders}


def test_point1_a_crm_status_edit_taken_past_the_budget_is_recorded_and_not_sent_again(courier_cli,
                                                                                        courier_emulators):
    emu = courier_emulators
    order = new_order(emu)
    ok(courier_cli, "pull-orders")
    emu.measoft.set_status(order["number"], "DELIVERY")  # mapped to the CRM's «delivering»
    edit = f"/api/v5/orders/{order['id']}/edit"
    proxy = SlowReplies(emu.crm_server.url, lambda path, body: path.startswith(edit), BUDGET + 1.0)
    try:
        run(courier_cli, "push-statuses", RETAILCRM_URL=proxy.url, MAORDERS_PASS_BUDGET=str(BUDGET))
    finally:
        proxy.stop()
    assert proxy.slowed == 1 and emu.crm.orders[order["id"]]["status"] == "delivering"
    assert [state for state, _ in outbox(courier_cli, "crm-status")] == ["sent"]
    edits = emu.crm.counters["order_edited"]
    assert ok(courier_cli, "push-statuses")["counts"]["polls_committed"] == 1
    assert emu.crm.counters["order_edited"] == edits  # not sent twice


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
