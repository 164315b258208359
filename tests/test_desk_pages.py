"""The staff desk's pages of the courier, loyalty and cash-desk connectors (issue 19), through Flask's
test client over journals the real passes wrote against the emulators."""

from __future__ import annotations

import os
import signal
import time

from conftest import wait_dead
from desk_fixtures import DeskClient, rows
from loyalty_fixtures import CARD, loyalty_cli, megainsight  # noqa: F401
from misbridge_fixtures import clinic, desk_cli, visit  # noqa: F401

EMAIL = "buyer@example.org"


# -- courier ---------------------------------------------------------------------------------------
def test_shipments_with_errors_show_the_measoft_state_and_link_to_the_crm_order(courier_cli, courier_emulators):
    emu = courier_emulators
    bad = emu.crm.create_order(status="SentMeaSoft", phone="12-34")
    good = emu.crm.create_order(status="SentMeaSoft")
    assert courier_cli.run("pull-orders").returncode != 1
    desk = DeskClient(courier_cli)
    problems = desk.get("/courier/shipments").get_data(as_text=True)
    assert bad["number"] in problems and good["number"] not in problems
    assert "receiver phone" in problems and "has no valid phone number" in problems
    crm_url = f'{emu.crm_server.url.rstrip("/")}/orders/{bad["id"]}/edit'
    assert f'href="{crm_url}"' in problems and 'rel="noopener noreferrer"' in problems
    everything = desk.get("/courier/shipments?show=all").get_data(as_text=True)
    assert good["number"] in everything
    detail = desk.get(f"/courier/shipments?ref={good['number']}").get_data(as_text=True)
    assert "MeaSoft statuses" in detail and good["number"] in detail
    needs = desk.get("/").get_data(as_text=True)
    assert f'/courier/shipments?ref={bad["number"]}' in needs


# -- loyalty ---------------------------------------------------------------------------------------
def test_unfinished_and_orphan_refunded_loyalty_operations(loyalty_cli, megainsight):
    app = megainsight.app
    proc = None

    def strike(name: str) -> None:  # the till killed right after the service applied the sale
        if name == "confirm" and proc is not None:
            os.kill(proc.pid, signal.SIGKILL)
            wait_dead(proc.pid)

    app.on_effect = strike
    try:
        proc = loyalty_cli.popen("--json", "scan-qr", "--code", CARD, "--amount", "500.00", "--receipt-number",
                                 "0200", "--yes")
        proc.communicate(timeout=60)
    finally:
        app.on_effect = None
    desk = DeskClient(loyalty_cli)
    unfinished = desk.get("/loyalty/operations").get_data(as_text=True)
    assert "0200" in unfinished and "sent, no answer yet" in unfinished  # the state in words
    # the killed till's lease on its sale (MEGAINSIGHT_BUDGET) passes before reconcile may take it
    deadline = time.monotonic() + 30
    while "0200" in desk.get("/loyalty/operations").get_data(as_text=True) and time.monotonic() < deadline:
        code, _, err = loyalty_cli.json("scan-qr", "--reconcile", MEGAINSIGHT_ORPHAN_MINUTES="0")
        assert code == 0, err
        time.sleep(0.2)
    assert "0200" not in desk.get("/loyalty/operations").get_data(as_text=True)
    orphans = desk.get("/loyalty/operations?show=orphan_refunded").get_data(as_text=True)
    assert "0200" in orphans and "refunded: never finished at the till" in orphans
    needs = desk.get("/").get_data(as_text=True)
    assert "/loyalty/operations?ref=0200" in needs and "never finished the sale" in needs
    detail = desk.get("/loyalty/operations?ref=0200").get_data(as_text=True)
    assert "Refunds" in detail and "refund made" in detail  # the refund with its operation


# -- the clinic's cash desk ------------------------------------------------------------------------
def test_pay_form_a_failed_pay_in_the_history_then_process_all_sends_it_once(desk_cli, clinic):
    cli, mis = desk_cli, clinic.mis
    visit(clinic, 6902)
    cli.ok("pull-orders")
    desk = DeskClient(cli)
    assert "6902" in desk.get("/misbridge/invoices").get_data(as_text=True)  # waiting
    page = "/misbridge/invoices?ref=6902"
    category, text = desk.act("/misbridge/invoices/pay", {"ref": "6902", "check_num": "x"}, page)
    assert category == "problem" and "Check number" in text
    category, text = desk.act("/misbridge/invoices/pay", {"ref": "6902", "check_num": "235",
                                                          "payment": ["bitcoin:5000"]}, page)
    assert category == "problem" and "bitcoin" in text
    assert rows(cli, "SELECT COUNT(*) AS n FROM misbridge_receipts") == [{"n": 0}]
    mis.faults.error_rate = 1.0  # the MIS is down: the desk works on
    category, text = desk.act("/misbridge/invoices/pay", {"ref": "6902", "check_num": "235",
                                                          "payment": ["cash:1000", "card:4000", ""],
                                                          "email": EMAIL}, page)
    assert category == "ok" and "Pay queued" in text and "e-receipt" in text
    category, text = desk.act("/misbridge/invoices/process-all", page=page)
    assert category == "problem" and "500" in text
    detail = desk.get(page).get_data(as_text=True)
    assert "Ошибка отправки «Оплаты»" in detail and "500 internal" in detail  # «История МИС»
    failed = desk.get("/misbridge/invoices?show=failed").get_data(as_text=True)
    assert "6902" in failed
    mis.faults.error_rate = 0.0
    category, text = desk.act("/misbridge/invoices/process-all", page=page)
    assert category == "ok" and "Pay sent 1" in text
    assert mis.counters["pay"] == 1 and len(clinic.smtp.messages) == 1
    paid = desk.get("/misbridge/invoices?show=paid").get_data(as_text=True)
    assert "6902" in paid and "6902" not in desk.get("/misbridge/invoices").get_data(as_text=True)
    assert "Ошибка отправки" not in desk.get(page).get_data(as_text=True)
    assert "desk: misbridge invoices process-all by " in cli.log_text()  # the audit line


def test_the_ereceipt_queue_resends_and_deletes(desk_cli, clinic):
    cli = desk_cli
    visit(clinic, 200)
    visit(clinic, 201)
    cli.ok("pull-orders")
    cli.quick_pay("200", 1, "cash:5000", email=EMAIL)
    cli.quick_pay("201", 2, "cash:5000", email="second@example.org")
    clinic.smtp.handler.fail_next = ["554 5.7.1 Rejected by policy"]
    desk = DeskClient(cli)
    (first, second) = [r["id"] for r in rows(cli, "SELECT id FROM misbridge_ereceipts ORDER BY id")]
    category, _ = desk.act("/misbridge/ereceipts/delete", {"ref": str(second)}, "/misbridge/ereceipts?show=all")
    assert category == "ok"
    cli.ok("resend-receipts")  # the first is refused for good (554); the deleted one is not sent
    assert len(clinic.smtp.messages) == 0
    queue = desk.get("/misbridge/ereceipts").get_data(as_text=True)
    assert "554" in queue and "b…@e…" in queue and EMAIL not in queue  # the recipient masked
    category, text = desk.act("/misbridge/ereceipts/resend", {"ref": str(first)}, "/misbridge/ereceipts")
    assert category == "ok" and "sent" in text
    assert [m["to"] for m in clinic.smtp.messages] == [[EMAIL]]
    assert "The queue is empty" in desk.get("/misbridge/ereceipts").get_data(as_text=True)


def test_desk_pages_show_sums_in_roubles_and_times_in_the_local_zone(desk_cli, clinic, monkeypatch):
    """Issue 18 point 2 on the desk: an invoice's sums as `5 000,00 ₽`, the «История МИС» times on
    Moscow's clock (the journal keeps ISO UTC), the template's own words in Russian."""
    from datetime import datetime, timedelta

    from maorders import i18n

    cli = desk_cli
    visit(clinic, 6902)
    cli.ok("pull-orders")
    cli.quick_pay("6902", 235, "cash:5000")
    cli.ok("resend-receipts")
    at = rows(cli, "SELECT at FROM misbridge_history ORDER BY id LIMIT 1")[0]["at"]
    moscow = (datetime.fromisoformat(at) + timedelta(hours=3)).strftime("%d.%m.%Y %H:%M")
    monkeypatch.setenv("MAORDERS_TZ", "Europe/Moscow")
    i18n.set_language("ru")
    try:
        page = DeskClient(cli).get("/misbridge/invoices?ref=6902").get_data(as_text=True)
    finally:
        i18n.set_language(None)
    assert "5\xa0000,00\xa0₽" in page and "5000.0" not in page
    assert moscow in page and at not in page
    assert "Нужен человек" in page  # base.html's «Needs a person» from the catalog
