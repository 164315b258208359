"""The cash desk's wire clients against its emulators and a real SMTP server (aiosmtpd): no mocks."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from maorders.errors import RefusedError, TransientError
from maorders.http import Budget, Remote
from misbridge.emulator import (API_ID, CASHDESK, OGRN, OID, SmtpServer, self_signed, serve_mis, serve_sms,
                                service)
from misbridge.mail import MailChannelDown, MailSession
from misbridge.mis import BadInvoice, MisClient, parse_invoice
from misbridge.settings import SmtpSettings
from misbridge.sms import SmsClient


@pytest.fixture
def mis():
    server, app = serve_mis()
    remote = Remote("tmmis", server.url, 5, 2, Budget(30))
    yield MisClient(remote, OGRN, OID, CASHDESK), app
    remote.close()
    server.stop()


def test_receive_then_pay_then_duplicates(mis):
    client, app = mis
    inv = app.add_invoice(6902, [service("B01", 5000)])
    assert [i["invoiceNum"] for i in client.new_invoices()] == [6902]
    assert client.receive(inv["invoiceGuid"], 6902).result == 1
    assert client.receive(inv["invoiceGuid"], 6902).result == 2  # «Счёт уже получен»: success
    assert client.new_invoices() == []
    payments = {"BillDate": "2023-06-21T09:48:26", "CheckNum": 235, "Type": 1, "cashdeskGuid": CASHDESK,
                "Payments": [{"PaymentType": 1, "paySum": 5000.0}]}
    assert client.pay(inv["invoiceGuid"], 6902, payments).ok
    again = client.pay(inv["invoiceGuid"], 6902, payments)
    assert again.ok and again.result == 2 and "уже зафиксирован по счёту 6902" in again.message
    other = app.add_invoice(6903, [service("B02", 100)])
    client.receive(other["invoiceGuid"], 6903)
    conflict = client.pay(other["invoiceGuid"], 6903, payments)
    assert (conflict.http_code, conflict.result, conflict.ok) == (409, 0, False)
    assert conflict.message == "Номер чека 235 уже зафиксирован по счёту 6902."
    assert app.counters["pay"] == 1


def test_pay_before_receive_is_409_and_bad_payments_400(mis):
    client, app = mis
    inv = app.add_invoice(1, [service("B01", 100)])
    payments = {"BillDate": "2023-06-21T09:48:26", "CheckNum": 1, "Type": 1, "cashdeskGuid": CASHDESK,
                "Payments": [{"PaymentType": 1, "paySum": 100.0}]}
    reply = client.pay(inv["invoiceGuid"], 1, payments)
    assert (reply.http_code, reply.message) == (409, "Счёт не получен кассой")
    client.receive(inv["invoiceGuid"], 1)
    bad = client.pay(inv["invoiceGuid"], 1, payments | {"BillDate": "21.06.2023"})
    assert bad.http_code == 400 and "BillDate" in bad.message
    bad = client.pay(inv["invoiceGuid"], 1, payments | {"Payments": [{"PaymentType": 1, "paySum": 1.005}]})
    assert bad.http_code == 400


def test_wrong_api_user_is_refused_for_good(mis):
    client, app = mis
    client.oid = "1.2.3"
    with pytest.raises(RefusedError, match="Пользователь API не найден"):
        client.new_invoices()


def test_faults_are_retried_then_transient(mis):
    client, app = mis
    app.add_invoice(5, [service("B01", 100)])
    app.faults.rate_limit_every, app.faults.retry_after = 2, 0
    assert len(client.new_invoices()) == 1 and len(client.new_invoices()) == 1
    app.faults.rate_limit_every = 0
    app.faults.wrong_shape_rate = 1.0
    with pytest.raises(TransientError, match="malformed reply"):
        client.new_invoices()
    app.faults.wrong_shape_rate = 0
    app.faults.error_rate = 1.0
    with pytest.raises(TransientError):
        client.new_invoices()


def test_invoice_parsing_names_the_field_not_the_payer():
    server, app = serve_mis()
    server.stop()
    raw = app.add_invoice(814, [service("B01", 2000)])
    assert parse_invoice(raw).pay_sum == 2000
    for field, value, words in [("paySum", float("inf"), "paySum"), ("paySum", -1, "paySum"),
                                ("invoiceNum", 2**64, "invoiceNum"), ("invoiceGuid", "x", "invoiceGuid"),
                                ("date", "11.06.2021", "date"), ("services", [], "services"),
                                ("isCancelled", "no", "isCancelled")]:
        with pytest.raises(BadInvoice, match=words) as caught:
            parse_invoice(raw | {field: value})
        assert "Тестовый" not in str(caught.value) and "+7111" not in str(caught.value)
    bad_tax = raw | {"services": [service("B01", 2000) | {"tax": "18%"}]}
    with pytest.raises(BadInvoice, match=r"services\[0\].tax"):
        parse_invoice(bad_tax)
    with pytest.raises(BadInvoice, match="count"):
        parse_invoice(raw | {"services": [service("B01", 2000) | {"count": 10**9}]})


# ---------------------------------------------------------------------- sms.ru
@pytest.fixture
def sms():
    server, app = serve_sms()
    session = requests.Session()
    yield SmsClient(session, f"{server.url}/sms/send", API_ID, "Clinic", 5), app, server
    session.close()
    server.stop()


def test_sms_codes_sort_into_retry_person_and_for_good(sms):
    client, app, _ = sms
    assert client.send("79991234567", "Чек №1").state == "sent"
    assert app.api_id_in_url == 0 and app.sent[0]["to"] == "79991234567"
    app.forced = [220]
    assert client.send("79991234567", "x").state == "retry"
    app.forced = [231]
    outcome = client.send("79991234567", "x")
    assert outcome.state == "retry" and outcome.retry_in is not None
    app.forced = [201]
    assert client.send("79991234567", "x").state == "account"
    assert client.send("7999", "x").state == "failed"  # 202 wrong number
    assert client.send("79991234567", "я" * 600).code == 205
    client.api_id = "wrong-key"
    assert client.send("79991234567", "x").code == 200


def test_sms_never_follows_a_redirect_with_its_key(sms):
    client, app, _ = sms
    app.faults.redirect_to = "http://127.0.0.1:9/elsewhere"
    outcome = client.send("79991234567", "x")
    assert (outcome.state, outcome.code) == ("account", 307) and app.sent == []


def test_sms_reply_lost_is_unknown_and_no_connection_is_retry(sms):
    client, app, server = sms
    app.faults.drop_after_effect = 1
    assert client.send("79991234567", "x").state == "unknown"
    assert len(app.sent) == 1  # it did go out: that is why it is never resent blindly
    port = server.port
    server.stop()
    down = SmsClient(requests.Session(), f"http://127.0.0.1:{port}/sms/send", API_ID, None, 2)
    assert down.send("79991234567", "x").state == "retry"


# ---------------------------------------------------------------------- SMTP
def _message(to: str = "buyer@example.org") -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "kassa@clinic.example", to, "Чек"
    message["Message-ID"] = "<receipt1@clinic.example>"
    message.set_content("Кассовый чек")
    return message


def _settings(port: int, **kw: object) -> SmtpSettings:
    base = dict(host="127.0.0.1", port=port, user=None, password=None, starttls=False, implicit_tls=False,
                sender="kassa@clinic.example", timeout=5)
    return SmtpSettings(**(base | kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return self_signed(str(tmp_path_factory.mktemp("tls")))


def test_starttls_then_ehlo_then_login_one_connection(cert, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", cert[0])
    server = SmtpServer(tls="starttls", cert=cert, login=("kassa", "smtp-pw-123")).start()
    try:
        session = MailSession(_settings(server.port, starttls=True, user="kassa", password="smtp-pw-123"))
        for n in range(3):
            assert session.send(_message(f"b{n}@example.org"), f"b{n}@example.org").state == "sent"
        session.close()
        assert len(server.messages) == 3 and server.connections == 1
        assert server.messages[0]["message_id"] == "<receipt1@clinic.example>"
        wrong = MailSession(_settings(server.port, starttls=True, user="kassa", password="nope"))
        with pytest.raises(MailChannelDown) as caught:
            wrong.send(_message(), "buyer@example.org")
        assert caught.value.needs_person and "nope" not in str(caught.value)
    finally:
        server.stop()


def test_login_without_tls_is_refused_by_the_server(cert, monkeypatch):
    server = SmtpServer(tls="starttls", cert=cert, login=("kassa", "pw")).start()
    try:
        session = MailSession(_settings(server.port, user="kassa", password="pw"))
        with pytest.raises(MailChannelDown):
            session.send(_message(), "buyer@example.org")
        assert server.messages == []
    finally:
        server.stop()


def test_implicit_tls_and_an_untrusted_certificate(cert, monkeypatch):
    server = SmtpServer(tls="implicit", cert=cert).start()
    try:
        with pytest.raises(MailChannelDown, match="TLS"):
            MailSession(_settings(server.port, implicit_tls=True)).send(_message(), "buyer@example.org")
        monkeypatch.setenv("SSL_CERT_FILE", cert[0])
        session = MailSession(_settings(server.port, implicit_tls=True))
        assert session.send(_message(), "buyer@example.org").state == "sent"
        session.close()
    finally:
        server.stop()


def test_4xx_retry_5xx_failed_lost_250_unknown():
    server = SmtpServer().start()
    try:
        session = MailSession(_settings(server.port))
        server.handler.fail_next = ["451 4.3.0 Try again later", "554 5.7.1 Message rejected"]
        assert session.send(_message(), "buyer@example.org").state == "retry"
        assert session.send(_message(), "buyer@example.org").state == "failed"
        server.handler.drop_after_data = 1
        assert session.send(_message(), "buyer@example.org").state == "unknown"
        assert session.send(_message(), "buyer@example.org").state == "sent"  # a new connection
        session.close()
        assert server.connections == 2 and len(server.messages) == 2
    finally:
        server.stop()


def test_no_server_is_a_channel_down_not_a_person():
    with pytest.raises(MailChannelDown) as caught:
        MailSession(_settings(1)).send(_message(), "buyer@example.org")
    assert not caught.value.needs_person
    assert not isinstance(caught.value, smtplib.SMTPException)
    assert Path  # keeps the import used in every Python
