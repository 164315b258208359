"""Cancelling a MeaSoft order when its CRM order leaves the courier: queued in pull-orders,
sent with the other MeaSoft calls. A never-sent order is withdrawn here instead.
"""

from __future__ import annotations

from sqlite3 import Connection

from courier import ours, store
from courier.measoft import NOT_FOUND, MeasoftClient
from courier.outbox import NAME, drop, failed, unsent_item
from courier.sync import OrderChange
from maorders.i18n import _
from maorders.journal import OutboxItem
from maorders.runner import PassContext


def queue_cancel(ctx: PassContext, db: Connection, change: OrderChange) -> None:
    shipment = change.shipment
    unsent = unsent_item(db, "neworder", shipment["orderno"])
    if unsent is not None:  # never sent: withdrawn here, MeaSoft never hears of it
        drop(db, "neworder", shipment["orderno"], _("the delivery type changed before it was sent"))
        drop(db, "editorder", shipment["orderno"], _("the delivery type changed before it was sent"))
        store.set_state(db, shipment["id"], "cancelled")
        ctx.counts["shipments_withdrawn"] += 1
        return
    ctx.journal.enqueue(db, NAME, "cancelorder", f"{shipment['orderno']}/cancel",
                        {"shipment_id": shipment["id"], "number": change.number, "orderno": shipment["orderno"]})
    store.set_state(db, shipment["id"], "cancelling", shipment["error"])
    ctx.counts["cancels_queued"] += 1


def send_cancel(ctx: PassContext, measoft: MeasoftClient, item: OutboxItem) -> None:
    orderno = item.payload["orderno"]
    result = measoft.cancel_order(orderno)
    cancelled = result.ok or result.code == NOT_FOUND  # 52: nothing in MeaSoft to cancel
    if not cancelled:
        # a repeat after a lost reply finds it cancelled already (ours: not last year's order)
        parcel = ours.pick(measoft.lookup(orderno), store.by_id(ctx.journal.db, item.payload["shipment_id"]) or {})
        cancelled = parcel is not None and parcel.status == "CANCELED"
    if not cancelled:
        failed(ctx, item, _("MeaSoft order {orderno} is already in work, cannot be cancelled (MeaSoft: error "
                            "{code}: {message})").format(orderno=orderno, code=result.code, message=result.message),
               state="sent",
               counter="cancels_refused")
        return
    with ctx.journal.recording() as db:  # MeaSoft cancelled it: recorded even past the budget
        ctx.journal.finish_send(item, "sent", 200, db=db)
        store.set_state(db, item.payload["shipment_id"], "cancelled")
    ctx.counts["cancels_sent"] += 1
