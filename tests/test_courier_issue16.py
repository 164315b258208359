"""Issue 16 for the courier, through the installed CLI against the MeaSoft and RetailCRM
emulators on 127.0.0.1: what was sent stays recorded, every reply is read as the real
services write it. Each test is named for the issue's point."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from maorders.emulation import Response
from test_courier_e2e import answer_next, new_order, ok, run


def outbox(cli, kind: str) -> list[tuple[str, int]]:
    with closing(sqlite3.connect(f"file:{cli.journal}?mode=ro", uri=True)) as db:
        return db.execute("SELECT state, attempts FROM outbox WHERE kind = ? ORDER BY id", (kind,)).fetchall()


def shipment_states(cli) -> list[str]:
    with closing(sqlite3.connect(f"file:{cli.journal}?mode=ro", uri=True)) as db:
        return [r[0] for r in db.execute("SELECT state FROM courier_shipments ORDER BY id")]


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
