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

The rules live in three rooms: this module (what to do with an order), `measoft_order` (the
MeaSoft order a CRM order makes) and `payment_rules` (the CRM payment after delivery); the
shared values in `values`. The names below are re-exported so `sync.X` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from maorders.i18n import _

from courier.measoft_order import (Invalid, Sums, address_text, measoft_order, payments_of,
                                   receiver_phone, vat_rate)
from courier.payment_rules import PaymentAction, PaymentPlan, payment_external_id, payment_plan
from courier.rules import Rules
from courier.values import (DELIVERED, GRAMS_PER_KG, KNOWN_STATUSES, NOT_IN_WORK, PAID, json_number,
                            measoft_number, money, sane_measoft_number)

__all__ = ["DELIVERED", "EDIT_FIELDS", "EDIT_ROOTS", "edit_fields", "GRAMS_PER_KG", "KNOWN_STATUSES", "NOT_IN_WORK", "PAID", "Decision",
           "Invalid", "OrderChange", "PaymentAction", "PaymentPlan", "Rules", "ShipmentView", "Sums", "address_text",
           "changed_fields", "crm_status", "decide", "delivery_code", "is_known_status", "is_own",
           "json_number", "measoft_number", "measoft_order", "money", "payment_external_id", "payment_plan",
           "payments_of", "ready_to_send", "receiver_phone", "sane_measoft_number", "vat_rate", "wants_courier"]


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
# Fields the feed reports by their parts (`delivery_address.city`, `order_product.quantity`,
# `payments.amount`): any part's change is a change of the field.
EDIT_ROOTS = frozenset({"delivery_address", "order_product", "payments"})


def edit_fields(fields: set[str]) -> set[str]:
    """The changed fields MeaSoft's order carries. The feed names a part of a field after a dot
    (`delivery_address.city`, `order_product.quantity`: retailcrm/bitrix-module objects.xml,
    woocommerce-module objects.xml), so a field counts when it, or the part before its first
    dot, is in EDIT_FIELDS (`customer.phones` is listed whole: not every customer change counts)."""
    return {f for f in fields if f in EDIT_FIELDS or f.split(".", 1)[0] in EDIT_ROOTS}


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


@dataclass(frozen=True)
class OrderChange:
    """One CRM order's changes in a history page, and what the rules made of them."""

    order_id: int
    number: str          # the CRM order number, as people know it
    orderno: str         # the MeaSoft number it is, or will be, sent under
    generation: int      # 2, 3 … after cancels: MeaSoft keeps a cancelled number for good
    shipment: dict[str, Any] | None
    decision: Decision
    mark: str            # the last history record id answered: names the outbox items


def decide(shipment: ShipmentView | None, order: dict[str, Any] | None, fields: set[str],
           rules: Rules, orderno: str) -> Decision:
    """The one decision per order and batch of (not our own) history records."""
    if shipment is None or not shipment.active:
        if order is None or not ready_to_send(order, rules):
            return Decision("none")
        return _send_or_reject("send", order, orderno, rules)
    if order is None or not wants_courier(order, rules):
        if shipment.in_work:
            return Decision("refuse_cancel", _("MeaSoft order {orderno} is already in work ({status}), cannot be "
                                               "cancelled").format(orderno=shipment.orderno,
                                                                   status=shipment.measoft_status))
        return Decision("cancel")
    passed_on = edit_fields(fields)
    if not passed_on:
        return Decision("none")
    if shipment.in_work:
        return Decision("refuse_edit", _("MeaSoft order {orderno} is already in work ({status}); the change of "
                                         "{fields} was not passed on").format(
                                             orderno=shipment.orderno, status=shipment.measoft_status,
                                             fields=", ".join(sorted(passed_on))))
    return _send_or_reject("edit", order, shipment.orderno, rules)


def _send_or_reject(action: str, order: dict[str, Any], orderno: str, rules: Rules) -> Decision:
    try:
        return Decision(action, order=measoft_order(order, orderno, rules))
    except Invalid as exc:
        return Decision("reject", str(exc))


def crm_status(code: str, rules: Rules) -> str | None:
    """The CRM status for a MeaSoft status, None when COURIER_STATUS_MAP has none."""
    return rules.status_map.get(code)


def is_known_status(code: str) -> bool:
    return code in KNOWN_STATUSES
