"""The courier rules: pure functions of a RetailCRM order, the journal's shipment and settings.

No I/O here. Sources (shared/seeds 001, 002: MeaSoft's own RetailCRM module; shared/research/
courier_apis.md for both APIs):
- an order goes to MeaSoft when its status is in COURIER_SEND_STATUSES and its delivery type
  in COURIER_DELIVERY_TYPES (the module's trigger); our own API changes never trigger anything;
- the receiver, the address, the date and time window, the items with price, VAT rate and
  weight, the places (packages) and the delivery price are sent; cash on delivery is what is
  left to pay when the payment type takes cash on delivery, otherwise paytype NO and the value
  goes as declared value;
- a delivery type changed away cancels the MeaSoft order while it is NEW or AWAITING_SYNC;
- field changes (the module's trigger list) go to MeaSoft with `editorder` while the order is
  NEW or AWAITING_SYNC;
- MeaSoft's status maps to a CRM status (COURIER_STATUS_MAP); with COURIER_SYNC_PAYMENTS the
  CRM payment follows MeaSoft's payment type and sum, and a delivered order's last payment gets
  COURIER_PAYMENT_STATUS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Iterable

import phonenumbers

# MeaSoft statuses in which an order is not yet in work: it may still be changed or cancelled.
NOT_IN_WORK = ("NEW", "AWAITING_SYNC")
# Final delivered statuses: the money is collected, the payment is settled (COURIER… are
# preliminary, confirmed later by COMPLETE/PARTIALLY: we wait for the confirmation).
DELIVERED = ("COMPLETE", "PARTIALLY")
# Every code MeaSoft documents (research 1.8); others are kept and shown, never refused.
KNOWN_STATUSES = (
    "AWAITING_SYNC", "NEW", "NEWPICKUP", "PICKUP", "WMSASSEMBLED", "WMSDISASSEMBLED", "ACCEPTED",
    "CUSTOMSPROCESS", "CUSTOMSFINISHED", "CONFIRM", "UNCONFIRM", "DEPARTURING", "DEPARTURE",
    "INVENTORY", "PICKUPREADY", "DELIVERY", "COURIERDELIVERED", "COURIERPARTIALLY",
    "COURIERCANCELED", "COURIERRETURN", "DATECHANGE", "COMPLETE", "PARTIALLY", "CANCELED",
    "RETURNING", "RETURNED", "LOST", "PARTLYRETURNING", "PARTLYRETURNED", "TRANSACCEPTED",
    "PICKUPTRANS",
)
# History fields whose change is passed to MeaSoft: the seed's trigger list (snake_case as the
# feed names them), plus the delivery address and cost, which MeaSoft's order also carries.
EDIT_FIELDS = frozenset({
    "first_name", "last_name", "patronymic", "phone", "site", "additional_phone", "email",
    "customer.phones", "order_product", "total_summ", "delivery_date", "delivery_time",
    "payments", "prepay_sum", "weight", "length", "width", "height", "payments.id",
    "payments.status", "payments.type", "payments.external_id", "payments.amount",
    "payments.paid_at", "payments.comment", "discount_manual_amount", "discount_manual_percent",
    "delivery_address", "delivery_cost",
})
PAID = "paid"  # RetailCRM's standard payment status code for money received
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}$")
GRAMS_PER_KG = Decimal(1000)


@dataclass(frozen=True)
class Rules:
    """The settings the rules read (a subset of CourierSettings, so tests need no URLs)."""

    send_statuses: tuple[str, ...] = ("SentMeaSoft",)
    delivery_types: tuple[str, ...] = ("outcity", "incity")
    status_map: dict[str, str] = field(default_factory=lambda: {"COMPLETE": "complete",
                                                                 "CANCELED": "cancel-other"})
    cod_payment_types: tuple[str, ...] = ("cash",)
    paytype_map: dict[str, str] = field(default_factory=lambda: {"CASH": "cash", "CARD": "bank-card"})
    payment_status: str | None = None
    sync_payments: bool = False
    site: str | None = None

    @classmethod
    def of(cls, settings: Any) -> "Rules":
        return cls(settings.send_statuses, settings.delivery_types, dict(settings.status_map),
                   settings.cod_payment_types, dict(settings.paytype_map), settings.payment_status,
                   settings.sync_payments, settings.retailcrm_site)


class Invalid(ValueError):
    """The CRM order cannot be sent as it is; the message names the field(s)."""


# ------------------------------------------------------------------ the history feed
def is_own(record: dict[str, Any]) -> bool:
    """A change made with our own API key: an echo of what we did, never a trigger."""
    api_key = record.get("apiKey")
    return isinstance(api_key, dict) and api_key.get("current") is True


def changed_fields(records: Iterable[dict[str, Any]]) -> set[str]:
    return {str(r.get("field")) for r in records if r.get("field")}


def wants_courier(order: dict[str, Any], rules: Rules) -> bool:
    return delivery_code(order) in rules.delivery_types


def ready_to_send(order: dict[str, Any], rules: Rules) -> bool:
    """The module's send trigger: a send status and a courier delivery type."""
    return order.get("status") in rules.send_statuses and wants_courier(order, rules)


def delivery_code(order: dict[str, Any]) -> str | None:
    delivery = order.get("delivery")
    return delivery.get("code") if isinstance(delivery, dict) else None


# ------------------------------------------------------------------ what to do with an order
@dataclass(frozen=True)
class Decision:
    """What pull-orders does with one CRM order after its changes.

    action: send | edit | cancel | reject | refuse_cancel | refuse_edit | none
    """

    action: str
    message: str = ""
    order: dict[str, Any] | None = None  # the MeaSoft order to send (send, edit)


@dataclass(frozen=True)
class ShipmentView:
    """What the rules need to know of a shipment in the journal."""

    state: str  # queued | sent | rejected | cancelling | cancelled
    orderno: str
    measoft_status: str | None  # last status MeaSoft reported, None before the first poll

    @property
    def active(self) -> bool:
        return self.state in ("queued", "sent")

    @property
    def in_work(self) -> bool:
        return self.measoft_status is not None and self.measoft_status not in NOT_IN_WORK


def decide(shipment: ShipmentView | None, order: dict[str, Any] | None, fields: set[str],
           rules: Rules, orderno: str) -> Decision:
    """The one decision per order and batch of (not our own) history records."""
    if shipment is None or not shipment.active:
        if order is None or not ready_to_send(order, rules):
            return Decision("none")
        return _send_or_reject("send", order, orderno, rules)
    if order is None or not wants_courier(order, rules):
        if shipment.in_work:
            return Decision("refuse_cancel", f"MeaSoft order {shipment.orderno} is already in work "
                                             f"({shipment.measoft_status}), cannot be cancelled")
        return Decision("cancel")
    if not fields & EDIT_FIELDS:
        return Decision("none")
    if shipment.in_work:
        return Decision("refuse_edit", f"MeaSoft order {shipment.orderno} is already in work "
                                       f"({shipment.measoft_status}); the change of "
                                       f"{', '.join(sorted(fields & EDIT_FIELDS))} was not passed on")
    return _send_or_reject("edit", order, shipment.orderno, rules)


def _send_or_reject(action: str, order: dict[str, Any], orderno: str, rules: Rules) -> Decision:
    try:
        return Decision(action, order=measoft_order(order, orderno, rules))
    except Invalid as exc:
        return Decision("reject", str(exc))


# ------------------------------------------------------------------ building the MeaSoft order
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
    comment = _text(order.get("customerComment"))
    if comment:
        built["instruction"] = comment
    built["items"] = items
    if packages:
        built["packages"] = packages
    return built


def _receiver(order: dict[str, Any], problems: list[str]) -> dict[str, str]:
    person = " ".join(p for p in (_text(order.get(k)) for k in ("lastName", "firstName", "patronymic")) if p)
    company = _company(order)
    if not person and not company:
        problems.append("field [receiver person] is empty")
    phone = receiver_phone(order)
    if phone is None:
        problems.append("field [receiver phone] has no valid phone number")
    delivery = order.get("delivery") if isinstance(order.get("delivery"), dict) else {}
    address = delivery.get("address") if isinstance(delivery.get("address"), dict) else {}
    town, street = _text(address.get("city")), address_text(address)
    if not town:
        problems.append("field [receiver town] is empty")
    if not street:
        problems.append("field [receiver address] is empty")
    receiver = {"company": company, "person": person, "phone": phone or "",
                "zipcode": _text(address.get("index")), "town": town, "address": street}
    receiver.update(_window(delivery, problems))
    return {k: v for k, v in receiver.items() if v}


def _company(order: dict[str, Any]) -> str:
    company = order.get("company")
    if isinstance(company, dict) and _text(company.get("name")):
        return _text(company["name"])
    contragent = order.get("contragent")
    if isinstance(contragent, dict) and contragent.get("contragentType") != "individual":
        return _text(contragent.get("legalName"))
    return ""


def receiver_phone(order: dict[str, Any]) -> str | None:
    """The first valid phone of the order, as +7…; None when there is none."""
    candidates = [order.get("phone"), order.get("additionalPhone")]
    customer = order.get("customer")
    if isinstance(customer, dict) and isinstance(customer.get("phones"), list):
        candidates += [p.get("number") for p in customer["phones"] if isinstance(p, dict)]
    for raw in candidates:
        text = _text(raw)
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
    text = _text(address.get("text"))
    if text:
        return text
    parts = [("", address.get("street")), ("д. ", address.get("building") or address.get("house")),
             ("корп. ", address.get("housing")), ("кв. ", address.get("flat"))]
    return ", ".join(prefix + _text(value) for prefix, value in parts if _text(value))


def _window(delivery: dict[str, Any], problems: list[str]) -> dict[str, str]:
    window: dict[str, str] = {}
    date = _text(delivery.get("date"))
    if date:
        if _DATE.match(date):
            window["date"] = date
        else:
            problems.append(f"field [delivery date] is not a date (YYYY-MM-DD): {date!r}")
    time = delivery.get("time") if isinstance(delivery.get("time"), dict) else {}
    for key, tag in (("from", "time_min"), ("to", "time_max")):
        value = _text(time.get(key))
        if value and _TIME.match(value):
            window[tag] = value
        elif value:
            problems.append(f"field [delivery time {key}] is not a time (HH:MM): {value!r}")
    return window


def _items(order: dict[str, Any], problems: list[str]) -> list[dict[str, str]]:
    raw_items = order.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        problems.append("field [items] is empty: an order with no items cannot be sent")
        return []
    items = []
    for index, raw in enumerate(raw_items, 1):
        if not isinstance(raw, dict):
            problems.append(f"field [items[{index}]] is not an item")
            continue
        item = _item(raw, index, problems)
        if item:
            items.append(item)
    return items


def _item(raw: dict[str, Any], index: int, problems: list[str]) -> dict[str, str] | None:
    where = f"items[{index}]"
    offer = raw.get("offer") if isinstance(raw.get("offer"), dict) else {}
    name = _text(offer.get("name")) or _text(raw.get("productName"))
    if not name:
        problems.append(f"field [{where}.name] is empty")
    quantity = _number(raw.get("quantity", 1), f"{where}.quantity", problems)
    price = _number(raw.get("initialPrice", 0), f"{where}.price", problems)
    discount = _number(raw.get("discountTotal", 0), f"{where}.discount", problems)
    if quantity is not None and quantity <= 0:
        problems.append(f"field [{where}.quantity] must be more than 0, got {quantity}")
        return None
    if None in (quantity, price, discount):
        return None
    unit_price = price - discount
    if unit_price < 0:
        problems.append(f"field [{where}.price] is negative after discounts ({unit_price})")
        return None
    item = {"name": name, "extcode": _text(offer.get("externalId")) or _text(offer.get("xmlId"))
            or _text(offer.get("id")) or _text(raw.get("id")),
            "quantity": money(quantity, 3), "retprice": money(unit_price)}
    mass = _grams(raw.get("weight", offer.get("weight")))
    if mass:
        item["mass"] = money(mass / GRAMS_PER_KG, 3)
    vat = vat_rate(raw.get("vatRate"))
    if vat is not None:
        item["VATrate"] = vat
    return {k: v for k, v in item.items() if v != ""}


def vat_rate(value: Any) -> str | None:
    """RetailCRM's "20", "10.00", "0" → MeaSoft's whole-number VATrate; "none" (no VAT) is left
    out: the research found no MeaSoft code for «без НДС», so we do not invent one."""
    text = _text(value)
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
        values[key] = _number(order.get(key, 0), where, problems)
    values["cost"] = _number(delivery.get("cost", 0), "delivery.cost", problems)
    for key, value in values.items():
        if value is not None and value < 0:
            name = {"cost": "delivery.cost"}.get(key, key)
            problems.append(f"field [{name}] is negative ({value})")
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


def payments_of(order: dict[str, Any]) -> list[dict[str, Any]]:
    """An order's payments; RetailCRM sends an object keyed by id, or [] when there are none."""
    payments = order.get("payments")
    if isinstance(payments, dict):
        payments = list(payments.values())
    return [p for p in payments or [] if isinstance(p, dict)]


def _weight(order: dict[str, Any], items: list[dict[str, str]]) -> Decimal:
    grams = _grams(order.get("weight"))
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
        grams = _grams(package.get("weight"))
        if grams:
            built["mass"] = money(grams / GRAMS_PER_KG, 3)
        for key in ("length", "width", "height"):
            size = _grams(package.get(key))  # centimetres; the same non-negative number check
            if size:
                built[key] = money(size)
        result.append(built)
    return result


# ------------------------------------------------------------------ statuses back to the CRM
def crm_status(code: str, rules: Rules) -> str | None:
    """The CRM status for a MeaSoft status, None when COURIER_STATUS_MAP has none."""
    return rules.status_map.get(code)


def is_known_status(code: str) -> bool:
    return code in KNOWN_STATUSES


@dataclass(frozen=True)
class PaymentAction:
    """One change to the CRM order's payments.

    kind: delete (ident = CRM payment id) | create (fields) | edit (ident, by, fields)
    """

    kind: str
    ident: str = ""
    by: str = "id"
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentPlan:
    actions: tuple[PaymentAction, ...] = ()
    note: str = ""  # for a person: what the rules would not decide alone


def payment_external_id(orderno: str) -> str:
    """The externalId of the payment we create for a shipment: one per shipment, ever."""
    return f"measoft-{orderno}"


def payment_plan(status: str, paytype: str, price: Decimal, payments: list[dict[str, Any]],
                 rules: Rules, orderno: str) -> PaymentPlan:
    """With COURIER_SYNC_PAYMENTS, on a delivered status: make the CRM payment say what MeaSoft
    collected (type and sum), then give the one payment left COURIER_PAYMENT_STATUS.

    MeaSoft's module: a type that differs and a sum that is not zero → the CRM payment is
    deleted and a new one made with MeaSoft's type and sum. Ours carries an externalId made from
    the shipment, so a rerun edits it and never makes a second one.
    """
    if not rules.sync_payments or status not in DELIVERED:
        return PaymentPlan()
    settled = {PAID, rules.payment_status} - {None}
    external_id = payment_external_id(orderno)
    open_payments = [p for p in payments if p.get("status") not in settled]
    wanted_type = rules.paytype_map.get(paytype)
    if wanted_type and price > 0:
        return _follow_measoft(open_payments, payments, wanted_type, price, rules, external_id)
    return _settle(open_payments, rules, external_id)


def _follow_measoft(open_payments: list[dict[str, Any]], payments: list[dict[str, Any]],
                    wanted_type: str, price: Decimal, rules: Rules, external_id: str) -> PaymentPlan:
    amount = json_number(price)
    if len(open_payments) > 1:
        return PaymentPlan(note=f"{len(open_payments)} unpaid payments: MeaSoft collected {money(price)} "
                                f"as {wanted_type}; set the payments by hand")
    if not open_payments:
        if payments:
            return PaymentPlan(note=f"every payment is already settled, yet MeaSoft collected "
                                    f"{money(price)} as {wanted_type}; check the payments by hand")
        return PaymentPlan((PaymentAction("create", fields=_ours(external_id, wanted_type, amount, rules)),))
    payment = open_payments[0]
    if payment.get("externalId") == external_id:
        changes = {k: v for k, v in (("type", wanted_type), ("amount", amount), ("status", rules.payment_status))
                   if v is not None and payment.get(k) != v}
        return PaymentPlan((PaymentAction("edit", external_id, "externalId", changes),) if changes else ())
    if payment.get("type") != wanted_type:
        return PaymentPlan((PaymentAction("delete", str(payment.get("id"))),
                            PaymentAction("create", fields=_ours(external_id, wanted_type, amount, rules))))
    # same type: the sum follows what was collected (a partial delivery collects less)
    changes = {k: v for k, v in (("amount", amount), ("status", rules.payment_status))
               if v is not None and payment.get(k) != v}
    return PaymentPlan((PaymentAction("edit", str(payment.get("id")), "id", changes),) if changes else ())


def _ours(external_id: str, payment_type: str, amount: int | float, rules: Rules) -> dict[str, Any]:
    fields: dict[str, Any] = {"externalId": external_id, "type": payment_type, "amount": amount,
                              "comment": "MeaSoft: collected by the courier"}
    if rules.payment_status:
        fields["status"] = rules.payment_status
    return fields


def _settle(open_payments: list[dict[str, Any]], rules: Rules, external_id: str) -> PaymentPlan:
    """Delivered, nothing collected by the courier: the one payment left gets the status."""
    if not rules.payment_status or not open_payments:
        return PaymentPlan()
    if len(open_payments) > 1:
        return PaymentPlan(note=f"{len(open_payments)} unpaid payments on a delivered order; "
                                f"set COURIER_PAYMENT_STATUS by hand")
    payment = open_payments[0]
    ours = payment.get("externalId") == external_id
    return PaymentPlan((PaymentAction("edit", external_id if ours else str(payment.get("id")),
                                      "externalId" if ours else "id", {"status": rules.payment_status}),))


# ------------------------------------------------------------------ small helpers
def money(value: Decimal | int | float, places: int = 2) -> str:
    """A MeaSoft number: dot decimals, no trailing zeros, no exponent."""
    quantum = Decimal(1).scaleb(-places)
    text = format(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def json_number(value: Decimal) -> int | float:
    """A sum for RetailCRM's JSON: whole sums as integers (1200, not 1200.0)."""
    return int(value) if value == value.to_integral_value() else float(value)


def measoft_number(text: str | None) -> Decimal:
    """A number as MeaSoft writes it; empty or unreadable is 0 (SDKs drop empty elements)."""
    try:
        return Decimal((text or "0").strip() or "0")
    except InvalidOperation:
        return Decimal(0)


def _number(value: Any, where: str, problems: list[str]) -> Decimal | None:
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, bool):
        problems.append(f"field [{where}] is not a number: {value!r}")
        return None
    try:
        number = Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        problems.append(f"field [{where}] is not a number: {value!r}")
        return None
    if not number.is_finite():
        problems.append(f"field [{where}] is not a number: {value!r}")
        return None
    return number


def _grams(value: Any) -> Decimal:
    """A non-negative weight or size; anything else counts as unknown (0)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return number if number.is_finite() and number > 0 else Decimal(0)


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None and not isinstance(value, (dict, list)) else ""

