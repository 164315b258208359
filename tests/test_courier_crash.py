"""Kill-and-rerun for the courier: pull-orders and push-statuses may be killed at any instant
(SIGKILL, as Task Scheduler's TerminateProcess) and run again. After the rerun MeaSoft has
each order exactly once, every CRM order has at most one payment of ours, every MeaSoft
status reached the CRM and the poll is committed, nothing is left in flight in the outbox,
and the journal passes `PRAGMA integrity_check`.

- effect-hook kills: the emulator's `on_effect` kills the CLI right after it applied an
  effect (MeaSoft accepted an order; the CRM took a status or a payment; MeaSoft committed)
  and before the reply, so the journal never hears of it;
- random-instant kills: SIGKILL after a delay drawn from `random.Random(round)`; rounds from
  the `crash_rounds` fixture (--crash-rounds, MAORDERS_CRASH_ROUNDS);
- RetailCRM's limit: a pass with many CRM calls never shows the CRM more than 10 a second.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from conftest import Cli, CourierEmulators, courier_cli_for, wait_dead

OPEN_STATES = ("pending", "retry", "unknown")


# ---------------------------------------------------------------------- helpers
def make_orders(emu: CourierEmulators, n: int) -> list[dict[str, Any]]:
    return [emu.crm.create_order(status="SentMeaSoft") for _ in range(n)]




def kill_on_effect(cli: Cli, app: Any, effect: str, nth: int, command: str) -> int:
    """Run `command`; SIGKILL it inside the emulator right after its `nth` `effect` was applied,
    before the reply leaves. Returns the exit code (-9 when the kill came)."""
    proc: subprocess.Popen | None = None
    seen = 0

    def strike(name: str) -> None:
        nonlocal seen
        if name != effect:
            return
        seen += 1
        if seen == nth and proc is not None:
            os.kill(proc.pid, signal.SIGKILL)
            wait_dead(proc.pid)

    app.on_effect = strike
    try:
        proc = cli.popen(command)
        proc.communicate(timeout=120)
    finally:
        app.on_effect = None
    return proc.returncode


def kill_at_random(cli: Cli, command: str, first_remote: Any, delay: float) -> bool:
    """Run `command`; SIGKILL it `delay` seconds after its first request reached `first_remote`
    (so the kill lands inside the pass, not in the interpreter's start). True when it was
    still running at the kill."""
    before = first_remote.counters["requests"]
    proc = cli.popen(command)
    deadline = time.monotonic() + 30
    while first_remote.counters["requests"] == before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(delay)
    running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    return running


def until_done(cli: Cli, command: str, tries: int = 4) -> dict[str, Any]:
    """Rerun a pass until it exits 0 (a transient 75 may follow a kill); its courier result."""
    for _ in range(tries):
        done = cli.run("--json", command)
        summary = json.loads(done.stdout)
        if done.returncode == 0:
            return summary["connectors"]["courier"]
        assert done.returncode == 75, done.stdout + done.stderr[-2000:]
    raise AssertionError(f"{command} never finished: {done.stdout}")


def journal_facts(cli: Cli) -> dict[str, Any]:
    with closing(sqlite3.connect(f"file:{cli.journal}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        open_items = db.execute(f"SELECT kind, state FROM outbox WHERE state IN {OPEN_STATES}").fetchall()
        states = dict(db.execute("SELECT crm_number, state FROM courier_shipments").fetchall())
    return {"open": open_items, "states": states}


def check_invariants(cli: Cli, emu: CourierEmulators, orders: list[dict[str, Any]],
                     delivered: dict[str, str]) -> None:
    """Each order once in MeaSoft; the CRM shows every delivery with at most one payment of
    ours and no duplicate; nothing left in flight; the poll committed."""
    facts = journal_facts(cli)
    assert facts["open"] == []
    assert set(emu.measoft.orders) == {o["number"] for o in orders}
    assert emu.measoft.counters["order_created"] == len(orders)
    assert set(facts["states"].values()) == {"sent"}
    externals = Counter(p.get("externalId") for p in emu.crm.payments.values() if p.get("externalId"))
    assert all(n == 1 for n in externals.values()), externals
    for order in orders:
        crm_order = emu.crm.orders[order["id"]]
        payments = list(crm_order["payments"].values())
        if order["number"] in delivered:
            assert crm_order["status"] == "complete"
            assert [(p["type"], p["status"]) for p in payments] == [(delivered[order["number"]], "paid")]
        else:
            assert [p["status"] for p in payments] == ["not-paid"]
    assert until_done(cli, "push-statuses")["counts"]["statuses_received"] == 0  # committed


# ---------------------------------------------------------------------- effect-hook kills
def test_kill_after_measoft_accepted_before_the_journal_knew(courier_cli, courier_emulators):
    emu = courier_emulators
    orders = make_orders(emu, 3)
    # the three go in one neworder (fair usage): all are in MeaSoft when the kill strikes
    code = kill_on_effect(courier_cli, emu.measoft, "order_created", 2, "pull-orders")
    assert code == -signal.SIGKILL
    assert len(emu.measoft.orders) == 3
    requests_before = emu.measoft.counters["requests"]
    result = until_done(courier_cli, "pull-orders")
    assert result["counts"]["shipments_recognised"] == 3   # error 17, read back, taken as ours
    assert result["counts"].get("shipments_sent", 0) == 0
    # one neworder (three 17s) and one statusreq by date range, not one lookup per number
    assert emu.measoft.counters["requests"] - requests_before == 2
    until_done(courier_cli, "push-statuses")
    check_invariants(courier_cli, emu, orders, {})


@pytest.mark.parametrize("remote, effect, nth", [
    ("crm", "order_edited", 2),        # a CRM status set, the journal did not hear
    ("crm", "payment_deleted", 2),     # the old payment gone, ours not yet made
    ("crm", "payment_created", 2),     # ours made: a rerun must not make a second
    ("measoft", "status_committed", 1),  # committed, the reply lost
])
def test_kill_in_push_statuses_before_the_commit(courier_cli, courier_emulators, remote, effect, nth):
    emu = courier_emulators
    orders = make_orders(emu, 3)
    until_done(courier_cli, "pull-orders")
    until_done(courier_cli, "push-statuses")
    for order in orders:
        emu.measoft.set_status(order["number"], "COMPLETE", paytype="CARD")  # paid by card at the door
    code = kill_on_effect(courier_cli, getattr(emu, remote), effect, nth, "push-statuses")
    assert code == -signal.SIGKILL
    until_done(courier_cli, "push-statuses")
    check_invariants(courier_cli, emu, orders, {o["number"]: "bank-card" for o in orders})
    assert emu.crm.counters["payment_created"] == 3


# ---------------------------------------------------------------------- random-instant kills
def test_random_instant_kills(tmp_path: Path, crash_rounds: int):
    for round_no in range(crash_rounds):
        rng = random.Random(round_no)
        emu = CourierEmulators()
        try:
            workdir = tmp_path / f"round{round_no}"
            workdir.mkdir()
            cli = courier_cli_for(workdir, emu)
            emu.measoft.faults.delay = emu.crm.faults.delay = 0.02  # widen the window inside a pass
            orders = make_orders(emu, 6)
            kill_at_random(cli, "pull-orders", emu.crm, rng.uniform(0.0, 0.3))
            until_done(cli, "pull-orders")
            delivered = {}
            for order in orders[::2]:
                paytype = rng.choice(["CASH", "CARD"])
                emu.measoft.set_status(order["number"], "COMPLETE", paytype=paytype)
                delivered[order["number"]] = {"CASH": "cash", "CARD": "bank-card"}[paytype]
            kill_at_random(cli, "push-statuses", emu.measoft, rng.uniform(0.0, 0.35))
            until_done(cli, "push-statuses")
            check_invariants(cli, emu, orders, delivered)
        finally:
            emu.stop()


# ---------------------------------------------------------------------- RetailCRM's limit
def test_retailcrm_never_sees_more_than_10_requests_a_second(courier_cli, courier_emulators):
    emu = courier_emulators
    assert emu.crm.rate_limit_rps == 10
    orders = make_orders(emu, 25)
    until_done(courier_cli, "pull-orders")
    for order in orders:
        emu.measoft.set_status(order["number"], "COMPLETE")
    before = emu.crm.counters["requests"]
    result = until_done(courier_cli, "push-statuses")
    assert emu.crm.counters["requests"] - before >= 50  # a status and a payment edit per order
    assert result["counts"]["crm_statuses_set"] == 25 and result["counts"]["crm_payments_edited"] == 25
    assert emu.crm.max_rps_seen <= 10
    assert emu.crm.counters["rate_limited"] == 0
