"""Kill the installed `maorders` (SIGKILL, as Task Scheduler's TerminateProcess) right after a remote
applied an effect, and at random instants; the next run loses and doubles nothing."""

from __future__ import annotations

import os
import random
import signal
from typing import Any

import pytest

from conftest import wait_dead
from misbridge_fixtures import ClinicRemotes, MisCli, clinic, clinic_cli_for, visit  # noqa: F401

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL")


class Killer:
    """Kills the running pass from inside the remote, right after it applied `effect`."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.fired = 0

    def __call__(self, *_: Any) -> None:
        if self.pid is not None and not self.fired:
            self.fired += 1
            os.kill(self.pid, signal.SIGKILL)


def killed_run(cli: MisCli, killer: Killer, command: str) -> None:
    proc = cli.popen(command, "--only", "misbridge")
    killer.pid = proc.pid
    proc.communicate(timeout=60)
    wait_dead(proc.pid)
    assert proc.returncode == -signal.SIGKILL and killer.fired == 1


@pytest.fixture
def crash_cli(tmp_path, clinic) -> MisCli:
    """Killed runs are the installed CLI (popen); the runs around them are in-process."""
    return clinic_cli_for(tmp_path, clinic)


def test_kill_after_the_mis_applied_a_receive_then_a_pay(crash_cli, clinic):
    cli, mis = crash_cli, clinic.mis
    visit(clinic, 6902)
    killer = Killer()
    mis.on_effect = lambda name: name == "receive" and killer()
    killed_run(cli, killer, "pull-orders")
    assert cli.outbox("receive")[0]["state"] == "unknown"
    mis.on_effect = None
    cli.ok("pull-orders")
    assert mis.counters["receive"] == 1 and cli.outbox("receive")[0]["state"] == "sent"
    history = cli.rows("SELECT attempt, result, message FROM misbridge_history")
    assert history == [{"attempt": 2, "result": 2, "message": "Счёт уже получен"}]

    cli.quick_pay("6902", 235, "cash:5000", email="buyer@example.org")
    killer = Killer()
    mis.on_effect = lambda name: name == "pay" and killer()
    killed_run(cli, killer, "resend-receipts")
    mis.on_effect = None
    counts = cli.ok("resend-receipts")
    assert counts["pay_already_recorded"] == 1 and mis.counters["pay"] == 1 and len(mis.checks) == 1
    assert counts["email_sent"] == 1 and len(clinic.smtp.messages) == 1


def test_kill_after_the_smtp_server_took_the_email(crash_cli, clinic):
    cli = crash_cli
    visit(clinic, 1)
    cli.ok("pull-orders")
    cli.quick_pay("1", 1, "cash:5000", email="buyer@example.org")
    killer = Killer()
    clinic.smtp.handler.on_message = killer
    killed_run(cli, killer, "resend-receipts")
    clinic.smtp.handler.on_message = None
    assert cli.ok("resend-receipts")["email_sent"] == 1
    ids = [m["message_id"] for m in clinic.smtp.messages]
    assert len(ids) == 2 and ids[0] == ids[1]  # sent again, recognisably the same message
    assert clinic.mis.counters["pay"] == 1


def test_kill_after_sms_ru_took_the_sms_it_is_not_sent_again(crash_cli, clinic):
    cli = crash_cli
    visit(clinic, 1)
    cli.ok("pull-orders")
    cli.quick_pay("1", 1, "cash:5000", phone="+79991234567")
    killer = Killer()
    clinic.sms.on_effect = lambda name: name == "sms" and killer()
    killed_run(cli, killer, "resend-receipts")
    clinic.sms.on_effect = None
    code, part = cli.pass_("resend-receipts")
    assert code == 0 and part["counts"] == {"sms_unknown": 1} and len(clinic.sms.sent) == 1
    assert "may have gone out" in part["errors"][0]
    assert cli.run("status", "--check").returncode == 1
    code, listed = cli.op("receipts", "ereceipts", "--failed")
    assert [r["state"] for r in listed["ereceipts"]] == ["unknown"]


def test_kill_at_random_instants(tmp_path, clinic, crash_rounds):
    """Random kills through pull-orders and resend-receipts; then runs until all is sent."""
    rng = random.Random(20261130)
    cli = clinic_cli_for(tmp_path, clinic)
    expected_pays = 0
    for round_no in range(crash_rounds):
        visit(clinic, 1000 + round_no)
        proc = cli.popen("pull-orders", "--only", "misbridge")
        if rng.random() < 0.7:
            _kill_soon(proc, rng)
        else:
            proc.communicate(timeout=60)
        cli.ok("pull-orders")
        cli.quick_pay(str(1000 + round_no), 1 + round_no, "cash:5000", email=f"b{round_no}@example.org")
        expected_pays += 1
        proc = cli.popen("resend-receipts", "--only", "misbridge")
        _kill_soon(proc, rng)
    for _ in range(3):
        if cli.pass_("resend-receipts")[0] == 0 and not [o for o in cli.outbox("pay") if o["state"] != "sent"]:
            break
    mis = clinic.mis
    assert mis.counters["receive"] == crash_rounds and mis.counters["pay"] == expected_pays
    assert {o["state"] for o in cli.outbox("pay") + cli.outbox("receive") + cli.outbox("email")} == {"sent"}
    assert len({m["message_id"] for m in clinic.smtp.messages}) == expected_pays


def _kill_soon(proc: Any, rng: random.Random) -> None:
    import time

    time.sleep(rng.uniform(0.05, 0.5))  # not a timing assert: where the kill lands is what varies
    proc.kill()
    proc.communicate(timeout=60)
    wait_dead(proc.pid)
