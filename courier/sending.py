"""Sending to MeaSoft: every queued neworder, editorder and cancelorder, oldest first. A
neworder whose reply was lost answers error 17 and is read back (ours only when it is our
receiver's); an edit is sent only while MeaSoft has not taken the order in work.
"""

from __future__ import annotations

from typing import Any

from courier import store, sync
from courier.cancelling import send_cancel
from courier.measoft import ORDER_EXISTS, MeasoftClient, Parcel
from courier.outbox import NAME, failed, send_item
from maorders.journal import OutboxItem
from maorders.runner import PassContext


def send_to_measoft(ctx: PassContext, measoft: MeasoftClient) -> None:
    """Every queued neworder, editorder and cancelorder, oldest first."""
    senders = {"neworder": send_new, "editorder": send_edit, "cancelorder": send_cancel}
    for item in ctx.journal.due(NAME):
        if item.kind in senders:
            send_item(ctx, item, lambda: senders[item.kind](ctx, measoft, item))


def send_new(ctx: PassContext, measoft: MeasoftClient, item: OutboxItem) -> None:
    order = item.payload["order"]
    result = measoft.create_order(order)
    if result.code == ORDER_EXISTS:
        _recognise(ctx, measoft, item, order)
        return
    if not result.ok:
        failed(ctx, item, f"MeaSoft refused order {order['orderno']}: error {result.code}: {result.message}",
                state="rejected", counter="shipments_refused")
        return
    with ctx.journal.write() as db:
        ctx.journal.finish_send(item, "sent", 200, db=db)
        store.accepted(db, item.payload["shipment_id"])
    ctx.counts["shipments_sent"] += 1


def _recognise(ctx: PassContext, measoft: MeasoftClient, item: OutboxItem, order: dict[str, Any]) -> None:
    """Error 17: MeaSoft has an order with this number. Ours, when a reply was lost (it has our
    receiver's phone); someone else's otherwise, which a person must sort out."""
    parcel = measoft.find(order["orderno"])
    if parcel is None or not _same_receiver(parcel, order):
        failed(ctx, item, f"MeaSoft already has an order numbered {order['orderno']} that is not this one "
                           "(error 17); rename one of them", state="rejected", counter="shipments_refused")
        return
    with ctx.journal.write() as db:
        ctx.journal.finish_send(item, "sent", 200, message="error 17: already in MeaSoft, recognised", db=db)
        store.accepted(db, item.payload["shipment_id"], parcel.ordercode, parcel.awb)
    ctx.counts["shipments_recognised"] += 1


def _same_receiver(parcel: Parcel, order: dict[str, Any]) -> bool:
    theirs, ours = _digits(parcel.phone)[-10:], _digits(order["receiver"].get("phone", ""))[-10:]
    return not theirs or theirs == ours


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def send_edit(ctx: PassContext, measoft: MeasoftClient, item: OutboxItem) -> None:
    """editorder, after reading the order back: MeaSoft takes changes only before it is in work,
    and wants its own item codes to change items rather than add them."""
    order = item.payload["order"]
    parcel = measoft.find(order["orderno"])
    if parcel is None:
        failed(ctx, item, f"MeaSoft has no order {order['orderno']} to change")
        return
    if parcel.status not in sync.NOT_IN_WORK:
        failed(ctx, item, f"MeaSoft order {order['orderno']} is already in work ({parcel.status}); "
                           "the change was not passed on", counter="edits_refused")
        return
    codes = {i.extcode: i.code for i in parcel.items if i.extcode and i.code}
    result = measoft.edit_order(order, codes)
    if not result.ok:
        failed(ctx, item, f"MeaSoft refused the change of order {order['orderno']}: error {result.code}: "
                           f"{result.message}", counter="edits_refused")
        return
    with ctx.journal.write() as db:
        ctx.journal.finish_send(item, "sent", 200, db=db)
        store.set_error(db, item.payload["shipment_id"], None)
    ctx.counts["edits_sent"] += 1
