"""How a CRM order's payments follow what MeaSoft collected (COURIER_SYNC_PAYMENTS): pure
rules, no I/O. MeaSoft's own module: a type that differs and a sum that is not zero → the CRM
payment is deleted and a new one made with MeaSoft's type and sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from maorders.i18n import _, money as people_money

from courier.rules import Rules
from courier.values import DELIVERED, PAID, json_number

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
        return PaymentPlan(note=_("{count} unpaid payments: MeaSoft collected {sum} as {type}; set the payments "
                                  "by hand").format(count=len(open_payments), sum=people_money(price), type=wanted_type))
    if not open_payments:
        if payments:
            return PaymentPlan(note=_("every payment is already settled, yet MeaSoft collected {sum} as {type}; "
                                      "check the payments by hand").format(sum=people_money(price), type=wanted_type))
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
        return PaymentPlan(note=_("{count} unpaid payments on a delivered order; set COURIER_PAYMENT_STATUS by "
                                  "hand").format(count=len(open_payments)))
    payment = open_payments[0]
    ours = payment.get("externalId") == external_id
    return PaymentPlan((PaymentAction("edit", external_id if ours else str(payment.get("id")),
                                      "externalId" if ours else "id", {"status": rules.payment_status}),))
