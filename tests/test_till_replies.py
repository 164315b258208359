"""Issue 16 for Megainsight: replies read as the real service may write them (point 8: a JWT
client_token, empty name or card, `offers: null`; `ensure_ascii` JSON), and hostile ones
(point 2b: NaN, Infinity, deep nesting, anything undecodable) → a malformed reply, 75, never a
traceback. Through the installed `maorders`, and a property over every reply parser."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import megainsight as mi
from loyalty_fixtures import CARD, LoyaltyCli, loyalty_cli, loyalty_env, megainsight  # noqa: F401

READERS = {"identify": (mi.read_identity, mi.Identity), "calculate": (mi.read_calculation, mi.Calculation),
           "confirm": (mi.read_operation, mi.Operation), "operations": (mi.read_operations, list),
           "refund": (mi.read_refund, mi.Refund)}


def test_issue16_point8_jwt_token_empty_name_and_card_null_offers(loyalty_cli, megainsight):
    app = megainsight.app
    app.token_length, app.null_offers, app.ascii_json = 512, True, True
    anonymous = app.add_client("", card="", balance="50.00")
    code, loyalty, err = loyalty_cli.sale("--code", app.issue_qr(anonymous), "--amount", "100.00",
                                          "--redeem", "max", "--receipt-number", "1681")
    assert code == 0, err
    assert loyalty["result"]["client"] == {"id": anonymous.id, "card": ""} and loyalty["result"]["points_redeemed"] == 50
    code, info, err = loyalty_cli.json("scan-qr", "--info", "--code", CARD)  # Cyrillic offers, \\u-escaped
    assert code == 0 and info["connectors"]["loyalty"]["result"]["offers"][0]["title"] == "АИ-95 по 52.90", err


HOSTILE = {"NaN": b'{"client_token": "ct", "client": {"id": "c"}, "balance": NaN, "offers": []}',
           "Infinity": b'{"client_token": "ct", "client": {"id": "c"}, "balance": -Infinity, "offers": []}',
           "nested": b"[" * 100_000 + b"]" * 100_000,
           "nested object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
           "not UTF-8": b'{"client_token": "\xff\xfe"}'}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_issue16_point2b_undecodable_identify_is_malformed_75(tmp_path, httpserver, name):
    httpserver.expect_request("/api/v3.2/clients/identify", method="POST").respond_with_data(
        HOSTILE[name], content_type="application/json")
    cli = LoyaltyCli(tmp_path, loyalty_env(tmp_path, httpserver.url_for("/api/v3.2")) | {"MEGAINSIGHT_BUDGET": "2"})
    code, loyalty, err = cli.sale("--code", CARD, "--amount", "5", "--receipt-number", "2601")
    assert code == 75 and "unreachable or failing" in loyalty["errors"][0], (loyalty, err[-1500:])
    assert "malformed reply" in cli.log_text() or "malformed reply" in loyalty["errors"][0]
    assert "Traceback" not in err and "Traceback" not in cli.log_text()


def _reply(content: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = 200, content
    response.headers["Content-Type"] = "application/json"
    return response


def _parse(what: str, content: bytes):
    reader, kind = READERS[what]
    try:
        value = mi._parser(what, reader)(_reply(content))
    except mi.Malformed:
        return None
    assert isinstance(value, kind)
    return value


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
                    | st.decimals(allow_nan=False, allow_infinity=False, places=2).map(float),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=16), inner, max_size=6),
                    max_leaves=15)
FIELDS = ("client_token", "client", "id", "name", "card", "balance", "offers", "kind", "title", "product_code",
          "product_name", "personal_price", "calculation_id", "lines", "code", "price", "amount", "discount",
          "points_redeemed", "max_redeem", "points_to_accrue", "total_to_pay", "operation_id", "points_accrued",
          "operations", "origin_id", "points_returned", "points_revoked")
SHAPED = st.recursive(JSON, lambda inner: st.dictionaries(st.sampled_from(FIELDS), inner, max_size=12), max_leaves=25)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(what=st.sampled_from(list(READERS)), value=SHAPED)
def test_issue16_point2b_any_json_value_is_read_or_malformed(what, value):
    _parse(what, json.dumps(value).encode())


@settings(max_examples=100, deadline=None)
@given(what=st.sampled_from(list(READERS)), content=st.binary(max_size=200),
       depth=st.integers(min_value=0, max_value=5_000))
def test_issue16_point2b_any_bytes_and_depth_are_read_or_malformed(what, content, depth):
    _parse(what, content)
    _parse(what, b"[" * depth + content + b"]" * depth)
    _parse(what, b'{"operations": ' * (depth // 10) + content)


def test_issue16_point2b_the_contracts_examples_still_read():
    identify = {"client_token": "ct_1", "expires_in": 300, "client": {"id": "c-881", "name": "Алексей",
                "card": "79093184923"}, "balance": 1520.00,
                "offers": [{"id": "of-1", "title": "АИ-95 по 52.90", "kind": "fuel", "product_code": "AI95",
                            "product_name": "АИ-95", "personal_price": 52.90}]}
    identity = _parse("identify", json.dumps(identify, ensure_ascii=True).encode())
    assert identity.balance == Decimal("1520.00") and identity.offers[0].title == "АИ-95 по 52.90"
    assert _parse("identify", json.dumps({**identify, "client_token": "x" * 513}).encode()) is None
