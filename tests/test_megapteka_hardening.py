"""Issue 7 for MegApteka, through the installed `maorders` against the emulator.

A cursor never moves past what was not applied (a cancel read before its order waits
for it); an export that would empty the site is refused; stock that comes back to an
earlier state is shown again after a lost reply; bad numbers from the site or the file
are one rejected item, not a stuck feed; replies of the wrong shape are 75; the journal
is not locked while the stock file is read.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import Cli, order_line

HEADER = "sku;name;manufacturer;department;quantity;price;barcode;protek_code;katren_code;egk_code;expires_at"
ROWS = [
    "A-1001;Нурофен таб. 200мг №20;Reckitt;Основной;7;189,50;4601234567890;12345;;;2027-05-01",  # line 2
    "A-1002;Арбидол капс. 100мг №20;Фармстандарт;Основной;3;412,00;4602345678901;;;;2026-12-01",  # 3
    "A-1006;Ношпа таб. 40мг №24;Sanofi;Склад;20;155,00;4604567890123;;;;",  # 4
]
NUROFEN = ("A-1001", "4601234567890")


# -- helpers ------------------------------------------------------------------------------------
def write_stock(cli: Cli, rows: list[str]) -> None:
    Path(cli.env["MEGAPTEKA_STOCK_FILE"]).write_bytes("\n".join([HEADER, *rows, ""]).encode("cp1251"))


def run(cli: Cli, *args: str, code: int = 0, **env: str) -> tuple[dict[str, Any], str]:
    got, result, stderr = cli.json(*args, **env)
    assert got == code and result["exit_code"] == code, (result, stderr)
    assert "Traceback" not in stderr
    return result, stderr


def counts(result: dict[str, Any]) -> dict[str, int]:
    return result["connectors"]["megapteka"]["counts"]


def errors(result: dict[str, Any]) -> list[str]:
    return result["connectors"]["megapteka"]["errors"]


def rows(cli: Cli, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(cli.journal)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def cursors(cli: Cli) -> dict[str, str]:
    return dict(rows(cli, "SELECT feed, value FROM cursors WHERE connector = 'megapteka'"))


def site_stock(site) -> dict[str, int]:
    return {item["sku"]: item["quantity"] for item in site.stock_items}


@pytest.fixture
def cli(cli):
    write_stock(cli, ROWS)
    cli.env["MAORDERS_HTTP_RETRIES"] = "0"
    return cli


# -- 1. a cancel read before its order waits for it ----------------------------------------------
def test_orders_cancelled_before_they_were_fetched_are_never_booked(cli, megapteka):
    """The customer cancels before `pull-orders` fetched the order. Whichever pass reads the
    event first (X: push-statuses; Y: pull-orders itself; Z: pull-orders, while the site's
    orders feed still lags behind its events), the order is recorded as cancelled: never
    booked, no status 1 (which the site would refuse with 409), its stock free."""
    _, site = megapteka
    run(cli, "export-stock")
    kept = site.add_order([order_line(*NUROFEN, 2)])
    x = site.add_order([order_line(*NUROFEN, 5)])
    site.cancel_order(x["id"])
    result, _ = run(cli, "push-statuses")
    assert counts(result)["events_waiting"] == 1
    assert rows(cli, "SELECT event_id, order_id FROM mp_waiting_events") == [(1, x["id"])]
    assert cursors(cli)["events"] == "1"  # moved: the event is kept in the journal
    y, z = (site.add_order([order_line(*NUROFEN, 5)]) for _ in range(2))
    site.cancel_order(y["id"])
    site.cancel_order(z["id"])
    site.orders_lag = 1  # z's event is in the events feed, z not yet in the orders feed

    result, _ = run(cli, "pull-orders")
    assert counts(result)["cancelled_before_booking"] == 2 and counts(result)["booked_full"] == 1
    assert rows(cli, "SELECT order_id FROM mp_waiting_events") == [(z["id"],)]
    site.orders_lag = 0
    run(cli, "push-statuses")
    assert counts(run(cli, "pull-orders")[0])["cancelled_before_booking"] == 1

    for order in (x, y, z):
        assert rows(cli, "SELECT outcome, booking_state, order_state FROM mp_orders WHERE id = ?",
                    (order["id"],)) == [("cancelled", None, "Отменен")]
        assert rows(cli, "SELECT COUNT(*) FROM outbox WHERE business_key LIKE ?", (f"{order['id']}/%",)) == [(0,)]
        assert site.order_statuses.get(order["id"]) is None
    assert rows(cli, "SELECT COUNT(*) FROM mp_waiting_events") == [(0,)]
    assert [r["status"] for r in site.order_statuses[kept["id"]]] == [1]
    run(cli, "export-stock")
    assert site_stock(site)["A-1001"] == 7 - 2  # only the kept order holds stock
    assert cli.run("status", "--check").returncode == 0


# -- 2. an export that would wipe the site's stock ------------------------------------------------
def test_a_department_no_row_belongs_to_is_65_and_changes_nothing(cli, megapteka):
    """A typo in MEGAPTEKA_DEPARTMENT (or a renamed department) would empty the site's stock."""
    _, site = megapteka
    run(cli, "export-stock")
    shown, completed = list(site.stock_items), site.snapshots_completed
    stock, marks = rows(cli, "SELECT * FROM mp_stock ORDER BY sku"), cursors(cli)

    for department, words in (("Основнои", "the file has «Основной» (2 rows), «Склад» (1 row); nothing"),
                              ("основной", "did you mean «Основной»?")):
        result, stderr = run(cli, "export-stock", code=65, MEGAPTEKA_DEPARTMENT=department)
        lines = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and f"«{department}»" in lines[0] and words in lines[0], stderr
        assert (site.stock_items, site.snapshots_completed) == (shown, completed)
        assert rows(cli, "SELECT * FROM mp_stock ORDER BY sku") == stock and cursors(cli) == marks


def test_a_department_whose_rows_are_all_bad_is_65(cli, megapteka):
    _, site = megapteka
    write_stock(cli, ["A-1;Без кодов;X;Основной;1;10,00;;;;;", ROWS[2]])
    result, stderr = run(cli, "export-stock", code=65)
    assert "none of the 1 row(s) of the department «Основной» can be exported" in stderr
    assert site.snapshots_completed == 0 and rows(cli, "SELECT COUNT(*) FROM mp_stock") == [(0,)]


# -- 3. A, B with its last reply lost, then A again ------------------------------------------------
def test_stock_back_to_an_earlier_state_after_a_lost_reply_is_shown(cli, megapteka):
    _, site = megapteka
    run(cli, "export-stock")  # A
    write_stock(cli, [ROWS[0].replace(";7;", ";1;"), *ROWS[1:]])  # B
    site.faults.drop_after_effect = 1  # the site completes B; its reply never comes
    run(cli, "export-stock", code=75)
    assert site_stock(site)["A-1001"] == 1 and site.snapshots_completed == 2

    write_stock(cli, ROWS)  # A again
    run(cli, "export-stock")

    assert site_stock(site) == {"A-1001": 7, "A-1002": 3}
    assert site.snapshots_completed == 3 and cursors(cli)["stock_snapshot"] == site.snapshot_id


def test_a_rerun_after_a_lost_last_reply_replays_the_same_snapshot(cli, megapteka):
    _, site = megapteka
    site.faults.drop_after_effect = 1
    run(cli, "export-stock", code=75)
    run(cli, "export-stock")
    assert site.snapshots_completed == 1 and cursors(cli)["stock_snapshot"] == site.snapshot_id


# -- 5. bad numbers: one rejected item, the feed goes on -------------------------------------------
# (NaN and Infinity are not JSON, RFC 8259: a page holding one is a malformed reply, 75, as every
# remote's is: tests/test_http_decoding.py)
BAD_LINES = {
    "quantity 2^63": order_line(*NUROFEN, 2**63),
    "line_id 2^63": order_line(*NUROFEN, 1) | {"line_id": 2**63},
    "price 1e300": order_line(*NUROFEN, 1, 1e300),
    "quantity 2^64 packs as a float": order_line(*NUROFEN, 1) | {"quantity": 1.8e19},
}


def test_orders_with_numbers_out_of_range_are_rejected_and_the_feed_goes_on(cli, megapteka):
    _, site = megapteka
    run(cli, "export-stock")
    first = site.add_order([order_line(*NUROFEN, 1)])
    bad = {what: site.add_order([line])["id"] for what, line in BAD_LINES.items()}
    last = site.add_order([order_line(*NUROFEN, 2)])
    site.events.append({"id": 1, "order_id": 2**63, "status": 3, "created_at": "2026-11-30T10:00:00+03:00"})
    site.events.append({"id": 2**64, "order_id": first["id"], "status": 3})

    result, stderr = run(cli, "pull-orders")

    assert counts(result)["booked_full"] == 2 and counts(result)["rejected"] == len(BAD_LINES) + 1
    assert cursors(cli)["orders"] == str(last["id"]) and cursors(cli)["events"] == "1"
    shown = " ".join(errors(result))
    for words in ("field 'quantity' must be a whole number of packs", "field 'line_id' must be a whole number",
                  "field 'price' must be a number 0..10000000, got 1e+300",
                  "site event 1: order 9223372036854775808", "events entry with the id 18446744073709551616"):
        assert words in shown, (words, shown)
    assert sorted(r[0] for r in rows(cli, "SELECT id FROM mp_orders WHERE outcome = 'rejected'")) == sorted(bad.values())
    listed, _ = run(cli, "bookings", "list", "--state", "rejected")
    assert len(listed["bookings"]) == len(BAD_LINES)
    assert cli.run("status", "--check").returncode == 1  # a person sees them

    again, _ = run(cli, "pull-orders")  # nothing new: nothing booked twice, nothing stuck
    assert counts(again).get("booked_full", 0) == 0 and counts(again).get("received", 0) == 0


def test_a_stock_row_with_a_quantity_past_any_range_is_reported_by_line(cli, megapteka):
    _, site = megapteka
    write_stock(cli, [ROWS[0], "A-1003;Терафлю;GSK;Основной;99999999999999999999;520,30;;55501;;;",
                      "A-1004;Витамин;Эвалар;Основной;10;1e300;;;77001;;", ROWS[1]])
    result, _ = run(cli, "export-stock")
    assert counts(result)["skipped_rows"] == 2 and counts(result)["exported"] == 2
    shown = " ".join(errors(result))
    assert "line 3 (sku A-1003): quantity 99999999999999999999 is out of range" in shown
    assert "line 4 (sku A-1004): price 1e300 is out of range" in shown
    assert site_stock(site) == {"A-1001": 7, "A-1002": 3}


# -- replies of the wrong shape --------------------------------------------------------------------
@pytest.mark.parametrize("command", ["export-stock", "pull-orders", "push-statuses"])
def test_replies_of_the_wrong_shape_are_75_and_change_nothing(cli, megapteka, command):
    _, site = megapteka
    site.faults.wrong_shape_rate = 1.0
    result, stderr = run(cli, command, code=75)
    assert "malformed" in stderr
    assert site.snapshots_completed == 0 and rows(cli, "SELECT COUNT(*) FROM mp_orders") == [(0,)]
    assert "orders" not in cursors(cli) and "stock_snapshot" not in cursors(cli)


# -- 10. the journal is free while the stock file is read ------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_the_journal_is_not_locked_while_the_stock_file_is_read(cli, megapteka):
    """The stock file is a pipe: the export has read part of it and waits for the rest.
    Another program writes to the journal meanwhile, at once (no busy wait)."""
    _, site = megapteka
    fifo = cli.workdir / "stock.fifo"
    os.mkfifo(fifo)
    proc = cli.popen("--json", "export-stock", MEGAPTEKA_STOCK_FILE=str(fifo))
    writer = _open_pipe(fifo, proc)
    try:
        lines = [f"B-{n:06d};Товар {n};X;Основной;1;10,00;46{n:011d};;;;" for n in range(3000)]
        writer.write(("\n".join([HEADER, *lines]) + "\n").encode("cp1251"))  # > a pipe's buffer: read
        writer.flush()
        other = sqlite3.connect(cli.journal, timeout=0.5)
        try:
            other.execute("BEGIN IMMEDIATE")  # raises "database is locked" if the export holds it
            other.execute("INSERT INTO notifications (connector, subject, kind, message, created_at) "
                          "VALUES ('test', 'x', 'x', 'written while the file was read', '2026-11-30')")
            other.execute("COMMIT")
        finally:
            other.close()
        writer.write("C-1;Последний;X;Основной;2;10,00;4699999999999;;;;\n".encode("cp1251"))
    finally:
        writer.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert len(site.stock_items) == 3001


def _open_pipe(fifo: Path, proc: subprocess.Popen):
    """Open the pipe for writing once the export has opened it for reading."""
    opened: list[Any] = []
    thread = threading.Thread(target=lambda: opened.append(open(fifo, "wb")), daemon=True)
    thread.start()
    thread.join(timeout=30)
    if not opened:
        proc.kill()
        os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # release the blocked open
        raise AssertionError(f"export-stock never opened the pipe: {proc.communicate()[1]}")
    return opened[0]


def test_a_url_with_no_such_api_is_78_naming_the_setting(cli, megapteka):
    """A 404 from the token endpoint (a wrong path in MEGAPTEKA_URL) is not `"ok": true`."""
    server, site = megapteka
    result, stderr = run(cli, "pull-orders", code=78, MEGAPTEKA_URL=server.url + "/api")
    assert "MEGAPTEKA_URL" in stderr and "404" in stderr
    assert result["connectors"]["megapteka"]["ok"] is False
