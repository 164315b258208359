"""Kill-and-rerun at the till: `scan-qr` SIGKILLed at any instant, and right after the service
applied a confirm or a refund (before the reply), then run again for the same receipt. The
rerun asks the service by request id first: one operation per receipt, exit 0. An applied
sale the till never finished is refunded by `--reconcile`, once; a person sees it in `status`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from typing import Any

from conftest import wait_dead
from loyalty_fixtures import CARD, LoyaltyCli, in_process, journal_rows, loyalty_cli, megainsight  # noqa: F401

OPEN = ("pending", "retry", "unknown")


def kill_on_effect(cli: LoyaltyCli, app: Any, effect: str, *args: str) -> int:
    """Run scan-qr; SIGKILL it inside the emulator right after `effect` was applied."""
    proc: subprocess.Popen | None = None

    def strike(name: str) -> None:
        if name == effect and proc is not None:
            os.kill(proc.pid, signal.SIGKILL)
            wait_dead(proc.pid)

    app.on_effect = strike
    try:
        proc = cli.popen("--json", "scan-qr", *args, "--yes")
        proc.communicate(timeout=60)
    finally:
        app.on_effect = None
    return proc.returncode


def until_done(cli: LoyaltyCli, *args: str, tries: int = 4) -> dict[str, Any]:
    for _ in range(tries):
        code, loyalty, err = cli.sale(*args)
        if code == 0:
            return loyalty["result"]
        assert code == 75, (code, loyalty, err[-2000:])
    raise AssertionError(f"scan-qr {args} never finished")


def reconcile_after_the_tills_lease(in_process, settled: int, deadline_s: float = 30) -> dict[str, int]:
    """`--reconcile` (orphan window 0) run until it has settled `settled` sales: a till run's
    lease on its sale (MEGAINSIGHT_BUDGET) must pass first. The counts of all those runs."""
    from collections import Counter

    deadline, counts = time.monotonic() + deadline_s, Counter()
    while sum(counts.values()) < settled and time.monotonic() < deadline:
        code, summary = in_process.json("scan-qr", "--reconcile", MEGAINSIGHT_ORPHAN_MINUTES="0")
        assert code == 0, summary
        counts.update(summary["connectors"]["loyalty"]["counts"])
        time.sleep(0.2)
    return dict(counts)


def test_killed_right_after_confirm_applied_then_rerun(loyalty_cli, megainsight):
    sale = ("--code", CARD, "--line", "AI95:30:56.50", "--redeem", "max", "--receipt-number", "0101")
    assert kill_on_effect(loyalty_cli, megainsight.app, "confirm", *sale) == -signal.SIGKILL
    assert journal_rows(loyalty_cli, "SELECT state FROM loyalty_sales") == [("sent",)]  # intent was written first
    result = until_done(loyalty_cli, *sale)
    [operation] = megainsight.app.purchases()
    assert result["operation_id"] == operation.id and result["already_confirmed"]
    assert result["points_redeemed"] == float(operation.redeemed) and megainsight.app.counters["confirm"] == 1
    assert journal_rows(loyalty_cli, f"SELECT COUNT(*) FROM outbox WHERE state IN {OPEN}") == [(0,)]
    # the refund of the unfinished fuelling, killed the same way, then run again: refunded once
    refund = ("--refund", operation.id, "--amount", "565.00", "--receipt-number", "R-0101")
    assert kill_on_effect(loyalty_cli, megainsight.app, "refund", *refund) == -signal.SIGKILL
    again = until_done(loyalty_cli, *refund)
    assert again["already_refunded"] and megainsight.app.counters["refund"] == 1
    assert operation.refunded == 565


def test_killed_at_random_instants_one_operation_per_receipt(loyalty_cli, megainsight, crash_rounds):
    rounds = max(2, crash_rounds // 2)
    for number in range(rounds):
        receipt = f"R{number:04d}"
        sale = ("--code", CARD, "--line", f"AI95:{10 + number}:56.00", "--receipt-number", receipt)
        before = megainsight.app.counters["requests"]
        proc = loyalty_cli.popen("--json", "scan-qr", *sale, "--yes")
        deadline = time.monotonic() + 30
        while megainsight.app.counters["requests"] == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(random.Random(number).uniform(0, 0.2))  # identify → confirm takes ~0.05-0.2 s
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        result = until_done(loyalty_cli, *sale)
        mine = [op for op in megainsight.app.purchases() if op.receipt_number == receipt]
        assert [op.id for op in mine] == [result["operation_id"]], receipt
    assert journal_rows(loyalty_cli, "SELECT DISTINCT state FROM loyalty_sales") == [("confirmed",)]
    assert journal_rows(loyalty_cli, f"SELECT COUNT(*) FROM outbox WHERE state IN {OPEN}") == [(0,)]


def test_orphan_refunded_once_by_reconcile_and_shown_in_status(loyalty_cli, in_process, megainsight):
    app = megainsight.app
    assert kill_on_effect(loyalty_cli, app, "confirm", "--code", CARD, "--amount", "500.00", "--redeem", "100",
                          "--receipt-number", "0200") == -signal.SIGKILL
    # a confirm the service never applied: identify, calculate, then confirm answers 429 past the budget
    # (the rest runs in this process: only the kill needs a process of its own)
    app.faults.rate_limit_every, app.faults.retry_after = app.counters["requests"] + 3, 60
    code, _ = in_process.sale("--code", CARD, "--amount", "70.00", "--receipt-number", "0201")
    app.faults.rate_limit_every = 0
    assert code == 75 and app.counters["fault_429"] == 1
    code, summary = in_process.json("scan-qr", "--reconcile")  # too early: the till may still run it again
    assert code == 0 and summary["connectors"]["loyalty"]["counts"] == {} and app.counters["refund"] == 0
    counts = reconcile_after_the_tills_lease(in_process, 2)  # a till run holds its sale for its budget
    assert counts == {"orphans_refunded": 1, "sales_abandoned": 1}
    assert app.counters["refund"] == 1 and megainsight.client.balance == 1520  # as before the sale
    states = dict(journal_rows(loyalty_cli, "SELECT receipt_number, state FROM loyalty_sales"))
    assert states == {"0200": "orphan_refunded", "0201": "abandoned"}
    code, summary = in_process.json("scan-qr", "--reconcile", MEGAINSIGHT_ORPHAN_MINUTES="0")
    assert code == 0 and app.counters["refund"] == 1  # once
    code, status = in_process.json("status", "--check")
    assert code == 1 and any("refunded as never finished" in r for r in status["needs_attention"])
    assert journal_rows(loyalty_cli, f"SELECT COUNT(*) FROM outbox WHERE state IN {OPEN}") == [(0,)]
    # the till runs the abandoned receipt again later: a new request id, one new operation
    old_id = journal_rows(loyalty_cli, "SELECT request_id FROM loyalty_sales WHERE receipt_number = '0201'")
    code, loyalty = in_process.sale("--code", CARD, "--amount", "70.00", "--receipt-number", "0201")
    assert code == 0 and loyalty["result"]["request_id"] != old_id[0][0] and app.counters["confirm"] == 2
