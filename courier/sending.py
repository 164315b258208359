"""Sending to MeaSoft: every queued neworder, then editorders and cancelorders, oldest first.

Fair usage (MeaSoft wiki «Fair Usage Policy»: 150 requests a minute, 1,500 in 20 minutes per
IP): neworders go several to a request (MeaSoft answers one `createorder` each: wiki
«Creating Order»), and where several orders must be read back they are read with one
`statusreq` by date range, never one request per number. neworders go first: an edit or a
cancel of an order is only ever queued after its neworder.

A neworder whose reply was lost answers error 17 and is read back; it is adopted only when it
is provably ours (`courier.ours`). An edit is sent only while MeaSoft has not taken the order
in work. A per-order error that MeaSoft's general table calls transient (13, 33) is retried a
few times, not final at once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from courier import ours, store, sync
from courier.cancelling import send_cancel
from courier.measoft import ORDER_EXISTS, TRANSIENT, ItemResult, MeasoftClient, Parcel
from courier.outbox import NAME, begin_all, failed, send_item
from maorders.errors import ConfigError, PermanentError, RefusedError, TransientError
from maorders.i18n import _
from maorders.journal import OutboxItem
from maorders.runner import PassContext

# Orders in one neworder: MeaSoft documents no maximum; 50 keeps a request well under the
# emulator's (and any sane server's) body limit while 500 orders take 10 requests.
NEWORDER_BATCH = 50
# From this many orders to read back, one statusreq by date range instead of one per number.
GROUP_LOOKUP = 3
# A date range wider than this is not read whole (a busy shop's month is too big a reply):
# the numbers are read one by one instead.
MAX_RANGE = timedelta(days=7)
# A per-order error 13/33 is retried this many times, a few minutes apart, then kept as refused.
TRANSIENT_TRIES = 5
RETRY_IN = timedelta(minutes=2)


def send_to_measoft(ctx: PassContext, measoft: MeasoftClient) -> None:
    """Every queued neworder (in batches), then every editorder and cancelorder, oldest first."""
    due = [item for item in ctx.journal.due(NAME) if item.kind in ("neworder", "editorder", "cancelorder")]
    news = [item for item in due if item.kind == "neworder"]
    for start in range(0, len(news), NEWORDER_BATCH):
        send_new(ctx, measoft, news[start:start + NEWORDER_BATCH])
    rest = [item for item in due if item.kind != "neworder"]
    known = read_back(ctx, measoft, [item for item in rest if item.kind == "editorder"])
    for item in rest:
        if item.kind == "editorder":
            send_item(ctx, item, lambda: send_edit(ctx, measoft, item, known))
        else:
            send_item(ctx, item, lambda: send_cancel(ctx, measoft, item))


def send_new(ctx: PassContext, measoft: MeasoftClient, items: list[OutboxItem]) -> None:
    """One neworder for these orders; each result recorded on its own item."""
    begin_all(ctx, items)
    try:
        results = measoft.create_orders([item.payload["order"] for item in items])
    except PermanentError as exc:
        if len(items) > 1:  # one order MeaSoft cannot read must not refuse its neighbours
            for item in items:
                send_new(ctx, measoft, [item])
            return
        failed(ctx, items[0], str(exc), state="rejected", counter="shipments_refused")
        return
    except (TransientError, RefusedError, ConfigError) as exc:  # not sent: retried later
        with ctx.journal.write() as db:
            for item in items:
                ctx.journal.finish_send(item, "retry", message=str(exc), db=db)
        raise
    _take_results(ctx, measoft, items, results)


def _take_results(ctx: PassContext, measoft: MeasoftClient, items: list[OutboxItem],
                  results: dict[str, ItemResult]) -> None:
    exists, refused = [], []
    # MeaSoft has answered: what it accepted is recorded even past the budget (else the next pass
    # sends it again); the retries of the same reply go in the same transaction
    with ctx.journal.recording() as db:
        for item in items:
            result = results[item.payload["order"]["orderno"]]
            if result.ok:
                ctx.journal.finish_send(item, "sent", 200, db=db)
                store.accepted(db, item.payload["shipment_id"])
                ctx.counts["shipments_sent"] += 1
            elif result.code == ORDER_EXISTS:
                exists.append(item)
            elif result.code in TRANSIENT and item.attempts < TRANSIENT_TRIES:
                ctx.journal.finish_send(item, "retry", message=_words(result), retry_in=RETRY_IN, db=db)
                ctx.counts["shipments_retried_later"] += 1
            else:
                refused.append((item, result))
    for item, result in refused:
        failed(ctx, item, _("MeaSoft refused order {orderno}: {words}").format(orderno=result.orderno,
                                                                              words=_words(result)), state="rejected",
               counter="shipments_refused")
    if exists:
        _recognise(ctx, measoft, exists)


def _words(result: ItemResult) -> str:
    return _("error {code}: {message}").format(code=result.code, message=result.message)


def _recognise(ctx: PassContext, measoft: MeasoftClient, items: list[OutboxItem]) -> None:
    """Error 17: MeaSoft has an order with this number. Ours when a reply was lost (our
    receiver's phone, made after we queued it); someone else's otherwise, for a person."""
    queued = {item.id: ctx.journal.value("SELECT created_at FROM outbox WHERE id = ?", (item.id,)) or ""
              for item in items}
    found = _lookup(measoft, [(item.payload["order"]["orderno"], queued[item.id]) for item in items])
    for item in items:
        order = item.payload["order"]
        phone = order["receiver"].get("phone", "")
        parcel = next((p for p in found.get(order["orderno"], []) if ours.adoptable(p, phone, queued[item.id])),
                      None)
        if parcel is None:
            failed(ctx, item, _("MeaSoft already has an order numbered {orderno} that is not provably this one "
                                "(error 17; not our receiver's phone, or made earlier); rename one of them").format(
                                    orderno=order["orderno"]),
                   state="rejected", counter="shipments_refused")
            continue
        with ctx.journal.recording() as db:  # ours, in MeaSoft already: recorded even past the budget
            ctx.journal.finish_send(item, "sent", 200, db=db,
                                    message=_("error 17: already in MeaSoft, recognised as ours"))
            store.accepted(db, item.payload["shipment_id"], parcel.ordercode, parcel.awb)
        ctx.counts["shipments_recognised"] += 1


def read_back(ctx: PassContext, measoft: MeasoftClient, edits: list[OutboxItem]) -> dict[str, list[Parcel]]:
    """The MeaSoft orders the queued edits change, read together when there are several."""
    if len(edits) < GROUP_LOOKUP:
        return {}
    wanted = []
    for item in edits:
        shipment = store.by_id(ctx.journal.db, item.payload["shipment_id"]) or {}
        wanted.append((item.payload["order"]["orderno"], shipment.get("created_at") or ""))
    return _lookup(measoft, wanted)


def _lookup(measoft: MeasoftClient, wanted: list[tuple[str, str]]) -> dict[str, list[Parcel]]:
    """orderno → the MeaSoft orders under it: one statusreq by date range for several orders
    (the wiki calls mass per-number queries abuse), one by number for one or two."""
    found: dict[str, list[Parcel]] = defaultdict(list)
    datefrom, dateto = ours.lookup_range([queued for _, queued in wanted])
    if len(wanted) >= GROUP_LOOKUP and date.fromisoformat(dateto) - date.fromisoformat(datefrom) <= MAX_RANGE:
        numbers = {orderno for orderno, _ in wanted}
        for parcel in measoft.created_between(datefrom, dateto):
            if parcel.orderno in numbers:
                found[parcel.orderno].append(parcel)
        return found
    for orderno, _queued in wanted:
        found[orderno] = measoft.lookup(orderno)
    return found


def send_edit(ctx: PassContext, measoft: MeasoftClient, item: OutboxItem,
              known: dict[str, list[Parcel]]) -> None:
    """editorder, after reading the order back: MeaSoft takes changes only before it is in work,
    and wants its own item codes to change items rather than add them."""
    order = item.payload["order"]
    shipment = store.by_id(ctx.journal.db, item.payload["shipment_id"]) or {}
    candidates = known[order["orderno"]] if order["orderno"] in known else measoft.lookup(order["orderno"])
    parcel = ours.pick(candidates, shipment)
    if parcel is None:
        failed(ctx, item, _("MeaSoft has no order {orderno} of ours to change").format(orderno=order["orderno"]))
        return
    if parcel.status not in sync.NOT_IN_WORK:
        failed(ctx, item, _("MeaSoft order {orderno} is already in work ({status}); the change was not passed "
                            "on").format(orderno=order["orderno"], status=parcel.status), counter="edits_refused")
        return
    codes = {i.extcode: i.code for i in parcel.items if i.extcode and i.code}
    result = measoft.edit_order(order, codes)
    if not result.ok:
        failed(ctx, item, _("MeaSoft refused the change of order {orderno}: {words}").format(
            orderno=order["orderno"], words=_words(result)),
               counter="edits_refused")
        return
    with ctx.journal.recording() as db:  # MeaSoft took the edit: recorded even past the budget
        ctx.journal.finish_send(item, "sent", 200, db=db)
        store.set_error(db, item.payload["shipment_id"], None)
    ctx.counts["edits_sent"] += 1
