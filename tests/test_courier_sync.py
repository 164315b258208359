"""The courier rules (courier.sync) and the wire's parsing, without any I/O."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import defusedxml.ElementTree as SafeET
import pytest

from courier import sync
from courier.measoft import MeasoftRefused, order_element, parse_reply
from courier.retailcrm import envelope, error_words
from maorders.ratelimit import SharedRateLimiter
from maorders.errors import PermanentError, RefusedError
from maorders.http import Retryable

RULES = sync.Rules(delivery_types=("courier",), cod_payment_types=("cash", "bank-card"),
                   payment_status="paid", sync_payments=True)


def crm_order(**changes) -> dict:
    """An order as RetailCRM shows it (the emulator's default order, written out)."""
    order = {
        "id": 7, "number": "1007A", "site": "shop", "status": "SentMeaSoft",
        "firstName": "Иван", "lastName": "Петров", "patronymic": "Сергеевич",
        "phone": "8 (916) 123-45-67", "email": "ivan@example.com", "customerComment": 'Код домофона "12"',
        "items": [{"initialPrice": 450, "quantity": 2, "vatRate": "20", "weight": 150,
                   "offer": {"name": "Аспирин «Кардио»", "externalId": "sku-1001"}},
                  {"initialPrice": 100, "discountTotal": 10, "quantity": 1, "vatRate": "none",
                   "offer": {"name": "Бинт", "externalId": "sku-1002"}}],
        "delivery": {"code": "courier", "cost": 300, "date": "2030-01-02", "time": {"from": "10:00", "to": "18:00"},
                     "address": {"index": "125480", "city": "Москва", "text": "ул. Ленина, д. 1, кв. 2"}},
        "summ": 990, "totalSumm": 1290, "prepaySum": 0, "weight": 450,
        "payments": {"11": {"id": 11, "type": "cash", "status": "not-paid", "amount": 1290}},
    }
    for key, value in changes.items():
        order[key] = value
    return order


# ------------------------------------------------------------------ building the MeaSoft order
def test_measoft_order_carries_everything_the_module_sends():
    built = sync.measoft_order(crm_order(), "1007A", RULES)
    assert built["orderno"] == "1007A"
    assert built["receiver"] == {"person": "Петров Иван Сергеевич", "phone": "+79161234567", "zipcode": "125480",
                                 "town": "Москва", "address": "ул. Ленина, д. 1, кв. 2", "date": "2030-01-02",
                                 "time_min": "10:00", "time_max": "18:00"}
    assert built["items"] == [
        {"name": "Аспирин «Кардио»", "extcode": "sku-1001", "quantity": "2", "retprice": "450", "mass": "0.15",
         "VATrate": "20"},
        {"name": "Бинт", "extcode": "sku-1002", "quantity": "1", "retprice": "90"}]  # no VAT: left out
    assert (built["paytype"], built["price"], built["deliveryprice"]) == ("CASH", "1290", "300")
    assert built["inshprice"] == "990" and built["weight"] == "0.45" and built["quantity"] == "1"
    assert built["instruction"] == 'Код домофона "12"'


def test_cash_on_delivery_is_what_is_left_to_pay():
    order = crm_order(prepaySum=290, payments=[{"id": 1, "type": "bank-card", "status": "paid", "amount": 290},
                                               {"id": 2, "type": "cash", "status": "not-paid", "amount": 1000}])
    built = sync.measoft_order(order, "1007A", RULES)
    assert (built["paytype"], built["price"], built["inshprice"]) == ("CASH", "1000", "990")


def test_card_on_delivery_uses_the_paytype_map():
    order = crm_order(payments=[{"id": 1, "type": "bank-card", "status": "not-paid", "amount": 1290}])
    assert sync.measoft_order(order, "1", RULES)["paytype"] == "CARD"


@pytest.mark.parametrize("payments, prepaid", [
    ([{"id": 1, "type": "e-money", "status": "not-paid"}], 0),   # paid on the site: not cash on delivery
    ([{"id": 1, "type": "cash", "status": "paid"}], 1290),       # nothing left to pay
    ([], 0),                                                     # no payment at all
])
def test_no_cash_on_delivery_sends_paytype_no_and_the_declared_value(payments, prepaid):
    built = sync.measoft_order(crm_order(payments=payments, prepaySum=prepaid), "1", RULES)
    assert built["paytype"] == "NO" and built["inshprice"] == "990"
    assert "price" not in built and "deliveryprice" not in built


def test_places_come_from_the_packages():
    order = crm_order()
    order["delivery"]["data"] = {"packages": [{"weight": 1000, "length": 10, "width": 20, "height": 30},
                                              {"weight": 500}]}
    built = sync.measoft_order(order, "1", RULES)
    assert built["quantity"] == "2"
    assert built["packages"] == [{"mass": "1", "length": "10", "width": "20", "height": "30"}, {"mass": "0.5"}]


def test_address_from_parts_and_company_receiver():
    order = crm_order(firstName=None, lastName=None, patronymic=None, company={"name": 'ООО "Ромашка"'})
    order["delivery"]["address"] = {"city": "Казань", "street": "ул. Баумана", "building": "5", "flat": "12"}
    receiver = sync.measoft_order(order, "1", RULES)["receiver"]
    assert receiver["company"] == 'ООО "Ромашка"' and "person" not in receiver
    assert receiver["address"] == "ул. Баумана, д. 5, кв. 12"


@pytest.mark.parametrize("phone", ["12345", "", None, "+7 000 000 00 00", "not a phone"])
def test_a_receiver_phone_that_is_not_valid_is_refused_with_the_modules_words(phone):
    with pytest.raises(sync.Invalid, match=r"^field \[receiver phone\] has no valid phone number$"):
        sync.measoft_order(crm_order(phone=phone), "1", RULES)


def test_an_additional_phone_is_used_when_the_main_one_is_missing():
    built = sync.measoft_order(crm_order(phone="", additionalPhone="+7 903 111-22-33"), "1", RULES)
    assert built["receiver"]["phone"] == "+79031112233"


@pytest.mark.parametrize("change, words", [
    ({"items": []}, r"field \[items\] is empty"),
    ({"totalSumm": -5}, r"field \[totalSumm\] is negative"),
    ({"prepaySum": -1}, r"field \[prepaySum\] is negative"),
    ({"items": [{"initialPrice": -10, "quantity": 1, "offer": {"name": "x"}}]}, r"field \[items\[1\]\.price\]"),
    ({"items": [{"initialPrice": 10, "quantity": 0, "offer": {"name": "x"}}]}, r"items\[1\]\.quantity"),
    ({"items": [{"initialPrice": "дорого", "quantity": 1, "offer": {"name": "x"}}]}, r"items\[1\]\.price\] is not a number"),
    ({"items": [{"initialPrice": 10, "quantity": 1, "offer": {}}]}, r"items\[1\]\.name\] is empty"),
    ({"firstName": "", "lastName": "", "patronymic": ""}, r"field \[receiver person\] is empty"),
])
def test_bad_orders_are_refused_naming_the_field(change, words):
    with pytest.raises(sync.Invalid, match=words):
        sync.measoft_order(crm_order(**change), "1", RULES)


def test_no_address_no_town_negative_delivery_cost_all_named_at_once():
    order = crm_order()
    order["delivery"] = {"code": "courier", "cost": -300, "address": {}}
    with pytest.raises(sync.Invalid) as caught:
        sync.measoft_order(order, "1", RULES)
    message = str(caught.value)
    for words in ("[receiver town] is empty", "[receiver address] is empty", "[delivery.cost] is negative"):
        assert words in message


def test_bad_delivery_window_is_named():
    order = crm_order()
    order["delivery"]["date"] = "02.01.2030"
    with pytest.raises(sync.Invalid, match=r"field \[delivery date\]"):
        sync.measoft_order(order, "1", RULES)


# ------------------------------------------------------------------ decisions
NEW = sync.ShipmentView("sent", "1007A", "NEW")
IN_WORK = sync.ShipmentView("sent", "1007A", "DELIVERY")


def test_own_changes_are_echoes():
    assert sync.is_own({"apiKey": {"current": True}})
    assert not sync.is_own({"apiKey": {"current": False}})
    assert not sync.is_own({"source": "user"})


def test_send_when_status_and_delivery_type_match():
    assert sync.decide(None, crm_order(), {"status"}, RULES, "1007A").action == "send"
    assert sync.decide(None, crm_order(status="new"), {"status"}, RULES, "1").action == "none"
    other = crm_order()
    other["delivery"]["code"] = "pickup"
    assert sync.decide(None, other, {"status"}, RULES, "1").action == "none"


def test_invalid_orders_are_rejected_not_sent():
    decision = sync.decide(None, crm_order(phone="123"), {"status"}, RULES, "1")
    assert (decision.action, decision.message) == ("reject", "field [receiver phone] has no valid phone number")


def test_a_rejected_or_cancelled_shipment_is_sent_again_once_fixed():
    for state in ("rejected", "cancelled"):
        shipment = sync.ShipmentView(state, "1007A", None)
        assert sync.decide(shipment, crm_order(), {"phone"}, RULES, "1007A-2").action == "send"


def test_delivery_type_changed_away():
    away = crm_order()
    away["delivery"]["code"] = "russian-post"
    assert sync.decide(NEW, away, {"delivery_type"}, RULES, "1").action == "cancel"
    assert sync.decide(sync.ShipmentView("queued", "1", None), away, set(), RULES, "1").action == "cancel"
    refused = sync.decide(IN_WORK, away, {"delivery_type"}, RULES, "1")
    assert refused.action == "refuse_cancel" and "already in work" in refused.message
    assert "cannot be cancelled" in refused.message


def test_field_changes_are_edits_while_not_in_work():
    decision = sync.decide(NEW, crm_order(phone="+79031112233"), {"phone"}, RULES, "ignored")
    assert decision.action == "edit" and decision.order["orderno"] == "1007A"
    assert decision.order["receiver"]["phone"] == "+79031112233"
    assert sync.decide(NEW, crm_order(), {"manager_comment", "status"}, RULES, "1").action == "none"
    refused = sync.decide(IN_WORK, crm_order(), {"order_product", "phone"}, RULES, "1")
    assert refused.action == "refuse_edit" and "order_product, phone" in refused.message
    assert sync.decide(NEW, crm_order(phone=""), {"phone"}, RULES, "1").action == "reject"


def test_status_map_keeps_unknown_codes():
    assert sync.crm_status("COMPLETE", RULES) == "complete"
    assert sync.crm_status("DELIVERY", RULES) is None
    assert sync.crm_status("TELEPORTED", RULES) is None
    assert sync.is_known_status("PARTLYRETURNED") and not sync.is_known_status("TELEPORTED")


# ------------------------------------------------------------------ payments
OURS = sync.payment_external_id("1007A")


def plan(status="COMPLETE", paytype="CASH", price="1290", payments=None, rules=RULES):
    payments = [{"id": 11, "type": "cash", "status": "not-paid", "amount": 1290}] if payments is None else payments
    return sync.payment_plan(status, paytype, Decimal(price), payments, rules, "1007A")


def test_a_different_payment_type_replaces_the_crm_payment():
    result = plan(paytype="CARD", price="1290")
    assert [a.kind for a in result.actions] == ["delete", "create"]
    assert result.actions[0].ident == "11"
    assert result.actions[1].fields == {"externalId": OURS, "type": "bank-card", "amount": 1290, "status": "paid",
                                        "comment": "MeaSoft: collected by the courier"}


def test_same_type_delivered_sets_the_payment_status():
    result = plan()
    assert [(a.kind, a.ident, a.by, a.fields) for a in result.actions] == [("edit", "11", "id", {"status": "paid"})]


def test_partial_delivery_sum_follows_what_was_collected():
    result = plan(status="PARTIALLY", price="450")
    assert result.actions[0].fields == {"amount": 450, "status": "paid"}


def test_our_own_payment_is_edited_by_its_external_id_never_created_twice():
    ours = {"id": 12, "type": "bank-card", "status": "not-paid", "amount": 1290, "externalId": OURS}
    result = plan(paytype="CASH", payments=[ours])
    assert [(a.kind, a.ident, a.by) for a in result.actions] == [("edit", OURS, "externalId")]
    assert result.actions[0].fields == {"type": "cash", "status": "paid"}
    done = dict(ours, type="cash", status="paid")
    assert plan(paytype="CASH", payments=[done]).actions == ()


def test_paid_already_or_nothing_to_do():
    assert plan(payments=[{"id": 11, "type": "cash", "status": "paid", "amount": 1290}]).note  # collected twice?
    assert plan(status="DELIVERY").actions == ()
    assert plan(rules=sync.Rules(sync_payments=False)).actions == ()


def test_prepaid_order_delivered_settles_the_one_payment_left():
    result = plan(paytype="NO", price="0", payments=[{"id": 11, "type": "e-money", "status": "not-paid"}])
    assert [(a.kind, a.fields) for a in result.actions] == [("edit", {"status": "paid"})]


def test_several_unpaid_payments_need_a_person():
    two = [{"id": 1, "type": "cash", "status": "not-paid"}, {"id": 2, "type": "cash", "status": "not-paid"}]
    result = plan(payments=two)
    assert result.actions == () and "2 unpaid payments" in result.note


def test_no_payment_at_all_gets_ours():
    assert [a.kind for a in plan(payments=[]).actions] == ["create"]


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("value, text", [(Decimal("387.50"), "387.5"), (1200, "1200"), (Decimal("0.1505"), "0.15"),
                                         (Decimal("1E+3"), "1000")])
def test_money_is_dot_decimal_without_exponent(value, text):
    assert sync.money(value) == text


def test_vat_rates():
    assert [sync.vat_rate(v) for v in ("20", "10.00", "0", "none", None, "x")] == ["20", "10", "0", None, None, None]


# ------------------------------------------------------------------ the MeaSoft wire, parsing only
def test_order_xml_escapes_cyrillic_quotes_and_markup():
    order = sync.measoft_order(crm_order(customerComment='<b>"Осторожно" & \'тихо\'</b>'), "1007A", RULES)
    xml = SafeET.tostring(order_element(order), encoding="unicode")
    back = SafeET.fromstring(xml)
    assert back.findtext("instruction") == '<b>"Осторожно" & \'тихо\'</b>'
    assert back.find("items/item").text == "Аспирин «Кардио»"
    assert back.find("receiver/person").text == "Петров Иван Сергеевич"


def test_edit_xml_addresses_items_by_measoft_code():
    order = sync.measoft_order(crm_order(), "1007A", RULES)
    element = order_element(order, {"sku-1001": "34001"}, edit=True)
    assert [i.get("code") for i in element.findall("items/item")] == ["34001", None]


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><statusreq>&b;</statusreq>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><statusreq>&x;</statusreq>',
    b"<statusreq count='1'><order orderno='1'><status>NE",
    b"<html><body>Bad gateway</body></html>",
    b"",
])
def test_hostile_truncated_or_foreign_replies_are_malformed(body):
    with pytest.raises(Retryable, match="malformed reply"):
        parse_reply(body, "statusreq")


def test_huge_replies_are_malformed_before_parsing():
    with pytest.raises(Retryable, match="more than any reply"):
        parse_reply(b"<statusreq>" + b" " * (33 * 1024 * 1024) + b"</statusreq>", "statusreq")


def test_request_errors_at_root_and_child():
    with pytest.raises(RefusedError, match="MEASOFT_LOGIN"):
        parse_reply(b'<neworder error="1" errormsg="Authorization error"/>', "neworder")
    with pytest.raises(RefusedError):
        parse_reply('<statusreq error="25" errormsgru="Ошибка авторизации"/>'.encode(), "statusreq")
    with pytest.raises(Retryable, match="error 33"):
        parse_reply(b'<statusreq><error error="33" errormsg="Connection error"/></statusreq>', "statusreq")
    with pytest.raises(MeasoftRefused, match="XML syntax error: bad tag") as caught:
        parse_reply(b"<cancelorder><error>bad tag</error></cancelorder>", "cancelorder")
    assert caught.value.code == "0"
    with pytest.raises(MeasoftRefused, match="Unknown function"):
        parse_reply(b'<error error="14" errormsg="Unknown function"/>', "editorder")


def test_item_errors_are_results_not_exceptions():
    root = parse_reply('<neworder><createorder orderno="1" error="17" errormsg="exists" errormsgru="есть"/>'
                       '</neworder>'.encode(), "neworder")
    assert root.find("createorder").get("error") == "17"


# ------------------------------------------------------------------ the RetailCRM wire, parsing only
class Reply:
    def __init__(self, body: bytes, status: int = 200):
        self.content, self.status_code = body, status


def test_html_instead_of_json_is_malformed():
    with pytest.raises(Retryable, match="HTML instead of JSON"):
        envelope(Reply(b"\n<html><head><title>503</title></head></html>"), "orders")
    with pytest.raises(Retryable, match="not JSON"):
        envelope(Reply(b'{"success": tr'), "orders")


def test_errors_as_object_and_as_list():
    as_object = {"success": False, "errorMsg": "Errors in the entity format", "errors": {"status": "Not valid"}}
    as_list = dict(as_object, errors=["status: Not valid", "site: Wrong"])
    assert error_words(as_object) == "Errors in the entity format — status: Not valid"
    assert error_words(as_list) == "Errors in the entity format — status: Not valid — site: Wrong"
    with pytest.raises(PermanentError, match="status: Not valid"):
        envelope(Reply(json.dumps(as_object).encode()), "order edit")


def test_the_limiter_dates_a_call_by_its_reply_and_shares_its_window(tmp_path):
    window = tmp_path / "locks" / "j.retailcrm-rate.json"
    first, second = SharedRateLimiter(window, 10), SharedRateLimiter(window, 10)  # two processes
    first.wait()
    flying = json.loads(window.read_text())
    assert len(flying) == 1 and flying[0][2] is True            # in flight: holds its place
    first.replied(None)
    answered = json.loads(window.read_text())
    assert answered[0][0] >= flying[0][0] and answered[0][2] is False
    second.wait()
    second.wait()                  # a call with no reply at all is dated when the next starts
    assert len(json.loads(window.read_text())) == 3
    window.write_text("{broken")   # a process killed mid-write: the window starts afresh
    first.wait()
    assert len(json.loads(window.read_text())) == 1


def test_rules_copy_is_independent():
    rules = copy.deepcopy(RULES)
    assert rules == RULES
