"""Refunds of an unfinished fuelling (`scan-qr --refund`) and the scheduled `scan-qr --reconcile`.

A refund is keyed by its own request id, made once for its key (checkout.refund_key): the
return receipt when the till has one, else the operation and the amount asked (one refund
without a return receipt per operation). A rerun finds the same key: done → the first refund
back (`already_refunded`); unfinished → it asks the service by that request id first and
sends the very same request again only if it was not applied.

`--reconcile` settles what a killed or timed-out run left behind, once it is older than
MEGAINSIGHT_ORPHAN_MINUTES (the till had that long to run the same receipt again):
- a sale whose confirm the service never applied: abandoned (the till sold without loyalty);
- a sale the service applied but the till never completed: claimed (compare-and-set on its
  state, so a till rerun at the same moment either finishes it first or finds it claimed),
  refunded in full (an orphan), and a notification tells a person (`status`);
- a refund left unanswered: recorded if the service applied it, else abandoned.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from loyalty import checkout, exchange, store, till
from loyalty.megainsight import MegainsightClient, Refund
from loyalty.words import refund_state
from maorders.clock import now, stamp
from maorders.errors import InputError, TransientError
from maorders.i18n import _
from maorders.tillservice import caller_present

log = logging.getLogger("loyalty")


# ===================================================================== --refund
def refund(ctx) -> None:
    o = ctx.options
    operation = checkout.operation_id(o["refund"])
    amount = checkout.refund_amount(o.get("amount"))
    return_receipt = checkout.receipt_number(o.get("receipt_number"))
    interactive = till.is_terminal(ctx)
    if not interactive and not o.get("yes"):
        raise InputError(_("scan-qr --refund needs --yes when no one at a terminal can answer"))
    journal = ctx.journal
    sale = store.sale_by_operation(journal, operation)
    so_far = store.refunded_so_far(journal, operation)
    key = checkout.refund_key(operation, return_receipt, amount)
    existing = store.latest_refund(journal, key)
    if existing is not None and existing["state"] == "done":
        return _already_done(ctx, existing, amount)
    if existing is None and return_receipt is None:
        _one_without_receipt(journal, operation)
    if existing is not None and existing["state"] in store.UNFINISHED:
        mi = exchange.client(ctx)
        if _found_applied(ctx, mi, existing):
            return
        to_send = Decimal(existing["amount"]) if existing["amount"] is not None else None
    else:
        to_send = checkout.refundable(Decimal(sale["total_to_pay"]), so_far, amount) if sale else amount
        mi = exchange.client(ctx)
    if interactive and not till.ask_confirm(ctx, _("Refund {amount} of operation {operation}?").format(
            amount=_money(to_send), operation=operation)):
        ctx.counts["declined"] += 1
        ctx.result = {"operation_id": operation, "refunded": False}
        return
    if existing is None or existing["state"] not in store.UNFINISHED:
        if existing is not None:  # refused or never applied under this key: a fresh key and request id
            key = f"{key}/again-{uuid.uuid4().hex[:8]}"
        existing, _new = store.write_refund_intent(journal, key, str(uuid.uuid4()), operation,
                                                sale["id"] if sale else None, to_send, return_receipt, "till")
    send_refund(ctx, mi, existing, to_send)


def _one_without_receipt(journal, operation: str) -> None:
    """Without a return receipt an operation has one refund: the same command again gets it
    back; another amount is another refund, which needs its own --receipt-number."""
    earlier = store.refunds_without_receipt(journal, operation)
    if earlier:
        row = earlier[0]
        raise InputError(_("operation {operation} already has a refund without a return receipt ({amount}, "
                           "{refund}); a further refund needs its own --receipt-number (the return receipt)").format(
                               operation=operation, amount=_money(row["amount"]),
                               refund=row["refund_operation_id"] or refund_state(row["state"])))


def send_refund(ctx, mi: MegainsightClient, row: dict[str, Any], amount: Decimal | None,
                orphan_sale: dict[str, Any] | None = None) -> Refund:
    journal = ctx.journal
    item = store.outbox_item(journal, "refund", f"refund/{row['refund_key']}")
    if not caller_present():
        raise TransientError(_("refund of {operation}: the till program went away; nothing was sent").format(
            operation=row["operation_id"]))
    if not store.mark_sent(journal, "refunds", row["id"], item, ctx.config.budget):
        raise TransientError(_("the refund of {operation} was closed meanwhile: run the command again").format(
            operation=row["operation_id"]))
    with exchange.keyed_effect(journal, ctx.config, "refunds", row["id"], item,
                               _("refund operation {operation}").format(operation=row["operation_id"]), "refund"):
        done = mi.refund(row["operation_id"], row["request_id"], amount)
    notice = _orphan_notice(orphan_sale, row, done) if orphan_sale else None
    store.refund_done(journal, row["id"], item, done.operation_id, done.points_returned, done.points_revoked,
                      done.balance, orphan_sale["id"] if orphan_sale else None, notice)
    ctx.counts["orphans_refunded" if orphan_sale else "refunds"] += 1
    if not orphan_sale:
        _report(ctx, store.refund_by_key(journal, row["refund_key"]), already=False)
    return done


def _found_applied(ctx, mi: MegainsightClient, row: dict[str, Any], orphan_sale: dict[str, Any] | None = None,
                   report: bool = True) -> bool:
    """Ask by the refund's request id; record it when the service applied it."""
    with exchange.cashier_words(ctx.config, _("look up the refund of {operation}").format(
            operation=row["operation_id"])):
        found = mi.operations(row["request_id"])
    if not found:
        return False
    op = found[0]
    item = store.outbox_item(ctx.journal, "refund", f"refund/{row['refund_key']}")
    notice = _orphan_notice(orphan_sale, row, op) if orphan_sale else None
    store.refund_done(ctx.journal, row["id"], item, op.operation_id, op.points_returned, op.points_revoked,
                      op.balance, orphan_sale["id"] if orphan_sale else None, notice, 200)
    ctx.counts["orphans_refunded" if orphan_sale else "refunds_found_applied"] += 1
    if report:
        _report(ctx, store.refund_by_key(ctx.journal, row["refund_key"]), already=True)
    return True


def _already_done(ctx, row: dict[str, Any], amount: Decimal | None) -> None:
    if amount is not None and row["amount"] is not None and Decimal(row["amount"]) != amount:
        raise InputError(_("return receipt {receipt} already refunded {amount} of operation {operation}; give "
                           "another --receipt-number for another refund").format(
            receipt=row["return_receipt"], amount=_money(row["amount"]), operation=row["operation_id"]))
    ctx.counts["refunds_already_done"] += 1
    _report(ctx, row, already=True)


def _report(ctx, row: dict[str, Any], already: bool) -> None:
    def number(name: str) -> float | None:
        return None if row[name] is None else float(Decimal(row[name]))

    result = {"operation_id": row["refund_operation_id"], "origin_id": row["operation_id"],
              "request_id": row["request_id"], "amount": number("amount"), "return_receipt": row["return_receipt"],
              "points_returned": number("points_returned"), "points_revoked": number("points_revoked"),
              "balance": number("balance"), "already_refunded": already}
    ctx.result = result
    if not ctx.out.json_mode:
        from maorders.i18n import points

        again = _(" (already done: nothing sent twice)") if already else ""
        ctx.out.info(_("refund {operation} of {origin}{again}: amount {amount}, points returned {returned}, "
                       "revoked {revoked}, balance {balance}").format(
            operation=result["operation_id"], origin=result["origin_id"], again=again,
            amount=_money(result["amount"]), returned=points(result["points_returned"]),
            revoked=points(result["points_revoked"]), balance=points(result["balance"]) or _("unknown")))


def _money(value: Any) -> str:
    """A sum as people read it (`1 816,00 ₽`); none is the whole of what is left."""
    from maorders.i18n import money

    return _("all that is left") if value is None else money(value)


# ===================================================================== --reconcile
def reconcile(ctx) -> None:
    config, journal = ctx.config, ctx.journal
    cutoff = stamp(now() - timedelta(minutes=config.orphan_minutes))
    sales = store.unfinished_sales(journal, cutoff)
    refunds = [r for r in store.unfinished_refunds(journal, cutoff) if r["reason"] == "till"]
    if not sales and not refunds:
        return
    mi = exchange.client(ctx, ctx.budget)  # scheduled: the pass's budget, not a cashier's
    for sale in sales:
        settle_sale(ctx, mi, sale)
    for row in refunds:
        if not _found_applied(ctx, mi, row, report=False):
            item = store.outbox_item(journal, "refund", f"refund/{row['refund_key']}")
            store.close_unapplied(journal, "refunds", row["id"], item, "abandoned",
                                  "never applied; the till did not run it again")
            ctx.counts["refunds_abandoned"] += 1


def settle_sale(ctx, mi: MegainsightClient, sale: dict[str, Any]) -> None:
    """Claim the sale first (a till rerun at the same moment then leaves it alone, or has
    finished it and we leave it), then ask the service and settle it."""
    journal = ctx.journal
    if not store.claim_for_reconcile(journal, sale, stamp(now() - timedelta(minutes=ctx.config.orphan_minutes))):
        log.info("receipt %s: taken by the till meanwhile; left to it", sale["receipt_number"])
        ctx.counts["sales_left_to_the_till"] += 1
        return
    orphan_refund = journal.one("SELECT * FROM loyalty_refunds WHERE sale_id = ? AND reason = 'orphan'",
                                (sale["id"],))
    if orphan_refund is None:
        operation = _applied_operation(ctx, mi, sale)
        if operation is None:
            ctx.counts["sales_abandoned"] += 1
            return
        log.warning("receipt %s: operation %s applied but never finished at the till; refunding it",
                    sale["receipt_number"], operation)
        orphan_refund, _new = store.write_refund_intent(journal, f"{operation}/orphan", str(uuid.uuid4()), operation,
                                                     sale["id"], None, None, "orphan", orphan_of=sale["id"])
    elif orphan_refund["state"] in store.UNFINISHED and _found_applied(ctx, mi, orphan_refund, sale, report=False):
        return
    try:
        send_refund(ctx, mi, orphan_refund, None, orphan_sale=sale)
    except InputError as exc:  # e.g. the till refunded it already in full: nothing of it is left
        ctx.problem(_("receipt {number}: the unfinished operation could not be refunded: {error}").format(
            number=sale["receipt_number"], error=exc))


def _applied_operation(ctx, mi: MegainsightClient, sale: dict[str, Any]) -> str | None:
    """The operation the service applied for a claimed sale; None once it is closed as never
    applied (unless a late till run recorded an operation meanwhile)."""
    journal = ctx.journal
    with exchange.cashier_words(ctx.config, _("look up receipt {number}").format(number=sale["receipt_number"])):
        found = mi.operations(sale["request_id"])
    if found:
        return found[0].operation_id
    item = store.outbox_item(journal, "confirm", store.sale_key(sale))
    if store.close_unapplied(journal, "sales", sale["id"], item, "abandoned",
                             "never applied; the till sold without loyalty"):
        return None
    return journal.value("SELECT operation_id FROM loyalty_sales WHERE id = ?", (sale["id"],))


def _orphan_notice(sale: dict[str, Any], row: dict[str, Any], done: Any) -> tuple[str, str]:
    """(the subject, a machine key the desk links by; the message for people)."""
    from maorders.i18n import points

    return (f"receipt {sale['receipt_number']}",
            _("receipt {number}: loyalty operation {operation} was applied but the till never finished the sale; "
              "refunded as {refund} (points returned {returned}, revoked {revoked})").format(
                number=sale["receipt_number"], operation=row["operation_id"], refund=done.operation_id,
                returned=points(done.points_returned), revoked=points(done.points_revoked)))
