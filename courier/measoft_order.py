"""The MeaSoft `neworder`/`editorder` order made from a RetailCRM order (shared/seeds 001,
002: MeaSoft's own RetailCRM module): the receiver, the address, the date and time window, the
items with price, VAT rate and weight, the places (packages) and the delivery price; cash on
delivery is what is left to pay when the payment type takes cash on delivery, otherwise
paytype NO and the value goes as declared value. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from maorders.i18n import _

import phonenumbers

from courier.rules import Rules
from courier.values import DATE, GRAMS_PER_KG, PAID, TIME, decimal_of, money, size_of, text_of

class Invalid(ValueError):
    """The CRM order cannot be sent as it is; the message names the field(s)."""


def measoft_order(order: dict[str, Any], orderno: str, rules: Rules) -> dict[str, Any]:
    """The MeaSoft `neworder`/`editorder` order for a CRM order; `Invalid` names what is wrong.

    Validation first: nothing is built, so nothing is sent, while any field is unusable.
    """
    problems: list[str] = []
    receiver = _receiver(order, problems)
    items = _items(order, problems)
    sums = _sums(order, problems)
    if problems:
        raise Invalid("; ".join(problems))
    goods = sum((Decimal(i["retprice"]) * Decimal(i["quantity"]) for i in items), Decimal(0))
    built: dict[str, Any] = {"orderno": orderno, "receiver": receiver}
    weight = _weight(order, items)
    if weight > 0:
        built["weight"] = money(weight, 3)
    packages = _packages(order)
    built["quantity"] = str(max(1, len(packages)))
    built.update(_payment(order, sums, goods, rules))
    comment = text_of(order.get("customerComment"))
    if comment:
        built["instruction"] = comment
    built["items"] = items + _prepayment(built, sums)
    if packages:
        built["packages"] = packages
    return built


def _receiver(order: dict[str, Any], problems: list[str]) -> dict[str, str]:
    person = " ".join(p for p in (text_of(order.get(k)) for k in ("lastName", "firstName", "patronymic")) if p)
    company = _company(order)
    if not person and not company:
        problems.append(_("field [receiver person] is empty"))
    phone = receiver_phone(order)
    if phone is None:
        problems.append(_("field [receiver phone] has no valid phone number"))
    delivery = order.get("delivery") if isinstance(order.get("delivery"), dict) else {}
    address = delivery.get("address") if isinstance(delivery.get("address"), dict) else {}
    town, street = text_of(address.get("city")), address_text(address)
    if not town:
        problems.append(_("field [receiver town] is empty"))
    if not street:
        problems.append(_("field [receiver address] is empty"))
    receiver = {"company": company, "person": person, "phone": phone or "",
                "zipcode": text_of(address.get("index")), "town": town, "address": street}
    receiver.update(_window(delivery, problems))
    return {k: v for k, v in receiver.items() if v}


def _company(order: dict[str, Any]) -> str:
    company = order.get("company")
    if isinstance(company, dict) and text_of(company.get("name")):
        return text_of(company["name"])
    contragent = order.get("contragent")
    if isinstance(contragent, dict) and contragent.get("contragentType") != "individual":
        return text_of(contragent.get("legalName"))
    return ""


def receiver_phone(order: dict[str, Any]) -> str | None:
    """The first valid phone of the order, as +7…; None when there is none."""
    candidates = [order.get("phone"), order.get("additionalPhone")]
    customer = order.get("customer")
    if isinstance(customer, dict) and isinstance(customer.get("phones"), list):
        candidates += [p.get("number") for p in customer["phones"] if isinstance(p, dict)]
    for raw in candidates:
        text = text_of(raw)
        if not text:
            continue
        try:
            number = phonenumbers.parse(text, "RU")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def address_text(address: dict[str, Any]) -> str:
    """The street address as one line: the CRM's text, else its parts."""
    text = text_of(address.get("text"))
    if text:
        return text
    parts = [("", address.get("street")), ("д. ", address.get("building") or address.get("house")),
             ("корп. ", address.get("housing")), ("кв. ", address.get("flat"))]
    return ", ".join(prefix + text_of(value) for prefix, value in parts if text_of(value))


def _window(delivery: dict[str, Any], problems: list[str]) -> dict[str, str]:
    window: dict[str, str] = {}
    date = text_of(delivery.get("date"))
    if date:
        if DATE.match(date):
            window["date"] = date
        else:
            problems.append(_("field [delivery date] is not a date (YYYY-MM-DD): {date}").format(date=repr(date)))
    time = delivery.get("time") if isinstance(delivery.get("time"), dict) else {}
    for key, tag in (("from", "time_min"), ("to", "time_max")):
        value = text_of(time.get(key))
        if value and TIME.match(value):
            window[tag] = value
        elif value:
            problems.append(_("field [delivery time {key}] is not a time (HH:MM): {value}").format(key=key, value=repr(value)))
    return window


def _items(order: dict[str, Any], problems: list[str]) -> list[dict[str, str]]:
    raw_items = order.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        problems.append(_("field [items] is empty: an order with no items cannot be sent"))
        return []
    items = []
    for index, raw in enumerate(raw_items, 1):
        if not isinstance(raw, dict):
            problems.append(_("field [items[{index}]] is not an item").format(index=index))
            continue
        item = _item(raw, index, problems)
        if item:
            items.append(item)
    return items


def _item(raw: dict[str, Any], index: int, problems: list[str]) -> dict[str, str] | None:
    where = f"items[{index}]"
    offer = raw.get("offer") if isinstance(raw.get("offer"), dict) else {}
    name = text_of(offer.get("name")) or text_of(raw.get("productName"))
    if not name:
        problems.append(_("field [{where}.name] is empty").format(where=where))
    quantity = decimal_of(raw.get("quantity", 1), f"{where}.quantity", problems)
    price = decimal_of(raw.get("initialPrice", 0), f"{where}.price", problems)
    discount = decimal_of(raw.get("discountTotal", 0), f"{where}.discount", problems)
    if quantity is not None and quantity <= 0:
        problems.append(_("field [{where}.quantity] must be more than 0, got {quantity}").format(where=where, quantity=quantity))
        return None
    if None in (quantity, price, discount):
        return None
    unit_price = price - discount
    if unit_price < 0:
        problems.append(_("field [{where}.price] is negative after discounts ({price})").format(where=where, price=unit_price))
        return None
    item = {"name": name, "extcode": text_of(offer.get("externalId")) or text_of(offer.get("xmlId"))
            or text_of(offer.get("id")) or text_of(raw.get("id")),
            "quantity": money(quantity, 3), "retprice": money(unit_price)}
    mass = size_of(raw.get("weight", offer.get("weight")))
    if mass:
        item["mass"] = money(mass / GRAMS_PER_KG, 3)
    vat = vat_rate(raw.get("vatRate"))
    if vat is not None:
        item["VATrate"] = vat
    return {k: v for k, v in item.items() if v != ""}


def vat_rate(value: Any) -> str | None:
    """RetailCRM's "20", "10.00", "0" → MeaSoft's whole-number VATrate; "none" (no VAT) is left
    out: the research found no MeaSoft code for «без НДС», so we do not invent one."""
    text = text_of(value)
    if not text or text.lower() == "none":
        return None
    try:
        return str(int(Decimal(text)))
    except (InvalidOperation, ValueError):
        return None


@dataclass(frozen=True)
class Sums:
    total: Decimal
    prepaid: Decimal
    delivery: Decimal


def _sums(order: dict[str, Any], problems: list[str]) -> Sums:
    delivery = order.get("delivery") if isinstance(order.get("delivery"), dict) else {}
    values = {}
    for key, where in (("totalSumm", "totalSumm"), ("prepaySum", "prepaySum")):
        values[key] = decimal_of(order.get(key, 0), where, problems)
    values["cost"] = decimal_of(delivery.get("cost", 0), "delivery.cost", problems)
    for key, value in values.items():
        if value is not None and value < 0:
            name = {"cost": "delivery.cost"}.get(key, key)
            problems.append(_("field [{name}] is negative ({value})").format(name=name, value=value))
    return Sums(*(values[k] if values[k] is not None and values[k] >= 0 else Decimal(0)
                  for k in ("totalSumm", "prepaySum", "cost")))


def _payment(order: dict[str, Any], sums: Sums, goods: Decimal, rules: Rules) -> dict[str, str]:
    """Cash on delivery: what is left to pay, when an unpaid payment takes cash on delivery.
    Otherwise paytype NO: MeaSoft collects nothing and the value goes as declared value."""
    left = sums.total - sums.prepaid
    cod_type = next((p.get("type") for p in payments_of(order)
                     if p.get("type") in rules.cod_payment_types and p.get("status") != PAID), None)
    declared = money(goods)
    if cod_type is None or left <= 0:
        return {"paytype": "NO", "inshprice": declared}
    by_crm_type = {crm: measoft for measoft, crm in rules.paytype_map.items()}
    return {"paytype": by_crm_type.get(cod_type, "CASH"), "price": money(left),
            "deliveryprice": money(sums.delivery), "inshprice": declared}


# The prepayment line's extcode: fixed, so an editorder finds its MeaSoft code and changes the
# line instead of adding a second one.
PREPAYMENT_EXTCODE = "prepayment"


def _prepayment(built: dict[str, Any], sums: Sums) -> list[dict[str, str]]:
    """What was prepaid, as MeaSoft's own module sends it: an item of type 4 («Предоплата
    (сумма)», semivan/measoft-api-client `CreateOrderItem`), quantity 1, a negative retprice,
    so that the items add up to the cash-on-delivery price the courier's 54-ФЗ receipt shows
    (MeaSoft's own `Measoft` PHP class, Bitrix «measoft.courier» module). Only when the
    courier collects cash: with paytype NO nothing is collected and no receipt is printed."""
    if built.get("paytype") in (None, "NO") or sums.prepaid <= 0:
        return []
    return [{"name": "Предоплата", "extcode": PREPAYMENT_EXTCODE, "type": "4", "quantity": "1",
             "retprice": money(-sums.prepaid)}]


def payments_of(order: dict[str, Any]) -> list[dict[str, Any]]:
    """An order's payments; RetailCRM sends an object keyed by id, or [] when there are none."""
    payments = order.get("payments")
    if isinstance(payments, dict):
        payments = list(payments.values())
    # anything else (a number, a string) is no payments: the order is read, never a crash
    return [p for p in payments if isinstance(p, dict)] if isinstance(payments, list) else []


def _weight(order: dict[str, Any], items: list[dict[str, str]]) -> Decimal:
    grams = size_of(order.get("weight"))
    if grams:
        return grams / GRAMS_PER_KG
    return sum((Decimal(i.get("mass", "0")) * Decimal(i["quantity"]) for i in items), Decimal(0))


def _packages(order: dict[str, Any]) -> list[dict[str, str]]:
    """Places: the packages of the order's delivery (the module counts places by packages)."""
    delivery = order.get("delivery") if isinstance(order.get("delivery"), dict) else {}
    data = delivery.get("data") if isinstance(delivery.get("data"), dict) else {}
    packages = data.get("packages") if isinstance(data.get("packages"), list) else []
    result = []
    for package in packages:
        if not isinstance(package, dict):
            continue
        built = {}
        grams = size_of(package.get("weight"))
        if grams:
            built["mass"] = money(grams / GRAMS_PER_KG, 3)
        for key in ("length", "width", "height"):
            size = size_of(package.get(key))  # centimetres; the same non-negative number check
            if size:
                built[key] = money(size)
        result.append(built)
    return result
