"""Issue 18, point 1 (gap c): the clinic's cash desk speaks the cashier's words.

The installed `maorders` (a subprocess) in Russian against the ТМ:МИС and sms.ru emulators and a
real SMTP server: the pass's summary line, `status`, the invoice list, an invoice, the e-receipt
queue and the demo's closing line read in words, while `--json` and the journal keep the machine
words (`partially_paid`, `receive_sent`, `invoices partially_paid`)."""

from __future__ import annotations

import re
import subprocess

from conftest import MAORDERS, base_env
from misbridge.emulator import service
from misbridge.words import WORDS
from misbridge_fixtures import clinic, desk_cli, installed_cli, visit  # noqa: F401

RU = {"MAORDERS_LANG": "ru"}
MACHINE_COUNTER = re.compile(r"\b[a-z]+_[a-z_]+\b")  # receive_sent, invoices_fetched, partially_paid


def _said(done) -> str:
    return done.stdout + done.stderr


def test_the_pass_line_status_and_lists_read_in_words_while_json_keeps_the_machine_words(installed_cli, clinic):
    cli = installed_cli
    visit(clinic, 6902)
    clinic.mis.add_invoice(6903, [service("A17.30.001", 9000, tax="без НДС")])
    pulled = cli.run("pull-orders", "--only", "misbridge", **RU)
    assert pulled.returncode == 0, _said(pulled)
    line = next(x for x in _said(pulled).splitlines() if x.startswith("pull-orders misbridge:"))
    assert "счетов получено 2" in line and "«Получение» отправлено 2" in line, line
    assert not MACHINE_COUNTER.search(line), line  # was "invoices_fetched=2 … receive_sent=2"
    cli.quick_pay("6902", 235, "cash:5000", email="buyer@example.org")
    cli.quick_pay("6903", 236, "card:4500", partial=True, phone="+79991234567")
    sent = cli.run("resend-receipts", "--only", "misbridge", **RU)
    assert sent.returncode == 0 and "«Оплата» отправлена 2" in _said(sent), _said(sent)

    status = cli.run("status", **RU).stdout
    assert "счета оплачены частично\t1" in status and "эл. чеки отправлены\t2" in status, status
    assert "invoices partially_paid" not in status and "e-receipts sent" not in status
    code, body = cli.op("status")
    assert body["connectors"]["misbridge"]["counts"]["invoices partially_paid"] == 1  # --json as it was

    listed = cli.run("receipts", "list", **RU).stdout
    assert "«Получение» (Receive)" in listed and "«Оплата» (Pay)" in listed, listed
    row = next(x for x in listed.splitlines() if x.startswith("6903"))
    assert "оплачен частично" in row and "отправлен" in row and "partially_paid" not in row, row
    code, body = cli.op("receipts", "list")
    assert {r["number"]: (r["state"], r["receive"], r["pays"]) for r in body["invoices"]} == {
        6902: ("paid", "sent", "sent"), 6903: ("partially_paid", "sent", "sent")}

    shown = cli.run("receipts", "show", "6903", **RU).stdout
    assert "оплачен частично" in shown.splitlines()[0], shown  # was "…): partially_paid, к оплате …"
    assert "\tпродажа\t" in shown and "2 (SMS): отправлен" in shown and "«Оплата» (Pay)\t236" in shown, shown
    code, body = cli.op("receipts", "show", "6903")
    assert body["invoice"]["receipts"][0]["type"] == "sale" and body["invoice"]["history"][1]["method"] == "Pay"

    queue = cli.run("receipts", "ereceipts", **RU).stdout
    assert "\tпочта\t" in queue and "\tSMS\t" in queue and "\temail\t" not in queue, queue
    assert {r["channel"] for r in cli.op("receipts", "ereceipts")[1]["ereceipts"]} == {"email", "sms"}


def test_an_operators_resend_and_the_attention_line_read_in_words(installed_cli, clinic):
    cli = installed_cli
    visit(clinic, 300)
    visit(clinic, 301)
    assert cli.run("pull-orders", "--only", "misbridge").returncode == 0
    cli.quick_pay("300", 1, "cash:5000", phone="+79991234567")
    cli.quick_pay("301", 2, "cash:5000")
    clinic.mis.faults.error_rate = 1.0
    clinic.sms.balance = 0  # sms.ru refuses the account: the e-receipt is held for a person
    assert cli.run("resend-receipts", "--only", "misbridge").returncode == 75
    clinic.mis.faults.error_rate = 0.0

    resent = cli.run("receipts", "resend", "301", **RU)
    assert resent.returncode == 0 and "Счёт 301: «Оплата» отправлена 1" in resent.stdout, _said(resent)
    assert cli.op("receipts", "resend", "300")[1]["result"]["counts"] == {"pay_sent": 1}  # --json: machine names
    status = _said(cli.run("status", **RU))  # the attention lines are diagnostics: on stderr
    assert "1 электронный чек задержан: sms.ru отказал в доступе к кабинету" in status, status
    assert "эл. чеки задержаны\t1" in status and "e-receipt(s) held" not in status


def test_every_counter_kind_and_status_key_the_cash_desk_makes_has_its_words(desk_cli, clinic):
    """Connector.words must know each key the passes and `status` produce (they stay --json keys)."""
    cli, mis = desk_cli, clinic.mis
    keys: set[str] = set()

    def run(command: str) -> None:
        code, part = cli.pass_(command)
        keys.update(part["counts"])
        keys.update(cli.op("status")[1]["connectors"]["misbridge"]["counts"])

    visit(clinic, 1)
    visit(clinic, 2)
    doomed = visit(clinic, 3)
    run("pull-orders")
    cli.quick_pay("1", 1, "cash:5000", email="buyer@example.org")
    cli.quick_pay("2", 2, "cash:1000", partial=True, phone="+79991234567")
    cli.quick_pay("2", 3, "cash:1000", partial=True, email="second@example.org")
    clinic.smtp.handler.fail_next = ["554 5.7.1 Rejected by policy"]
    mis.faults.error_rate = 1.0
    run("resend-receipts")  # Pay to be sent again; one e-mail refused for good, one sent; the SMS sent
    mis.faults.error_rate = 0.0
    mis.annul(doomed["invoiceGuid"])
    run("pull-orders")
    run("resend-receipts")
    for kind in ("receive", "pay", "email", "sms", "cashdesks"):  # every state status lists, every outbox kind
        keys.update([kind] + [f"{kind} {state}" for state in ("pending", "retry", "failed", "unknown")])
    unknown = sorted(k for k in keys if k not in WORDS)
    assert not unknown, f"keys without words for people: {unknown}"
    assert {"invoices_fetched", "receive_sent", "pay_sent", "email_failed", "invoices_annulled",
            "invoices paid", "invoices partially_paid", "invoices annulled", "e-receipts failed"} <= keys


def test_the_demos_closing_line_says_what_the_mis_took_in_words(tmp_path):
    """Was «ТМ:МИС приняла: {'requests': 12, 'receive': 4, 'fault_500': 4, 'pay': 2}; …»."""
    done = subprocess.run([MAORDERS, "demo", "--workdir", str(tmp_path / "demo")], capture_output=True, text=True,
                          encoding="utf-8", env=base_env(tmp_path) | RU, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("ТМ:МИС приняла:"))
    assert "{" not in line and "'" not in line, line
    assert "«Получение» (Receive) 4" in line and "«Оплата» (Pay) 2" in line and "1 письмо" in line, line
    table = done.stdout.split("Счета на кассе", 1)[1]
    assert "«Получение» (Receive)\tЧеки\t«Оплата» (Pay)" in table and "оплачен частично" in table, table
