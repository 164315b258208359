"""The CRM payment after MeaSoft reports a delivery (COURIER_SYNC_PAYMENTS): the plan
(`courier.payment_rules`) queued as outbox steps, and each step sent. Our payment carries an
externalId made from the shipment, so a rerun edits it and never makes a second one.
"""

from __future__ import annotations

from typing import Any

from maorders.i18n import _

from sqlite3 import Connection

from courier import sync
from courier.measoft import Parcel
from courier.outbox import NAME, done, tell
from courier.retailcrm import RetailcrmClient
from maorders.errors import PermanentError
from maorders.journal import OutboxItem
from maorders.runner import PassContext


def queue_payments(ctx: PassContext, db: Connection, shipment: dict[str, Any], parcel: Parcel,
                    crm_orders: dict[int, dict[str, Any]], rules: sync.Rules) -> None:
    if not rules.sync_payments or parcel.status not in sync.DELIVERED:
        return
    order = crm_orders.get(shipment["crm_order_id"])
    number = shipment["crm_number"]
    if order is None:
        ctx.problem(_("order {number}: not found in the CRM; its payment was not synchronised").format(number=number))
        return
    price = sync.sane_measoft_number(parcel.price)
    if price is None:  # NaN, 1e400: one payment not synchronised, shown; the status still goes
        tell(ctx, db, number, "payment", _("order {number}: MeaSoft's collected sum {sum} is not a sane number; "
                                           "the payment was not synchronised, set it by hand").format(
                                               number=number, sum=repr(parcel.price[:40])))
        ctx.counts["payments_with_insane_sums"] += 1
        return
    plan = sync.payment_plan(parcel.status, parcel.paytype, price, sync.payments_of(order), rules,
                             shipment["orderno"])
    for index, action in enumerate(plan.actions):
        ctx.journal.enqueue(db, NAME, f"crm-payment-{action.kind}",
                            f"{shipment['orderno']}/payment/{parcel.event_key}/{index}",
                            {"shipment_id": shipment["id"], "crm_order_id": shipment["crm_order_id"],
                             "number": number, "ident": action.ident, "by": action.by, "fields": action.fields})
    if plan.note:
        tell(ctx, db, number, "payment", _("order {number}: {what}").format(number=number, what=plan.note))


def _crm_payment_delete(ctx: PassContext, crm: RetailcrmClient, item: OutboxItem) -> None:
    try:
        crm.delete_payment(item.payload["ident"])
    except PermanentError as exc:
        if exc.status != 404:  # 404: deleted already (a repeat after a lost reply)
            raise
    done(ctx, item)
    ctx.counts["crm_payments_deleted"] += 1


def _crm_payment_create(ctx: PassContext, crm: RetailcrmClient, item: OutboxItem) -> None:
    fields = item.payload["fields"]
    try:
        crm.create_payment(item.payload["crm_order_id"], fields)
    except PermanentError:
        # a repeat after a lost reply is refused as a duplicate externalId: look before failing
        order = crm.order(item.payload["crm_order_id"])
        if not any(p.get("externalId") == fields["externalId"] for p in sync.payments_of(order)):
            raise
    done(ctx, item, 201)
    ctx.counts["crm_payments_created"] += 1


def _crm_payment_edit(ctx: PassContext, crm: RetailcrmClient, item: OutboxItem) -> None:
    crm.edit_payment(item.payload["ident"], item.payload["by"], item.payload["fields"])
    done(ctx, item)
    ctx.counts["crm_payments_edited"] += 1


PAYMENT_SENDERS = {"crm-payment-delete": _crm_payment_delete, "crm-payment-create": _crm_payment_create,
                   "crm-payment-edit": _crm_payment_edit}
