"""The cash desk's rules and settings, without I/O."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maorders.errors import ConfigError, InputError
from maorders.settings import Env
from misbridge import ereceipts, receipts, settings
from misbridge.sms import normalise_phone, outcome_of

BASE = {"MIS_URL": "https://mis.example/", "MIS_OGRN": "1025002039776", "MIS_OID": "1.2.643.5.1.13.13.12.2.50.4782",
        "MIS_CASHDESK_GUID": "7f469ab8-bc96-11ec-9d45-00d861a563e9"}


def test_zero_vat_is_no_vat_unless_configured():
    assert receipts.vat_rate("0%", True) == "без НДС" and receipts.vat_tag("без НДС") == 6
    assert receipts.vat_rate("0%", False) == "0%" and receipts.vat_tag("0%") == 5
    assert receipts.vat_rate("20%", True) == "20%"


def test_payments_parse_and_add_up():
    pays = receipts.parse_payments(["cash:1000", "card:4000,50"])
    assert [(p.type, p.amount) for p in pays] == [(1, Decimal("1000.00")), (2, Decimal("4000.50"))]
    receipts.check_sale(Decimal("5000.50"), Decimal(0), pays, partial=False)
    with pytest.raises(InputError, match="does not add up"):
        receipts.check_sale(Decimal("6000"), Decimal(0), pays, partial=False)
    receipts.check_sale(Decimal("6000"), Decimal(0), pays, partial=True)
    with pytest.raises(InputError, match="more than is due"):
        receipts.check_sale(Decimal("5000"), Decimal(0), pays, partial=True)
    with pytest.raises(InputError, match="nothing is due"):
        receipts.check_sale(Decimal("5000"), Decimal("5000"), pays, partial=True)
    for bad in (["cash"], ["cheque:10"], ["cash:-1"], ["cash:1.001"], ["cash:nan"], ["cash:1e12"],
                ["cash:1", "cash:2"], []):
        with pytest.raises(InputError, match="--payment"):
            receipts.parse_payments(bad)


@given(st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2), min_size=1, max_size=3))
def test_any_split_of_the_sum_due_is_accepted(parts):
    kinds = ["cash", "card", "advance"][: len(parts)]
    pays = receipts.parse_payments([f"{k}:{v}" for k, v in zip(kinds, parts)])
    receipts.check_sale(sum(parts, Decimal(0)), Decimal(0), pays, partial=False)


def test_refund_never_more_than_paid():
    pays = receipts.parse_payments(["cash:600"])
    receipts.check_refund(Decimal(1000), Decimal(400), pays)
    with pytest.raises(InputError, match="more than was paid"):
        receipts.check_refund(Decimal(1000), Decimal(500), pays)


def test_bill_date_and_contacts():
    now = datetime(2023, 6, 21, 9, 48, 26, 123)
    assert receipts.bill_date(None, now) == "2023-06-21T09:48:26"
    assert receipts.bill_date("2023-06-21 09:48", now) == "2023-06-21T09:48:00"
    with pytest.raises(InputError, match="--date"):
        receipts.bill_date("21.06.2023", now)
    assert receipts.contact(None, "+7 (999) 123-45-67") == ("sms", "79991234567")
    assert receipts.contact("a@b.ru", None) == ("email", "a@b.ru")
    for email, phone in (("not-an-email", None), (None, "12345"), ("a@b.ru", "+79991234567")):
        with pytest.raises(InputError):
            receipts.contact(email, phone)
    assert normalise_phone("89991234567") == "79991234567" and normalise_phone("+44 20 7946 0958") is None


def test_catalog_rules():
    kept, incoming = {"name": "местное"}, {"name": "из МИС"}
    assert receipts.merged(kept, incoming, update=True) is incoming
    assert receipts.merged(kept, incoming, update=False) is kept
    assert receipts.merged(None, incoming, update=False) is incoming


def test_sms_codes():
    assert outcome_of(100, "OK").state == "sent"
    assert {outcome_of(c, "").state for c in (220, 500, 230, 231, 232)} == {"retry"}
    assert {outcome_of(c, "").state for c in (200, 301, 201, 206, 204, 221)} == {"account"}
    assert {outcome_of(c, "").state for c in (202, 207, 205, 209, 215, 216, 999)} == {"failed"}


def test_ereceipt_shows_what_54fz_asks_and_no_payer():
    receipt = {"total": "5000.00", "partial": 0}
    payments = receipts.payments_json("2023-06-21T09:48:26", 235, 1, "7f469ab8-bc96-11ec-9d45-00d861a563e9",
                                      receipts.parse_payments(["cash:1000", "card:4000"]))
    services = [{"name": "Приём <врача>", "price": "2000.00", "count": "1", "cost": "2000.00", "vat": "без НДС"},
                {"name": "Пломба", "price": "1500.00", "count": "2", "cost": "3000.00", "vat": "20%"}]
    parts = ereceipts.compose(receipt, payments, {"number": 6902}, services,
                              {"shop": "Клиника", "ogrn": "1025002039776", "cashdesk": "ККМ 1"})
    text = parts["body_text"]
    for words in ("Приход", "Клиника", "1025002039776", "ККМ 1", "Чек № 235", "21.06.2023 09:48", "без НДС",
                  "1 500,00 × 2 = 3 000,00", "ИТОГО: 5 000,00", "наличными: 1 000,00", "безналичными: 4 000,00"):
        assert words in text
    assert "&lt;врача&gt;" in parts["body_html"] and len(parts["sms_text"]) <= 140
    assert "235" in parts["sms_text"] and "5 000,00" in parts["sms_text"]


def test_settings_name_the_variable():
    config = settings.read(Env(BASE))
    assert config.zero_vat_as_no_vat and config.retention_days == 30 and config.smtp is None and config.sms is None
    for name, value, words in (("MIS_OGRN", "12", "MIS_OGRN"), ("MIS_OID", "abc", "MIS_OID"),
                               ("MIS_CASHDESK_GUID", "x", "MIS_CASHDESK_GUID"), ("MIS_RETENTION_DAYS", "-1",
                                                                                 "MIS_RETENTION_DAYS"),
                               ("MIS_UPDATE_PAYERS", "maybe", "MIS_UPDATE_PAYERS")):
        with pytest.raises(ConfigError, match=words):
            settings.read(Env(BASE | {name: value}))
    with pytest.raises(ConfigError, match="SMTP_FROM"):
        settings.read(Env(BASE | {"SMTP_HOST": "smtp.example"}))
    with pytest.raises(ConfigError, match="clear text"):
        settings.read(Env(BASE | {"SMTP_HOST": "smtp.example", "SMTP_FROM": "a@b.ru", "SMTP_USER": "u",
                                  "SMTP_PASSWORD": "p", "SMTP_STARTTLS": "no"}))
    implicit = settings.read(Env(BASE | {"SMTP_HOST": "smtp.example", "SMTP_FROM": "a@b.ru", "SMTP_TLS": "implicit"}))
    assert implicit.smtp.port == 465 and implicit.smtp.implicit_tls and not implicit.smtp.starttls
    sms = settings.read(Env(BASE | {"SMS_API_ID": "key-1234"}))
    assert sms.sms.url == "https://sms.ru/sms/send" and "key-1234" not in repr(sms)
