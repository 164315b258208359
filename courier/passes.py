"""The courier's passes: RetailCRM orders to MeaSoft (pull-orders), MeaSoft statuses and
payments back to RetailCRM (push-statuses). Read the journal, call the wire, apply the rules
(courier.sync), write the journal.

Every effect goes through the shared outbox: the intent is written (with the history cursor,
or with the MeaSoft status it comes from) before the call, and the result after it. A pass
killed at any instant is finished by the next one: a neworder whose reply was lost answers
error 17 and is read back; our payment is found by its externalId; MeaSoft's changed statuses
come back again until every change they caused is in the journal and in the CRM, and only
then is the poll committed.

Rooms: this module reads the CRM changes and decides (pull-orders); `sending` and
`cancelling` talk to MeaSoft; `statuses` and `payments` bring MeaSoft's news back to the
CRM (push-statuses); `outbox` is what they share; `health` is status and doctor.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Callable

from maorders.i18n import _

from sqlite3 import Connection

from courier import store, sync
from courier.sync import OrderChange
from courier.cancelling import queue_cancel
from courier.health import doctor_checks, status_view
from courier.outbox import NAME, drop, tell, unsent_item, whole_pass
from courier.remotes import crm_client, measoft_client
from courier.sending import send_to_measoft
from courier.statuses import push_statuses
from maorders.runner import PassContext

__all__ = ["PASSES", "doctor_checks", "pull_orders", "push_statuses", "status_view"]


def pull_orders(ctx: PassContext) -> None:
    """Read the CRM changes after the cursor; send, change or cancel MeaSoft orders."""
    measoft, crm = measoft_client(ctx), crm_client(ctx)
    rules = sync.Rules.of(ctx.config)
    send_to_measoft(ctx, measoft)  # what a killed run queued goes first, in its order
    cursor = ctx.journal.cursor(NAME, "history", "")
    start = None if cursor else first_read_start()
    cursor = int(cursor or 0)
    while True:
        with whole_pass(_("reading the CRM changes")):
            page = crm.history(cursor, start)
        start = None
        if page.last_id is None:
            return
        for message in page.rejected:  # one bad record is one rejected item, never a stuck feed
            ctx.problem(message)
            ctx.counts["history_records_rejected"] += 1
        theirs = [r for r in page.records if not sync.is_own(r)]
        ctx.counts["history_records"] += len(page.records)
        ctx.counts["own_changes_skipped"] += len(page.records) - len(theirs)
        by_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for record in theirs:
            by_order[record["order"]["id"]].append(record)
        with whole_pass(_("reading the changed CRM orders")):
            current = crm.orders(by_order) if by_order else {}
        with ctx.journal.write() as db:  # the decisions and the cursor they cover, together
            for order_id, records in by_order.items():
                take_changes(ctx, db, order_id, records, current.get(order_id), rules)
            cursor = page.last_id
            ctx.journal.set_cursor(db, NAME, "history", str(cursor))
        send_to_measoft(ctx, measoft)
        if not page.more:
            return


def first_read_start() -> str:
    """Before the first history id is known, read from a day ago, not from the CRM's beginning:
    history that predates the install is not replayed (RetailCRM's own PrestaShop module,
    RetailcrmHistory::ordersHistory: `startDate` = now − 1 day until a sinceId is saved). The day
    also covers a CRM account kept in another time zone than this machine."""
    from datetime import datetime, timedelta

    return (datetime.now() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")


def take_changes(ctx: PassContext, db: Connection, order_id: int, records: list[dict[str, Any]],
                 order: dict[str, Any] | None, rules: sync.Rules) -> None:
    """Decide what one order's changes mean for its shipment and queue it (one transaction)."""
    if order is not None and rules.site and order.get("site") not in (None, rules.site):
        ctx.counts["other_site_orders_skipped"] += 1
        return
    ctx.counts["orders_checked"] += 1
    shipment = store.by_crm_id(db, order_id)
    if shipment and shipment["state"] == "cancelling":
        return  # the cancel in the outbox goes first; later changes are read against its result
    number = str((order or {}).get("number") or (shipment or {}).get("crm_number") or order_id)
    generation = (shipment["generation"] + 1 if shipment and shipment["state"] == "cancelled"
                  else shipment["generation"] if shipment else 1)
    orderno = number if generation == 1 else f"{number}-{generation}"
    view = (sync.ShipmentView(shipment["state"], shipment["orderno"], shipment["measoft_status"])
            if shipment else None)
    decision = sync.decide(view, order, sync.changed_fields(records), rules, orderno)
    if (decision.action == "none" and shipment and shipment["state"] == "rejected" and shipment["error"]
            and (order is None or not sync.ready_to_send(order, rules))):
        store.set_error(db, shipment["id"], None)  # no longer for the courier: nothing to fix
        ctx.counts["rejections_withdrawn"] += 1
    handler = DECISIONS.get(decision.action)
    if handler:
        handler(ctx, db, OrderChange(order_id, number, orderno, generation, shipment, decision,
                                     str(records[-1]["id"])))


def _queue_send(ctx: PassContext, db: Connection, change: OrderChange) -> None:
    shipment_id = store.queue(db, change.shipment, change.order_id, change.number, change.orderno,
                              change.generation)
    ctx.journal.enqueue(db, NAME, "neworder", f"{change.orderno}/new/{change.mark}",
                        {"shipment_id": shipment_id, "number": change.number, "order": change.decision.order})
    ctx.counts["shipments_queued"] += 1


def _queue_edit(ctx: PassContext, db: Connection, change: OrderChange) -> None:
    shipment = change.shipment
    unsent = unsent_item(db, "neworder", shipment["orderno"])
    if unsent is not None:  # MeaSoft has not seen it yet: send the new data in the first place
        payload = json.loads(unsent["payload"]) | {"order": change.decision.order}
        db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (json.dumps(payload, ensure_ascii=False),
                                                                  unsent["id"]))
        ctx.counts["unsent_orders_updated"] += 1
        return
    drop(db, "editorder", shipment["orderno"], _("a newer change replaced it"))
    ctx.journal.enqueue(db, NAME, "editorder", f"{shipment['orderno']}/edit/{change.mark}",
                        {"shipment_id": shipment["id"], "number": change.number, "order": change.decision.order})
    ctx.counts["edits_queued"] += 1


def _reject(ctx: PassContext, db: Connection, change: OrderChange) -> None:
    shipment, number = change.shipment, change.number
    if shipment is not None and shipment["state"] in ("queued", "sent"):
        # MeaSoft has the order; the change is what cannot be passed on
        message = _("order {number}: the change was not sent to MeaSoft: {why}").format(
            number=number, why=change.decision.message)
        store.set_error(db, shipment["id"], message)
        counter = "edits_rejected"
    else:
        message = _("order {number}: not sent to MeaSoft: {why}").format(number=number, why=change.decision.message)
        store.reject(db, shipment, change.order_id, number, change.orderno, change.generation, message)
        counter = "shipments_rejected"
    tell(ctx, db, number, "rejected", message)
    ctx.counts[counter] += 1


def _refuse(ctx: PassContext, db: Connection, change: OrderChange) -> None:
    message = _("order {number}: {what}").format(number=change.number, what=change.decision.message)
    store.set_error(db, change.shipment["id"], message)
    tell(ctx, db, change.number, change.decision.action, message)
    ctx.counts["cancels_refused" if change.decision.action == "refuse_cancel" else "edits_refused"] += 1


DECISIONS: dict[str, Callable[[PassContext, Connection, OrderChange], None]] = {
    "send": _queue_send, "edit": _queue_edit, "cancel": queue_cancel, "reject": _reject,
    "refuse_cancel": _refuse, "refuse_edit": _refuse,
}


PASSES = {
    "pull-orders": pull_orders,
    "push-statuses": push_statuses,
}
