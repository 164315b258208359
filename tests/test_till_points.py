"""Issue 15: never twice at the till, even when the service is slow or the till gives up.

Each test is named for the point it holds, and runs the installed `maorders` against the
Megainsight emulator on 127.0.0.1 (and `maorders serve` where the point is the service's).
"""

from __future__ import annotations

import random
import signal
import socket
import sqlite3
import threading
import time
from contextlib import closing, suppress
from typing import Any

import psutil

from conftest import wait_dead
from loyalty_fixtures import CARD, LoyaltyCli, journal_rows, loyalty_cli, megainsight  # noqa: F401
from test_resident import SALE, Service, service, user  # noqa: F401

OTHER_CARD = "79990001122"


def until_done(cli: LoyaltyCli, *args: str, tries: int = 4, **env: str) -> tuple[dict[str, Any], list[int]]:
    """Run the same sale again until it ends 0: its result and every exit code seen."""
    codes = []
    for _ in range(tries):
        code, loyalty, err = cli.sale(*args, **env)
        codes.append(code)
        if code == 0:
            return loyalty["result"], codes
        assert code == 75, (code, loyalty, err[-2000:])
    raise AssertionError(f"scan-qr {args} never finished: {codes}")


def ops_of(app: Any, receipt: str) -> list[Any]:
    return [op for op in app.purchases() if op.receipt_number == receipt]


def wait_until(condition, what: str, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


# -- point 3 -----------------------------------------------------------------------------------
def test_point3_slow_confirm_short_budget_and_reruns_give_one_operation(loyalty_cli, megainsight):
    """The first confirm is still being applied when the budget ends: the rerun finds nothing by
    request id, and must send the very same request again (never a new body under that id,
    which the service answers 409 `request_id_reused`, and never a new request id)."""
    app = megainsight.app
    app.confirm_delay = 4.0
    sale = ("--code", CARD, "--line", "AI95:40:56.00", "--receipt-number", "0301")
    code, loyalty, err = loyalty_cli.sale(*sale, MEGAINSIGHT_BUDGET="3")
    assert code == 75 and "outcome is not known" in loyalty["errors"][0], err
    result, codes = until_done(loyalty_cli, *sale, MEGAINSIGHT_BUDGET="3")
    [operation] = ops_of(app, "0301")
    assert result["operation_id"] == operation.id and app.counters["confirm"] == 1, codes
    assert journal_rows(loyalty_cli, "SELECT state, operation_id FROM loyalty_sales") == [("confirmed", operation.id)]
    again, _ = until_done(loyalty_cli, *sale)
    assert again["already_confirmed"] and again["operation_id"] == operation.id


# -- point 7 -----------------------------------------------------------------------------------
def test_point7_the_same_refund_run_again_gives_the_first_back(loyalty_cli, megainsight):
    app = megainsight.app
    code, sale, err = loyalty_cli.sale("--code", CARD, "--amount", "1000.00", "--receipt-number", "0701")
    assert code == 0, err
    operation = sale["result"]["operation_id"]
    code, first, err = loyalty_cli.sale("--refund", operation, "--amount", "280.00")
    assert code == 0 and not first["result"]["already_refunded"], err
    code, again, err = loyalty_cli.sale("--refund", operation, "--amount", "280.00")  # the JSON was lost
    assert code == 0 and again["result"]["already_refunded"], err
    assert again["result"]["operation_id"] == first["result"]["operation_id"] and app.counters["refund"] == 1
    code, other, err = loyalty_cli.sale("--refund", operation, "--amount", "100.00")
    assert code == 65 and "--receipt-number" in other["errors"][0] and "280" in other["errors"][0], err  # in roubles
    code, further, err = loyalty_cli.sale("--refund", operation, "--amount", "100.00", "--receipt-number", "R-2")
    assert code == 0 and not further["result"]["already_refunded"], err
    assert app.counters["refund"] == 2 and app.operations[operation].refunded == 380


# -- point 6 -----------------------------------------------------------------------------------
def test_point6_a_receipt_number_is_not_a_customer(loyalty_cli, megainsight):
    app = megainsight.app
    app.add_client("Ирина", card=OTHER_CARD, balance="10.00")
    lines = ("--line", "AI95:40:56.00", "--receipt-number", "0042")
    code, first, err = loyalty_cli.sale("--code", CARD, *lines)
    assert code == 0, err
    code, other, err = loyalty_cli.sale("--code", OTHER_CARD, *lines)  # another customer, the same number
    assert code == 65 and "another customer" in other["errors"][0], err
    code, content, err = loyalty_cli.sale("--code", CARD, "--line", "AI95:41:56.00", "--receipt-number", "0042")
    assert code == 65 and "other lines" in content["errors"][0], err
    # the same number and lines, the same customer, another day: never yesterday's operation
    with closing(sqlite3.connect(loyalty_cli.journal)) as db, db:
        db.execute("UPDATE loyalty_sales SET confirmed_at = '2026-01-01T10:00:00+00:00'")
    code, old, err = loyalty_cli.sale("--code", CARD, *lines)
    assert code == 65 and "receipt numbers repeat" in old["errors"][0], err
    assert app.counters["confirm"] == 1 and first["result"]["operation_id"] == app.purchases()[0].id
    code, shifted, err = loyalty_cli.sale("--code", CARD, "--line", "AI95:40:56.00", "--receipt-number", "0118/0042")
    assert code == 0 and not shifted["result"]["already_confirmed"] and app.counters["confirm"] == 2, err


# -- point 4 -----------------------------------------------------------------------------------
def test_point4_reconcile_and_a_till_rerun_together_one_outcome(loyalty_cli, megainsight, crash_rounds):
    """A sale applied but unanswered; then `--reconcile` and the till's rerun at the same moment,
    with random delays: the customer is discounted (the rerun's operation stays, nothing of it
    refunded) or refunded (the rerun is not 0), never both."""
    import json
    from datetime import datetime, timezone

    from test_loyalty_crash import kill_on_effect

    app = megainsight.app
    loyalty_cli.env["MEGAINSIGHT_BUDGET"] = "1"  # the killed run's lease on its sale ends soon
    for number in range(max(2, crash_rounds)):
        receipt, rng = f"04{number:02d}", random.Random(number)
        sale = ("--code", CARD, "--amount", "200.00", "--receipt-number", receipt)
        assert kill_on_effect(loyalty_cli, app, "confirm", *sale) == -signal.SIGKILL
        [(lease,)] = journal_rows(loyalty_cli, "SELECT updated_at FROM loyalty_sales WHERE receipt_number = ?",
                                  (receipt,))
        wait_until(lambda: datetime.now(timezone.utc) > datetime.fromisoformat(lease), "the lease never ended")
        app.faults.delay = 0.3  # each call takes a while: the two runs' calls overlap
        first, gap = rng.choice(["till", "reconcile"]), rng.uniform(0, 0.2)
        runs = {}
        for who in (first, "reconcile" if first == "till" else "till"):
            runs[who] = loyalty_cli.popen("--json", "scan-qr", *sale, "--yes") if who == "till" else \
                loyalty_cli.popen("--json", "scan-qr", "--reconcile", MEGAINSIGHT_ORPHAN_MINUTES="0")
            time.sleep(gap)
        out, err = runs["till"].communicate(timeout=60)
        told = runs["reconcile"].communicate(timeout=60)
        app.faults.delay = 0
        standing = [op for op in ops_of(app, receipt) if op.refunded == 0]
        assert all(op.refunded in (0, op.total) for op in ops_of(app, receipt))
        if runs["till"].returncode == 0:  # discounted: by exactly one operation, which stands
            result = json.loads(out)["connectors"]["loyalty"]["result"]
            assert [op.id for op in standing] == [result["operation_id"]], (receipt, err)
        else:  # sold without loyalty: nothing of it stands
            assert runs["till"].returncode == 75 and standing == [], (receipt, runs["till"].returncode, err, told)


# -- point 8 -----------------------------------------------------------------------------------
def test_point8_usage_errors_exit_2(loyalty_cli, megainsight):
    for args in [("--code", CARD), ("--code", CARD, "--amount", "5", "--payment-type", "bonus"),
                 ("--info", "--line", "AI95:1:1"), ("--code", CARD, "--line", "A:1:1", "--amount", "5")]:
        code, summary, err = loyalty_cli.json("scan-qr", *args, "--yes")
        assert code == 2 and summary["exit_code"] == 2, (args, summary, err)
    assert megainsight.app.counters["requests"] == 0


def test_point8_a_line_past_what_a_receipt_may_hold_is_65_at_once(loyalty_cli, megainsight):
    started = time.monotonic()
    code, loyalty, err = loyalty_cli.sale("--code", CARD, "--line", "AI95:99999:99999.99", "--receipt-number", "0801")
    assert code == 65 and "QTY × PRICE" in loyalty["errors"][0], err
    code, loyalty, err = loyalty_cli.sale("--code", CARD, *[a for n in range(3) for a in ("--line", f"A{n}:100000:500")],
                                          "--receipt-number", "0802")
    assert code == 65 and "total" in loyalty["errors"][0], err
    assert megainsight.app.counters["requests"] == 0 and time.monotonic() - started < 10


# -- points 1 and 2: the warm worker belongs to its caller ------------------------------------
def test_point1_caller_killed_mid_sale_its_worker_sends_nothing(loyalty_cli, megainsight, service):
    app = megainsight.app
    app.faults.delay = 1.0  # identify, calculate, confirm: a second each
    abandoned = loyalty_cli.popen("--json", "scan-qr", *SALE, "--receipt-number", "0111", "--yes")
    wait_until(lambda: app.counters["requests"] >= 1, "the worker never called the service")
    abandoned.kill()  # the till program's own timeout
    abandoned.communicate(timeout=30)
    code, loyalty, err = loyalty_cli.sale(*SALE, "--receipt-number", "0112")  # the next sale, at once
    assert code == 0, err
    app.faults.delay = 0
    assert ops_of(app, "0111") == [] and app.counters["confirm"] == 1
    assert journal_rows(loyalty_cli, "SELECT receipt_number FROM loyalty_sales WHERE state = 'confirmed'") == \
        [("0112",)]
    told = service.stop()
    assert "the caller went away" in told and "Traceback" not in told, told


def test_point1_caller_killed_while_the_scanner_waits_frees_scanner_and_lock(loyalty_cli, megainsight, service):
    """The worker of an abandoned sale no longer holds the scanner and the lock, and never
    reads a code meant for the next sale."""
    app = megainsight.app
    connected: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as scanner:  # the scanner, through ser2net
        port = f"socket://127.0.0.1:{scanner.getsockname()[1]}"

        def accept() -> None:
            with suppress(OSError):
                while True:
                    connected.append(scanner.accept()[0])
        threading.Thread(target=accept, daemon=True).start()
        abandoned = loyalty_cli.popen("--json", "scan-qr", "--line", "AI95:10:56.00", "--receipt-number", "0121",
                                      "--yes", SCANNER_PORT=port)
        wait_until(lambda: len(connected) == 1, "the worker never opened the scanner")
        abandoned.kill()
        abandoned.communicate(timeout=30)
        connected[0].settimeout(10)
        assert connected[0].recv(1) == b""  # the worker is gone: the scanner is free
        nextsale = loyalty_cli.popen("--json", "scan-qr", "--line", "AI95:20:56.00", "--receipt-number", "0122",
                                     "--yes", SCANNER_PORT=port)
        wait_until(lambda: len(connected) == 2, "the next sale never opened the scanner")
        connected[1].sendall(CARD.encode() + b"\r")
        out, err = nextsale.communicate(timeout=60)
        for conn in connected:
            conn.close()
    assert nextsale.returncode == 0, err
    assert ops_of(app, "0121") == [] and len(ops_of(app, "0122")) == 1


def test_point1_caller_killed_at_random_instants_one_operation_and_none_after(loyalty_cli, megainsight, service,
                                                                              crash_rounds):
    """Killed at random instants while its worker runs: no confirm reaches the service after the
    caller died (one already on its way when it died arrives within a few milliseconds), and the
    receipt run again gives exactly one operation."""
    app = megainsight.app
    app.faults.delay = 0.2  # identify, calculate, confirm: 0.2 s each, so a kill lands anywhere
    late = []
    for number in range(crash_rounds):
        receipt, rng = f"K1{number:03d}", random.Random(1000 + number)
        sale = (*SALE, "--receipt-number", receipt)
        before = app.counters["requests"]
        proc = loyalty_cli.popen("--json", "scan-qr", *sale, "--yes")
        wait_until(lambda: app.counters["requests"] > before or proc.poll() is not None, "no call")
        time.sleep(0.1 * (number % 7) + rng.uniform(0, 0.05))  # from the first call to past the confirm
        killed_at = time.monotonic()
        with suppress(psutil.NoSuchProcess):
            psutil.Process(proc.pid).kill()
        proc.communicate(timeout=60)
        time.sleep(1.0)  # longer than the whole sale takes: a worker going on alone shows itself here
        rerun_at = time.monotonic()
        result, codes = until_done(loyalty_cli, *sale)
        mine = ops_of(app, receipt)
        assert [op.id for op in mine] == [result["operation_id"]], (receipt, codes)
        late += [(receipt, round(at - killed_at, 3)) for at, number_ in app.arrivals
                 if number_ == receipt and killed_at + 0.15 < at < rerun_at]
    app.faults.delay = 0
    assert late == [], late  # confirms sent for a caller already gone
    assert journal_rows(loyalty_cli, "SELECT DISTINCT state FROM loyalty_sales") == [("confirmed",)]


def test_point2_serve_stopped_mid_sale_ends_its_workers_before_the_fallback(loyalty_cli, megainsight, service):
    app = megainsight.app
    app.faults.delay = 0.5
    sale = loyalty_cli.popen("--json", "scan-qr", *SALE, "--receipt-number", "0201", "--yes")
    wait_until(lambda: app.counters["requests"] >= 1, "the worker never called the service")
    workers = service.workers()
    told = service.stop()  # SIGTERM: the service ends its workers, waits, then the command runs itself
    for worker in workers:
        wait_dead(worker.pid)
    out, err = sale.communicate(timeout=60)
    app.faults.delay = 0
    assert sale.returncode == 0, (out, err)
    assert len(ops_of(app, "0201")) == 1 and app.counters["confirm"] == 1
    assert "Traceback" not in told, told


# -- point 9: the service itself -----------------------------------------------------------
def test_point9_service_caps_connections_bounds_each_request_refuses_nesting(loyalty_cli, megainsight, service):
    from maorders.tillservice import HANDSHAKE_S, MAX_CONNECTIONS, published

    port = published()["port"]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CONNECTIONS)]
    try:
        with socket.create_connection(("127.0.0.1", port)) as over:
            over.settimeout(2)
            assert over.recv(1) == b""  # closed at once: one too many
        # a client trickling its challenge a byte at a time gets HANDSHAKE_S in all, not per byte
        trickle = idle[0]
        started = time.monotonic()
        with suppress(OSError):
            for byte in b'{"challenge": "' + b"a" * 200:
                trickle.sendall(bytes([byte]))
                time.sleep(0.2)
                if time.monotonic() - started > HANDSHAKE_S + 5:
                    break
        trickle.settimeout(10)
        with suppress(OSError):
            assert trickle.recv(1) == b""
        assert time.monotonic() - started < HANDSHAKE_S + 5
    finally:
        for conn in idle:
            conn.close()
    with socket.create_connection(("127.0.0.1", port)) as deep:  # nested past the decoder
        deep.sendall(b"[" * 200_000 + b"\n")
        deep.settimeout(10)
        assert deep.recv(1) == b""
    code, loyalty, err = loyalty_cli.sale(*SALE, "--receipt-number", "0901")
    assert code == 0, err
    told = service.stop()
    assert "scan-qr: exit 0" in told and "Traceback" not in told and "RecursionError" not in told, told


def test_point5_a_trickled_reply_holds_the_cashier_no_longer_than_the_budget(loyalty_cli, megainsight):
    """A service trickling its reply a byte a second once held the cashier 48 s with a budget
    of 2 s (the timeout was per read). Now the whole sale ends at the budget, 75, and nothing
    is applied; the rerun, the service quick again, makes the one operation."""
    sale = ("--code", CARD, "--amount", "500.00", "--receipt-number", "0501")
    megainsight.app.faults.trickle = 1.0
    started = time.monotonic()
    code, loyalty, err = loyalty_cli.sale(*sale, MEGAINSIGHT_BUDGET="2")
    elapsed = time.monotonic() - started
    assert code == 75, (code, loyalty, err[-2000:])
    assert elapsed < 2 + 1 + 2, elapsed  # the budget, its second, and the command's own start-up
    assert ops_of(megainsight.app, "0501") == []
    megainsight.app.faults.trickle = 0.0
    result, codes = until_done(loyalty_cli, *sale)
    assert len(ops_of(megainsight.app, "0501")) == 1, (result, codes)
