"""Issue 10 through the installed CLI: what the real RetailCRM and MeaSoft do, against emulators
as strict as they are (history by sinceId, real field names, fair usage, several orders per
neworder, held statuses, only our own orders, insane numbers)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from test_courier_e2e import new_order, ok, run


def outbox_states(cli, kind: str) -> list[str]:
    with closing(sqlite3.connect(f"file:{cli.journal}?mode=ro", uri=True)) as db:
        return [r[0] for r in db.execute("SELECT state FROM outbox WHERE kind = ? ORDER BY id", (kind,))]


def test_address_and_quantity_edits_while_new_reach_measoft_not_after(courier_cli, courier_emulators):
    emu = courier_emulators
    moved, more, taken = new_order(emu), new_order(emu), new_order(emu)
    assert ok(courier_cli, "pull-orders")["counts"]["shipments_sent"] == 3
    emu.measoft.set_status(taken["number"], "ACCEPTED")  # in work; the journal has not polled it
    emu.crm.manager_edit(moved["id"], delivery={"address": {"text": "ул. Новая, д. 5"}})
    emu.crm.manager_edit(more["id"], items=[dict(more["items"][0], quantity=3)])
    emu.crm.manager_edit(taken["id"], items=[dict(taken["items"][0], quantity=4)])
    before = emu.measoft.counters["requests"]
    result = ok(courier_cli, "pull-orders")
    assert result["counts"]["edits_sent"] == 2 and result["counts"]["edits_refused"] == 1
    assert emu.measoft.orders[moved["number"]]["receiver"]["address"] == "ул. Новая, д. 5"
    changed = emu.measoft.orders[more["number"]]
    assert changed["items"][0]["quantity"] == "3" and changed["price"] == "1650"  # 3 × 450 + 300
    assert emu.measoft.orders[taken["number"]]["items"][0]["quantity"] == "2"
    assert any("already in work" in e for e in result["errors"])
    # one statusreq by date range read the three back, then one editorder for each of the two
    assert emu.measoft.counters["requests"] - before == 3


def test_170_orders_at_once_keep_measoft_fair_usage_and_arrive_once(courier_cli, courier_emulators):
    emu = courier_emulators
    orders = [new_order(emu) for _ in range(170)]
    # the first batch of 50 is refused whole: its orders go one by one, so that one order
    # MeaSoft cannot read does not refuse its neighbours
    emu.measoft.fail_next("neworder", 3, level="root")
    assert ok(courier_cli, "pull-orders")["counts"]["shipments_sent"] == 170
    assert set(emu.measoft.orders) == {o["number"] for o in orders}
    assert emu.measoft.counters["order_created"] == 170
    assert emu.measoft.most_per_minute <= 150 and emu.measoft.counters["fair_usage_refused"] == 0
    assert emu.measoft.counters["requests"] == 4 + 50  # 50 orders to a neworder, and the 50 alone


def test_unknown_account_is_one_refusal_naming_retailcrm_url(courier_cli, courier_emulators):
    emu = courier_emulators
    new_order(emu)
    emu.crm.account_exists = False
    done = courier_cli.run("--json", "pull-orders")
    assert done.returncode == 69 and "RETAILCRM_URL" in done.stdout
    assert emu.measoft.counters["requests"] == 0


def test_statuses_held_while_our_cancel_is_pending_reach_the_crm_when_it_fails(courier_cli, courier_emulators):
    emu = courier_emulators
    order = new_order(emu)
    ok(courier_cli, "pull-orders")
    emu.crm.manager_edit(order["id"], delivery={"code": "self-delivery"})  # leaves the courier
    emu.measoft.faults.error_rate = 1.0  # MeaSoft down: the cancel stays pending
    code, _ = run(courier_cli, "pull-orders", MAORDERS_HTTP_RETRIES="0")
    assert code == 75
    emu.measoft.faults.error_rate = 0.0
    emu.measoft.set_status(order["number"], "COMPLETE")  # meanwhile the courier delivered it
    held = ok(courier_cli, "push-statuses")
    assert held["counts"]["statuses_held_while_cancelling"] == 1
    assert emu.crm.orders[order["id"]]["status"] == "SentMeaSoft"
    refused = ok(courier_cli, "pull-orders")  # MeaSoft: in work (COMPLETE), cannot be cancelled
    assert refused["counts"]["cancels_refused"] == 1
    released = ok(courier_cli, "push-statuses")
    assert released["counts"]["held_statuses_released"] == 1
    assert emu.crm.orders[order["id"]]["status"] == "complete"
    assert [p["status"] for p in emu.crm.orders[order["id"]]["payments"].values()] == ["paid"]


def test_last_years_order_under_our_number_feeds_nothing(courier_cli, courier_emulators):
    emu = courier_emulators
    order = new_order(emu)
    ok(courier_cli, "pull-orders")
    ok(courier_cli, "push-statuses")  # NEW: the journal learns our ordercode
    old = emu.measoft.foreign_order(order["number"], created="2020-05-01 12:00:00")
    emu.measoft.change_status(old, "COMPLETE")
    result = ok(courier_cli, "push-statuses")
    assert result["counts"]["not_our_orders"] == 1
    assert emu.crm.orders[order["id"]]["status"] == "SentMeaSoft"


def test_insane_numbers_are_one_rejected_item_never_exit_1(courier_cli, courier_emulators):
    emu = courier_emulators
    huge, fine = new_order(emu, prepaySum=1e300), new_order(emu)
    pulled = ok(courier_cli, "pull-orders")
    assert pulled["counts"]["shipments_rejected"] == 1 and pulled["counts"]["shipments_sent"] == 1
    assert any(huge["number"] in e and "out of range" in e for e in pulled["errors"])
    emu.measoft.set_status(fine["number"], "COMPLETE", price="1e400")
    pushed = ok(courier_cli, "push-statuses")
    assert pushed["counts"]["payments_with_insane_sums"] == 1
    assert emu.crm.orders[fine["id"]]["status"] == "complete"  # the status still went


def test_a_per_order_mysql_error_is_retried_not_final(courier_cli, courier_emulators):
    emu = courier_emulators
    new_order(emu)
    emu.measoft.fail_next("neworder", 13, level="item")  # the general table's «mysql error»
    result = ok(courier_cli, "pull-orders")
    assert result["counts"]["shipments_retried_later"] == 1 and not result["errors"]
    assert outbox_states(courier_cli, "neworder") == ["retry"]


def test_credentials_stay_with_their_host_on_redirects(courier_cli, courier_emulators):
    from courier.emulator import serve_measoft, serve_retailcrm

    emu = courier_emulators
    new_order(emu)
    elsewhere_crm, other_crm = serve_retailcrm()      # another host: another origin
    elsewhere_measoft, other_measoft = serve_measoft()
    try:
        emu.crm.faults.redirect_to = elsewhere_crm.url
        done = courier_cli.run("--json", "pull-orders")
        assert done.returncode == 78 and "RETAILCRM_URL" in done.stdout and "crm-key" not in done.stdout
        assert other_crm.counters["requests"] == 0  # X-API-KEY never went there
        emu.crm.faults.redirect_to = ""
        emu.measoft.faults.redirect_to = elsewhere_measoft.url  # a POST with the password in its body
        done = courier_cli.run("--json", "pull-orders")
        assert done.returncode == 78 and "MEASOFT_URL" in done.stdout and "testm" not in done.stdout
        assert other_measoft.counters["requests"] == 0 and emu.measoft.orders == {}
    finally:
        elsewhere_crm.stop()
        elsewhere_measoft.stop()


def test_history_that_predates_the_install_is_not_replayed(courier_cli, courier_emulators):
    """The first read starts a day back (RetailCRM's own module), then walks by sinceId."""
    emu = courier_emulators
    old = new_order(emu)
    for record in emu.crm.history:
        record["createdAt"] = "2020-01-01 09:00:00"
    result = ok(courier_cli, "pull-orders")
    assert result["counts"].get("shipments_sent", 0) == 0 and old["number"] not in emu.measoft.orders
    fresh = new_order(emu)
    assert ok(courier_cli, "pull-orders")["counts"]["shipments_sent"] == 1
    assert fresh["number"] in emu.measoft.orders and old["number"] not in emu.measoft.orders
