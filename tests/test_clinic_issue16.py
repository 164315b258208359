"""Issue 16 for the clinic cash desk: what was sent stays recorded, replies read as the real services
write them. Each test runs the installed `maorders` (a subprocess) against the ТМ:МИС and sms.ru
emulators and a real SMTP server (aiosmtpd) on 127.0.0.1, and is named for the issue's point."""

from __future__ import annotations

import time

import pytest
import requests

from maorders.i18n import _

from misbridge.emulator import CASHDESK, OGRN, OID, SmtpServer, self_signed, service
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

    def second_pay_answers_late(name: str) -> None:  # applied at once, answered after the budget
        if name == "pay":
            pays.append(name)
            if len(pays) == 2:
                time.sleep(PAST_BUDGET)

    clinic.mis.on_effect = second_pay_answers_late
    code, part = cli.pass_("resend-receipts", **BUDGET)
    clinic.mis.on_effect = None
    assert code == 75 and part["counts"]["pay_sent"] == 1 and len(pays) == 2  # the third never started
    states = [o["state"] for o in cli.outbox("pay")]
    assert states[0] == "sent" and states[2] == "pending"
    counts = cli.ok("resend-receipts")
    assert counts == {"pay_already_recorded": 1, "pay_sent": 1}  # the second was applied, its reply lost
    first = cli.op("receipts", "show", "1")[1]["invoice"]["history"]
    assert [(h["method"], h["result"]) for h in first] == [("Receive", 1), ("Pay", 1)]  # sent once


# ---------------------------------------------------------------------- point 2
def test_point2_a_400_digit_number_rejects_that_invoice_and_the_feed_goes_on(tmp_path, clinic):
    cli = installed(tmp_path, clinic)
    clinic.mis.add_invoice(7, [service("B01.065.008", 100) | {"count": 10**400}])
    clinic.mis.add_invoice(9, [service("B01.065.008", 100)], paySum=-10**400)
    visit(clinic, 8)
    code, part = cli.pass_("pull-orders")
    assert code == 0 and part["counts"]["invoices_rejected"] == 2 and part["counts"]["invoices_new"] == 1
    assert any(e.startswith("invoice 7: services[0].count") for e in part["errors"]), part["errors"]
    assert any(e.startswith("invoice 9: paySum") for e in part["errors"]), part["errors"]
    assert [i["number"] for i in cli.op("receipts", "list")[1]["invoices"]] == [8]
    kept = cli.rows("SELECT number, accepted, problem FROM misbridge_register ORDER BY number")
    assert [(r["number"], r["accepted"]) for r in kept] == [(7, 0), (8, 1), (9, 0)]  # «История МИС»
    assert clinic.mis.counters["receive"] == 1


# ---------------------------------------------------------------------- point 5
def test_point5_mis_refusals_escaped_as_uxxxx_keep_result_and_message_whole(tmp_path, clinic):
    cli = installed(tmp_path, clinic)
    clinic.mis.ensure_ascii = True
    other = visit(clinic, 6901)
    visit(clinic, 6902)
    cli.ok("pull-orders")
    clinic.mis.checks[(CASHDESK, 235)] = {"invoiceGuid": other["invoiceGuid"], "invoiceNum": 6901}
    cli.quick_pay("6902", 235, "cash:5000")
    raw = requests.post(f"{clinic.mis_server.url}/api/paidServices/IntegrationInvoice/v2/Pay",
                        json={"OGRN": OGRN, "OID": OID}, timeout=5).content
    assert b"\\u043e\\u0431" in raw and "об".encode() not in raw  # escaped, as a .NET service writes it
    code, part = cli.pass_("resend-receipts")
    said = "Номер чека 235 уже зафиксирован по счёту 6901."
    assert code == 0 and part["counts"]["pay_refused"] == 1 and said in part["errors"][0]
    history = cli.op("receipts", "show", "6902")[1]["invoice"]["history"]
    assert [(h["method"], h["http_code"], h["result"], h["message"]) for h in history] == [
        ("Receive", 200, 1, ""), ("Pay", 409, 0, said)]
    assert said in cli.rows("SELECT message FROM notifications")[-1]["message"]
    code, part = cli.pass_("pull-orders", MIS_OID="1.2.643.5.1.13.13.12.2.50.9999")
    assert code == 69 and "Пользователь API не найден" in part["errors"][0]


# ---------------------------------------------------------------------- point 6
def test_point6_cyrillic_addresses_idna_domain_and_a_mailbox_name_without_smtputf8_goes_to_a_person(
        tmp_path, clinic):
    cli = installed(tmp_path, clinic)
    for n in (1, 2, 3):
        visit(clinic, n)
    cli.ok("pull-orders")
    cli.quick_pay("1", 1, "cash:5000", email="buyer@пример.рф")
    cli.quick_pay("2", 2, "cash:5000", email="покупатель@пример.рф")
    code, part = cli.pass_("resend-receipts")  # aiosmtpd as set up: no SMTPUTF8
    assert code == 0 and part["counts"]["email_sent"] == 1 and part["counts"]["email_failed"] == 1
    assert clinic.smtp.messages[0]["to"] == ["buyer@xn--e1afmkfd.xn--p1ai"]
    assert clinic.smtp.messages[0]["message"]["To"] == "buyer@xn--e1afmkfd.xn--p1ai"
    assert any("SMTPUTF8" in e for e in part["errors"])
    failed = cli.op("receipts", "ereceipts", "--failed")[1]["ereceipts"]
    assert [(r["state"], r["invoice"], r["recipient"]) for r in failed] == [("failed", 2, "п…@п…")]
    assert "SMTPUTF8" in failed[0]["status_text"]
    assert cli.run("status", "--check").returncode == 1  # shown to a person
    assert cli.ok("resend-receipts") == {} and len(clinic.smtp.messages) == 1  # never retried by itself
    clinic.smtp.stop()
    clinic.smtp = SmtpServer(smtputf8=True).start()  # the clinic moves to a server that takes it
    code, body = cli.op("receipts", "ereceipt-resend", str(failed[0]["id"]), SMTP_PORT=str(clinic.smtp.port))
    assert code == 0 and body["ereceipt"]["state"] == "sent"
    assert clinic.smtp.messages[0]["to"] == ["покупатель@xn--e1afmkfd.xn--p1ai"]
    code, body = cli.op("receipts", "pay", "3", "--check-num", "3", "--payment", "cash:5000",
                        "--email", "b@" + "я" * 70 + ".рф")
    assert code == 65 and "--email" in body["error"]  # no IDNA form (a label over 63): refused at the desk


# ---------------------------------------------------------------------- point 7
def test_point7_a_proxy_502_after_sms_ru_took_the_sms_is_unknown_and_only_a_person_resends_it(tmp_path, clinic):
    cli = installed(tmp_path, clinic)
    _paid(cli, clinic, 1, 1, phone="+79991234567")
    clinic.sms.proxy_after_send = [502]  # sms.ru took it; the proxy's 502 is all that came back
    code, part = cli.pass_("resend-receipts")
    assert code == 0 and part["counts"]["sms_unknown"] == 1 and len(clinic.sms.sent) == 1
    shown = cli.op("receipts", "ereceipts", "--failed")[1]["ereceipts"]
    assert [(r["state"], r["status_code"]) for r in shown] == [("unknown", 502)]
    assert "resend by hand" in shown[0]["status_text"]
    assert cli.run("status", "--check").returncode == 1
    assert cli.ok("resend-receipts") == {} and len(clinic.sms.sent) == 1  # never a paid duplicate by itself
    assert cli.op("receipts", "ereceipt-resend", str(shown[0]["id"]))[1]["ereceipt"]["state"] == "sent"
    assert len(clinic.sms.sent) == 2  # a person chose to


def test_point7_only_429_and_sms_ru_refusals_are_resent_by_themselves(tmp_path, clinic):
    cli = installed(tmp_path, clinic)
    _paid(cli, clinic, 1, 1, phone="+79991234567")
    clinic.sms.faults.rate_limit_every = 1  # every request: HTTP 429
    code, part = cli.pass_("resend-receipts")
    assert code == 0 and part["counts"]["sms_retry"] == 1 and clinic.sms.sent == []
    clinic.sms.faults.rate_limit_every = 0
    clinic.sms.forced = [220]  # sms.ru's own «service unavailable»
    assert cli.ok("resend-receipts") == {"sms_retry": 1} and clinic.sms.sent == []
    assert cli.ok("resend-receipts") == {"sms_sent": 1} and len(clinic.sms.sent) == 1


# ---------------------------------------------------------------------- point 11
def test_point11_port_465_without_smtp_tls_is_implicit_tls_and_doctor_says_so(tmp_path, clinic):
    cert = self_signed(str(tmp_path))
    try:
        server = SmtpServer(port=465, tls="implicit", cert=cert).start()
    except (OSError, RuntimeError) as exc:
        pytest.skip(f"port 465 cannot be bound here ({exc})")
    clinic.smtp.stop()
    clinic.smtp = server
    cli = installed(tmp_path, clinic, SMTP_PORT="465", SMTP_STARTTLS="", SSL_CERT_FILE=cert[0])
    _paid(cli, clinic, 1, 1, email="buyer@example.org")
    code, part = cli.pass_("resend-receipts")
    assert code == 0 and part["counts"]["email_sent"] == 1 and len(server.messages) == 1
    code, doctor = cli.op("doctor")
    smtp = next(c for c in doctor["checks"] if c["check"] == "misbridge: SMTP")
    assert smtp["ok"] and _("implicit TLS (port 465; SMTP_TLS not set)") in smtp["detail"]


def test_point11_port_465_with_starttls_asked_is_78_naming_smtp_tls(tmp_path, clinic):
    cli = installed(tmp_path, clinic, SMTP_PORT="465", SMTP_STARTTLS="yes")
    code, body, _err = cli.json("resend-receipts", "--only", "misbridge")
    assert code == 78 and "SMTP_TLS=implicit" in body["error"]
    code, doctor = cli.op("doctor", SMTP_STARTTLS="")  # nothing listens on 465 here, or something else does
    smtp = next(c for c in doctor["checks"] if c["check"] == "misbridge: SMTP")
    assert _("implicit TLS (port 465; SMTP_TLS not set)") in smtp["detail"]
