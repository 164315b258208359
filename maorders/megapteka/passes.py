"""MegApteka's passes: read the journal, call the wire, apply the rules, write the journal."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from typing import Any, Callable, Iterator

from sqlite_utils import Database

from maorders.errors import ConfigError, InputError, PermanentError, TransientError
from maorders.journal import Journal, now, stamp
from maorders.megapteka import booking, store
from maorders.megapteka.client import PART_SIZE, BadOrder, MegaptekaClient, Page, parse_order
from maorders.megapteka.stock import BadRow, StockFile, StockRow
from maorders.runner import PassContext

NAME = store.CONNECTOR
log = logging.getLogger("maorders.megapteka")
SHOWN_BAD_ROWS = 100  # every bad row goes to the log; this many are shown to a person


def client_for(ctx: PassContext) -> MegaptekaClient:
    settings = ctx.settings.megapteka
    return MegaptekaClient(ctx.remote("megapteka", settings.url), settings.pharmacy_code, settings.secret)


# -- export-stock ---------------------------------------------------------------------------
def export_stock(ctx: PassContext) -> None:
    settings = ctx.settings.megapteka
    path = ctx.options.get("stock_file") or settings.stock_file
    if path is None:
        raise ConfigError("MEGAPTEKA_STOCK_FILE is not set (or give --stock-file)")
    rows = StockFile(path).rows()
    first = next(rows, None)  # a file unusable as a whole fails here, before the journal is touched
    if first is None:  # a broken export with a header only would wipe the site's stock
        raise InputError(f"{path}: the stock file has a header but no rows; nothing exported")
    with PartSpool(_pharmacy(settings)) as spool:
        with ctx.journal.write() as db:
            held = store.reserved(db)
            store.replace_stock(db, _kept_rows(ctx, _chain(first, rows), settings.department, held, spool))
        spool.close_part()
        snapshot_id, content = _snapshot_id(ctx.journal, spool.digest.hexdigest()[:32])
        _upload(ctx, snapshot_id, spool)
    with ctx.journal.write() as db:
        ctx.journal.set_cursor(db, NAME, "stock_snapshot", snapshot_id)
        ctx.journal.set_cursor(db, NAME, "stock_content", content)


def _snapshot_id(journal: Journal, content: str) -> tuple[str, str]:
    """Nothing new repeats the last id (a rerun after a kill replaces, never adds); stock
    that comes back to an earlier state (A, B, A) gets an id the site has not seen, since
    the site never replaces its stock twice under one id."""
    last_id = journal.cursor(NAME, "stock_snapshot", "")
    if journal.cursor(NAME, "stock_content", "") == content:
        return last_id, content
    return hashlib.sha256(f"{last_id}/{content}".encode()).hexdigest()[:32], content


class PartSpool:
    """The upload, encoded part by part while the file is read, kept in a temporary file.

    Memory stays flat whatever the file's size, the stock is read once, and the
    snapshot's content id is the hash of exactly the bytes the site will get.
    """

    def __init__(self, pharmacy: dict[str, str]):
        self.file = tempfile.TemporaryFile()
        self.parts: list[tuple[int, int, int]] = []  # (offset, length, items)
        self.items: list[dict[str, Any]] = []
        self.digest = hashlib.sha256(json.dumps(pharmacy, ensure_ascii=False).encode())

    def add(self, item: dict[str, Any]) -> None:
        self.items.append(item)
        if len(self.items) == PART_SIZE:
            self.close_part()

    def close_part(self) -> None:
        if not self.items and self.parts:
            return
        data = json.dumps(self.items, ensure_ascii=False).encode()
        self.digest.update(data)
        self.parts.append((self.file.tell(), len(data), len(self.items)))
        self.file.write(data)
        self.items = []

    def read(self) -> Iterator[tuple[bytes, int]]:
        """The parts' items, each a JSON array, and how many items each has."""
        for offset, length, count in self.parts:
            self.file.seek(offset)
            yield self.file.read(length), count

    def __enter__(self) -> "PartSpool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _chain(first: Any, rows: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rows


def _kept_rows(ctx: PassContext, rows: Iterator[StockRow | BadRow], department: str,
               held: dict[str, int], spool: PartSpool) -> Iterator[StockRow]:
    """The default department's good rows, spooled for the site as they go to the journal;
    bad and duplicated rows reported by line. (One loop: it runs 200,000 times a file.)"""
    seen: set[str] = set()
    counts = ctx.counts
    for row in rows:
        counts["rows_read"] += 1
        if type(row) is BadRow:
            _bad_row(ctx, str(row))
        elif row.department and row.department != department:
            counts["other_department"] += 1
        elif row.sku in seen:
            _bad_row(ctx, f"line {row.line} (sku {row.sku}): duplicated sku; the first row is exported")
        else:
            seen.add(row.sku)
            spool.add(_item(row, held))
            yield row


def _bad_row(ctx: PassContext, message: str) -> None:
    ctx.counts["skipped_rows"] += 1
    log.warning("stock file: %s", message)
    if ctx.counts["skipped_rows"] <= SHOWN_BAD_ROWS:
        ctx.problems.append(f"stock file {message}")


def _item(row: StockRow, held: dict[str, int]) -> dict[str, Any]:
    """A stock row as the site gets it: what is free, after active bookings."""
    return {"sku": row.sku, "name": row.name, "manufacturer": row.manufacturer, "price": row.price,
            "quantity": max(0, row.quantity - held.get(row.sku, 0)), "barcode": row.barcode,
            "protek_code": row.protek_code, "katren_code": row.katren_code, "egk_code": row.egk_code,
            "expires_at": row.expires_at}


def _pharmacy(settings: Any) -> dict[str, str]:
    company = settings.company
    return {"region": company.region, "city": company.city, "brand": company.brand}


def _upload(ctx: PassContext, snapshot_id: str, spool: PartSpool) -> None:
    """PUT every part; the same snapshot id makes a rerun after a kill replace, not add."""
    client, generated_at, parts = client_for(ctx), stamp(), len(spool.parts)
    with ctx.out.progress("uploading stock", total=parts, every=1) as progress:
        for part, (items, count) in enumerate(spool.read(), 1):
            reply = client.put_stock_part(snapshot_id, part, parts, generated_at,
                                          _pharmacy(ctx.settings.megapteka), items)
            for rejected in reply["rejected"]:
                ctx.problem(f"the site rejected sku {rejected.get('sku')}: {rejected.get('reason')}")
            ctx.counts["exported"] += count - len(reply["rejected"])
            ctx.counts["parts"] += 1
            progress.advance(1)


# -- pull-orders ----------------------------------------------------------------------------
def pull_orders(ctx: PassContext) -> None:
    drain(ctx, "orders", client_for(ctx).fetch_orders, receive_order)


def drain(ctx: PassContext, feed: str, fetch: Callable[[int], Page],
          apply: Callable[[PassContext, Database, dict[str, Any]], None]) -> None:
    """Read a cursor feed to its end; each page is applied with its cursor in one transaction."""
    cursor = int(ctx.journal.cursor(NAME, feed))
    while True:
        page = fetch(cursor)
        with ctx.journal.write() as db:
            for item in page.items:
                apply(ctx, db, item)
            cursor = max(cursor, page.last_id, *(item["id"] for item in page.items))
            ctx.journal.set_cursor(db, NAME, feed, str(cursor))
        if not page.has_more or not page.items:
            return


def receive_order(ctx: PassContext, db: Database, raw: dict[str, Any]) -> None:
    ctx.counts["received"] += 1
    if store.known(db, raw["id"]):
        ctx.counts["already_known"] += 1  # the site re-sends orders it saw no status for
        return
    try:
        order = parse_order(raw)
    except BadOrder as exc:
        store.save_rejected(db, raw, str(exc))
        ctx.journal.notify(db, NAME, str(raw["id"]), "rejected", f"Интернет-заказ не принят: {exc}")
        ctx.counts["rejected"] += 1
        ctx.problem(str(exc))
        return
    decision = booking.book(order, lambda line: store.match_stock(db, line))
    store.save_order(db, raw, order, decision)
    queue_status(ctx.journal, db, order.id, decision.status, comment=decision.comment)
    ctx.journal.notify(db, NAME, str(order.id), "received", decision.notification)
    ctx.counts[{"full": "booked_full", "partial": "booked_partial", "none": "not_booked"}[decision.outcome]] += 1


def queue_status(journal: Journal, db: Database, order_id: int, status: int,
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
                           f"Сайт не принял статус {status} ({booking.STATUS_NAMES.get(status)}) "
                           f"заказа {order_id}: {exc}")
    ctx.counts["statuses_refused"] += 1
    ctx.problem(f"status {status} of order {order_id} refused for good: {exc}")


def apply_events(ctx: PassContext, client: MegaptekaClient) -> None:
    drain(ctx, "events", client.fetch_events, apply_event)


def apply_event(ctx: PassContext, db: Database, event: dict[str, Any]) -> None:
    ctx.counts["events"] += 1
    order = store.order_by_id(db, event.get("order_id")) if isinstance(event.get("order_id"), int) else None
    if order is None:
        ctx.problem(f"site event {event['id']} names an unknown order {event.get('order_id')!r}; ignored")
        return
    status = event.get("status")
    if status == booking.STATUS_CANCELLED:
        change = booking.on_site_cancel(order["number"], order["booking_state"], order["order_state"])
        _drop_unsent_statuses(db, order["id"])
        ctx.counts["cancelled"] += 1
    elif status == booking.STATUS_CONFIRMED:
        change = booking.on_site_confirm(order["booking_state"], order["order_state"])
        ctx.counts["confirmed"] += 1
    else:
        ctx.problem(f"site event {event['id']}: status {status!r} is not one the site sends; ignored")
        return
    apply_change(ctx.journal, db, order, change, f"event-{event['id']}")


def _drop_unsent_statuses(db: Database, order_id: int) -> None:
    """The site takes nothing after 3: statuses never tried are dropped, not refused."""
    db.execute("""UPDATE outbox SET state = 'dropped', last_error = 'order cancelled on the site'
                  WHERE connector = ? AND kind = 'status' AND state = 'pending' AND attempts = 0
                  AND business_key BETWEEN ? AND ?""", (NAME, *status_keys(order_id)))


def status_keys(order_id: int) -> tuple[str, str]:
    """The range of an order's status business keys ("1042/1" … "1042/8"): a range, unlike
    LIKE, is looked up in the outbox's unique index."""
    return f"{order_id}/", f"{order_id}/~"


def apply_change(journal: Journal, db: Database, order: dict[str, Any], change: booking.Change,
                 why: str, items: list[dict[str, int]] | None = None, comment: str = "") -> None:
    """Write a booking change, its status and its notification in the caller's transaction."""
    store.set_states(db, order["id"], change.booking_state, change.order_state)
    if change.status is not None:
        queue_status(journal, db, order["id"], change.status, items, comment)
    if change.notification:
        journal.notify(db, NAME, str(order["id"]), why, change.notification)


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
    rejected = journal.value("""SELECT COUNT(*) FROM mp_orders o JOIN notifications n
                                ON n.connector = 'megapteka' AND n.subject = CAST(o.id AS TEXT)
                                AND n.kind = 'rejected' AND n.seen_at IS NULL
                                WHERE o.outcome = 'rejected'""")  # until a person acknowledges
    counts.update({"stock rows": journal.value("SELECT COUNT(*) FROM mp_stock"),
                   "cancelled by client, to unbook": to_unbook, "orders rejected": rejected})
    attention = [f"{to_unbook} booking(s) «Аннулирован клиентом» to unbook"] if to_unbook else []
    attention += [f"{rejected} order(s) not accepted (see bookings list --state rejected; then status --ack)"
                  ] if rejected else []
    return {"counts": counts, "attention": attention}


def doctor_checks(settings: Any, budget: Any) -> list[dict[str, Any]]:
    from maorders.errors import MaordersError
    from maorders.http import Remote

    mp = settings.megapteka
    checks = []
    if mp.stock_file:
        ok = mp.stock_file.is_file()
        checks.append({"check": "megapteka stock file", "ok": ok, "exit_code": 65,
                       "detail": f"{mp.stock_file}" + ("" if ok else " does not exist")})
    remote = Remote("megapteka", mp.url, settings.general.http_timeout, 1, budget)
    try:
        client = MegaptekaClient(remote, mp.pharmacy_code, mp.secret)
        client.check_credentials()
        site = client.fetch_stock()
        checks.append({"check": "megapteka", "ok": True,
                       "detail": f"{mp.url}: credentials accepted; the site shows {len(site['items'])} item(s)"})
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
