"""The courier's passes: RetailCRM orders to MeaSoft (pull-orders), MeaSoft statuses and
payments back to RetailCRM (push-statuses). Read the journal, call the wire, apply the rules
(courier.sync), write the journal.

Every effect goes through the shared outbox: the intent is written (with the history cursor,
or with the MeaSoft status it comes from) before the call, and the result after it. A pass
killed at any instant is finished by the next one: a neworder whose reply was lost answers
error 17 and is read back; our payment is found by its externalId; MeaSoft's changed statuses
come back again until every change they caused is in the journal and in the CRM, and only
then is the poll committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from sqlite_utils import Database

from courier import store, sync
from courier.measoft import NOT_FOUND, ORDER_EXISTS, MeasoftClient, Parcel
from courier.retailcrm import RATE_LIMIT, RetailcrmClient
from maorders.ratelimit import paced, window_file
from maorders.errors import PermanentError, RefusedError, TransientError
from maorders.journal import OutboxItem
from maorders.runner import PassContext

NAME = store.CONNECTOR
log = logging.getLogger("courier")

CRM_KINDS = ("crm-status", "crm-payment-delete", "crm-payment-create", "crm-payment-edit")
OPEN = ("pending", "retry", "unknown")


def measoft_client(ctx: PassContext) -> MeasoftClient:
    s = ctx.settings.courier
    return MeasoftClient(ctx.remote("measoft", s.measoft_url), s.measoft_login, s.measoft_password,
                         s.measoft_extra, s.measoft_stream_id)


def crm_client(ctx: PassContext) -> RetailcrmClient:
    s = ctx.settings.courier
    remote = paced(ctx.remote("retailcrm", s.retailcrm_url, rate_limit=RATE_LIMIT),
                   window_file(ctx.settings.general.journal, "retailcrm"), RATE_LIMIT)
    return RetailcrmClient(remote, s.retailcrm_api_key, s.retailcrm_site)


# ====================================================================== pull-orders
def pull_orders(ctx: PassContext) -> None:
    """Read the CRM changes after the cursor; send, change or cancel MeaSoft orders."""
    measoft, crm = measoft_client(ctx), crm_client(ctx)
    rules = sync.Rules.of(ctx.settings.courier)
    send_to_measoft(ctx, measoft)  # what a killed run queued goes first, in its order
    cursor = int(ctx.journal.cursor(NAME, "history"))
    while True:
        with whole_pass("reading the CRM changes"):
            page = crm.history(cursor)
        if not page.records:
            return
        theirs = [r for r in page.records if not sync.is_own(r)]
        ctx.counts["history_records"] += len(page.records)
        ctx.counts["own_changes_skipped"] += len(page.records) - len(theirs)
        by_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for record in theirs:
            by_order[record["order"]["id"]].append(record)
        with whole_pass("reading the changed CRM orders"):
            current = crm.orders(by_order) if by_order else {}
        with ctx.journal.write() as db:  # the decisions and the cursor they cover, together
            for order_id, records in by_order.items():
                take_changes(ctx, db, order_id, records, current.get(order_id), rules)
            cursor = page.records[-1]["id"]
            ctx.journal.set_cursor(db, NAME, "history", str(cursor))
        send_to_measoft(ctx, measoft)
        if not page.more:
            return


@dataclass(frozen=True)
class OrderChange:
    """One CRM order's changes in a history page, and what the rules made of them."""

    order_id: int
    number: str          # the CRM order number, as people know it
    orderno: str         # the MeaSoft number it is, or will be, sent under
    generation: int      # 2, 3 … after cancels: MeaSoft keeps a cancelled number for good
    shipment: dict[str, Any] | None
    decision: sync.Decision
    mark: str            # the last history record id answered: names the outbox items


def take_changes(ctx: PassContext, db: Database, order_id: int, records: list[dict[str, Any]],
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


def _queue_send(ctx: PassContext, db: Database, change: OrderChange) -> None:
    shipment_id = store.queue(db, change.shipment, change.order_id, change.number, change.orderno,
                              change.generation)
    ctx.journal.enqueue(db, NAME, "neworder", f"{change.orderno}/new/{change.mark}",
                        {"shipment_id": shipment_id, "number": change.number, "order": change.decision.order})
    ctx.counts["shipments_queued"] += 1


def _queue_edit(ctx: PassContext, db: Database, change: OrderChange) -> None:
    shipment = change.shipment
    unsent = _unsent(db, "neworder", shipment["orderno"])
    if unsent is not None:  # MeaSoft has not seen it yet: send the new data in the first place
        payload = json.loads(unsent["payload"]) | {"order": change.decision.order}
        db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (json.dumps(payload, ensure_ascii=False),
                                                                  unsent["id"]))
        ctx.counts["unsent_orders_updated"] += 1
        return
    _drop(db, "editorder", shipment["orderno"], "a newer change replaced it")
    ctx.journal.enqueue(db, NAME, "editorder", f"{shipment['orderno']}/edit/{change.mark}",
                        {"shipment_id": shipment["id"], "number": change.number, "order": change.decision.order})
    ctx.counts["edits_queued"] += 1


def _queue_cancel(ctx: PassContext, db: Database, change: OrderChange) -> None:
    shipment = change.shipment
    unsent = _unsent(db, "neworder", shipment["orderno"])
    if unsent is not None:  # never sent: withdrawn here, MeaSoft never hears of it
        _drop(db, "neworder", shipment["orderno"], "the delivery type changed before it was sent")
        _drop(db, "editorder", shipment["orderno"], "the delivery type changed before it was sent")
        store.set_state(db, shipment["id"], "cancelled")
        ctx.counts["shipments_withdrawn"] += 1
        return
    ctx.journal.enqueue(db, NAME, "cancelorder", f"{shipment['orderno']}/cancel",
                        {"shipment_id": shipment["id"], "number": change.number, "orderno": shipment["orderno"]})
    store.set_state(db, shipment["id"], "cancelling", shipment["error"])
    ctx.counts["cancels_queued"] += 1


def _reject(ctx: PassContext, db: Database, change: OrderChange) -> None:
    shipment, number = change.shipment, change.number
    if shipment is not None and shipment["state"] in ("queued", "sent"):
        # MeaSoft has the order; the change is what cannot be passed on
        message = f"order {number}: the change was not sent to MeaSoft: {change.decision.message}"
        store.set_error(db, shipment["id"], message)
        counter = "edits_rejected"
    else:
        message = f"order {number}: not sent to MeaSoft: {change.decision.message}"
        store.reject(db, shipment, change.order_id, number, change.orderno, change.generation, message)
        counter = "shipments_rejected"
    _tell(ctx, db, number, "rejected", message)
    ctx.counts[counter] += 1


def _refuse(ctx: PassContext, db: Database, change: OrderChange) -> None:
    message = f"order {change.number}: {change.decision.message}"
    store.set_error(db, change.shipment["id"], message)
    _tell(ctx, db, change.number, change.decision.action, message)
    ctx.counts["cancels_refused" if change.decision.action == "refuse_cancel" else "edits_refused"] += 1


DECISIONS: dict[str, Callable[[PassContext, Database, OrderChange], None]] = {
    "send": _queue_send, "edit": _queue_edit, "cancel": _queue_cancel, "reject": _reject,
    "refuse_cancel": _refuse, "refuse_edit": _refuse,
}


# -- sending to MeaSoft ---------------------------------------------------------------
def send_to_measoft(ctx: PassContext, measoft: MeasoftClient) -> None:
    """Every queued neworder, editorder and cancelorder, oldest first."""
    senders = {"neworder": send_new, "editorder": send_edit, "cancelorder": send_cancel}
    for item in ctx.journal.due(NAME):
        if item.kind in senders:
            _send(ctx, item, lambda: senders[item.kind](ctx, measoft, item))


# A shipment's state when MeaSoft refuses the whole request for it (not one of its results).
REFUSED_STATE = {"neworder": "rejected", "cancelorder": "sent"}


def _send(ctx: PassContext, item: OutboxItem, action: Callable[[], None]) -> None:
    """One outbox item: in flight before the call; a refusal is recorded, a fault retried."""
    ctx.journal.begin_send(item)
    try:
        action()
    except PermanentError as exc:
        _failed(ctx, item, str(exc), state=REFUSED_STATE.get(item.kind))
    except (TransientError, RefusedError) as exc:
        ctx.journal.finish_send(item, "retry", message=str(exc))
        raise


def send_new(ctx: PassContext, measoft: MeasoftClient, item: OutboxItem) -> None:
    order = item.payload["order"]
    result = measoft.create_order(order)
    if result.code == ORDER_EXISTS:
        _recognise(ctx, measoft, item, order)
        return
    if not result.ok:
        _failed(ctx, item, f"MeaSoft refused order {order['orderno']}: error {result.code}: {result.message}",
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
        _failed(ctx, item, f"MeaSoft already has an order numbered {order['orderno']} that is not this one "
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
        _failed(ctx, item, f"MeaSoft has no order {order['orderno']} to change")
        return
    if parcel.status not in sync.NOT_IN_WORK:
        _failed(ctx, item, f"MeaSoft order {order['orderno']} is already in work ({parcel.status}); "
                           "the change was not passed on", counter="edits_refused")
        return
    codes = {i.extcode: i.code for i in parcel.items if i.extcode and i.code}
    result = measoft.edit_order(order, codes)
    if not result.ok:
        _failed(ctx, item, f"MeaSoft refused the change of order {order['orderno']}: error {result.code}: "
                           f"{result.message}", counter="edits_refused")
        return
    with ctx.journal.write() as db:
        ctx.journal.finish_send(item, "sent", 200, db=db)
        store.set_error(db, item.payload["shipment_id"], None)
    ctx.counts["edits_sent"] += 1


def send_cancel(ctx: PassContext, measoft: MeasoftClient, item: OutboxItem) -> None:
    orderno = item.payload["orderno"]
    result = measoft.cancel_order(orderno)
    cancelled = result.ok or result.code == NOT_FOUND  # 52: nothing in MeaSoft to cancel
    if not cancelled:
        parcel = measoft.find(orderno)  # a repeat after a lost reply finds it cancelled already
        cancelled = parcel is not None and parcel.status == "CANCELED"
    if not cancelled:
        _failed(ctx, item, f"MeaSoft order {orderno} is already in work, cannot be cancelled "
                           f"(MeaSoft: error {result.code}: {result.message})", state="sent",
                counter="cancels_refused")
        return
    with ctx.journal.write() as db:
        ctx.journal.finish_send(item, "sent", 200, db=db)
        store.set_state(db, item.payload["shipment_id"], "cancelled")
    ctx.counts["cancels_sent"] += 1


# ====================================================================== push-statuses
def push_statuses(ctx: PassContext) -> None:
    """MeaSoft's changed statuses to the CRM; the poll is committed only when all is done."""
    measoft, crm = measoft_client(ctx), crm_client(ctx)
    rules = sync.Rules.of(ctx.settings.courier)
    with whole_pass("polling MeaSoft's changed statuses"):
        parcels = measoft.changed()
    ctx.counts["statuses_received"] += len(parcels)
    fresh = _fresh(ctx, parcels)
    wanted = {s["crm_order_id"] for s, p in fresh if rules.sync_payments and p.status in sync.DELIVERED}
    with whole_pass("reading the delivered CRM orders"):
        crm_orders = crm.orders(wanted) if wanted else {}
    with ctx.journal.write() as db:
        for shipment, parcel in fresh:
            take_status(ctx, db, shipment, parcel, crm_orders, rules)
    send_to_crm(ctx, crm)
    left = ctx.journal.value(f"""SELECT COUNT(*) FROM outbox WHERE connector = ? AND state IN {OPEN}
                                 AND kind IN {CRM_KINDS}""", (NAME,))
    if left:
        raise TransientError(f"{left} CRM change(s) still to send; MeaSoft's statuses are not committed "
                             "and come again at the next run")
    with whole_pass("committing MeaSoft's statuses"):
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
        elif shipment["measoft_event"] == parcel.event_key:
            ctx.counts["statuses_already_known"] += 1
        else:
            fresh.append((shipment, parcel))
    return fresh


def take_status(ctx: PassContext, db: Database, shipment: dict[str, Any], parcel: Parcel,
                crm_orders: dict[int, dict[str, Any]], rules: sync.Rules) -> None:
    """Journal one new MeaSoft status and queue what it changes in the CRM."""
    shipment = store.by_id(db, shipment["id"])  # as it is now: pull-orders may have changed it
    if shipment["measoft_event"] == parcel.event_key:
        return
    ctx.counts["statuses_new"] += 1
    number, orderno = shipment["crm_number"], shipment["orderno"]
    if shipment["state"] in ("cancelling", "cancelled"):
        # we cancelled it because the CRM order left the courier: MeaSoft's CANCELED is our own
        # echo, and the CRM order lives on (another delivery type); journal it, change nothing
        ctx.counts["statuses_of_withdrawn_shipments"] += 1
        store.record_status(db, shipment, parcel, None, "")
        return
    if not sync.is_known_status(parcel.status):
        ctx.counts["unknown_status_codes"] += 1
        ctx.problem(f"order {number}: MeaSoft status {parcel.status!r} ({parcel.title}) is not one MeaSoft "
                    "documents; kept and shown, not mapped")
    wanted = sync.crm_status(parcel.status, rules)
    queued = None
    if wanted is None:
        ctx.counts["statuses_unmapped"] += 1
    elif wanted != shipment["crm_status"]:
        _drop(db, "crm-status", orderno, "a newer MeaSoft status replaced it")
        ctx.journal.enqueue(db, NAME, "crm-status", f"{orderno}/status/{parcel.event_key}",
                            {"shipment_id": shipment["id"], "crm_order_id": shipment["crm_order_id"],
                             "number": number, "status": wanted, "measoft_status": parcel.status})
        queued = wanted
    _queue_payments(ctx, db, shipment, parcel, crm_orders, rules)
    returns = ", ".join(f"{i.extcode or i.name}: {i.returns}" for i in parcel.items if sync.measoft_number(i.returns))
    store.record_status(db, shipment, parcel, queued, returns)


def _queue_payments(ctx: PassContext, db: Database, shipment: dict[str, Any], parcel: Parcel,
                    crm_orders: dict[int, dict[str, Any]], rules: sync.Rules) -> None:
    if not rules.sync_payments or parcel.status not in sync.DELIVERED:
        return
    order = crm_orders.get(shipment["crm_order_id"])
    number = shipment["crm_number"]
    if order is None:
        ctx.problem(f"order {number}: not found in the CRM; its payment was not synchronised")
        return
    plan = sync.payment_plan(parcel.status, parcel.paytype, sync.measoft_number(parcel.price),
                             sync.payments_of(order), rules, shipment["orderno"])
    for index, action in enumerate(plan.actions):
        ctx.journal.enqueue(db, NAME, f"crm-payment-{action.kind}",
                            f"{shipment['orderno']}/payment/{parcel.event_key}/{index}",
                            {"shipment_id": shipment["id"], "crm_order_id": shipment["crm_order_id"],
                             "number": number, "ident": action.ident, "by": action.by, "fields": action.fields})
    if plan.note:
        _tell(ctx, db, number, "payment", f"order {number}: {plan.note}")


# -- sending to the CRM ----------------------------------------------------------------
def send_to_crm(ctx: PassContext, crm: RetailcrmClient) -> None:
    senders = {"crm-status": _crm_status, "crm-payment-delete": _crm_payment_delete,
               "crm-payment-create": _crm_payment_create, "crm-payment-edit": _crm_payment_edit}
    for item in ctx.journal.due(NAME):
        if item.kind not in senders:
            continue
        if item.kind.startswith("crm-payment"):
            fresh = ctx.journal.one("SELECT state FROM outbox WHERE id = ?", (item.id,))
            if fresh["state"] == "dropped":  # an earlier payment step failed: these wait for a person
                continue
        _send(ctx, item, lambda: senders[item.kind](ctx, crm, item))


def _crm_status(ctx: PassContext, crm: RetailcrmClient, item: OutboxItem) -> None:
    crm.edit_order(item.payload["crm_order_id"], {"status": item.payload["status"]})
    ctx.journal.finish_send(item, "sent", 200)
    ctx.counts["crm_statuses_set"] += 1


def _crm_payment_delete(ctx: PassContext, crm: RetailcrmClient, item: OutboxItem) -> None:
    try:
        crm.delete_payment(item.payload["ident"])
    except PermanentError as exc:
        if exc.status != 404:  # 404: deleted already (a repeat after a lost reply)
            raise
    ctx.journal.finish_send(item, "sent", 200)
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
    ctx.journal.finish_send(item, "sent", 201)
    ctx.counts["crm_payments_created"] += 1


def _crm_payment_edit(ctx: PassContext, crm: RetailcrmClient, item: OutboxItem) -> None:
    crm.edit_payment(item.payload["ident"], item.payload["by"], item.payload["fields"])
    ctx.journal.finish_send(item, "sent", 200)
    ctx.counts["crm_payments_edited"] += 1


# -- shared ----------------------------------------------------------------------------
@contextmanager
def whole_pass(what: str) -> Iterator[None]:
    """A refusal of a call the whole pass stands on is not one item's problem: exit 69."""
    try:
        yield
    except PermanentError as exc:
        raise RefusedError(f"{what}: {exc}") from None


def _failed(ctx: PassContext, item: OutboxItem, message: str, state: str | None = None,
            counter: str | None = None) -> None:
    """Refused for good: recorded on the item and the shipment, shown, not retried."""
    number = item.payload.get("number", "?")
    text = message if message.startswith("order ") else f"order {number}: {message}"
    with ctx.journal.write() as db:
        ctx.journal.finish_send(item, "failed", message=text, db=db)
        shipment_id = item.payload["shipment_id"]
        if state:
            store.set_state(db, shipment_id, state, text)
        else:
            store.set_error(db, shipment_id, text)
        if item.kind.startswith("crm-payment"):  # the later steps of this payment change wait too
            _drop(db, "crm-payment-%", store.by_id(db, shipment_id)["orderno"], "an earlier payment step failed")
        _tell(ctx, db, str(number), item.kind, text)
    ctx.counts[counter or f"{item.kind.replace('-', '_')}_refused"] += 1


def _tell(ctx: PassContext, db: Database, number: str, what: str, message: str) -> None:
    """Shown now (summary, log) and kept for a person (status, notifications), once per message."""
    digest = hashlib.sha1(message.encode("utf-8")).hexdigest()[:10]
    ctx.journal.notify(db, NAME, number, f"{what}:{digest}", message)
    ctx.problem(message)


def _unsent(db: Database, kind: str, orderno: str) -> dict[str, Any] | None:
    """The shipment's `kind` item that was queued and never tried."""
    prefix = f"{orderno}/"
    row = db.execute("""SELECT * FROM outbox WHERE connector = ? AND kind = ? AND state = 'pending'
                        AND attempts = 0 AND substr(business_key, 1, ?) = ? ORDER BY id DESC LIMIT 1""",
                     (NAME, kind, len(prefix), prefix)).fetchone()
    return dict(row) if row else None


def _drop(db: Database, kind: str, orderno: str, why: str) -> None:
    """Withdraw a shipment's never-tried items of a kind (`crm-payment-%`: every payment step)."""
    prefix = f"{orderno}/"
    db.execute("""UPDATE outbox SET state = 'dropped', last_error = ? WHERE connector = ? AND kind LIKE ?
                  AND state = 'pending' AND attempts = 0 AND substr(business_key, 1, ?) = ?""",
               (why, NAME, kind, len(prefix), prefix))


# ====================================================================== status and doctor
def status_view(journal: Any) -> dict[str, Any]:
    counts = {f"shipments {state}": n for state, n in sorted(store.state_counts(journal).items())}
    counts["shipments with a problem"] = store.with_problems(journal)
    unseen = store.with_problems(journal, unseen_only=True)
    attention = ([f"{unseen} shipment(s) need a person (maorders shipments list --problems)"]
                 if unseen else [])
    return {"counts": counts, "attention": attention}


def doctor_checks(settings: Any, budget: Any) -> list[dict[str, Any]]:
    from maorders.errors import MaordersError
    from maorders.http import Remote

    s, timeout = settings.courier, settings.general.http_timeout
    checks = []
    measoft_remote = Remote("measoft", s.measoft_url, timeout, 1, budget)
    crm_remote = paced(Remote("retailcrm", s.retailcrm_url, timeout, 1, budget, rate_limit=RATE_LIMIT),
                       window_file(settings.general.journal, "retailcrm"), RATE_LIMIT)
    probes = [
        ("measoft", measoft_remote, lambda: _measoft_probe(MeasoftClient(
            measoft_remote, s.measoft_login, s.measoft_password, s.measoft_extra, s.measoft_stream_id), s)),
        ("retailcrm", crm_remote, lambda: _crm_probe(RetailcrmClient(crm_remote, s.retailcrm_api_key,
                                                                     s.retailcrm_site), s)),
    ]
    for name, remote, probe in probes:
        try:
            checks.append({"check": name, "ok": True, "detail": probe()})
        except MaordersError as exc:
            checks.append({"check": name, "ok": False, "exit_code": exc.exit_code or 69, "detail": str(exc)})
        finally:
            remote.close()
    return checks


def _measoft_probe(client: MeasoftClient, s: Any) -> str:
    client.find("maorders-doctor")  # a lookup that changes nothing; auth is checked on the way
    stream = f", stream {s.measoft_stream_id}" if s.measoft_stream_id else ""
    return f"{s.measoft_url}: credentials accepted (extra {s.measoft_extra}{stream})"


def _crm_probe(client: RetailcrmClient, s: Any) -> str:
    page = client.history(0)
    return f"{s.retailcrm_url}: API key accepted, site {s.retailcrm_site}; history readable ({len(page.records)} record(s) on the first page)"


PASSES = {
    "pull-orders": pull_orders,
    "push-statuses": push_statuses,
}
