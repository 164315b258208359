"""A day in the life of a pharmacy, through the installed `maorders` and the MegApteka emulator.

Every test runs the real CLI as a subprocess against the emulator on a real port and a
real SQLite journal, and checks what a person would notice: the exit code, the JSON
summary, what the site received, what the journal holds and what stderr says.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from conftest import order_line
from maorders.emulation import Response

HEADER = "sku;name;manufacturer;department;quantity;price;barcode;protek_code;katren_code;egk_code;expires_at"
# The file's own line numbers (header = 1) are in the comments; line 7 is blank on purpose.
STOCK_ROWS = [
    "A-1001;Нурофен таб. 200мг №20;Reckitt;Основной;7;189,50;4601234567890;12345;;;2027-05-01",  # 2
    "A-1002;Арбидол капс. 100мг №20;Фармстандарт;Основной;3;412,00;4602345678901;;;;2026-12-01",  # 3
    "A-1003;Терафлю пор. №10;GSK;Основной;5;520,30;;55501;;;2027-01-15",  # 4
    "A-1006;Ношпа таб. 40мг №24;Sanofi;Склад;20;155,00;4604567890123;;;;",  # 5 other department
    "A-1008;Кол-во словами;X;Основной;много;10,00;4600000000008;;;;",  # 6 bad quantity
    "",  # 7 blank: skipped, still counted as a line
    "A-1009;Минус;X;Основной;-2;10,00;4600000000009;;;;",  # 8 negative stock
    "A-1001;Дубль Нурофена;X;Основной;99;1,00;4600000000010;;;;",  # 9 duplicated sku
    "A-1010;Кривая цена;X;Основной;1;12,3,4;4600000000011;;;;",  # 10 bad price
    "A-1007;Пластырь без кодов;Неизвестный;Основной;4;12,00;;;;;",  # 11 no code
]
# What the site must show for that file: the default department's good rows, first of a duplicate.
EXPECTED_STOCK = {"A-1001": (7, 189.5), "A-1002": (3, 412.0), "A-1003": (5, 520.3)}
BAD_LINES = {6: "A-1008", 8: "A-1009", 9: "A-1001", 10: "A-1010", 11: "A-1007"}

# The same goods as the UTF-8-with-BOM, comma-delimited, decimal-point export of another system.
STOCK_UTF8 = "\n".join([
    "SKU,Name,Manufacturer,Department,Quantity,Price,Barcode,Protek_Code,Katren_Code,EGK_Code,Expires_At,Shelf",
    'A-1001,"Нурофен таб. 200мг, №20",Reckitt,Основной,7,189.50,4601234567890,12345,,,2027-05-01,B2',
    "A-1002,Арбидол капс. 100мг №20,Фармстандарт,Основной,3,412.00,4602345678901,,,,2026-12-01,C1",
    "A-1003,Терафлю пор. №10,GSK,Основной,5,520.30,,55501,,,2027-01-15,C4",
    "A-1006,Ношпа таб. 40мг №24,Sanofi,Склад,20,155.00,4604567890123,,,,,A1",
]) + "\n"


# -- helpers ------------------------------------------------------------------------------------
def write_stock(cli, rows: list[str] | None = None) -> None:
    text = "\n".join([HEADER, *(STOCK_ROWS if rows is None else rows)]) + "\n"
    (cli.workdir / "stock.csv").write_bytes(text.encode("cp1251"))


def ok(cli, *args: str, **env: str) -> dict[str, Any]:
    """Run with --json, expect exit 0, return the summary."""
    code, result, stderr = cli.json(*args, **env)
    assert code == 0, (result, stderr)
    assert result["exit_code"] == 0
    return result


def counts(result: dict[str, Any]) -> dict[str, int]:
    return result["connectors"]["megapteka"]["counts"]


def site_stock(site) -> dict[str, tuple[int, float]]:
    return {item["sku"]: (item["quantity"], item["price"]) for item in site.stock_items}


def site_statuses(site, order: dict) -> list[int]:
    return [record["status"] for record in site.order_statuses.get(order["id"], [])]


def booking(cli, ref: str) -> dict[str, Any]:
    code, result, stderr = cli.json("bookings", "show", ref)
    assert code == 0, stderr
    return result["booking"]


def states(cli, order: dict) -> tuple[str | None, str]:
    """(booking state, order state) of an order, as the journal holds them."""
    row = journal_rows(cli, "SELECT booking_state, order_state FROM mp_orders WHERE id = ?", (order["id"],))[0]
    return row["booking_state"], row["order_state"]


def journal_rows(cli, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    conn = sqlite3.connect(cli.journal)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


def outbox(cli, order: dict) -> dict[int, dict[str, Any]]:
    """The journal's queued statuses of one order, by status."""
    rows = journal_rows(cli, "SELECT * FROM outbox WHERE kind = 'status' AND business_key LIKE ?",
                        (f"{order['id']}/%",))
    return {int(row["business_key"].split("/")[1]): row for row in rows}


def refuse_next(site, handler: str, status: int = 503) -> list[int]:
    """The emulator answers the next call of `handler` with `status`, without its effect.

    Returns a list that counts every call of the handler (refused ones included).
    """
    original, calls = getattr(site, handler), []

    def wrapper(request, params, body):
        calls.append(1)
        if len(calls) == 1:
            return Response.json(status, {"error": "emulated", "message": "emulated refusal"})
        return original(request, params, body)

    setattr(site, handler, wrapper)
    return calls


def booked_order(cli, site, sku: str = "A-1001", barcode: str = "4601234567890", quantity: int = 2,
                 **add: Any) -> dict:
    """Stock exported, one order pulled and booked in full; its status 1 not yet pushed."""
    if not site.stock_items:
        ok(cli, "export-stock")
    order = site.add_order([order_line(sku, barcode, quantity)], **add)
    assert counts(ok(cli, "pull-orders"))["booked_full"] == 1
    return order


@pytest.fixture
def cli(cli):
    """The conftest CLI with this file's stock export and quick HTTP settings."""
    write_stock(cli)
    cli.env["MAORDERS_HTTP_RETRIES"] = "0"
    return cli


# -- stock ----------------------------------------------------------------------------------------
def test_stock_export_cp1251_semicolons_decimal_comma(cli, megapteka):
    _, site = megapteka
    code, result, stderr = cli.json("export-stock")

    assert code == 0, stderr
    assert site_stock(site) == EXPECTED_STOCK
    assert site.pharmacy_info == {"region": "Московская область", "city": "Подольск", "brand": "Тест Аптека"}
    assert counts(result) == {"rows_read": 9, "other_department": 1, "skipped_rows": 5, "exported": 3,
                                   "parts": 1}
    errors = result["connectors"]["megapteka"]["errors"]
    for line, sku in BAD_LINES.items():  # each bad row: its own line and sku, on stderr and in --json
        assert any(f"line {line} (sku {sku})" in e for e in errors), (line, errors)
        assert f"line {line} (sku {sku})" in stderr
    assert "duplicated sku" in next(e for e in errors if "line 9 " in e)
    assert "A-1006" not in json.dumps(site.stock_items)  # the other department stays home
    stored = journal_rows(cli, "SELECT sku, quantity, price, line FROM mp_stock ORDER BY line")
    assert [(r["sku"], r["quantity"], r["price"], r["line"]) for r in stored] == [
        ("A-1001", 7, 189.5, 2), ("A-1002", 3, 412.0, 3), ("A-1003", 5, 520.3, 4)]


def test_stock_export_utf8_bom_commas_decimal_point(cli, megapteka):
    _, site = megapteka
    (cli.workdir / "stock.csv").write_bytes(STOCK_UTF8.encode("utf-8-sig"))

    result = ok(cli, "export-stock")

    assert site_stock(site) == EXPECTED_STOCK
    assert {i["sku"]: i["name"] for i in site.stock_items}["A-1001"] == "Нурофен таб. 200мг, №20"
    assert result["connectors"]["megapteka"]["errors"] == []
    assert counts(result)["other_department"] == 1


def test_export_again_with_nothing_new_keeps_the_same_snapshot(cli, megapteka):
    _, site = megapteka
    ok(cli, "export-stock")
    first = site.snapshot_id
    ok(cli, "export-stock")
    assert site.snapshot_id == first
    assert site.snapshots_completed == 1


# -- the day ------------------------------------------------------------------------------------
def test_a_day_in_the_life(cli, megapteka):
    _, site = megapteka
    ok(cli, "export-stock")

    # Three orders: all in stock, part (3 of 5 Арбидол plus an unknown item), none (not in the file).
    full = site.add_order([order_line("A-1001", "4601234567890", 2)])
    part = site.add_order([order_line("A-1002", "4602345678901", 5),
                           order_line("", "", 1, protek_code="99999")])
    none = site.add_order([order_line("Z-404", "4609999999999", 1)])
    result = ok(cli, "pull-orders")
    assert counts(result) == {"received": 3, "booked_full": 1, "booked_partial": 1, "not_booked": 1}
    assert states(cli, full) == ("New", "Новый")
    assert states(cli, none) == (None, "Отменен")

    # Statuses 1, 1, 3 reach the site once each, however often the pass runs.
    assert counts(ok(cli, "push-statuses"))["statuses_sent"] == 3
    assert counts(ok(cli, "push-statuses")).get("statuses_sent", 0) == 0
    assert [site_statuses(site, o) for o in (full, part, none)] == [[1], [1], [3]]
    assert site.counters["status"] == 3
    assert site.order_statuses[part["id"]][0]["comment"] == "Есть 3 из 6"

    # The next export shows what the bookings hold taken off the file's quantities.
    ok(cli, "export-stock")
    assert site_stock(site) == {"A-1001": (5, 189.5), "A-1002": (0, 412.0), "A-1003": (5, 520.3)}

    # The site re-sends an order it saw no status for: nothing changes.
    site.resend_order(full["id"])
    result = ok(cli, "pull-orders")
    assert counts(result)["already_known"] == 1
    assert "booked_full" not in counts(result)
    ok(cli, "push-statuses")
    assert site_statuses(site, full) == [1]
    assert journal_rows(cli, "SELECT COUNT(*) AS n FROM mp_orders")[0]["n"] == 3

    # Only part can be given: ask the customer (7 with the items), who accepts (8).
    code, asked, _ = cli.json("bookings", "request-confirmation", part["number"])
    assert (code, asked["booking"]["order_state"], asked["booking"]["queued_status"]) == (
        0, "Ожидает подтверждения", 7)
    ok(cli, "push-statuses")
    seven = site.order_statuses[part["id"]][-1]
    assert (seven["status"], seven["items"]) == (7, [{"line_id": 1, "quantity": 3}])
    site.confirm_order(part["id"])
    assert counts(ok(cli, "push-statuses"))["confirmed"] == 1
    assert booking(cli, part["number"])["order_state"] == "Подтвержден"

    # Assembled (5), then sold at the till (2).
    assert cli.run("bookings", "ready", part["number"]).returncode == 0
    ok(cli, "push-statuses")
    assert site_statuses(site, part) == [1, 7, 5]
    assert cli.run("bookings", "issue", part["number"]).returncode == 0
    ok(cli, "push-statuses")
    ok(cli, "push-statuses")
    assert site_statuses(site, part) == [1, 7, 5, 2]
    shown = booking(cli, part["number"])
    assert (shown["booking_state"], shown["order_state"]) == ("Issued", "Выдан")
    assert [(s["status"], s["state"]) for s in shown["statuses"]] == [(1, "sent"), (7, "sent"), (5, "sent"),
                                                                      (2, "sent")]

    # An issued booking holds nothing: the sale is in the file now; the full order still holds 2.
    ok(cli, "export-stock")
    assert site_stock(site) == {"A-1001": (5, 189.5), "A-1002": (3, 412.0), "A-1003": (5, 520.3)}
    code, _, _ = cli.json("status", "--check")
    assert code == 0


def test_site_cancel_of_a_new_booking_deletes_it_and_releases_the_stock(cli, megapteka):
    _, site = megapteka
    order = booked_order(cli, site, quantity=4)
    ok(cli, "push-statuses")
    ok(cli, "export-stock")
    assert site_stock(site)["A-1001"][0] == 3

    site.cancel_order(order["id"])
    assert counts(ok(cli, "push-statuses"))["cancelled"] == 1

    assert states(cli, order) == ("Deleted", "Отменен")
    assert site_statuses(site, order) == [1]  # a site cancel is not echoed back
    ok(cli, "export-stock")
    assert site_stock(site)["A-1001"][0] == 7


def test_a_site_cancel_before_the_first_push_drops_the_unsent_status(cli, megapteka):
    """The customer cancels before status 1 ever left: no refusal, nothing for a person."""
    _, site = megapteka
    order = booked_order(cli, site)
    site.cancel_order(order["id"])

    result = ok(cli, "push-statuses")

    assert result["connectors"]["megapteka"]["errors"] == []
    assert site_statuses(site, order) == []
    assert outbox(cli, order)[1]["state"] == "dropped"
    assert states(cli, order) == ("Deleted", "Отменен")
    assert cli.run("status", "--check").returncode == 0


def test_site_cancel_of_an_assembled_booking_waits_for_a_person(cli, megapteka):
    _, site = megapteka
    order = booked_order(cli, site, quantity=3)
    assert cli.run("bookings", "ready", order["number"]).returncode == 0
    ok(cli, "push-statuses")
    assert site_statuses(site, order) == [1, 5]

    site.cancel_order(order["id"])
    ok(cli, "push-statuses")

    assert states(cli, order) == ("Closed", "Аннулирован клиентом")
    code, listed, _ = cli.json("bookings", "list", "--cancelled-by-client")
    assert (code, [b["number"] for b in listed["bookings"]]) == (0, [order["number"]])
    check = cli.run("status", "--check")
    assert check.returncode == 1
    assert "Аннулирован клиентом" in check.stderr
    ok(cli, "export-stock")
    assert site_stock(site)["A-1001"][0] == 4  # the goods are still on the shelf for the order

    deleted = cli.run("bookings", "delete", order["number"])
    assert deleted.returncode == 0, deleted.stderr
    ok(cli, "push-statuses")

    assert site_statuses(site, order) == [1, 5]  # nothing after the site's own cancel
    assert states(cli, order) == ("Deleted", "Аннулирован клиентом")
    assert cli.json("bookings", "list", "--cancelled-by-client")[1]["bookings"] == []
    assert cli.run("status", "--check").returncode == 0
    ok(cli, "export-stock")
    assert site_stock(site)["A-1001"][0] == 7


def test_an_expired_booking_is_deleted_cancelled_on_the_site_and_shown(cli, megapteka):
    _, site = megapteka
    order = booked_order(cli, site, quantity=2)
    ok(cli, "push-statuses")

    assert counts(ok(cli, "expire-bookings")) == {}  # 48 h by default: nothing yet
    result = ok(cli, "expire-bookings", MEGAPTEKA_BOOKING_TTL_HOURS="0")
    assert counts(result) == {"expired": 1}
    assert counts(ok(cli, "expire-bookings", MEGAPTEKA_BOOKING_TTL_HOURS="0")) == {}
    ok(cli, "push-statuses")

    assert site_statuses(site, order) == [1, 3]
    assert states(cli, order) == ("Deleted", "Отменен")
    # the seed's «… удален, заказ необходимо расформировать» in Russian (test_booking_rules); the tests run in English
    message = f"«{order['number']}» deleted, the order must be disbanded"
    assert message in cli.run("status").stdout
    code, status, _ = cli.json("status")
    assert message in [n["message"] for n in status["notifications"]]
    ok(cli, "export-stock")
    assert site_stock(site)["A-1001"][0] == 7


def test_an_order_is_found_by_its_number_and_by_its_id(cli, megapteka):
    _, site = megapteka
    site._next_order_id = 1042  # the site's own numbering: id 1042, number MA-1042
    order = booked_order(cli, site)
    assert (order["id"], order["number"]) == (1042, "MA-1042")

    by_number, by_id = booking(cli, "MA-1042"), booking(cli, "1042")
    assert by_number == by_id
    assert by_number["id"] == 1042

    assert cli.run("bookings", "ready", "1042").returncode == 0
    assert cli.run("bookings", "issue", "MA-1042").returncode == 0
    ok(cli, "push-statuses")
    assert site_statuses(site, order) == [1, 5, 2]


def test_bookings_list_state_takes_any_case_or_is_refused(cli, megapteka):
    """Issue 18 point 3: `--state new` lists the New bookings (it listed nothing); a word that is no
    state is a usage error (exit 2) naming the states, not an empty list."""
    _, site = megapteka
    order = booked_order(cli, site)
    for word in ("new", "NEW", "New", "новый"):
        code, listed, _ = cli.json("bookings", "list", "--state", word)
        assert code == 0 and [b["number"] for b in listed["bookings"]] == [order["number"]], word
    refused = cli.run("bookings", "list", "--state", "newest")
    assert refused.returncode == 2 and "newest" in refused.stderr and "Closed" in refused.stderr
    assert refused.stdout == ""


def test_an_operator_mistake_reads_in_russian_by_default(cli, megapteka):
    """Issue 18 point 1: the refusal a person reads comes from the catalog; `error:` stays as it is."""
    done = cli.run("bookings", "show", "MA-404", MAORDERS_LANG="ru")
    assert done.returncode == 65
    assert done.stderr.strip() == "error: заказа 'MA-404' нет в журнале (укажите его номер, MA-1042, или id, 1042)"


def test_operator_mistakes_exit_65_with_one_line_and_change_nothing(cli, megapteka):
    _, site = megapteka
    order = booked_order(cli, site)
    assert cli.run("bookings", "request-confirmation", order["number"]).returncode == 0
    before = (states(cli, order), outbox(cli, order).keys())

    for args, words in [
        (("issue", order["number"]), "mark it ready (status 5) before issuing"),
        (("request-confirmation", str(order["id"])), "confirmation is asked only of a new order"),
        (("ready", "MA-7777"), "no order 'MA-7777' in the journal"),
        (("delete", "7777"), "no order '7777' in the journal"),
    ]:
        done = cli.run("bookings", *args)
        assert done.returncode == 65, (args, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], done.stderr

    assert (states(cli, order), outbox(cli, order).keys()) == before
    ok(cli, "push-statuses")
    assert site_statuses(site, order) == [1, 7]


def test_a_status_the_site_refuses_for_good_is_recorded_not_retried_and_flagged(cli, megapteka):
    """409: status 1 was tried (a 503), then the customer cancelled; the retry is refused for good."""
    _, site = megapteka
    order = booked_order(cli, site)
    calls = refuse_next(site, "_post_status", 503)
    code, result, _ = cli.json("push-statuses")
    assert code == 75  # transient, retries spent
    assert outbox(cli, order)[1]["state"] == "retry"

    site.cancel_order(order["id"])
    code, result, stderr = cli.json("push-statuses")

    assert code == 0, stderr
    assert counts(result)["statuses_refused"] == 1
    assert any("409" in e for e in result["connectors"]["megapteka"]["errors"])
    assert outbox(cli, order)[1]["state"] == "failed"
    assert states(cli, order) == ("Deleted", "Отменен")
    check = cli.run("status", "--check")
    assert check.returncode == 1
    assert "refused for good" in check.stderr
    tried = len(calls)

    ok(cli, "push-statuses")  # not retried
    assert len(calls) == tried == 2
    assert outbox(cli, order)[1]["attempts"] == 2
    assert site_statuses(site, order) == []
    assert cli.run("status", "--check").returncode == 1

    assert cli.run("status", "--ack").returncode == 0  # a person has seen it
    assert cli.run("status", "--check").returncode == 0
    assert outbox(cli, order)[1]["state"] == "dismissed"


def test_stock_that_comes_back_to_an_earlier_state_is_shown_again(cli, megapteka):
    """A, B, then A again: the site must show A, not keep B (it never replaces twice under one id)."""
    _, site = megapteka
    ok(cli, "export-stock")
    write_stock(cli, [row.replace(";7;189,50;", ";1;189,50;") for row in STOCK_ROWS])
    ok(cli, "export-stock")
    assert site_stock(site)["A-1001"] == (1, 189.5)

    write_stock(cli)
    ok(cli, "export-stock")

    assert site_stock(site) == EXPECTED_STOCK
    assert site.snapshots_completed == 3
