"""MegApteka's passes: read the journal, call the wire, apply the rules, write the journal."""

from __future__ import annotations

import logging
from typing import Any, Callable

from sqlite3 import Connection

from maorders.errors import PermanentError, TransientError
from maorders.i18n import _, ngettext
from maorders.journal import Journal, now, stamp
from maorders.megapteka import booking, store
from maorders.megapteka.client import BadOrder, MegaptekaClient, Page, entry_id, parse_order
from maorders.megapteka.limits import MAX_ID, is_id
from maorders.megapteka.export import client_for, export_stock
from maorders.runner import PassContext

NAME = store.CONNECTOR
log = logging.getLogger("maorders.megapteka")
__all__ = ["export_stock", "pull_orders", "push_statuses", "expire_bookings", "status_view", "doctor_checks"]


# -- pull-orders ----------------------------------------------------------------------------
def pull_orders(ctx: PassContext) -> None:
    """The site's events first: a cancel read before its order arrives waits for it, so
    an order the customer cancelled before we fetched it is never booked."""
    client = client_for(ctx)
    apply_events(ctx, client)
    drain(ctx, "orders", client.fetch_orders, receive_order)


def drain(ctx: PassContext, feed: str, fetch: Callable[[int], Page],
          apply: Callable[[PassContext, Connection, Any], None]) -> None:
    """Read a cursor feed to its end; each page is applied with its cursor in one transaction.

    The cursor moves only over what was applied (a bad entry is applied as a rejected
    one) and only to ids SQLite can keep. When another pass moved it meanwhile (both
    pull-orders and push-statuses read the events), the page is fetched again from there."""
    cursor = int(ctx.journal.cursor(NAME, feed))
    while True:
        page = fetch(cursor)
        with ctx.journal.write() as db:
            stored = int(ctx.journal.cursor(NAME, feed))
            if stored != cursor:  # someone else applied from `cursor` on: read from theirs
                cursor = stored
                continue
            for item in page.items:
                apply(ctx, db, item)
            ids = [i for i in (page.last_id, *map(entry_id, page.items)) if i is not None and 0 < i <= MAX_ID]
            moved = max(cursor, *ids) if ids else cursor
            ctx.journal.set_cursor(db, NAME, feed, str(moved))
        if not page.has_more or not page.items or moved == cursor:
            return
        cursor = moved


def receive_order(ctx: PassContext, db: Connection, raw: Any) -> None:
    ctx.counts["received"] += 1
    order_id = entry_id(raw)
    if order_id is None:
        _unusable_entry(ctx, db, "orders", raw)
        return
    if store.known(db, order_id):
        ctx.counts["already_known"] += 1  # the site re-sends orders it saw no status for
        return
    waiting = store.take_waiting_events(db, order_id)
    try:
        order = parse_order(raw)
    except BadOrder as exc:
        store.save_rejected(db, raw, str(exc))
        ctx.journal.notify(db, NAME, str(order_id), "rejected", _("Internet order not accepted: {why}").format(why=exc))
        ctx.counts["rejected"] += 1
        ctx.problem(str(exc))
        _apply_waiting(ctx, db, waiting)
        return
    if any(event["status"] == booking.STATUS_CANCELLED for event in waiting):
        _cancelled_before_received(ctx, db, raw, order)
        return
    decision = booking.book(order, lambda line: store.match_stock(db, line))
    store.save_order(db, raw, order, decision)
    queue_status(ctx.journal, db, order.id, decision.status, comment=decision.comment)
    # news, but a part booking waits for a person to ask the customer (status 7)
    ctx.journal.notify(db, NAME, str(order.id), "received", decision.notification,
                       problem=decision.outcome == "partial")
    ctx.counts[{"full": "booked_full", "partial": "booked_partial", "none": "not_booked"}[decision.outcome]] += 1
    _apply_waiting(ctx, db, waiting)


def _cancelled_before_received(ctx: PassContext, db: Connection, raw: dict[str, Any], order: booking.Order) -> None:
    """The customer cancelled before we fetched the order: not booked, its stock stays free,
    and no status goes out (the site takes nothing after 3)."""
    store.save_cancelled(db, raw, order)
    ctx.journal.notify(db, NAME, str(order.id), "cancelled-before-received",
                       _("Internet order {number} was cancelled on the site before it was fetched: not booked")
                       .format(number=order.number),
                       problem=False)
    ctx.counts["cancelled_before_booking"] += 1


def _apply_waiting(ctx: PassContext, db: Connection, events: list[dict[str, Any]]) -> None:
    """The site events that waited for this order (counted when they were read)."""
    for event in events:
        _apply_site_event(ctx, db, store.order_by_id(db, event["order_id"]), event)


def _unusable_entry(ctx: PassContext, db: Connection, feed: str, raw: Any) -> None:
    """A feed entry with no id SQLite can keep: shown and notified, never applied."""
    if isinstance(raw, dict):  # the id only: the rest may carry a customer's data
        text = repr(raw.get("id")) if len(repr(raw.get("id"))) <= 40 else repr(raw.get("id"))[:37] + "..."
    else:
        text = f"<not an object: {type(raw).__name__}>"
    message = _("a {feed} entry with the id {id} (not a whole number 1..{most}) is not accepted"
                ).format(feed=feed, id=text, most=MAX_ID)
    ctx.journal.notify(db, NAME, f"{feed}:{text}", "rejected", _("A record from the site was not accepted: {why}").format(why=message))
    ctx.counts["rejected"] += 1
    ctx.problem(message)


def queue_status(journal: Journal, db: Connection, order_id: int, status: int,
                 items: list[dict[str, int]] | None = None, comment: str = "") -> bool:
    """Queue a pharmacy status once; its status_id is made here and re-sent unchanged."""
    payload = {"order_id": order_id, "status": status, "created_at": stamp(), "items": items or [],
               "comment": comment}
    return journal.enqueue(db, NAME, "status", f"{order_id}/{status}", payload)


# -- push-statuses --------------------------------------------------------------------------
def push_statuses(ctx: PassContext) -> None:
    client = client_for(ctx)
    apply_events(ctx, client)  # first: a site cancel drops the statuses never tried (no 409)
    send_statuses(ctx, client)


def send_statuses(ctx: PassContext, client: MegaptekaClient) -> None:
    """Every queued status in order; a later status of an order waits for the earlier one."""
    held_back: set[int] = set()
    for item in ctx.journal.due(NAME, "status"):
        order_id = item.payload["order_id"]
        if order_id in held_back:
            continue
        ctx.journal.begin_send(item)
        try:
            client.send_status(order_id, item.idempotency_key, item.payload["status"],
                               item.payload["created_at"], item.payload["items"], item.payload["comment"])
        except PermanentError as exc:
            _status_refused(ctx, item, exc)
            held_back.add(order_id)
            continue
        except TransientError as exc:
            ctx.journal.finish_send(item, "retry", message=str(exc))
            ctx.counts["statuses_to_retry"] += 1
            raise
        ctx.journal.finish_send(item, "sent", 200)
        ctx.counts["statuses_sent"] += 1


def _status_refused(ctx: PassContext, item: Any, exc: PermanentError) -> None:
    order_id, status = item.payload["order_id"], item.payload["status"]
    with ctx.journal.write() as db:
        ctx.journal.finish_send(item, "failed", exc.status, str(exc), db=db)
        ctx.journal.notify(db, NAME, str(order_id), f"status-{status}-refused",
                           _("The site refused status {status} ({name}) of order {order}: {why}").format(
                               status=status, name=booking.STATUS_NAMES.get(status), order=order_id, why=exc))
    ctx.counts["statuses_refused"] += 1
    ctx.problem(_("status {status} of order {order} refused for good: {why}").format(status=status, order=order_id,
                                                                                     why=exc))


def apply_events(ctx: PassContext, client: MegaptekaClient) -> None:
    drain(ctx, "events", client.fetch_events, apply_event)


def apply_event(ctx: PassContext, db: Connection, event: Any) -> None:
    ctx.counts["events"] += 1
    if entry_id(event) is None:
        _unusable_entry(ctx, db, "events", event)
        return
    order_id, status = event.get("order_id"), event.get("status")
    if not is_id(order_id) or type(status) is not int or status not in (booking.STATUS_CANCELLED,
                                                                        booking.STATUS_CONFIRMED):
        ctx.problem(_("site event {event}: order {order}, status {status} is not an event the site sends; ignored")
                    .format(event=event["id"], order=f"{order_id!r:.40}", status=f"{status!r:.20}"))
        return
    order = store.order_by_id(db, order_id)
    if order is None:  # not received yet: applied when it arrives
        store.wait_for_order(db, event)
        ctx.counts["events_waiting"] += 1
        log.info("site event %s waits for order %s", event["id"], order_id)
        return
    _apply_site_event(ctx, db, order, event)


def _apply_site_event(ctx: PassContext, db: Connection, order: dict[str, Any], event: dict[str, Any]) -> None:
    if event["status"] == booking.STATUS_CANCELLED:
        change = booking.on_site_cancel(order["number"], order["booking_state"], order["order_state"])
        _drop_unsent_statuses(db, order["id"])
        ctx.counts["cancelled"] += 1
    else:
        change = booking.on_site_confirm(order["booking_state"], order["order_state"])
        ctx.counts["confirmed"] += 1
    apply_change(ctx.journal, db, order, change, f"event-{event['id']}")


def _drop_unsent_statuses(db: Connection, order_id: int) -> None:
    """The site takes nothing after 3: statuses never tried are dropped, not refused."""
    db.execute("""UPDATE outbox SET state = 'dropped', last_error = 'order cancelled on the site'
                  WHERE connector = ? AND kind = 'status' AND state = 'pending' AND attempts = 0
                  AND business_key BETWEEN ? AND ?""", (NAME, *status_keys(order_id)))


def status_keys(order_id: int) -> tuple[str, str]:
    """The range of an order's status business keys ("1042/1" … "1042/8"): a range, unlike
    LIKE, is looked up in the outbox's unique index."""
    return f"{order_id}/", f"{order_id}/~"


def apply_change(journal: Journal, db: Connection, order: dict[str, Any], change: booking.Change,
                 why: str, items: list[dict[str, int]] | None = None, comment: str = "") -> None:
    """Write a booking change, its status and its notification in the caller's transaction."""
    store.set_states(db, order["id"], change.booking_state, change.order_state)
    if change.status is not None:
        queue_status(journal, db, order["id"], change.status, items, comment)
    if change.notification:
        journal.notify(db, NAME, str(order["id"]), why, change.notification, problem=change.needs_person)


# -- expire-bookings ------------------------------------------------------------------------
def expire_bookings(ctx: PassContext) -> None:
    from datetime import datetime

    ttl, moment = ctx.settings.megapteka.booking_ttl_hours, now()
    for order in store.active_bookings(ctx.journal):
        if not booking.expired(datetime.fromisoformat(order["booked_at"]), ttl, moment):
            continue
        with ctx.journal.write() as db:
            fresh = store.order_by_id(db, order["id"])  # a person may have issued it meanwhile
            if fresh["booking_state"] not in booking.ACTIVE:
                continue
            apply_change(ctx.journal, db, fresh, booking.on_expiry(fresh["number"], fresh["order_state"]),
                         "expired", comment="Истек срок хранения брони")
        ctx.counts["expired"] += 1
        log.info("booking of order %s expired", order["id"])


# -- status and doctor ----------------------------------------------------------------------
def status_view(journal: Journal) -> dict[str, Any]:
    counts = {f"bookings {row['booking_state']}": row["n"] for row in journal.rows(
        "SELECT booking_state, COUNT(*) AS n FROM mp_orders WHERE booking_state IS NOT NULL GROUP BY 1")}
    to_unbook = len(store.list_orders(journal, cancelled_by_client=True))
    rejected = journal.value("""SELECT COUNT(*) FROM notifications WHERE connector = 'megapteka'
                                AND kind = 'rejected' AND seen_at IS NULL""")  # until a person acknowledges
    counts.update({"stock rows": journal.value("SELECT COUNT(*) FROM mp_stock"),
                   "site events waiting for their order": journal.value("SELECT COUNT(*) FROM mp_waiting_events"),
                   "cancelled by client, to unbook": to_unbook, "orders rejected": rejected})
    attention = [ngettext("{count} booking «Аннулирован клиентом» to unbook ({command})",
                          "{count} bookings «Аннулирован клиентом» to unbook ({command})", to_unbook).format(
        count=to_unbook, command="maorders bookings list --cancelled-by-client")] if to_unbook else []
    attention += [ngettext("{count} order not accepted (see {command} and the notifications; then status --ack)",
                           "{count} orders not accepted (see {command} and the notifications; then status --ack)",
                           rejected).format(count=rejected, command="bookings list --state rejected")
                  ] if rejected else []
    return {"counts": counts, "attention": attention}


def doctor_checks(settings: Any, budget: Any) -> list[dict[str, Any]]:
    from maorders.errors import MaordersError
    from maorders.http import Remote

    mp = settings.megapteka
    checks = []
    if mp.stock_file:
        from maorders.megapteka.export import stock_file_check

        checks.append(stock_file_check(mp.stock_file, mp.department))
    remote = Remote("megapteka", mp.url, settings.general.http_timeout, 1, budget)
    try:
        client = MegaptekaClient(remote, mp.pharmacy_code, mp.secret)
        client.check_credentials()
        site = client.fetch_stock()
        checks.append({"check": "megapteka", "ok": True,
                       "detail": _("{url}: credentials accepted; the site shows {count} stock item(s)").format(
                           url=mp.url, count=len(site["items"]))})
    except MaordersError as exc:
        checks.append({"check": "megapteka", "ok": False, "exit_code": exc.exit_code, "detail": str(exc)})
    finally:
        remote.close()
    return checks


PASSES = {
    "export-stock": export_stock,
    "pull-orders": pull_orders,
    "push-statuses": push_statuses,
    "expire-bookings": expire_bookings,
}
