"""The clinic cash desk end to end: the installed CLI (a subprocess) against the ТМ:МИС and sms.ru
emulators and a real SMTP server (aiosmtpd), all on 127.0.0.1."""

from __future__ import annotations

import json

from misbridge.emulator import CASHDESK, service
from misbridge_fixtures import MisCli, clinic, clinic_cli_for, desk_cli, installed_cli, visit  # noqa: F401

EMAIL = "buyer@example.org"


def pay(cli: MisCli, invoice: str, check: int, *payments: str, **extra: str) -> tuple[int, dict]:
    args = ["receipts", "pay", invoice, "--check-num", str(check)]
    for p in payments:
        args += ["--payment", p]
    for name, value in extra.items():
        args += [f"--{name}"] if value is True else [f"--{name}", value]
    return cli.op(*args)


def test_a_day_at_the_desk(installed_cli, clinic):
    cli, mis = installed_cli, clinic.mis
    first = visit(clinic, 6902)
    second = mis.add_invoice(6903, [service("A17.30.001", 9000, tax="без НДС")])
    counts = cli.ok("pull-orders")
    assert counts["invoices_new"] == 2 and counts["receive_sent"] == 2
    assert cli.ok("pull-orders").get("receive_sent", 0) == 0 and mis.counters["receive"] == 2  # sent once

    code, body = pay(cli, "6902", 235, "cash:1000", "card:4000", email=EMAIL, date="2023-06-21T09:48:26")
    assert code == 0 and body["receipt"]["invoice_state"] == "paid"
    code, body = pay(cli, "6903", 236, "card:9000", phone="+7 999 123-45-67")
    assert code == 0
    counts = cli.ok("resend-receipts")
    assert counts["pay_sent"] == 2 and counts["email_sent"] == 1 and counts["sms_sent"] == 1
    assert counts["smtp_connections"] == 1
    assert cli.ok("resend-receipts") == {} and mis.counters["pay"] == 2  # nothing again

    recorded = mis.pays(first["invoiceGuid"])[0]
    assert recorded["BillDate"] == "2023-06-21T09:48:26" and recorded["Payments"] == [
        {"PaymentType": 1, "paySum": 1000.0}, {"PaymentType": 2, "paySum": 4000.0}]
    mail = clinic.smtp.messages[0]
    assert mail["to"] == [EMAIL] and mail["message_id"].endswith("@clinic.example>")
    text = mail["message"].get_body(("plain",)).get_content()
    assert "без НДС" in text and "Чек № 235" in text and "ИТОГО: 5 000,00" in text
    assert clinic.sms.sent[0]["to"] == "79991234567" and "236" in clinic.sms.sent[0]["msg"]
    assert mis.pays(second["invoiceGuid"])[0]["CheckNum"] == 236

    code, shown = cli.op("receipts", "show", "6902")
    inv = shown["invoice"]
    assert [s["vat"] for s in inv["services"]] == ["без НДС", "20%"]
    assert [(h["method"], h["http_code"], h["result"]) for h in inv["history"]] == [("Receive", 200, 1), ("Pay", 200, 1)]
    assert json.loads(inv["history"][1]["payments"])["CheckNum"] == 235
    assert inv["receipts"][0]["ereceipts"][0]["state"] == "sent"
    assert cli.run("status", "--check").returncode == 0
    code, listed = cli.op("receipts", "list", "--failed")
    assert listed["invoices"] == []


def test_partial_and_child_invoices(desk_cli, clinic):
    cli, mis = desk_cli, clinic.mis
    parent = mis.add_invoice(7001, [service("A17", 9000)])
    child = mis.add_invoice(7002, [service("A17", 4000)], parent=parent["invoiceGuid"])
    assert cli.ok("pull-orders")["child_invoices"] == 1
    code, body = pay(cli, "7001", 1, "cash:4500")
    assert code == 65 and "--partial" in body["error"]
    assert pay(cli, "7001", 1, "cash:4500", partial=True)[1]["receipt"]["invoice_state"] == "partially_paid"
    assert cli.quick_pay("7001", 2, "card:4500", partial=True)["invoice_state"] == "paid"
    cli.quick_pay("7002", 3, "card:4000")
    assert cli.ok("resend-receipts")["pay_sent"] == 3
    assert {p["CheckNum"] for p in mis.pays(parent["invoiceGuid"])} == {1, 2}
    assert [p["CheckNum"] for p in mis.pays(child["invoiceGuid"])] == [3]
    code, shown = cli.op("receipts", "show", child["invoiceGuid"])
    assert shown["invoice"]["child_of"] == parent["invoiceGuid"] and shown["invoice"]["state"] == "paid"
    assert pay(cli, "7001", 4, "cash:2000", kind=True)[0] == 2  # no such option: usage
    code, body = cli.op("receipts", "refund", "7001", "--check-num", "4", "--payment", "cash:4500")
    assert code == 0 and body["receipt"]["type"] == "refund"
    assert cli.ok("resend-receipts")["pay_sent"] == 1
    assert [p["Type"] for p in mis.pays(parent["invoiceGuid"])] == [1, 1, 2]


def test_annulled_before_and_after_receive(desk_cli, clinic):
    cli, mis = desk_cli, clinic.mis
    early = visit(clinic, 8001)
    late = visit(clinic, 8002)
    mis.annul(early["invoiceGuid"])
    counts = cli.ok("pull-orders")
    assert counts["invoices_annulled"] == 1 and counts["invoices_new"] == 1
    code, body = pay(cli, "8001", 10, "cash:5000")
    assert code == 65 and "annulled" in body["error"]
    mis.annul(late["invoiceGuid"])
    counts = cli.ok("pull-orders")
    assert counts["invoices_annulled"] == 1 and counts["receive_sent"] == 1  # the annulment acknowledged
    assert cli.ok("pull-orders").get("invoices_fetched", 0) == 0
    assert pay(cli, "8002", 11, "cash:5000")[0] == 65
    code, status = cli.op("status")
    messages = [n["message"] for n in status["notifications"]]
    assert "invoice 8001 annulled in the MIS: do not take payment" in messages
    assert "invoice 8002 annulled in the MIS: do not take payment" in messages
    assert mis.counters["pay"] == 0


def test_bad_input_is_65_naming_the_field_and_queues_nothing(desk_cli, clinic):
    cli = desk_cli
    visit(clinic, 6902)
    cli.ok("pull-orders")
    cases = [(("cash:4000",), {}, "does not add up"), (("cash:abc",), {}, "--payment"),
             (("cash:5000",), {"phone": "123"}, "--phone")]  # the rest: test_misbridge_rules
    for payments, extra, words in cases:
        code, body = pay(cli, "6902", 1, *payments, **extra)
        assert code == 65 and words in body["error"], body
    code, body = pay(cli, "9999", 1, "cash:1")
    assert code == 65 and "invoice 9999" in body["error"]
    cli.quick_pay("6902", 1, "cash:5000")
    code, body = pay(cli, "6902", 1, "cash:5000")
    assert code == 65 and "--check-num 1: already used" in body["error"]
    assert len(cli.outbox("pay")) == 1 and cli.outbox("email") == []


def test_mis_down_then_back_and_faults(desk_cli, clinic):
    cli, mis = desk_cli, clinic.mis
    for n in range(6):
        visit(clinic, 100 + n)
    cli.ok("pull-orders")
    mis.faults.error_rate = 1.0  # down: every call 500
    assert pay(cli, "100", 500, "cash:5000")[0] == 0  # the desk works on: journal only
    for n in range(1, 6):
        cli.quick_pay(str(100 + n), 500 + n, "cash:5000", email=EMAIL if n == 1 else None)
    code, part = cli.pass_("resend-receipts")
    assert code == 75 and "500" in part["errors"][0]
    assert len(clinic.smtp.messages) == 1  # the buyer's e-receipt does not wait for the MIS
    assert [(o["state"], o["attempts"]) for o in cli.outbox("pay")] == [("retry", 1)] + [("pending", 0)] * 5
    code, listed = cli.op("receipts", "list", "--failed")
    assert [r["errors"] for r in listed["invoices"]][0] == ["Ошибка отправки «Оплаты»"]
    mis.faults.error_rate = 0.0
    mis.faults.update({"rate_limit_every": 3, "retry_after": 0, "drop_rate": 0.1, "malformed_rate": 0.1,
                       "cut_body_rate": 0.1, "seed": 7})
    for _ in range(8):
        code, _ = cli.pass_("resend-receipts", MAORDERS_HTTP_RETRIES="3")
        if code == 0 and not [o for o in cli.outbox("pay") if o["state"] != "sent"]:
            break
        assert code in (0, 75)
    assert {o["state"] for o in cli.outbox("pay")} == {"sent"}
    assert mis.counters["pay"] == 6 and len(mis.checks) == 6  # each once, whatever was lost
    history = cli.rows("SELECT DISTINCT payments FROM misbridge_history WHERE check_num = 500")
    assert len(history) == 1  # every attempt carried the same Payments (BillDate never moved)


def test_api_user_not_found_is_69(desk_cli, clinic):
    code, part = desk_cli.pass_("pull-orders", MIS_OID="1.2.643.5.1.13.13.12.2.50.9999")
    assert code == 69 and "Пользователь API не найден" in part["errors"][0]


def test_a_409_is_refused_for_good_shown_and_never_retried(desk_cli, clinic):
    cli, mis = desk_cli, clinic.mis
    other = visit(clinic, 6901)
    visit(clinic, 6902)
    cli.ok("pull-orders")
    mis.checks[(CASHDESK, 235)] = {"invoiceGuid": other["invoiceGuid"], "invoiceNum": 6901}  # another desk session
    cli.quick_pay("6902", 235, "cash:5000")
    code, part = cli.pass_("resend-receipts")
    assert code == 0 and part["counts"]["pay_refused"] == 1
    assert "Номер чека 235 уже зафиксирован по счёту 6901." in part["errors"][0]
    requests_before = mis.counters["requests"]
    assert cli.ok("resend-receipts") == {} and mis.counters["requests"] == requests_before
    assert cli.run("status", "--check").returncode == 1
    code, listed = cli.op("receipts", "list", "--failed")
    assert listed["invoices"][0]["number"] == 6902 and "Ошибка отправки «Оплаты»" in listed["invoices"][0]["errors"]
    del mis.checks[(CASHDESK, 235)]  # the MIS side was fixed; a person sends it again
    code, body = cli.op("receipts", "resend", "6902")
    assert code == 0 and body["result"]["counts"] == {"pay_sent": 1}
    assert cli.run("status", "--check", "--ack").returncode == 0


def test_smtp_451_and_sms_errors_retried_next_run(desk_cli, clinic):
    cli = desk_cli
    for n in range(4):
        visit(clinic, 200 + n)
    cli.ok("pull-orders")
    cli.quick_pay("200", 1, "cash:5000", email=EMAIL)
    cli.quick_pay("201", 2, "cash:5000", email="second@example.org")
    cli.quick_pay("202", 3, "cash:5000", phone="+79991234567")
    cli.quick_pay("203", 4, "cash:5000", phone="+79990000000")
    clinic.smtp.handler.fail_next = ["451 4.3.0 Try again later", "554 5.7.1 Rejected by policy"]
    clinic.sms.forced = [220]  # the first SMS: service unavailable
    code, part = cli.pass_("resend-receipts")
    counts = part["counts"]
    assert code == 0 and counts["email_retry"] == 1 and counts["email_failed"] == 1 and counts["sms_retry"] == 1
    assert counts["sms_sent"] == 1
    code, listed = cli.op("receipts", "ereceipts", "--failed")
    assert sorted(r["state"] for r in listed["ereceipts"]) == ["failed", "retry", "retry"]
    assert all("@" not in r["recipient"] or "…" in r["recipient"] for r in listed["ereceipts"])
    counts = cli.ok("resend-receipts")
    assert counts == {"email_sent": 1, "smtp_connections": 1, "sms_sent": 1}  # the 554 is not repeated
    failed = [r for r in cli.op("receipts", "ereceipts", "--failed")[1]["ereceipts"]]
    assert [r["state"] for r in failed] == ["failed"]
    assert cli.op("receipts", "ereceipt-resend", str(failed[0]["id"]))[1]["ereceipt"]["state"] == "sent"
    assert len(clinic.smtp.messages) == 2 and len(clinic.sms.sent) == 2
    ids = {m["message_id"] for m in clinic.smtp.messages}
    assert len(ids) == 2
    code, body = cli.op("receipts", "ereceipt-delete", "999")
    assert code == 65


def test_sms_account_problem_holds_the_queue_for_a_person(desk_cli, clinic):
    cli = desk_cli
    visit(clinic, 300)
    visit(clinic, 301)
    cli.ok("pull-orders")
    cli.quick_pay("300", 1, "cash:5000", phone="+79991234567")
    cli.quick_pay("301", 2, "cash:5000", phone="+79991234568")
    clinic.sms.balance = 0
    code, part = cli.pass_("resend-receipts")
    assert code == 69 and "201" in part["errors"][-1]
    assert clinic.sms.counters["requests"] == 1  # the second one was not tried against a dry account
    assert cli.run("status", "--check").returncode == 1


def test_catalog_and_payer_updates_follow_the_settings(tmp_path, clinic):
    cli = clinic_cli_for(tmp_path, clinic, MIS_UPDATE_SERVICES="no", MIS_ZERO_VAT_AS_NO_VAT="no")
    clinic.mis.add_invoice(1, [service("B01", 100, name="Старое имя", tax="0%")])
    cli.ok("pull-orders")
    clinic.mis.add_invoice(2, [service("B01", 100, name="Новое имя", tax="20%")])
    cli.ok("pull-orders")
    shown = cli.op("receipts", "show", "2")[1]["invoice"]["services"][0]
    assert (shown["name"], shown["vat"]) == ("Старое имя", "0%")  # local data stays; 0 % kept as 0 %
    clinic.mis.add_invoice(3, [service("B01", 100, name="Новое имя", tax="0%")])
    cli.ok("pull-orders", MIS_UPDATE_SERVICES="yes", MIS_ZERO_VAT_AS_NO_VAT="yes")
    shown = cli.op("receipts", "show", "3")[1]["invoice"]["services"][0]
    assert (shown["name"], shown["vat"]) == ("Новое имя", "без НДС")
    code, edited = cli.op("receipts", "service-edit", "B01", "--name", "Правка кассира", "--vat", "10%")
    assert code == 0 and edited["service"]["lines_changed"] == 3
    clinic.mis.add_invoice(4, [service("B01", 100, name="Имя из МИС", tax="20%")])
    cli.ok("pull-orders")
    shown = cli.op("receipts", "show", "4")[1]["invoice"]["services"][0]
    assert (shown["name"], shown["vat"]) == ("Правка кассира", "10%")  # the local edit stays
    assert cli.op("receipts", "service-edit", "B01", "--vat", "18%")[0] == 65
    payer = cli.rows("SELECT data FROM misbridge_payers")[0]["data"]
    clinic.mis.add_invoice(5, [service("B01", 100)], family="Новая")
    cli.ok("pull-orders", MIS_UPDATE_PAYERS="no")
    assert cli.rows("SELECT data FROM misbridge_payers")[0]["data"] == payer
    clinic.mis.add_invoice(6, [service("B01", 100)], family="Новая")
    cli.ok("pull-orders")
    assert "Новая" in cli.rows("SELECT data FROM misbridge_payers")[0]["data"]
    code, register = cli.op("receipts", "history", "--number", "2")
    assert [r["number"] for r in register["register"]] == [2]


def test_retention_removes_old_history_only(desk_cli, clinic):
    cli = desk_cli
    visit(clinic, 400)
    cli.ok("pull-orders")
    with cli.db() as conn:
        conn.execute("UPDATE misbridge_history SET at = '2000-01-01T00:00:00+00:00'")
        conn.execute("UPDATE misbridge_register SET fetched_at = '2000-01-01T00:00:00+00:00'")
    assert cli.ok("resend-receipts", MIS_RETENTION_DAYS="0") == {}
    counts = cli.ok("resend-receipts", MIS_RETENTION_DAYS="30")
    assert counts == {"history_removed": 1, "register_removed": 1}
    assert cli.rows("SELECT COUNT(*) AS n FROM misbridge_invoices")[0]["n"] == 1


def test_every_command_has_help_with_an_example(desk_cli):
    for command in ("pay", "refund", "list", "show", "resend", "ereceipts", "ereceipt-resend", "ereceipt-delete",
                    "history", "service-edit"):
        done = desk_cli.run("receipts", command, "--help")
        assert done.returncode == 0 and f"Example: maorders receipts {command}" in done.stdout, done.stdout
    done = desk_cli.run("cashdesks", "push", "--help")
    assert "Example: maorders cashdesks push" in done.stdout


def test_doctor_status_and_cashdesks_push(desk_cli, clinic):
    cli = desk_cli
    code, doctor = cli.op("doctor")
    mine = {c["check"]: c["ok"] for c in doctor["checks"] if c["check"].startswith("misbridge")}
    assert code == 0 and mine == {"misbridge: ТМ:МИС": True, "misbridge: SMTP": True, "misbridge: sms.ru": True}
    code, body = cli.op("cashdesks", "push")
    assert code == 0 and body["result"]["state"] == "sent"
    assert cli.op("cashdesks", "push")[0] == 0 and clinic.mis.counters["cashdesks"] == 2
    assert clinic.mis.cashdesks[CASHDESK]["name"] == "ККМ Филиал"
    code, doctor = cli.op("doctor", SMS_API_ID="wrong-api-id")
    assert code == 69


def test_secrets_and_personal_data_are_never_written(tmp_path, clinic):
    from misbridge.emulator import SmtpServer, self_signed

    cert = self_signed(str(tmp_path))
    clinic.smtp.stop()
    clinic.smtp = SmtpServer(tls="starttls", cert=cert, login=("kassa", "smtp-Pa55word")).start()
    cli = clinic_cli_for(tmp_path, clinic, SMTP_USER="kassa", SMTP_PASSWORD="smtp-Pa55word", SMTP_STARTTLS="yes",
                         SMTP_HOST="localhost", SSL_CERT_FILE=cert[0], MAORDERS_HTTP_RETRIES="0")
    clinic.mis.payer |= {"family": "Конфиденциальная", "name": "Пациентка", "birthday": "1961-03-04T00:00:00",
                         "contactIMPhone": "+79161234567", "contactEmail": "patient.private@example.net"}
    visit(clinic, 6902)
    bad = visit(clinic, 6903)
    bad["paySum"] = "много"  # a malformed invoice: its problem is shown, its payer is not
    outputs = [cli.run("--json", "pull-orders", "--only", "misbridge")]
    cli.quick_pay("6902", 1, "cash:5000", email="buyer.secret@example.com")
    outputs.append(cli.run("--json", "resend-receipts", "--only", "misbridge"))
    outputs += [cli.run("--json", "receipts", "show", "6902"), cli.run("--json", "receipts", "list"),
                cli.run("--json", "receipts", "history"), cli.run("--json", "status"), cli.run("-v", "doctor")]
    clinic.mis.faults.error_rate = 1.0
    outputs.append(cli.run("--json", "resend-receipts", "--only", "misbridge"))
    assert len(clinic.smtp.messages) == 1 and "6903" in outputs[0].stdout
    assert "resend-receipts" in cli.log_text()
    written = cli.log_text() + "".join(o.stdout + o.stderr for o in outputs)
    for secret in ("smtp-Pa55word", "sms-api-id-0000", "Конфиденциальная", "Пациентка", "1961-03-04",
                   "79161234567", "+7 916", "patient.private", "buyer.secret"):
        assert secret not in written, secret


def test_an_ereceipt_for_a_channel_not_configured_waits_and_says_so(tmp_path, clinic):
    cli = clinic_cli_for(tmp_path, clinic, SMS_API_ID="", SMS_URL="")
    visit(clinic, 1)
    cli.ok("pull-orders")
    cli.quick_pay("1", 1, "cash:5000", phone="+79991234567")
    code, part = cli.pass_("resend-receipts")
    assert code == 78 and "SMS_API_ID" in part["errors"][0] and part["counts"]["pay_sent"] == 1
    assert cli.outbox("sms")[0]["state"] == "pending"
    assert cli.ok("resend-receipts", SMS_API_ID="sms-api-id-0000", SMS_URL=clinic.env()["SMS_URL"]) == {"sms_sent": 1}
