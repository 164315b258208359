"""Issue 16 point 2 (and 5, 7): every value misbridge reads from a remote — a ТМ:МИС invoice, a
Receive/Pay reply, an sms.ru reply — gives the right outcome and never a traceback (hypothesis)."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maorders.errors import RefusedError
from maorders.http import Retryable
from misbridge import replies
from misbridge.emulator import MisEmulator, service
from misbridge.mis import BadInvoice, Invoice, Reply, invoice_list, parse_invoice, reply_of
from misbridge.sms import SmsClient, SmsOutcome

SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**30, max_value=10**400)
           | st.integers(max_value=-10**30, min_value=-10**400) | st.floats() | st.text(max_size=40))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
BODIES = (st.binary(max_size=200) | VALUES.map(lambda v: json.dumps(v).encode())
          | st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)
          | st.integers(1, 200_000).map(lambda n: b"[" * n)
          | st.sampled_from([b"NaN", b"{\"Result\": Infinity}", b"\"\\ud800\"", b"\xff\xfe{", b"1" * 5000]))
INVOICE = MisEmulator().add_invoice(814, [service("B01.065.008", 2000, tax="0%")])
FIELDS = sorted(k for k in INVOICE if k != "services")
SERVICE_FIELDS = sorted(INVOICE["services"][0])
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def response(status: int, body: bytes) -> requests.Response:
    made = requests.Response()
    made.status_code, made._content = status, body
    made.headers["Content-Type"] = "application/json"
    return made


def wire(invoice: dict) -> list:
    """The invoice as the MIS sends it, read back as the client reads a reply."""
    return invoice_list(response(200, json.dumps({"invoices": [invoice]}).encode()))


def _taken_or_named(raw: dict, field: str) -> None:
    try:
        parsed = parse_invoice(raw)
    except BadInvoice as exc:
        assert field in str(exc), (field, str(exc))
    else:
        assert isinstance(parsed, Invoice)
    json.loads(replies.stored(raw))  # «История МИС» keeps it (or a note that it could not)


@PROPERTY
@given(field=st.sampled_from(FIELDS), value=VALUES)
def test_point2_any_value_in_an_invoice_field_is_taken_or_rejected_naming_the_field(field, value):
    [raw] = wire(INVOICE | {field: value})
    _taken_or_named(raw, field)


@PROPERTY
@given(field=st.sampled_from(SERVICE_FIELDS), value=VALUES)
def test_point2_any_value_in_a_service_field_is_taken_or_rejected_naming_the_field(field, value):
    [raw] = wire(INVOICE | {"services": [INVOICE["services"][0] | {field: value}]})
    _taken_or_named(raw, f"services[0].{field}")


def test_point2_a_400_digit_count_is_a_bad_invoice_naming_the_field():
    for value in (10**400, -10**400, float("inf"), float("nan")):
        [raw] = wire(INVOICE | {"services": [INVOICE["services"][0] | {"count": value}]})
        try:
            parse_invoice(raw)
            raise AssertionError("taken")
        except BadInvoice as exc:
            assert str(exc).startswith("invoice 814: services[0].count"), exc
    body = json.dumps({"invoices": [INVOICE]}).replace('"paySum": 2000', '"paySum": ' + "9" * 5000).encode()
    [raw] = invoice_list(response(200, body))  # past Python's own 4,300-digit limit too
    with pytest.raises(BadInvoice, match="^invoice 814: paySum"):
        parse_invoice(raw)
    assert "5000 characters" in replies.stored(raw)


@PROPERTY
@given(status=st.sampled_from([200, 400, 403, 404, 409]), body=BODIES)
def test_point2_any_receive_or_pay_reply_is_a_reply_or_a_malformed_one(status, body):
    try:
        reply = reply_of(response(status, body))
    except Retryable as exc:
        assert status == 200 and "malformed reply" in str(exc)
    except RefusedError as exc:
        assert status == 403 and "MIS_OGRN" in str(exc)
    else:
        assert isinstance(reply, Reply) and isinstance(reply.message, str) and len(reply.message) <= 1000
        assert reply.ok == (status == 200 and reply.result in (1, 2))


@PROPERTY
@given(body=BODIES)
def test_point2_any_invoices_reply_is_a_list_or_a_malformed_one(body):
    try:
        assert isinstance(invoice_list(response(200, body)), list)
    except Retryable as exc:
        assert "malformed reply" in str(exc)


@PROPERTY
@given(status=st.sampled_from([200, 201, 400, 404, 429, 500, 502, 503, 504]), body=BODIES,
       sms=VALUES, code=SCALARS)
def test_point2_any_sms_ru_reply_is_an_outcome(status, body, sms, code):
    client = SmsClient(requests.Session(), "http://127.0.0.1:9/sms/send", "key", None, 1)
    shaped = json.dumps({"status": "OK", "status_code": 100, "sms": {"79991234567": sms}}).encode()
    coded = json.dumps({"status": "ERROR", "status_code": code, "status_text": sms}).encode()
    for reply in (body, shaped, coded):
        outcome = client._read(response(status, reply), "79991234567")
        assert isinstance(outcome, SmsOutcome) and outcome.state in ("sent", "retry", "account", "failed", "unknown")
        assert len(outcome.text) <= 300
