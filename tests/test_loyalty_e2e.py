"""`maorders scan-qr` and `maorders loyalty …` through the real CLI against the Megainsight emulator.

Sales with offers and points, accrue only, the fill-up, refunds, the scanner on a pty, the
cashier at a terminal, `--reconcile` beside a waiting till, the operator views, status and
doctor; the token and the customer's name never in the logs or the output. (The refusals and
their exit codes: test_loyalty_refusals.py; kills: test_loyalty_crash.py.) The runs that need
no process of their own go through the same typer app in this process (`in_process`).
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
from decimal import Decimal

import psutil
import pytest

from loyalty_fixtures import (CARD, TOKEN, command, in_process, journal_rows, loyalty_cli,  # noqa: F401
                              megainsight)

SALE = ("--line", "AI95:40:56.00", "--line", "2000000001234:1:120.00:shop:Капучино")
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal (os.openpty) and /proc")



def test_sale_with_offers_and_points_then_the_same_receipt_again(loyalty_cli, in_process, megainsight):
    code, loyalty, err = loyalty_cli.sale("--code", megainsight.qr(), *SALE, "--offer", "of-1", "--offer", "of-2",
                                          "--redeem", "100", "--receipt-number", "0042")
    assert code == 0, err
    result = loyalty["result"]
    assert result["client"] == {"id": "c-881", "card": "****4923"}
    assert result["lines"] == [{"code": "AI95", "price": 52.9, "amount": 2116.0, "discount": 124.0},
                               {"code": "2000000001234", "price": 99.0, "amount": 99.0, "discount": 21.0}]
    assert (result["balance_before"], result["discount"], result["points_redeemed"], result["total_to_pay"]) == \
        (1520.0, 145.0, 100.0, 2115.0)
    assert (result["points_accrued"], result["balance"]) == (21.15, 1441.15)
    # the till runs the same receipt again (a new QR: the app's code changes every time)
    code, again, err = loyalty_cli.sale("--code", megainsight.qr(), *SALE, "--offer", "of-1", "--offer", "of-2",
                                        "--redeem", "100", "--receipt-number", "0042")
    assert code == 0, err
    assert again["result"]["operation_id"] == result["operation_id"] and again["result"]["already_confirmed"]
    assert megainsight.app.counters["confirm"] == 1 and megainsight.client.balance == Decimal("1441.15")
    # other lines under the same receipt number are the cashier's mistake, not a second sale
    code, other = in_process.sale("--code", CARD, "--amount", "10", "--receipt-number", "0042")
    assert code == 65 and "already confirmed" in other["errors"][0]
    code, listing = in_process.json("loyalty", "list")
    assert code == 0 and [s["receipt_number"] for s in listing["sales"]] == ["0042"]
    code, shown = in_process.json("loyalty", "show", result["operation_id"])
    assert code == 0 and shown["sale"]["request_id"] == result["request_id"]
    assert [s["result"] for s in shown["sale"]["sends"]] == ["sent"]


def test_accrue_only_fill_up_and_redeem_max(loyalty_cli, in_process, megainsight):
    # the seed's «до заполнения»: fuel first, then the receipt with the real quantity, by card
    code, fill, err = loyalty_cli.sale("--code", CARD, "--line", "AI95:37.52:56.00", "--payment-type", "card",
                                       "--receipt-number", "0043")
    assert code == 0, err
    assert (fill["result"]["points_redeemed"], fill["result"]["total_to_pay"], fill["result"]["points_accrued"]) == \
        (0.0, 2101.12, 21.01)
    code, most = in_process.sale("--code", megainsight.qr(), "--line", "AI95:10:56.00", "--all-offers",
                                 "--redeem", "max", "--receipt-number", "0044")
    assert code == 0, most
    assert most["result"]["points_redeemed"] == 264.5 and most["result"]["total_to_pay"] == 264.5  # half of 529.00
    assert [op.body["points_redeemed"] for op in megainsight.app.purchases()] == [0.0, 264.5]


def test_refunds_partial_rest_and_refused(in_process, megainsight):
    code, sale = in_process.sale("--code", CARD, "--line", "AI95:40:56.00", "--redeem", "100",
                                     "--receipt-number", "0050")
    operation = sale["result"]["operation_id"]
    code, part = in_process.sale("--refund", operation, "--amount", "280.00", "--receipt-number", "R-1")
    assert code == 0, part
    assert (part["result"]["amount"], part["result"]["points_returned"], part["result"]["points_revoked"]) == \
        (280.0, 13.08, 2.8)
    code, again = in_process.sale("--refund", operation, "--amount", "280.00", "--receipt-number", "R-1")
    assert code == 0 and again["result"]["already_refunded"] and again["result"]["operation_id"] == \
        part["result"]["operation_id"]
    code, rest = in_process.sale("--refund", operation)
    assert code == 0 and rest["result"]["amount"] == 1860.0
    assert megainsight.client.balance == 1520  # every point back where it began
    assert megainsight.app.counters["refund"] == 2
    code, shown = in_process.json("loyalty", "show", operation)
    assert [r["amount"] for r in shown["sale"]["refunds"]] == ["280.00", "1860.00"]


def test_token_and_personal_data_never_in_logs_or_output(loyalty_cli, in_process, megainsight):
    runs = [loyalty_cli.run("-v", "--json", "scan-qr", "--code", CARD, "--amount", "5", "--yes"),
            loyalty_cli.run("-v", "scan-qr", "--code", CARD, "--amount", "5", "--yes", MEGAINSIGHT_TOKEN="bad-token")]
    assert runs[0].returncode == 0 and runs[1].returncode == 69
    code, info = in_process.json("scan-qr", "--info", "--code", CARD)
    code, doctor = in_process.json("doctor")
    texts = [r.stdout + r.stderr for r in runs] + [loyalty_cli.log_text(), json.dumps([info, doctor], ensure_ascii=False)]
    dump = "\n".join(texts) + "\n".join(str(row) for row in journal_rows(loyalty_cli, "SELECT * FROM loyalty_sales"))
    for secret in (TOKEN, "Алексей", CARD, "bad-token"):
        assert secret not in dump, secret


@POSIX_ONLY
def test_scanner_on_a_pty(loyalty_cli, megainsight):
    master, slave = os.openpty()
    __import__("tty").setraw(slave)
    path = os.ttyname(slave)
    try:
        proc = loyalty_cli.popen("--json", "scan-qr", "--amount", "50", "--yes", "--receipt-number", "0080",
                                 SCANNER_PORT=path, SCANNER_TIMEOUT="20", MAORDERS_PASS_BUDGET="1")
        wait_open(proc.pid, path)
        time.sleep(1.2)  # the customer is slow: the pass's budget is spent, the till's starts at the scan
        os.write(master, b"\x02" + CARD.encode() + b"\r\n")
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err
    assert json.loads(out)["connectors"]["loyalty"]["result"]["client"]["id"] == "c-881"


def wait_open(pid: int, path: str, timeout: float = 20) -> None:
    """Until the process has the port open and sleeps reading it: pyserial empties a port's input
    right after opening it, so a code written before that would be lost (Linux: /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            raise AssertionError("scan-qr ended before it read the port")
        if path in open_paths(pid) and reading(pid):
            return
        time.sleep(0.002)
    raise AssertionError(f"scan-qr never read {path}")


def reading(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/wchan") as wchan:
            return any(word in wchan.read() for word in ("poll", "select"))
    except OSError:
        return False


def open_paths(pid: int) -> set[str]:
    found = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in names:
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return found


@POSIX_ONLY
def test_cashier_at_a_terminal_picks_offers_and_points(loyalty_cli, megainsight):
    """On a terminal without --yes: the panel, «Не списывать / Списать N», then confirm."""
    master, slave = os.openpty()
    proc = subprocess.Popen([*command(), "scan-qr", "--code", megainsight.qr(), "--line", "AI95:40:56.00",
                             "--receipt-number", "0090"], env={**loyalty_cli.env, "TERM": "dumb", "COLUMNS": "120",
                                                              "MAORDERS_LANG": "en"},
                            cwd=loyalty_cli.workdir, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    screen = ""
    try:
        for prompt, answer in [("Offers to apply", "1"), ("Redeem N", "max"), ("Confirm", "y")]:
            screen = read_until(master, prompt, screen)
            os.write(master, answer.encode() + b"\r")
        proc.wait(timeout=30)
        screen = read_until(master, None, screen)
    finally:
        os.close(master)
    assert proc.returncode == 0, screen
    assert "Алексей" in screen and "АИ-95 по 52.90" in screen and "balance: 1,520 points" in screen
    assert "[y/n]" in screen and "Confirm: to pay RUB" in screen  # the question in the staff's forms
    op = megainsight.app.purchases()[0]
    assert (op.redeemed, op.total) == (1058, 1058)  # offer 1 applied, the most points redeemed


def read_until(fd: int, text: str | None, screen: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text is not None and text in screen:
            return screen
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            if text is None:
                return screen
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return screen
        if not chunk:
            return screen
        screen += re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", chunk.decode("utf-8", "replace"))
    raise AssertionError(f"never saw {text!r}: {screen[-2000:]}")


def test_info_status_doctor_and_help(in_process, megainsight):
    code, summary = in_process.json("scan-qr", "--info", "--code", megainsight.qr())
    result = summary["connectors"]["loyalty"]["result"]
    assert code == 0 and result["balance"] == 1520.0 and [o["id"] for o in result["offers"]] == ["of-1", "of-2"]
    assert megainsight.app.counters["confirm"] == 0 and megainsight.app.counters["requests"] == 1
    code, doctor = in_process.json("doctor")
    assert code == 0 and any(c["check"] == "megainsight" and c["ok"] for c in doctor["checks"])
    code, doctor = in_process.json("doctor", MEGAINSIGHT_PLACE_ID="azs-9")
    assert code == 69
    code, status = in_process.json("status")
    assert code == 0 and "loyalty" in status["connectors"]
    for args in (("scan-qr", "--help"), ("loyalty", "list", "--help"), ("loyalty", "show", "--help"),
                 ("loyalty", "--help")):
        done = in_process.help(*args)
        assert re.search(r"Example: maorders " + args[0], done), done


@POSIX_ONLY
def test_reconcile_runs_while_a_cashier_waits_for_a_scan(loyalty_cli, in_process, megainsight):
    """`--reconcile` has a lock of its own: the scheduler never locks out the till, nor the other way."""
    master, slave = os.openpty()
    __import__("tty").setraw(slave)
    path = os.ttyname(slave)
    try:
        proc = loyalty_cli.popen("--json", "scan-qr", "--amount", "50", "--yes", "--receipt-number", "0300",
                                 SCANNER_PORT=path, SCANNER_TIMEOUT="20")
        wait_open(proc.pid, path)  # the till holds the scan-qr lock, waiting for the customer
        code, summary = in_process.json("scan-qr", "--reconcile")
        assert code == 0, summary
        code, summary = in_process.json("scan-qr", "--info", "--code", CARD)
        assert code == 75 and "already running" in summary["error"]  # a second till run on this journal waits
        os.write(master, CARD.encode() + b"\r")
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err


def test_sandbox_part_serves_the_sample_client():
    import itertools

    import requests

    from loyalty.demo import sandbox

    part = sandbox(itertools.repeat(0))
    try:
        env = part.env
        answer = requests.post(env["MEGAINSIGHT_URL"] + "/clients/identify", timeout=5,
                               json={"place_id": env["MEGAINSIGHT_PLACE_ID"], "code": CARD},
                               headers={"Authorization": f"Token {env['MEGAINSIGHT_TOKEN']}"})
        assert answer.status_code == 200 and answer.json()["client"]["card"] == CARD
        assert "--code 2600000012345" in part.notes[0]
    finally:
        for server in part.servers:
            server.stop()


def test_a_cashiers_mistake_needs_nobody_later_but_a_refused_token_does(in_process, megainsight):
    code, _ = in_process.sale("--code", "not a code \x07", "--amount", "10", "--receipt-number", "0077")
    assert code == 65
    assert in_process.json("scan-qr", "--reconcile")[0] == 0
    code, status = in_process.json("status", "--check")
    runs = {r["command"]: r["exit_code"] for r in status["last_runs"]}
    assert code == 0 and not status["needs_attention"] and runs == {"scan-qr": 65, "scan-qr-reconcile": 0}
    code, _ = in_process.sale("--code", CARD, "--amount", "10", "--receipt-number", "0078",
                              MEGAINSIGHT_TOKEN="refused-token")
    assert code == 69
    code, status = in_process.json("status", "--check")
    assert code == 1 and status["needs_attention"] == ["last scan-qr exited 69"]
