"""push-statuses: MeaSoft's changed statuses (the ONLY_LAST poll) to the CRM. Each new status
is journalled with what it changes in the CRM (status, payments) in one transaction; the
poll is committed only when every such change is in the CRM, so a killed run gets the same
set again and finds it already known.
"""

from __future__ import annotations

from typing import Any

from maorders.i18n import _, ngettext

from sqlite3 import Connection

from courier import ours, store, sync
from courier.measoft import Parcel
from courier.outbox import CRM_KINDS, NAME, OPEN, done, drop, log, send_item, whole_pass
from courier.payments import PAYMENT_SENDERS, queue_payments
from courier.remotes import crm_client, measoft_client
from courier.retailcrm import RetailcrmClient
from maorders.errors import TransientError
from maorders.journal import OutboxItem
from maorders.runner import PassContext


def push_statuses(ctx: PassContext) -> None:
    """MeaSoft's changed statuses to the CRM; the poll is committed only when all is done."""
    measoft, crm = measoft_client(ctx), crm_client(ctx)
    rules = sync.Rules.of(ctx.config)
    with whole_pass(_("polling MeaSoft's changed statuses")):
        parcels = measoft.changed()
    ctx.counts["statuses_received"] += len(parcels)
    fresh = _fresh(ctx, parcels)
    released = _released(ctx, {shipment["id"] for shipment, _parcel in fresh})
    wanted = {s["crm_order_id"] for s, p in fresh + released if rules.sync_payments and p.status in sync.DELIVERED}
    with whole_pass(_("reading the delivered CRM orders")):
        crm_orders = crm.orders(wanted) if wanted else {}
    with ctx.journal.write() as db:
        for shipment, parcel in fresh:
            take_status(ctx, db, shipment, parcel, crm_orders, rules)
        for shipment, parcel in released:
            take_status(ctx, db, shipment, parcel, crm_orders, rules, replay=True)
    send_to_crm(ctx, crm)
    left = ctx.journal.value(f"""SELECT COUNT(*) FROM outbox WHERE connector = ? AND state IN {OPEN}
                                 AND kind IN {CRM_KINDS}""", (NAME,))
    if left:
        raise TransientError(ngettext("{count} CRM change still to send; MeaSoft's statuses are not confirmed "
                                      "as read and come again at the next run",
                                      "{count} CRM changes still to send; MeaSoft's statuses are not confirmed "
                                      "as read and come again at the next run", left).format(count=left))
    with whole_pass(_("committing MeaSoft's statuses")):
        measoft.commit()
    ctx.counts["polls_committed"] += 1


def _fresh(ctx: PassContext, parcels: list[Parcel]) -> list[tuple[dict[str, Any], Parcel]]:
    """The statuses not yet in the journal (a rerun before the commit gets the same set)."""
    fresh = []
    for parcel in parcels:
        shipment = store.by_orderno(ctx.journal.db, parcel.orderno)
        if shipment is None or shipment["state"] == "rejected":
            # made in the cabinet or by another integration (a rejected shipment's number may
            # belong to such an order: error 17 for someone else's order)
            ctx.counts["not_our_orders"] += 1
        elif not ours.feeds(parcel, shipment):
            # our number, but not our order: last year's, made before our shipment existed
            ctx.counts["not_our_orders"] += 1
            log.info("measoft: a status of order %s (ordercode %s) is not about our shipment; skipped",
                     parcel.orderno, parcel.ordercode)
        elif shipment["measoft_event"] == parcel.event_key:
            ctx.counts["statuses_already_known"] += 1
        else:
            fresh.append((shipment, parcel))
    return fresh


def _released(ctx: PassContext, polled: set[int]) -> list[tuple[dict[str, Any], Parcel]]:
    """Statuses held while our cancel was pending, now that the cancel failed (the order stays
    with the courier): they reach the CRM after all. A newer status in this poll wins."""
    released = []
    for shipment, row in store.held(ctx.journal):
        if shipment["id"] in polled:
            continue
        released.append((shipment, Parcel(row["orderno"], shipment["ordercode"] or "", shipment["awb"] or "",
                                          row["status"], row["title"] or "", row["event_time"], row["paytype"] or "",
                                          row["price"] or "", "", "")))
        ctx.counts["held_statuses_released"] += 1
    return released


def take_status(ctx: PassContext, db: Connection, shipment: dict[str, Any], parcel: Parcel,
                crm_orders: dict[int, dict[str, Any]], rules: sync.Rules, replay: bool = False) -> None:
    """Journal one new MeaSoft status and queue what it changes in the CRM (`replay`: a held
    status, journalled before, whose CRM change is due now)."""
    shipment = store.by_id(db, shipment["id"])  # as it is now: pull-orders may have changed it
    if shipment["measoft_event"] == parcel.event_key and not replay:
        return
    if not replay:
        ctx.counts["statuses_new"] += 1
    number, orderno = shipment["crm_number"], shipment["orderno"]
    if shipment["state"] == "cancelling":
        # our cancel is pending: MeaSoft may yet refuse it (already in work). Journalled and
        # held: if the cancel fails, this status still reaches the CRM (no status swallowed)
        ctx.counts["statuses_held_while_cancelling"] += 1
        store.record_status(db, shipment, parcel, None, "", held=True)
        return
    if shipment["state"] == "cancelled":
        # we cancelled it because the CRM order left the courier: MeaSoft's CANCELED is our own
        # echo, and the CRM order lives on (another delivery type); journal it, change nothing
        ctx.counts["statuses_of_withdrawn_shipments"] += 1
        store.record_status(db, shipment, parcel, None, "")
        return
    if not sync.is_known_status(parcel.status):
        ctx.counts["unknown_status_codes"] += 1
        ctx.problem(_("order {number}: MeaSoft status {status} ({title}) is not one MeaSoft documents; kept and "
                      "shown, not mapped").format(number=number, status=repr(parcel.status), title=parcel.title))
    wanted = sync.crm_status(parcel.status, rules)
    queued = None
    if wanted is None:
        ctx.counts["statuses_unmapped"] += 1
    elif wanted != shipment["crm_status"]:
        drop(db, "crm-status", orderno, _("a newer MeaSoft status replaced it"))
        ctx.journal.enqueue(db, NAME, "crm-status", f"{orderno}/status/{parcel.event_key}",
                            {"shipment_id": shipment["id"], "crm_order_id": shipment["crm_order_id"],
                             "number": number, "status": wanted, "measoft_status": parcel.status})
        queued = wanted
    queue_payments(ctx, db, shipment, parcel, crm_orders, rules)
    returns = ", ".join(f"{i.extcode or i.name}: {i.returns}" for i in parcel.items if sync.measoft_number(i.returns))
    store.record_status(db, shipment, parcel, queued, returns)


def send_to_crm(ctx: PassContext, crm: RetailcrmClient) -> None:
    senders = {"crm-status": _crm_status, **PAYMENT_SENDERS}
    for item in ctx.journal.due(NAME):
        if item.kind not in senders:
            continue
        if item.kind.startswith("crm-payment"):
            fresh = ctx.journal.one("SELECT state FROM outbox WHERE id = ?", (item.id,))
            if fresh["state"] == "dropped":  # an earlier payment step failed: these wait for a person
                continue
        send_item(ctx, item, lambda: senders[item.kind](ctx, crm, item))


def _crm_status(ctx: PassContext, crm: RetailcrmClient, item: OutboxItem) -> None:
    crm.edit_order(item.payload["crm_order_id"], {"status": item.payload["status"]})
    done(ctx, item)
    ctx.counts["crm_statuses_set"] += 1
