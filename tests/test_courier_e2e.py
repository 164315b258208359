"""The courier connector end to end: the installed CLI (a subprocess) against the MeaSoft and
RetailCRM emulators (real HTTP servers on free ports). RetailCRM's 10 requests a second
limit stays on in every test."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any, Callable

import requests

from conftest import Cli, CourierEmulators
from maorders.emulation import Request, Response

PHONE_MESSAGE = "field [receiver phone] has no valid phone number"


# ---------------------------------------------------------------------- helpers
def new_order(emu: CourierEmulators, **fields: Any) -> dict[str, Any]:
    """An order a manager made ready for the courier (status SentMeaSoft, courier delivery)."""
    return emu.crm.create_order(**{"status": "SentMeaSoft", **fields})


def run(cli: Cli, command: str, *args: str, **env: str) -> tuple[int, dict[str, Any]]:
    code, summary, err = cli.json(command, *args, **env)
    return code, summary["connectors"].get("courier", {"counts": {}, "errors": [summary.get("error", err)]})


def ok(cli: Cli, command: str, **env: str) -> dict[str, Any]:
    code, result = run(cli, command, **env)
    assert code == 0, result
    return result


def counts(result: dict[str, Any]) -> dict[str, int]:
    return result["counts"]


def shipment(cli: Cli, ref: str) -> dict[str, Any]:
    """A shipment and its statuses, read from the journal (the CLI views have their own test)."""
    with closing(sqlite3.connect(f"file:{cli.journal}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM courier_shipments WHERE crm_number = ? OR orderno = ? OR crm_order_id = ?",
                         (ref, ref, ref)).fetchone()
        assert row is not None, ref
        statuses = db.execute("SELECT * FROM courier_statuses WHERE shipment_id = ? ORDER BY id", (row["id"],))
        return dict(row) | {"statuses": [dict(s) for s in statuses]}


def answer_next(app: Any, path_part: str, response: Response, times: int = 1) -> None:
    """The remote answers the next `times` requests whose path has `path_part` with `response`
    (a fault of the real server, e.g. an HTML page or an error body)."""
    original: Callable[[Request], Response] = app.route
    left = {"n": times}

    def route(request: Request) -> Response:
        if left["n"] and path_part in request.path:
            left["n"] -= 1
            return response
        return original(request)

    app.route = route


# ---------------------------------------------------------------------- send, update, statuses
def test_send_then_update_then_delivered_with_cod_payment(courier_cli, courier_emulators):
    emu = courier_emulators
    order = new_order(emu, email="maria@example.com")
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["shipments_sent"] == 1 and result["errors"] == []
    sent = emu.measoft.orders[order["number"]]
    assert sent["receiver"]["person"] == "Петров Иван Сергеевич"
    assert sent["receiver"]["phone"] == "+79161234567" and sent["receiver"]["town"] == "Москва"
    assert sent["receiver"]["address"] == "ул. Ленина, д. 1, кв. 2" and sent["receiver"]["zipcode"] == "125480"
    assert (sent["date"], sent["time_min"], sent["time_max"]) == (order["delivery"]["date"], "10:00", "18:00")
    assert (sent["paytype"], sent["price"], sent["deliveryprice"], sent["inshprice"]) == ("CASH", "1200", "300", "900")
    assert sent["items"] == [{"extcode": "sku-1001", "quantity": "2", "retprice": "450", "mass": "0.15",
                              "name": "Аспирин Кардио 100 мг №28"}]
    assert sent["weight"] == "0.3" and sent["quantity"] == "1"

    assert counts(ok(courier_cli, "pull-orders")).get("shipments_sent", 0) == 0  # nothing new: nothing sent

    emu.crm.manager_edit(order["id"], phone="+7 903 111-22-33",
                         items=[{"initialPrice": 450, "quantity": 3, "vatRate": "10",
                                 "offer": {"name": "Аспирин Кардио 100 мг №28", "externalId": "sku-1001"}}])
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["edits_sent"] == 1
    edited = emu.measoft.orders[order["number"]]
    assert edited["edits"] == 1 and edited["receiver"]["phone"] == "+79031112233"
    assert edited["items"][0]["quantity"] == "3" and edited["price"] == "1650"
    assert emu.measoft.counters["order_created"] == 1

    emu.measoft.set_status(order["number"], "DELIVERY")
    emu.measoft.set_status(order["number"], "COMPLETE")  # only the latest status counts
    pushed = courier_cli.run("--json", "-v", "push-statuses")
    assert pushed.returncode == 0, pushed.stderr
    crm_order = emu.crm.orders[order["id"]]
    assert crm_order["status"] == "complete"
    # the courier collected the new total: the cash payment says so, and is paid
    assert [(p["type"], p["status"], p["amount"]) for p in crm_order["payments"].values()] == [("cash", "paid", 1650)]
    edits_before = emu.crm.counters["order_edited"]
    again = ok(courier_cli, "push-statuses")
    assert counts(again)["statuses_received"] == 0 and emu.crm.counters["order_edited"] == edits_before
    shown = shipment(courier_cli, order["number"])
    assert (shown["orderno"], shown["measoft_status"], shown["crm_status"]) == (order["number"], "COMPLETE", "complete")
    assert [s["status"] for s in shown["statuses"]] == ["COMPLETE"]
    listed = courier_cli.run("--json", "shipments", "show", order["number"])
    assert [s["kind"] for s in json.loads(listed.stdout)["shipment"]["sends"]] == [
        "neworder", "editorder", "crm-status", "crm-payment-edit"]
    # secrets and personal data stay out of --json, stderr and the logs
    everything = pushed.stdout + pushed.stderr + listed.stdout + listed.stderr + courier_cli.log_text()
    for secret in ("crm-key", "testm", "+79161234567", "79031112233", "maria@example.com", "Петров"):
        assert secret not in everything, secret


def test_changes_while_in_work_or_not_allowed_are_not_passed_on_and_say_so(courier_cli, courier_emulators):
    emu = courier_emulators
    busy, other = new_order(emu), new_order(emu)
    ok(courier_cli, "pull-orders")
    emu.measoft.set_status(busy["number"], "DELIVERY")
    ok(courier_cli, "push-statuses")
    emu.crm.manager_edit(busy["id"], phone="+79035556677")
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["edits_refused"] == 1
    assert any("already in work (DELIVERY)" in e and "phone" in e for e in result["errors"])
    assert emu.measoft.orders[busy["number"]]["receiver"]["phone"] == "+79161234567"
    assert "already in work" in shipment(courier_cli, busy["number"])["error"]

    emu.measoft.allow_edit = False  # the courier service does not allow changes through the API
    emu.crm.manager_edit(other["id"], firstName="Пётр")
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["edits_refused"] == 1
    assert any("MeaSoft refused the change" in e and "error 56" in e for e in result["errors"])


def test_cancel_allowed_and_refused_and_sent_again_under_a_new_number(courier_cli, courier_emulators):
    emu = courier_emulators
    fresh, busy, unseen = new_order(emu), new_order(emu), new_order(emu)
    ok(courier_cli, "pull-orders")
    emu.measoft.set_status(busy["number"], "DELIVERY")
    ok(courier_cli, "push-statuses")                      # the journal knows `busy` is in work
    emu.measoft.set_status(unseen["number"], "ACCEPTED")  # the journal does not know yet
    for order in (fresh, busy, unseen):
        emu.crm.manager_edit(order["id"], delivery={"code": "russian-post"})
    requests_before = emu.measoft.counters["requests"]
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["cancels_sent"] == 1 and counts(result)["cancels_refused"] == 2
    assert emu.measoft.orders[fresh["number"]]["status"] == "CANCELED"
    assert emu.measoft.orders[busy["number"]]["status"] == "DELIVERY"
    assert emu.measoft.orders[unseen["number"]]["status"] == "ACCEPTED"
    assert emu.measoft.counters["order_cancelled"] == 1
    assert emu.measoft.counters["requests"] - requests_before == 3  # busy: refused without asking MeaSoft
    for order in (busy, unseen):
        error = shipment(courier_cli, order["number"])["error"]
        assert "already in work" in error and "cannot be cancelled" in error
    assert shipment(courier_cli, fresh["number"])["state"] == "cancelled"
    status, summary, _ = courier_cli.json("status", "--check")
    assert status == 1 and any("2 shipments need a person" in r for r in summary["needs_attention"])
    assert courier_cli.run("status", "--ack").returncode == 0    # a person has seen them
    status, summary, _ = courier_cli.json("status", "--check")
    assert status == 0 and summary["connectors"]["courier"]["counts"]["shipments with a problem"] == 2
    # MeaSoft's CANCELED after our own cancel is an echo: the CRM order lives on by post
    result = ok(courier_cli, "push-statuses")
    assert counts(result)["statuses_of_withdrawn_shipments"] == 1
    assert emu.crm.orders[fresh["id"]]["status"] == "SentMeaSoft"

    emu.crm.manager_edit(fresh["id"], delivery={"code": "incity"})  # back to the courier
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["shipments_sent"] == 1
    assert f"{fresh['number']}-2" in emu.measoft.orders       # MeaSoft keeps the cancelled number
    assert shipment(courier_cli, str(fresh["id"]))["orderno"] == f"{fresh['number']}-2"


def test_statuses_back_partial_card_return_cancel_unknown(courier_cli, courier_emulators):
    emu = courier_emulators
    two_items = [{"initialPrice": 450, "quantity": 2, "offer": {"name": "Аспирин", "externalId": "sku-1"}},
                 {"initialPrice": 300, "quantity": 1, "offer": {"name": "Бинт", "externalId": "sku-2"}}]
    partial, card, returned, cancelled, unknown, waiting = (
        new_order(emu, items=two_items), new_order(emu), new_order(emu), new_order(emu), new_order(emu),
        new_order(emu))
    ok(courier_cli, "pull-orders")
    assert counts(ok(courier_cli, "push-statuses"))["statuses_unmapped"] == 6   # NEW has no CRM status
    emu.measoft.set_status(partial["number"], "PARTIALLY", price=750, returns={"sku-2": 1})
    emu.measoft.set_status(card["number"], "COMPLETE", paytype="CARD")
    for code in ("DELIVERY", "CANCELED", "RETURNING", "RETURNED"):
        emu.measoft.set_status(returned["number"], code)
    emu.measoft.set_status(cancelled["number"], "CANCELED")
    emu.measoft.set_status(unknown["number"], "TELEPORTED", title="Телепортирован")
    result = ok(courier_cli, "push-statuses")
    assert counts(result)["unknown_status_codes"] == 1 and any("'TELEPORTED'" in e for e in result["errors"])

    def crm(order):
        crm_order = emu.crm.orders[order["id"]]
        return crm_order["status"], [(p["type"], p["status"], p["amount"], p.get("externalId"))
                                     for p in crm_order["payments"].values()]

    assert crm(partial) == ("partially-delivered", [("cash", "paid", 750, None)])
    assert crm(card) == ("complete", [("bank-card", "paid", 1200, f"measoft-{card['number']}")])
    assert crm(returned) == ("returned", [("cash", "not-paid", 1200, None)])
    assert crm(cancelled) == ("cancel-other", [("cash", "not-paid", 1200, None)])
    assert crm(unknown) == ("SentMeaSoft", [("cash", "not-paid", 1200, None)])
    assert shipment(courier_cli, partial["number"])["statuses"][-1]["returns"] == "sku-2: 1"
    assert shipment(courier_cli, unknown["number"])["measoft_title"] == "Телепортирован"

    created = emu.crm.counters["payment_created"]
    assert counts(ok(courier_cli, "push-statuses"))["statuses_received"] == 0
    assert emu.crm.counters["payment_created"] == created == 1

    # our own CRM edits come back in the feed and are skipped; another integration's are not
    emu.crm.other_api_edit(waiting["id"], phone="+79037778899")
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["own_changes_skipped"] >= 6 and counts(result)["orders_checked"] == 1
    assert counts(result)["edits_sent"] == 1
    assert emu.measoft.orders[waiting["number"]]["receiver"]["phone"] == "+79037778899"


# ---------------------------------------------------------------------- bad input
def test_invalid_phone_is_refused_shown_and_sent_once_fixed(courier_cli, courier_emulators):
    emu = courier_emulators
    order = new_order(emu, phone="12-34")
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["shipments_rejected"] == 1
    assert result["errors"] == [f"order {order['number']}: not sent to MeaSoft: {PHONE_MESSAGE}"]
    assert emu.measoft.orders == {} and emu.measoft.counters["requests"] == 0
    shown = shipment(courier_cli, order["number"])
    assert shown["state"] == "rejected" and PHONE_MESSAGE in shown["error"]
    code, summary, _ = courier_cli.json("status")
    assert any(PHONE_MESSAGE in n["message"] for n in summary["notifications"])
    emu.crm.manager_edit(order["id"], phone="+79161234567")
    assert counts(ok(courier_cli, "pull-orders"))["shipments_sent"] == 1
    fixed = shipment(courier_cli, order["number"])
    assert fixed["state"] == "sent" and fixed["error"] is None


def test_unusable_orders_are_refused_naming_the_field(courier_cli, courier_emulators):
    emu = courier_emulators
    cases = [
        ({"phone": None}, PHONE_MESSAGE),
        ({"delivery": {"address": {"city": "Москва", "text": ""}}}, "field [receiver address] is empty"),
        ({"items": []}, "field [items] is empty"),
        ({"items": [{"initialPrice": -100, "quantity": 1, "offer": {"name": "Минус"}}]},
         "items[1].price] is negative"),
        ({"totalSumm": -1}, "field [totalSumm] is negative"),
    ]
    orders = [(new_order(emu, **fields), words) for fields, words in cases]
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["shipments_rejected"] == len(cases) and emu.measoft.orders == {}
    for order, words in orders:
        assert words in shipment(courier_cli, order["number"])["error"], words
    # the manager gives up on the courier for one of them: nothing is left to fix there
    emu.crm.manager_edit(orders[0][0]["id"], delivery={"code": "pickup"})
    assert counts(ok(courier_cli, "pull-orders"))["rejections_withdrawn"] == 1
    assert shipment(courier_cli, orders[0][0]["number"])["error"] is None


def test_cyrillic_and_quotes_in_every_text_field(courier_cli, courier_emulators):
    emu = courier_emulators
    tricky = 'О\'Нил «Ёлка» "Ель" <b>&amp;</b>'
    order = new_order(emu, firstName=tricky, lastName="Щукина-\"Кац\"", patronymic="Ильинична & Co",
                      customerComment=f"Позвонить: {tricky}",
                      delivery={"address": {"city": "Санкт-Петербург «Центр»", "text": f"ул. {tricky}, д. 1"}},
                      items=[{"initialPrice": 100, "quantity": 1,
                              "offer": {"name": tricky, "externalId": "арт-\"1\""}}])
    ok(courier_cli, "pull-orders")
    sent = emu.measoft.orders[order["number"]]
    assert sent["receiver"]["person"] == f"Щукина-\"Кац\" {tricky} Ильинична & Co"
    assert sent["receiver"]["town"] == "Санкт-Петербург «Центр»"
    assert sent["receiver"]["address"] == f"ул. {tricky}, д. 1"
    assert sent["instruction"] == f"Позвонить: {tricky}"
    assert (sent["items"][0]["name"], sent["items"][0]["extcode"]) == (tricky, 'арт-"1"')
    emu.measoft.set_status(order["number"], "COMPLETE", title=f"Доставлен {tricky}")
    ok(courier_cli, "push-statuses")
    assert shipment(courier_cli, order["number"])["measoft_title"] == f"Доставлен {tricky}"


# ---------------------------------------------------------------------- MeaSoft faults
def test_measoft_error_forms_root_child_and_item(courier_cli, courier_emulators):
    emu = courier_emulators
    first = new_order(emu)
    emu.measoft.fail_next("neworder", 13, "root")       # mysql error at the root: transient, retried
    assert counts(ok(courier_cli, "pull-orders"))["shipments_sent"] == 1
    assert first["number"] in emu.measoft.orders

    second = new_order(emu)
    emu.measoft.fail_next("neworder", 12, "item")       # per order: refused for good, shown
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["shipments_refused"] == 1
    assert any("error 12" in e and "Article number not found" in e for e in result["errors"])
    assert shipment(courier_cli, second["number"])["state"] == "rejected"

    emu.measoft.fail_next("statusreq", 33, "child")     # <error> child, connection error: retried
    assert counts(ok(courier_cli, "push-statuses"))["polls_committed"] == 1

    emu.measoft.fail_next("statusreq", 1, "child")      # <error> child, invalid XML: refused
    code, result = run(courier_cli, "push-statuses")
    assert code == 69 and any("error 1: Invalid XML" in e for e in result["errors"])


def test_measoft_authorization_error_is_a_refusal(courier_cli, courier_emulators):
    new_order(courier_emulators)
    code, summary, err = courier_cli.json("pull-orders", MEASOFT_PASSWORD="wrong-password")
    assert code == 69
    errors = summary["connectors"]["courier"]["errors"]
    assert any("Authorization error" in e and "MEASOFT_PASSWORD" in e for e in errors)
    assert "wrong-password" not in repr(summary) + err + courier_cli.log_text()


def test_error_17_for_someone_elses_order_is_not_taken_for_ours(courier_cli, courier_emulators):
    emu = courier_emulators
    order, other = new_order(emu), new_order(emu)
    # an order made by hand in the MeaSoft cabinet already took the first number
    taken = order["number"]
    body = (f'<neworder><auth extra="8" login="test" pass="testm"/><order orderno="{taken}">'
            '<receiver><person>Чужой</person><phone>+79990000000</phone><town>Тула</town>'
            '<address>ул. Мира, 1</address></receiver></order></neworder>').encode()
    requests.post(emu.measoft_server.url, data=body, headers={"Content-Type": "text/xml"}, timeout=5)
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["shipments_refused"] == 1 and counts(result)["shipments_sent"] == 1
    assert any("already has an order numbered" in e for e in result["errors"])
    assert emu.measoft.orders[order["number"]]["receiver"]["person"] == "Чужой"
    assert other["number"] in emu.measoft.orders
    emu.measoft.set_status(order["number"], "COMPLETE")    # the other order's statuses are not ours
    result = ok(courier_cli, "push-statuses")
    assert counts(result)["not_our_orders"] == 1 and emu.crm.orders[order["id"]]["status"] == "SentMeaSoft"


# ---------------------------------------------------------------------- RetailCRM faults
def test_retailcrm_errors_as_object_and_as_list_are_shown(courier_cli, courier_emulators):
    emu = courier_emulators
    first, second = new_order(emu), new_order(emu)
    ok(courier_cli, "pull-orders")
    for order in (first, second):
        emu.measoft.set_status(order["number"], "COMPLETE")
    words = "Status «complete» is not available"
    for order, errors in ((first, {"status": words}), (second, [f"status: {words}"])):
        answer_next(emu.crm, f"/orders/{order['id']}/edit",
                    Response.json(400, {"success": False, "errorMsg": "Errors in the entity format", "errors": errors}))
    result = ok(courier_cli, "push-statuses")
    assert counts(result)["crm_status_refused"] == 2 and counts(result)["polls_committed"] == 1
    assert sum("Errors in the entity format" in e and f"status: {words}" in e for e in result["errors"]) == 2
    for order in (first, second):
        assert words in shipment(courier_cli, order["number"])["error"]


def test_html_instead_of_json_is_retried(courier_cli, courier_emulators):
    emu = courier_emulators
    new_order(emu)
    page = Response(200, b"<html><body><h1>Account does not exist</h1></body></html>", {"Content-Type": "text/html"})
    answer_next(emu.crm, "/orders/history", page, times=2)
    result = ok(courier_cli, "pull-orders")
    assert counts(result)["shipments_sent"] == 1
    answer_next(emu.crm, "/orders/history", page, times=10)
    code, result = run(courier_cli, "pull-orders")
    assert code == 75 and any("HTML instead of JSON" in e for e in result["errors"])


def test_503_bursts_are_ridden_out(courier_cli, courier_emulators):
    emu = courier_emulators
    orders = [new_order(emu) for _ in range(4)]
    ok(courier_cli, "pull-orders")
    for order in orders:
        emu.measoft.set_status(order["number"], "COMPLETE")
    emu.crm.rate_limit_rps = 4  # the CRM is busier than its documented limit: 503 bursts
    codes = []
    for _ in range(5):
        code, _ = run(courier_cli, "push-statuses", MAORDERS_HTTP_RETRIES="6")
        codes.append(code)
        if code == 0:
            break
    assert codes[-1] == 0 and set(codes) <= {0, 75}
    assert emu.crm.counters["rate_limited"] > 0
    for order in orders:
        crm_order = emu.crm.orders[order["id"]]
        assert crm_order["status"] == "complete"
        assert [p["status"] for p in crm_order["payments"].values()] == ["paid"]
    assert emu.crm.counters["payment_created"] == 0


# ---------------------------------------------------------------------- operator views
def test_shipments_list_show_status_and_doctor(courier_cli, courier_emulators):
    emu = courier_emulators
    good, bad = new_order(emu), new_order(emu, phone="")
    ok(courier_cli, "pull-orders")
    code, summary, _ = courier_cli.json("shipments", "list")
    assert code == 0 and {s["crm_number"]: s["state"] for s in summary["shipments"]} == {
        good["number"]: "sent", bad["number"]: "rejected"}
    code, summary, _ = courier_cli.json("shipments", "list", "--problems")
    assert [s["crm_number"] for s in summary["shipments"]] == [bad["number"]]
    code, summary, _ = courier_cli.json("shipments", "show", str(good["id"]))
    assert summary["shipment"]["crm_number"] == good["number"] and summary["shipment"]["orderno"] == good["number"]
    done = courier_cli.run("shipments", "show", "nope")
    assert done.returncode == 65 and "no shipment 'nope'" in done.stderr
    table = courier_cli.run("shipments", "list")
    assert good["number"] in table.stdout and PHONE_MESSAGE in table.stdout
    code, summary, _ = courier_cli.json("status")
    assert summary["connectors"]["courier"]["counts"]["shipments sent"] == 1
    code, summary, _ = courier_cli.json("doctor")
    assert code == 0 and {c["check"] for c in summary["checks"] if c["ok"]} >= {"measoft", "retailcrm"}
    code, summary, _ = courier_cli.json("doctor", RETAILCRM_API_KEY="wrong-key")
    assert code == 69 and not next(c for c in summary["checks"] if c["check"] == "retailcrm")["ok"]
