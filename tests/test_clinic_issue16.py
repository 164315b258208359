"""Issue 16 for the clinic cash desk: what was sent stays recorded, replies read as the real services
write them. Each test runs the installed `maorders` (a subprocess) against the ТМ:МИС and sms.ru
emulators and a real SMTP server (aiosmtpd) on 127.0.0.1, and is named for the issue's point."""

from __future__ import annotations

import time

from misbridge_fixtures import MisCli, clinic, clinic_cli_for, visit  # noqa: F401

BUDGET = {"MAORDERS_PASS_BUDGET": "2"}
PAST_BUDGET = 2.5  # a reply this slow comes after the budget above is spent


def installed(tmp_path, remotes, **extra: str) -> MisCli:
    return clinic_cli_for(tmp_path, remotes, inproc=False, **extra)


def _paid(cli: MisCli, remotes, number: int, check: int, **contact: str) -> None:
    visit(remotes, number)
    cli.ok("pull-orders")
    cli.quick_pay(str(number), check, "cash:5000", **contact)


# ---------------------------------------------------------------------- point 1
def test_point1_an_email_the_server_took_past_the_budget_is_recorded_and_not_sent_again(tmp_path, clinic):
    cli = installed(tmp_path, clinic)
    _paid(cli, clinic, 1, 1, email="buyer@example.org")
    clinic.smtp.handler.on_message = lambda _: time.sleep(PAST_BUDGET)  # the 250 comes after the budget
    code, part = cli.pass_("resend-receipts", **BUDGET)
    clinic.smtp.handler.on_message = None
    assert code == 75 and part["counts"]["email_sent"] == 1 and len(clinic.smtp.messages) == 1
    assert cli.outbox("email")[0]["state"] == "sent"
    assert cli.op("receipts", "ereceipts")[1]["ereceipts"][0]["state"] == "sent"
    assert cli.ok("resend-receipts") == {} and len(clinic.smtp.messages) == 1  # never sent again


def test_point1_an_sms_sms_ru_took_past_the_budget_keeps_its_id(tmp_path, clinic):
    cli = installed(tmp_path, clinic)
    _paid(cli, clinic, 1, 1, phone="+79991234567")
    clinic.sms.on_effect = lambda _: time.sleep(PAST_BUDGET)
    code, part = cli.pass_("resend-receipts", **BUDGET)
    clinic.sms.on_effect = None
    assert code == 75 and part["counts"]["sms_sent"] == 1
    row = cli.rows("SELECT state, sms_id FROM misbridge_ereceipts")[0]
    assert row == {"state": "sent", "sms_id": clinic.sms.sent[0]["sms_id"]}
    assert cli.ok("resend-receipts") == {} and len(clinic.sms.sent) == 1  # not "unknown, resend by hand"
    assert cli.run("status", "--check").returncode == 0


def test_point1_a_pay_the_mis_applied_is_recorded_and_no_new_send_starts_past_the_budget(tmp_path, clinic):
    cli = installed(tmp_path, clinic)
    for n in (1, 2, 3):
        visit(clinic, n)
    cli.ok("pull-orders")
    for n in (1, 2, 3):
        cli.quick_pay(str(n), n, "cash:5000")
    pays = []
    clinic.mis.on_effect = lambda name: name == "pay" and (pays.append(1) or len(pays) == 2) and time.sleep(PAST_BUDGET)
    code, part = cli.pass_("resend-receipts", **BUDGET)
    clinic.mis.on_effect = None
    assert code == 75 and part["counts"]["pay_sent"] == 1 and len(pays) == 2  # the third never started
    states = [o["state"] for o in cli.outbox("pay")]
    assert states[0] == "sent" and states[2] == "pending"
    counts = cli.ok("resend-receipts")
    assert counts == {"pay_already_recorded": 1, "pay_sent": 1}  # the second was applied, its reply lost
    first = cli.op("receipts", "show", "1")[1]["invoice"]["history"]
    assert [(h["method"], h["result"]) for h in first] == [("Receive", 1), ("Pay", 1)]  # sent once
